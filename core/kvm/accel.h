// Accel: which accelerator runs a guest — KVM, or the Unicorn-based
// emulator (core/emu/) that stands in where /dev/kvm is missing, as TCG
// does beside KVM in QEMU. Auto means KVM where it can be used, else the
// emulator.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvmrr {

enum class Accel : uint8_t { Auto, Kvm, Emu };

const char* accel_name(Accel a);  // "auto", "kvm", "emu"
// Throws kvmrr::Error naming the text and the choices.
Accel parse_accel(std::string_view text);
// Auto becomes Kvm when KvmSystem::unavailable_reason() is empty, else Emu;
// Kvm and Emu stay as they are.
Accel resolve_accel(Accel a);

}  // namespace kvmrr
