// Accel: which accelerator runs a guest — KVM, or the Unicorn-based
// emulator (core/emu/) that stands in where /dev/kvm is missing, as TCG
// does beside KVM in QEMU — and the one rule by which Auto chooses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "vmm/board.h"

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
// is empty) and runs the board's guests, else Emu with the reason; the
// others stay as they are. A kvm-pvm host's KVM (core/kvm/kvm_pvm.h) runs
// only 64-bit code natively and fails on much of the real-mode and 32-bit
// code the pc board's firmware runs from its reset vector: Auto takes the
// emulator for that board there (--accel kvm still tries KVM), and for a
// --deterministic-cpu run on either board, since kvm-pvm shows its guests
// the host's CPUID whatever kvmrr sets.
AccelChoice choose_accel(Accel a, Board board, bool deterministic_cpu);
// The rule itself, given what the host offers: `kvm_unavailable` is
// KvmSystem::unavailable_reason(), `kvm_pvm` host_kvm_is_pvm().
AccelChoice choose_accel(Accel a, Board board, bool deterministic_cpu, const std::string& kvm_unavailable, bool kvm_pvm);

}  // namespace kvmrr
