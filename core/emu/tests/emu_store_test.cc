// Guest stores to RAM without paging in a Legacy32 engine, which the
// engine makes itself from the write-protect hook (emu_engine.h, "Stores
// to RAM"): code written over runs as written, also within the block that
// writes it; stores that leave RAM exit for the part outside it; string
// and locked stores land; code the VMM writes (DMA) runs as written; and
// CodeLines, the map of what holds code.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/emu/code_lines.h"
#include "core/emu/emu_vcpu.h"
#include "core/emu/tests/emu_test_guest.h"

namespace kvmrr {
namespace {

using testing::EmuGuest;
using testing::HostPages;

uint32_t out_value(EmuGuest& g) {
    uint32_t v = 0;
    std::memcpy(&v, g.io_data(), g.exit.size);
    return v;
}

TEST(CodeLines, NotesLinesNotPages) {
    emu::CodeLines c;
    EXPECT_FALSE(c.any(0, 1ull << 20));
    c.note_block(0x1010, 0x1050);  // lines 0x1000 and 0x1040
    EXPECT_TRUE(c.any(0x1000, 0x1001));
    EXPECT_TRUE(c.any(0x107f, 0x1080));
    EXPECT_FALSE(c.any(0x1080, 0x2000));
    EXPECT_FALSE(c.any(0xfc0, 0x1000));
    EXPECT_TRUE(c.any(0xfff, 0x1001));
    c.note(0x3ffffe, 0x400002);  // across a page and a 4 MiB chunk
    EXPECT_TRUE(c.any(0x3fffc0, 0x3fffc1));
    EXPECT_TRUE(c.any(0x400000, 0x400001));
    EXPECT_FALSE(c.any(0x400040, 0x400080));
    c.note(0x5000, 0x6000);  // a whole page
    EXPECT_TRUE(c.any(0x5fc0, 0x5fc1));
    EXPECT_FALSE(c.any(0x6000, 0x7000));
    EXPECT_FALSE(c.any(emu::CodeLines::kLimit - 1, emu::CodeLines::kLimit + 1));  // nothing ran past the map
    c.note_block(emu::CodeLines::kLimit + 0x1000, emu::CodeLines::kLimit + 0x1010);
    EXPECT_TRUE(c.any(emu::CodeLines::kLimit + 0x100000, emu::CodeLines::kLimit + 0x100001));  // then all of it is code
    EXPECT_FALSE(c.any(0x7000, 0x8000));
    c.forget(0x1000, 0x1040);  // the first line only
    EXPECT_FALSE(c.any(0x1000, 0x1040));
    EXPECT_TRUE(c.any(0x1040, 0x1080));
    c.note_block(0x1010, 0x1050);  // noted again: forget() dropped the blocks remembered
    EXPECT_TRUE(c.any(0x1000, 0x1001));
    c.forget(0x1000, 0x1080);
    c.note_block(0x1010, 0x1050);
    EXPECT_TRUE(c.any(0x1000, 0x1001));
    c.clear();
    EXPECT_FALSE(c.any(0, 0x10000));
    EXPECT_FALSE(c.any(emu::CodeLines::kLimit, emu::CodeLines::kLimit + 1));
}

TEST(EmuStore, StoreOverTheRunningBlockRunsTheNewCode) {
    EmuGuest g;
    // mov byte [0x1006],0x42 (the immediate of the next instruction);
    // mov al,0; out 0x80,al; hlt: one translated block.
    g.start_real({0xc6, 0x06, 0x06, 0x10, 0x42, 0xb0, 0x00, 0xe6, 0x80, 0xf4});
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(out_value(g), 0x42u);
    EXPECT_EQ(g.ram.data()[0x1006], 0x42);
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
}

// A guest that keeps rewriting code it runs has it translated anew each
// time, and each translation forgotten stays in Unicorn's code buffer
// until a flush. Unicorn 2.0.1's own flush, when the buffer is full,
// leaves it in a state that crashes the process soon after (seen with a
// random pc-board image after 15 s, and with this guest after a few): the
// emulator flushes before that. The guest: 400 stores to data across
// several translated blocks, then a store into each of those blocks (the
// byte that is there) and a jump back.
TEST(EmuStore, AGuestThatKeepsRewritingItsCodeRunsOn) {
    EmuGuest g;
    std::vector<uint8_t> code;
    for (int i = 0; i < 400; ++i) code.insert(code.end(), {0xa3, 0x00, 0x20});  // mov [0x2000],ax
    for (uint16_t at = 0; at < 0x500; at += 0x100) {
        const uint16_t addr = 0x1000 + at;
        code.insert(code.end(), {0xc6, 0x06, static_cast<uint8_t>(addr), static_cast<uint8_t>(addr >> 8), code[at]});
    }
    const auto back = static_cast<uint16_t>(0x1000 - (0x1000 + code.size() + 3));
    code.insert(code.end(), {0xe9, static_cast<uint8_t>(back), static_cast<uint8_t>(back >> 8)});  // jmp 0x1000
    g.start_real(code);
    EXPECT_EQ(g.next_exit(std::chrono::seconds(30)), std::nullopt) << g.vcpu->last_error();
}

// Twice: the block translated again after the first store is noted again.
TEST(EmuStore, StoreOverABlockThatRanRunsTheNewCodeNextTime) {
    EmuGuest g;
    // call 0x1100; mov byte [0x1101],0x77; call 0x1100; mov byte [0x1101],0x99;
    // call 0x1100; hlt
    // 0x1100: mov al,0x11; out 0x80,al; ret
    g.put64(0x1100, 0xc380e611b0ull);
    g.start_real({0xe8, 0xfd, 0x00, 0xc6, 0x06, 0x01, 0x11, 0x77, 0xe8, 0xf5, 0x00, 0xc6, 0x06, 0x01, 0x11, 0x99, 0xe8,
                  0xed, 0x00, 0xf4});
    for (const uint32_t expected : {0x11u, 0x77u, 0x99u}) {
        ASSERT_EQ(g.next_exit(), ExitKind::Io);
        EXPECT_EQ(out_value(g), expected);
    }
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
}

// Bytes the VMM writes into a slot's memory (a device's DMA at an exit):
// Unicorn never sees them, so EmuVm::memory_written has the engine forget
// the code there. The guests below stop at `out 0x81`, where the byte at
// `gpa` becomes `v` as DMA would write it.
void dma_at_out_81(EmuGuest& g, uint64_t gpa, uint8_t v) {
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    ASSERT_EQ(g.exit.addr, 0x81u);
    g.ram.data()[gpa] = v;
    g.vm.memory_written(gpa, 1);
}

void expect_out_80_then_hlt(EmuGuest& g, uint32_t v) {
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(out_value(g), v);
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
}

TEST(EmuStore, CodeWrittenByTheVmmAtAnExitRunsAsWritten) {
    for (const bool long_mode : {false, true}) {
        SCOPED_TRACE(long_mode ? "long mode" : "real mode");
        EmuGuest g;
        // call R; out 0x81,al; call R; hlt
        // R: mov al,0x11; out 0x80,al; ret
        const uint64_t routine = long_mode ? 0x100100 : 0x1100;
        g.put64(routine, 0xc380e611b0ull);
        if (long_mode) {
            g.start_long({0xe8, 0xfb, 0x00, 0x00, 0x00, 0xe6, 0x81, 0xe8, 0xf4, 0x00, 0x00, 0x00, 0xf4});
        } else {
            g.start_real({0xe8, 0xfd, 0x00, 0xe6, 0x81, 0xe8, 0xf8, 0x00, 0xf4});
        }
        ASSERT_EQ(g.next_exit(), ExitKind::Io);
        EXPECT_EQ(out_value(g), 0x11u);
        dma_at_out_81(g, routine + 1, 0x77);
        expect_out_80_then_hlt(g, 0x77);
    }
}

TEST(EmuStore, CodeWrittenByTheVmmOverTheRestOfTheRunningBlockRunsAsWritten) {
    EmuGuest g;
    // out 0x81,al; mov al,0; out 0x80,al; hlt: one block, stopped at its first exit
    g.start_real({0xe6, 0x81, 0xb0, 0x00, 0xe6, 0x80, 0xf4});
    dma_at_out_81(g, 0x1003, 0x42);  // mov al's immediate
    expect_out_80_then_hlt(g, 0x42);
}

// With paging (here long mode) `rep ins` is Unicorn's to run, element by
// element from the IN hook's exit: its stores over code that ran forget
// that code as any store of Unicorn's does.
TEST(EmuStore, RepInsOverCodeThatRanInLongModeRunsAsWritten) {
    EmuGuest g;
    // call 0x100100; mov edi,0x100101; mov ecx,1; mov edx,0x81; rep insb;
    // call 0x100100; hlt
    // 0x100100: mov al,0x11; out 0x80,al; ret
    g.put64(0x100100, 0xc380e611b0ull);
    g.start_long({0xe8, 0xfb, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x01, 0x10, 0x00, 0xb9, 0x01, 0x00, 0x00, 0x00, 0xba,
                  0x81, 0x00, 0x00, 0x00, 0xf3, 0x6c, 0xe8, 0xe5, 0x00, 0x00, 0x00, 0xf4});
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(out_value(g), 0x11u);
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    ASSERT_EQ(g.exit.addr, 0x81u);
    ASSERT_FALSE(g.exit.is_write);
    g.exit.data[0] = 0x77;
    expect_out_80_then_hlt(g, 0x77);
    EXPECT_EQ(g.ram.data()[0x100101], 0x77);
}

TEST(EmuStore, StoreNextToCodeLandsAndTheCodeRunsOn) {
    EmuGuest g;
    // A loop that stores into the line after its own code 256 times:
    // mov cx,256; l: mov [0x1040],cl; loop l; mov al,[0x1040]; out 0x80,al; hlt
    g.start_real({0xb9, 0x00, 0x01, 0x88, 0x0e, 0x40, 0x10, 0xe2, 0xfa, 0xa0, 0x40, 0x10, 0xe6, 0x80, 0xf4});
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(out_value(g), 1u);
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->instructions_retired(), 1u + 2 * 256 + 3);
}

TEST(EmuStore, StoreAcrossTwoMappingsOfOneSlotLandsWhole) {
    EmuGuest g;
    // mov ax,0xf000; mov ds,ax; mov dword [0xfffe],0xaabbccdd (0xffffe:
    // across the 1 MiB cut of the engine's map); hlt
    g.start_real({0xb8, 0x00, 0xf0, 0x8e, 0xd8, 0x66, 0xc7, 0x06, 0xfe, 0xff, 0xdd, 0xcc, 0xbb, 0xaa, 0xf4});
    ASSERT_EQ(g.next_exit(), ExitKind::Hlt);
    uint32_t v = 0;
    std::memcpy(&v, g.ram.data() + 0xffffe, 4);
    EXPECT_EQ(v, 0xaabbccddu);
}

TEST(EmuStore, StoreFromRamIntoRomOrADeviceWindowExitsForThePartOutside) {
    EmuVm vm;
    HostPages low(0x80000), rom(0x1000), high(0x1000);
    std::memset(rom.data(), 0xee, rom.size());
    vm.set_user_memory_region({0, 0, 0, low.size(), low.addr()});
    vm.set_user_memory_region({1, kMemReadonly, 0x80000, rom.size(), rom.addr()});
    vm.set_user_memory_region({2, 0, 0x90000, high.size(), high.addr()});  // a device window from 0x91000
    EmuVcpu vcpu(vm, 0);
    // mov ax,0x7f00; mov ds,ax; mov dword [0xffe],0x11223344 (RAM, then ROM);
    // mov ax,0x9000; mov ds,ax; mov dword [0xffe],0x55667788 (RAM, then the window); hlt
    const uint8_t code[] = {0xb8, 0x00, 0x7f, 0x8e, 0xd8, 0x66, 0xc7, 0x06, 0xfe, 0x0f, 0x44, 0x33, 0x22, 0x11, 0xb8,
                            0x00, 0x90, 0x8e, 0xd8, 0x66, 0xc7, 0x06, 0xfe, 0x0f, 0x88, 0x77, 0x66, 0x55, 0xf4};
    std::memcpy(low.data() + 0x1000, code, sizeof code);
    kvm_sregs s = vcpu.sregs();
    for (kvm_segment* seg : {&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss}) seg->base = seg->selector = 0;
    vcpu.set_sregs(s);
    kvm_regs r{};
    r.rip = 0x1000;
    r.rsp = 0x7000;
    r.rflags = 2;
    vcpu.set_regs(r);
    auto next = [&] {
        for (;;)
            if (std::optional<VcpuExit> e = vcpu.run()) return *e;
    };
    auto expect_write = [&](const VcpuExit& e, uint64_t addr, uint16_t value) {
        ASSERT_EQ(e.kind, ExitKind::Mmio);
        EXPECT_TRUE(e.is_write);
        EXPECT_EQ(e.addr, addr);
        EXPECT_EQ(e.size, 2u);
        uint16_t v = 0;
        std::memcpy(&v, e.data.data(), 2);
        EXPECT_EQ(v, value);
    };
    expect_write(next(), 0x80000, 0x1122);
    vcpu.complete_exit();
    expect_write(next(), 0x91000, 0x5566);
    vcpu.complete_exit();
    EXPECT_EQ(next().kind, ExitKind::Hlt);
    uint16_t v = 0;
    std::memcpy(&v, low.data() + 0x7fffe, 2);
    EXPECT_EQ(v, 0x3344u);
    std::memcpy(&v, high.data() + 0xffe, 2);
    EXPECT_EQ(v, 0x7788u);
    EXPECT_EQ(rom.data()[0], 0xee);  // the ROM kept its bytes
}

TEST(EmuStore, StringAndLockedStoresLand) {
    EmuGuest g;
    // mov ax,0x0102; xchg [0x2000],al (locked by itself); lock inc byte [0x2001];
    // mov di,0x3000; mov cx,300; mov al,0x5a; cld; rep stosb;
    // mov si,0x3000; mov di,0x3200; mov cx,300; rep movsb; hlt
    g.start_real({0xb8, 0x02, 0x01, 0x86, 0x06, 0x00, 0x20, 0xf0, 0xfe, 0x06, 0x01, 0x20, 0xbf, 0x00, 0x30, 0xb9,
                  0x2c, 0x01, 0xb0, 0x5a, 0xfc, 0xf3, 0xaa, 0xbe, 0x00, 0x30, 0xbf, 0x00, 0x32, 0xb9, 0x2c, 0x01,
                  0xf3, 0xa4, 0xf4});
    g.ram.data()[0x2000] = 0x33;
    g.ram.data()[0x2001] = 0x40;
    ASSERT_EQ(g.next_exit(), ExitKind::Hlt);
    EXPECT_EQ(g.ram.data()[0x2000], 0x02);
    EXPECT_EQ(g.ram.data()[0x2001], 0x41);
    for (int i = 0; i < 300; ++i) {
        ASSERT_EQ(g.ram.data()[0x3000 + i], 0x5a) << i;
        ASSERT_EQ(g.ram.data()[0x3200 + i], 0x5a) << i;
    }
    EXPECT_EQ(g.ram.data()[0x3000 + 300], 0);
}

}  // namespace
}  // namespace kvmrr
