#include "core/vcpu/cpu_setup.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {
namespace {

TEST(CpuSetupTest, LongModeIdentityMapsFourGiBWithTwoMiBPages) {
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    const CpuState st = long_mode_state(*m.memory, kvm_sregs{}, 0x100000);
    EXPECT_EQ(st.regs.rip, 0x100000u);
    EXPECT_EQ(st.regs.rsp, kLongModeStackTop);
    EXPECT_EQ(st.sregs.cr3, kPml4Addr);
    EXPECT_TRUE(st.sregs.cr0 & (1ull << 31));  // paging
    EXPECT_TRUE(st.sregs.cr0 & 1);             // protection
    EXPECT_TRUE(st.sregs.cr4 & (1u << 5));     // PAE
    EXPECT_EQ(st.sregs.efer, 0x500u);  // LME | LMA, and nothing an emulator would drop
    EXPECT_EQ(st.sregs.cs.l, 1);
    EXPECT_EQ(st.sregs.cs.db, 0);
    EXPECT_EQ(st.sregs.cs.selector, 0x08);
    EXPECT_EQ(st.sregs.ss.selector, 0x10);
    // Walk the tables for a few addresses: every one maps to itself.
    auto rd = [&](uint64_t a) { return m.memory->read(Gpa(a), 8).value; };
    for (uint64_t va : {0x0ull, 0x100000ull, 0xfeb00000ull, 0xffff0000ull, 0xe0000000ull}) {
        const uint64_t pml4e = rd(kPml4Addr + ((va >> 39) & 511) * 8);
        ASSERT_TRUE(pml4e & 1);
        const uint64_t pdpte = rd((pml4e & ~0xfffull) + ((va >> 30) & 511) * 8);
        ASSERT_TRUE(pdpte & 1);
        const uint64_t pde = rd((pdpte & ~0xfffull) + ((va >> 21) & 511) * 8);
        ASSERT_TRUE(pde & 1);
        ASSERT_TRUE(pde & 0x80);
        // Accessed (and, on the leaf, dirty) already set, so the CPU never
        // writes the tables and never dirties their pages in the dirty log.
        EXPECT_TRUE(pml4e & pdpte & pde & 0x20);
        EXPECT_TRUE(pde & 0x40);
        EXPECT_EQ((pde & ~0x1fffffull & ((1ull << 52) - 1)) | (va & 0x1fffff), va);
    }
    EXPECT_EQ(rd(kGdtAddr + 8), 0x00af9b000000ffffu);
}

TEST(CpuSetupTest, LongModeWithoutLowRamIsAClearError) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 1ull << 32);
    root.add_subregion(0x100000, sys.create_ram("high", 0x100000));
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    try {
        long_mode_state(as, kvm_sregs{}, 0x100000);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("boot structures"), std::string::npos) << e.what();
    }
}

TEST(CpuSetupTest, RealModeHasZeroBasesAndTheEntryAsIp) {
    kvm_sregs initial{};
    initial.cs.base = 0xffff0000;
    initial.cs.selector = 0xf000;
    const CpuState st = real_mode_state(initial, 0x1000);
    EXPECT_EQ(st.sregs.cs.base, 0u);
    EXPECT_EQ(st.sregs.cs.selector, 0);
    EXPECT_EQ(st.sregs.ds.base, 0u);
    EXPECT_EQ(st.regs.rip, 0x1000u);
    EXPECT_THROW(real_mode_state(initial, 0x10000), Error);
}

}  // namespace
}  // namespace kvmrr
