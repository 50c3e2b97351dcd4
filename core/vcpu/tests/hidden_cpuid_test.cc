#include "core/vcpu/hidden_cpuid.h"

#include <gtest/gtest.h>

#include <vector>

namespace kvmrr {
namespace {

kvm_cpuid_entry2 entry(uint32_t function, uint32_t index) {
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.index = index;
    e.eax = e.ebx = e.ecx = e.edx = 0xffffffff;
    return e;
}

// The time-stamp counter's and the random number generators' bits go,
// each in its leaf and register (the SDM's numbers), and nothing else.
TEST(HiddenCpuid, ClearsTheTimeStampCounterAndRandomNumberBitsOnly) {
    std::vector<kvm_cpuid_entry2> e = {entry(0, 0),          entry(1, 0), entry(7, 0), entry(7, 1),
                                       entry(0x80000001, 0), entry(0x80000007, 0), entry(0xd, 0)};
    hide_nondeterministic_cpuid(e);
    EXPECT_EQ(e[0].eax & e[0].ebx & e[0].ecx & e[0].edx, 0xffffffffu);  // leaf 0: untouched
    EXPECT_EQ(e[1].edx, ~(1u << 4));                                     // TSC
    EXPECT_EQ(e[1].ecx, ~(1u << 24 | 1u << 30));                         // TSC deadline, RDRAND
    EXPECT_EQ(e[1].eax & e[1].ebx, 0xffffffffu);
    EXPECT_EQ(e[2].ebx, ~(1u << 1 | 1u << 18));                          // TSC_ADJUST, RDSEED
    EXPECT_EQ(e[2].eax & e[2].ecx & e[2].edx, 0xffffffffu);
    EXPECT_EQ(e[3].ebx, 0xffffffffu);  // leaf 7's other subleaves are other features
    EXPECT_EQ(e[4].edx, ~(1u << 27));  // RDTSCP
    EXPECT_EQ(e[4].ecx, 0xffffffffu);
    EXPECT_EQ(e[5].edx, ~(1u << 8));   // invariant TSC
    EXPECT_EQ(e[6].eax & e[6].ebx & e[6].ecx & e[6].edx, 0xffffffffu);
}

// A leaf without subleaves means the same whatever ECX held.
TEST(HiddenCpuid, LeavesWithoutSubleavesIgnoreTheSubleaf) {
    EXPECT_EQ(nondeterministic_cpuid_bits(1, 0x1234, CpuidReg::Edx), 1u << 4);
    EXPECT_EQ(nondeterministic_cpuid_bits(7, 0, CpuidReg::Ebx), 1u << 1 | 1u << 18);
    EXPECT_EQ(nondeterministic_cpuid_bits(7, 2, CpuidReg::Ebx), 0u);
}

}  // namespace
}  // namespace kvmrr
