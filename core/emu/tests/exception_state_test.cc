// What the emulator reads and clears of Unicorn's exception state
// (exception_state.h), and linear addresses through 4-level page tables
// (linear_memory.h), on bare Unicorn engines.
#include <gtest/gtest.h>
#include <unicorn/unicorn.h>

#include <optional>

#include "core/emu/exception_state.h"
#include "core/emu/linear_memory.h"

namespace kvmrr::emu {
namespace {

struct Engine {
    uc_engine* uc = nullptr;
    Engine() { EXPECT_EQ(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK); }
    ~Engine() { uc_close(uc); }
};

// What the interrupt hook saw of the last exception.
struct Seen {
    int vector = -1;
    std::optional<uint32_t> code;
};

void on_interrupt(uc_engine* uc, uint32_t vector, void* user) {
    auto* s = static_cast<Seen*>(user);
    s->vector = static_cast<int>(vector);
    s->code = last_error_code(uc);
    uc_emu_stop(uc);
}

// Two #GPs in a row: `mov fs, ax` with selectors beyond a GDT of only the
// null descriptor, at 0 and at 0x10.
TEST(ExceptionState, ErrorCodeReadInTheHookAndTheSecondFaultIsNoDoubleFault) {
    ASSERT_TRUE(exception_state_known());
    Engine e;
    const uint8_t code[] = {0x66, 0xb8, 0x3b, 0x12, 0x8e, 0xe0, 0xf4};  // mov ax, 0x123b; mov fs, ax; hlt
    const uint8_t again[] = {0x66, 0xb8, 0x63, 0x24, 0x8e, 0xe0, 0xf4};  // the same with 0x2463
    ASSERT_EQ(uc_mem_map(e.uc, 0, 0x1000, UC_PROT_ALL), UC_ERR_OK);
    ASSERT_EQ(uc_mem_write(e.uc, 0, code, sizeof code), UC_ERR_OK);
    ASSERT_EQ(uc_mem_write(e.uc, 0x10, again, sizeof again), UC_ERR_OK);
    const uc_x86_mmr gdt{0, 0x800, 7, 0};
    ASSERT_EQ(uc_reg_write(e.uc, UC_X86_REG_GDTR, &gdt), UC_ERR_OK);
    Seen seen;
    uc_hook h{};
    ASSERT_EQ(uc_hook_add(e.uc, &h, UC_HOOK_INTR, reinterpret_cast<void*>(on_interrupt), &seen, 1, 0), UC_ERR_OK);

    uc_emu_start(e.uc, 0, sizeof code, 0, 0);
    EXPECT_EQ(seen.vector, 13);
    EXPECT_EQ(seen.code, 0x1238u);  // the selector without its RPL
    ASSERT_TRUE(mark_exception_delivered(e.uc));

    // Left in flight, the second #GP would be raised as a #DF (code 0).
    uc_emu_start(e.uc, 0x10, 0x10 + sizeof again, 0, 0);
    EXPECT_EQ(seen.vector, 13);
    EXPECT_EQ(seen.code, 0x2460u);

    // And without the mark, it is: the reason for the mark.
    uc_emu_start(e.uc, 0, sizeof code, 0, 0);
    EXPECT_EQ(seen.vector, 8);
    EXPECT_EQ(seen.code, 0u);
}

TEST(ExceptionState, WhichVectorsPushAnErrorCode) {
    for (unsigned v : {8u, 10u, 11u, 12u, 13u, 14u, 17u, 21u, 29u, 30u}) EXPECT_TRUE(pushes_error_code(v)) << v;
    for (unsigned v : {0u, 1u, 3u, 6u, 7u, 9u, 15u, 16u, 18u, 19u, 32u, 255u}) EXPECT_FALSE(pushes_error_code(v)) << v;
}

// PML4 at 0x10000 -> PDPT 0x11000 -> PD 0x12000: PD[0] a 2 MiB page at
// 0x200000, PD[1] -> PT 0x13000 with PT[5] the 4 KiB page at 0x7000;
// PDPT[1] a 1 GiB page at 0x40000000 is left not present.
TEST(LinearMemory, WalksFourLevelTablesWithLargePagesAndRefusesWhatIsNotPresent) {
    Engine e;
    ASSERT_EQ(uc_mem_map(e.uc, 0, 0x400000, UC_PROT_ALL), UC_ERR_OK);
    auto put = [&](uint64_t at, uint64_t v) { ASSERT_EQ(uc_mem_write(e.uc, at, &v, 8), UC_ERR_OK); };
    put(0x10000, 0x11000 | 3);
    put(0x11000, 0x12000 | 3);
    put(0x11008, 0x40000000 | 0x82);  // 1 GiB, present bit clear
    put(0x12000, 0x200000 | 0x83);
    put(0x12008, 0x13000 | 3);
    put(0x13000 + 5 * 8, 0x7000 | 3);
    const uint64_t cr3 = 0x10000, cr0 = 0x80000011;
    ASSERT_EQ(uc_reg_write(e.uc, UC_X86_REG_CR3, &cr3), UC_ERR_OK);
    ASSERT_EQ(uc_reg_write(e.uc, UC_X86_REG_CR0, &cr0), UC_ERR_OK);

    EXPECT_EQ(physical_of(e.uc, CpuWidth::Long64, 0x1234), 0x201234u);
    EXPECT_EQ(physical_of(e.uc, CpuWidth::Long64, 0x205abc), 0x7abcu);
    EXPECT_EQ(physical_of(e.uc, CpuWidth::Long64, 0x204000), std::nullopt);  // PT[4]
    EXPECT_EQ(physical_of(e.uc, CpuWidth::Long64, 0x40000000), std::nullopt);
    EXPECT_EQ(physical_of(e.uc, CpuWidth::Long64, 0xffff800000000000), std::nullopt);

    // Across the 2 MiB page's end into the 4 KiB page, whose PT[0] is not
    // present yet: nothing is written. Then each part where it is.
    const uint64_t v = 0x1122334455667788;
    uint64_t back = 0;
    uint32_t lo = 0, hi = 0;
    EXPECT_FALSE(write_linear(e.uc, CpuWidth::Long64, 0x1ffffc, &v, 8));
    EXPECT_FALSE(read_linear(e.uc, CpuWidth::Long64, 0x1ffffc, &back, 8));
    ASSERT_EQ(uc_mem_read(e.uc, 0x3ffffc, &lo, 4), UC_ERR_OK);
    EXPECT_EQ(lo, 0u);
    put(0x13000, 0x8000 | 3);
    ASSERT_TRUE(write_linear(e.uc, CpuWidth::Long64, 0x1ffffc, &v, 8));
    ASSERT_EQ(uc_mem_read(e.uc, 0x3ffffc, &lo, 4), UC_ERR_OK);
    EXPECT_EQ(lo, 0x55667788u);
    ASSERT_EQ(uc_mem_read(e.uc, 0x8000, &hi, 4), UC_ERR_OK);
    EXPECT_EQ(hi, 0x11223344u);
    ASSERT_TRUE(read_linear(e.uc, CpuWidth::Long64, 0x1ffffc, &back, 8));
    EXPECT_EQ(back, v);
    // Without paging, linear is physical.
    const uint64_t flat = 0x11;
    ASSERT_EQ(uc_reg_write(e.uc, UC_X86_REG_CR0, &flat), UC_ERR_OK);
    EXPECT_EQ(physical_of(e.uc, CpuWidth::Long64, 0x205abc), 0x205abcu);
}

}  // namespace
}  // namespace kvmrr::emu
