// Accel: which accelerator runs a guest — KVM, or the Unicorn-based
// emulator (core/emu/) that stands in where /dev/kvm is missing, as TCG
// does beside KVM in QEMU — and the one rule by which Auto chooses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvmrr {

// None: no vCPU at all (device replay feeds recorded accesses instead).
enum class Accel : uint8_t { Auto, Kvm, Emu, None };

const char* accel_name(Accel a);  // "auto", "kvm", "emu", "none"
// Auto, Kvm or Emu; throws kvmrr::Error naming the text and the choices.
Accel parse_accel(std::string_view text);

struct AccelChoice {
    Accel accel = Accel::Emu;     // never Auto
    std::string fallback_reason;  // why Auto did not take KVM ("" when it did, or was not asked to choose)
};
// Auto becomes Kvm where KVM can be used (KvmSystem::unavailable_reason()
// is empty), else Emu with that reason; the others stay as they are.
AccelChoice choose_accel(Accel a);

}  // namespace kvmrr
