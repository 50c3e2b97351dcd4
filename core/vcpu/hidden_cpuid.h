// The CPUID features that --deterministic-cpu hides from the guest: those
// whose instructions KVM lets a guest run natively with results that come
// from the host at that instant — the time-stamp counter and the hardware
// random number generators — so that no trace holds them and guest replay
// cannot give them back. A guest that respects CPUID (Linux, SeaBIOS)
// then takes its time from the PIT, the PM timer or jiffies, whose
// readings are recorded exits, and its randomness from them too. The
// instructions themselves still run if a guest executes them regardless.
// Both accelerators hide the same bits, so their traces stay alike.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>

namespace kvmrr {

enum class CpuidReg : uint8_t { Eax, Ebx, Ecx, Edx };

struct CpuidBits {
    uint32_t leaf;
    bool indexed;      // the leaf has subleaves (ECX): only `subleaf` is meant
    uint32_t subleaf;
    CpuidReg reg;
    uint32_t bits;
};

// Intel SDM vol. 2A, CPUID; AMD APM vol. 3, appendix E.
inline constexpr CpuidBits kNondeterministicCpuid[] = {
    {1, false, 0, CpuidReg::Edx, 1u << 4},    // TSC (RDTSC)
    {1, false, 0, CpuidReg::Ecx, 1u << 24},   // TSC-deadline timer
    {1, false, 0, CpuidReg::Ecx, 1u << 30},   // RDRAND
    {7, true, 0, CpuidReg::Ebx, 1u << 1},     // IA32_TSC_ADJUST
    {7, true, 0, CpuidReg::Ebx, 1u << 18},    // RDSEED
    {0x80000001, false, 0, CpuidReg::Edx, 1u << 27},  // RDTSCP
    {0x80000007, false, 0, CpuidReg::Edx, 1u << 8},   // invariant TSC
};

// The bits of `reg` in the result of CPUID leaf `leaf`, subleaf `subleaf`,
// that --deterministic-cpu clears.
constexpr uint32_t nondeterministic_cpuid_bits(uint32_t leaf, uint32_t subleaf, CpuidReg reg) {
    uint32_t bits = 0;
    for (const CpuidBits& b : kNondeterministicCpuid)
        if (b.leaf == leaf && (!b.indexed || b.subleaf == subleaf) && b.reg == reg) bits |= b.bits;
    return bits;
}

// Clears those bits in CPUID entries as KVM_SET_CPUID2 takes them.
inline void hide_nondeterministic_cpuid(std::span<kvm_cpuid_entry2> entries) {
    for (kvm_cpuid_entry2& e : entries) {
        e.eax &= ~nondeterministic_cpuid_bits(e.function, e.index, CpuidReg::Eax);
        e.ebx &= ~nondeterministic_cpuid_bits(e.function, e.index, CpuidReg::Ebx);
        e.ecx &= ~nondeterministic_cpuid_bits(e.function, e.index, CpuidReg::Ecx);
        e.edx &= ~nondeterministic_cpuid_bits(e.function, e.index, CpuidReg::Edx);
    }
}

}  // namespace kvmrr
