// EmuVcpu: the exits it makes, as KVM makes them, for small guests on EmuVm.
#include "core/emu/emu_vcpu.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "core/emu/tests/emu_test_guest.h"

namespace kvmrr {
namespace {

using testing::EmuGuest;
using testing::HostPages;
using testing::kCodeAddr;

TEST(EmuVcpu, PortOutAndInRoundTrip) {
    EmuGuest g;
    // mov al,0x5a; out 0x80,al; in al,0x81; out 0x82,al; mov dx,0x3f8;
    // mov eax,0x11223344; out dx,eax; hlt
    g.start_long({0xb0, 0x5a, 0xe6, 0x80, 0xe4, 0x81, 0xe6, 0x82, 0x66, 0xba, 0xf8, 0x03, 0xb8, 0x44, 0x33, 0x22, 0x11,
                  0xef, 0xf4});
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(g.exit.is_write, true);
    EXPECT_EQ(g.exit.addr, 0x80);
    EXPECT_EQ(g.exit.size, 1);
    EXPECT_EQ(g.exit.count, 1u);
    EXPECT_EQ(g.io_data()[0], 0x5a);
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(g.exit.is_write, false);
    EXPECT_EQ(g.exit.addr, 0x81);
    g.io_data()[0] = 0xa5;  // what the handler reads for the guest
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x82);
    EXPECT_EQ(g.io_data()[0], 0xa5);
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x3f8);
    EXPECT_EQ(g.exit.size, 4);
    uint32_t v = 0;
    std::memcpy(&v, g.io_data(), 4);
    EXPECT_EQ(v, 0x11223344u);
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->regs().rip, kCodeAddr + 19);  // just past the hlt
}

// A vCPU's FPU at its start is KVM's and QEMU's reset's (FNINIT's control
// word, MXCSR 0x1F80, every register empty; accel_diff's fpu_reset shows
// both accelerators alike), not Unicorn 2.0.1's (both 0: every exception
// unmasked; every tag "zero"); what it reports follows the
// guest, in KVM_GET_FPU's form: after fld1; fldz, TOP is 6, ST(0) 0.0 and
// ST(1) 1.0, physical registers 6 and 7 in use.
TEST(EmuVcpu, FpuStartsAsKvmsAndIsReportedInKvmsForm) {
    EmuGuest g;
    g.start_long({0xd9, 0xe8, 0xd9, 0xee, 0xf4});  // fld1; fldz; hlt
    const std::optional<FpuState> start = g.vcpu->fpu();
    ASSERT_TRUE(start);
    const kvm_fpu& before = start->regs;
    EXPECT_EQ(before.fcw, 0x37f);
    EXPECT_EQ(before.fsw, 0);
    EXPECT_EQ(before.ftwx, 0);
    EXPECT_TRUE(start->has_mxcsr);
    EXPECT_EQ(before.mxcsr, 0x1f80u);
    ASSERT_EQ(g.next_exit(), ExitKind::Hlt);
    const kvm_fpu f = g.vcpu->fpu()->regs;
    EXPECT_EQ((f.fsw >> 11) & 7, 6);
    EXPECT_EQ(f.ftwx, 0xc0);
    const uint8_t zero[10] = {}, one[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
    EXPECT_EQ(std::memcmp(f.fpr[0], zero, 10), 0);
    EXPECT_EQ(std::memcmp(f.fpr[1], one, 10), 0);
}

// Instructions are counted as they are done, and a stop can be asked for
// where the count reaches a number: before that instruction, whatever
// stopped the guest before it.
TEST(EmuVcpu, CountsInstructionsAndStopsWhereTheCountReachesANumber) {
    EmuGuest g;
    g.start_long({0x90, 0x90, 0x90, 0xe6, 0x80, 0x90, 0xf4});  // nop x3; out 0x80,al; nop; hlt
    EXPECT_EQ(g.vcpu->instructions_retired(), 0u);
    DebugSettings d;
    d.stop_at_instruction = 2;
    ASSERT_TRUE(g.vcpu->set_debug(d));
    ASSERT_EQ(g.next_exit(), ExitKind::Debug);
    EXPECT_EQ(g.vcpu->regs().rip, kCodeAddr + 2);
    EXPECT_EQ(g.vcpu->instructions_retired(), 2u);
    ASSERT_TRUE(g.vcpu->set_debug(DebugSettings{}));
    ASSERT_EQ(g.next_exit(), ExitKind::Io);  // the out, counted
    EXPECT_EQ(g.vcpu->instructions_retired(), 4u);
    ASSERT_EQ(g.next_exit(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->instructions_retired(), 6u);
}

// A pause (guest replay's stop between exits) is a run() that returns
// nothing before the instruction where the count reaches the number, once:
// the guest then goes on from there, and a pause asked for at the same
// count again stops it again.
TEST(EmuVcpu, PausesWhereTheCountReachesANumberOnce) {
    EmuGuest g;
    g.start_long({0x90, 0x90, 0x90, 0xe6, 0x80, 0x90, 0xf4});  // nop x3; out 0x80,al; nop; hlt
    ASSERT_TRUE(g.vcpu->set_pause_at(2));
    EXPECT_FALSE(g.vcpu->run());
    EXPECT_EQ(g.vcpu->instructions_retired(), 2u);
    EXPECT_EQ(g.vcpu->regs().rip, kCodeAddr + 2);
    ASSERT_TRUE(g.vcpu->set_pause_at(2));
    EXPECT_FALSE(g.vcpu->run());
    EXPECT_EQ(g.vcpu->instructions_retired(), 2u);
    ASSERT_EQ(g.next_exit(), ExitKind::Io);  // the same pause is not made a third time
    EXPECT_EQ(g.vcpu->instructions_retired(), 4u);
    // None asked for: the guest runs to its HLT.
    ASSERT_TRUE(g.vcpu->set_pause_at(std::nullopt));
    ASSERT_EQ(g.next_exit(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->instructions_retired(), 6u);
}

// String I/O as KVM makes it (measured on KVM: fixtures/firmware/string_io.S
// and its golden trace): `rep outs` is one exit per element, count 1;
// `rep ins` is read ahead in batches, one exit of n elements, n = min(rcx,
// 1024 bytes / size, bytes to the end of rdi's page). The elements go out
// in order from guest memory, the handler's values for `rep insb` land in
// guest memory, and rsi, rdi and rcx end where the instructions leave them.
TEST(EmuVcpu, StringIoExitsAsOnKvm) {
    EmuGuest g;
    std::memcpy(g.ram.data() + 0x200000, "ABCDE", 5);
    // mov esi,0x200000; mov ecx,5; mov edx,0x3f8; cld; rep outsb;
    // mov edi,0x201000; mov ecx,3; rep insb;
    // mov edi,0x202ffe; mov ecx,5; rep insb; hlt
    g.start_long({0xbe, 0x00, 0x00, 0x20, 0x00, 0xb9, 0x05, 0x00, 0x00, 0x00, 0xba, 0xf8, 0x03, 0x00, 0x00, 0xfc, 0xf3,
                  0x6e, 0xbf, 0x00, 0x10, 0x20, 0x00, 0xb9, 0x03, 0x00, 0x00, 0x00, 0xf3, 0x6c,
                  0xbf, 0xfe, 0x2f, 0x20, 0x00, 0xb9, 0x05, 0x00, 0x00, 0x00, 0xf3, 0x6c, 0xf4});
    for (char c : std::string("ABCDE")) {
        ASSERT_EQ(g.next_exit(), ExitKind::Io) << c;
        EXPECT_EQ(g.exit.is_write, true);
        EXPECT_EQ(g.exit.addr, 0x3f8);
        EXPECT_EQ(g.exit.size, 1);
        EXPECT_EQ(g.exit.count, 1u);
        EXPECT_EQ(g.io_data()[0], static_cast<uint8_t>(c));
    }
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(g.exit.is_write, false);
    EXPECT_EQ(g.exit.addr, 0x3f8);
    ASSERT_EQ(g.exit.count, 3u);
    ASSERT_EQ(g.exit.data.size(), 3u);
    for (uint8_t i = 0; i < 3; ++i) g.exit.data[i] = static_cast<uint8_t>(0x11 * (i + 1));
    // Two bytes to the page end: a batch of 2, then the other 3.
    for (unsigned n : {2u, 3u}) {
        ASSERT_EQ(g.next_exit(), ExitKind::Io) << n;
        ASSERT_EQ(g.exit.count, n);
        for (unsigned i = 0; i < n; ++i) g.exit.data[i] = static_cast<uint8_t>(0xa0 + i + (n == 3 ? 2 : 0));
    }
    ASSERT_EQ(g.next_exit(), ExitKind::Hlt);
    EXPECT_EQ(g.ram.data()[0x201000], 0x11);
    EXPECT_EQ(g.ram.data()[0x201001], 0x22);
    EXPECT_EQ(g.ram.data()[0x201002], 0x33);
    EXPECT_EQ(g.ram.data()[0x201003], 0x00);
    for (unsigned i = 0; i < 5; ++i) EXPECT_EQ(g.ram.data()[0x202ffe + i], 0xa0 + i) << i;
    const kvm_regs r = g.vcpu->regs();
    EXPECT_EQ(r.rcx, 0u);
    EXPECT_EQ(r.rsi, 0x200005u);
    EXPECT_EQ(r.rdi, 0x203003u);
}

TEST(EmuVcpu, MmioToAGapIsOneWholeAccessPerInstruction) {
    EmuGuest g;
    // mov rax,[0x40000000]; mov [0x40000010],rax; mov ax,[0x40000003];
    // mov [0x40000020],ax; hlt
    g.start_long({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0x48, 0x89, 0x04, 0x25, 0x10, 0x00, 0x00, 0x40,
                  0x66, 0x8b, 0x04, 0x25, 0x03, 0x00, 0x00, 0x40, 0x66, 0x89, 0x04, 0x25, 0x20, 0x00, 0x00, 0x40, 0xf4});
    // Unicorn cuts an 8-byte MMIO access in two; the exit is still one.
    ASSERT_EQ(g.next_exit(), ExitKind::Mmio);
    EXPECT_EQ(g.exit.addr, 0x40000000u);
    EXPECT_EQ(g.exit.size, 8u);
    EXPECT_EQ(g.exit.is_write, false);
    const uint64_t value = 0x1122334455667788;
    std::memcpy(g.exit.data.data(), &value, 8);
    ASSERT_EQ(g.next_exit(), ExitKind::Mmio);
    EXPECT_EQ(g.exit.addr, 0x40000010u);
    EXPECT_EQ(g.exit.size, 8u);
    EXPECT_EQ(g.exit.is_write, true);
    EXPECT_EQ(g.mmio_value(), value);
    // Unaligned: Unicorn reads aligned pieces; the exit has the guest's address.
    ASSERT_EQ(g.next_exit(), ExitKind::Mmio);
    EXPECT_EQ(g.exit.addr, 0x40000003u);
    EXPECT_EQ(g.exit.size, 2u);
    const uint16_t half = 0xbeef;
    std::memcpy(g.exit.data.data(), &half, 2);
    ASSERT_EQ(g.next_exit(), ExitKind::Mmio);
    EXPECT_EQ(g.exit.addr, 0x40000020u);
    EXPECT_EQ(g.exit.size, 2u);
    EXPECT_EQ(g.mmio_value(), 0xbeefu);
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
}

// An 8-byte read 4 bytes past an 8-byte boundary: Unicorn reads the two
// aligned quadwords around it, the first half of the first wholly outside
// the access; the exit is still the guest's one access.
TEST(EmuVcpu, UnalignedQuadwordReadFromAGapIsOneExit) {
    EmuGuest g;
    g.start_long({0x48, 0x8b, 0x04, 0x25, 0x0c, 0x00, 0x00, 0x40, 0xf4});  // mov rax,[0x4000000c]; hlt
    ASSERT_EQ(g.next_exit(), ExitKind::Mmio) << g.vcpu->last_error();
    EXPECT_EQ(g.exit.addr, 0x4000000cu);
    EXPECT_EQ(g.exit.size, 8u);
    const uint64_t value = 0x1122334455667788;
    std::memcpy(g.exit.data.data(), &value, 8);
    ASSERT_EQ(g.next_exit(), ExitKind::Hlt) << g.vcpu->last_error();
    EXPECT_EQ(g.vcpu->regs().rax, value);
}

// As KVM does: an access across a page boundary is cut there, and only a
// part outside RAM exits, one exit per page (EmuGuest's RAM ends at 4 MiB).
TEST(EmuVcpu, AccessAcrossAPageBoundaryExitsForEachPageOutsideRam) {
    EmuGuest g;
    g.put64(0x3ffff8, 0xaabbccdd00000000);  // 0xbb, 0xaa at 0x3ffffe
    // mov eax,[0x3ffffe]; out 0x80,eax; mov dword [0x3ffffe],0x11223344;
    // mov eax,[0x400ffe]; out 0x80,eax; hlt
    g.start_long({0x8b, 0x04, 0x25, 0xfe, 0xff, 0x3f, 0x00, 0xe7, 0x80, 0xc7, 0x04, 0x25, 0xfe, 0xff, 0x3f, 0x00, 0x44,
                  0x33, 0x22, 0x11, 0x8b, 0x04, 0x25, 0xfe, 0x0f, 0x40, 0x00, 0xe7, 0x80, 0xf4});
    auto serve = [&](uint64_t addr, uint16_t value) {
        ASSERT_EQ(g.next_exit(), ExitKind::Mmio);
        EXPECT_EQ(g.exit.addr, addr);
        EXPECT_EQ(g.exit.size, 2u);
        EXPECT_FALSE(g.exit.is_write);
        std::memcpy(g.exit.data.data(), &value, 2);
    };
    auto out = [&](uint32_t expected) {
        ASSERT_EQ(g.next_exit(), ExitKind::Io);
        uint32_t v = 0;
        std::memcpy(&v, g.io_data(), 4);
        EXPECT_EQ(v, expected);
    };
    serve(0x400000, 0x1234);  // the half in RAM is read from RAM
    out(0x1234aabb);
    ASSERT_EQ(g.next_exit(), ExitKind::Mmio);
    EXPECT_EQ(g.exit.addr, 0x400000u);
    EXPECT_EQ(g.exit.size, 2u);
    EXPECT_TRUE(g.exit.is_write);
    EXPECT_EQ(g.mmio_value(), 0x1122u);
    uint16_t in_ram = 0;
    std::memcpy(&in_ram, g.ram.data() + 0x3ffffe, 2);
    EXPECT_EQ(in_ram, 0x3344u);
    serve(0x400ffe, 0x5566);  // two pages outside RAM: two exits
    serve(0x401000, 0x7788);
    out(0x77885566);
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
}

TEST(EmuVcpu, ReadOnlySlotReadsHostMemoryAndWritesExit) {
    EmuGuest g;
    HostPages rom(4096);
    const uint32_t words[2] = {0xaabbccdd, 0x01020304};
    std::memcpy(rom.data(), words, sizeof words);
    g.vm.set_user_memory_region({1, kMemReadonly, 0x800000, 4096, rom.addr()});
    // mov eax,[0x800000]; out 0x80,eax; mov dword [0x800004],0x12345678;
    // mov eax,[0x800004]; out 0x80,eax; hlt
    g.start_long({0x8b, 0x04, 0x25, 0x00, 0x00, 0x80, 0x00, 0xe7, 0x80, 0xc7, 0x04, 0x25, 0x04, 0x00, 0x80, 0x00, 0x78,
                  0x56, 0x34, 0x12, 0x8b, 0x04, 0x25, 0x04, 0x00, 0x80, 0x00, 0xe7, 0x80, 0xf4});
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    uint32_t v = 0;
    std::memcpy(&v, g.io_data(), 4);
    EXPECT_EQ(v, 0xaabbccddu);
    ASSERT_EQ(g.next_exit(), ExitKind::Mmio);
    EXPECT_EQ(g.exit.addr, 0x800004u);
    EXPECT_EQ(g.exit.is_write, true);
    EXPECT_EQ(g.exit.size, 4u);
    EXPECT_EQ(g.mmio_value(), 0x12345678u);
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    std::memcpy(&v, g.io_data(), 4);
    EXPECT_EQ(v, 0x01020304u);  // the write did not reach the ROM
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
}

TEST(EmuVcpu, DirtyLogHasThePagesWrittenAndClearsOnRead) {
    EmuGuest g;
    HostPages mem(16 * 4096);
    g.vm.set_user_memory_region({2, kMemLogDirtyPages, 0x1000000, mem.size(), mem.addr()});
    // mov dword [0x1000000],1; mov dword [0x1005ffe],2 (crosses into page 6);
    // mov eax,[0x1008000] (a read: not dirty); hlt
    g.start_long({0xc7, 0x04, 0x25, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0xc7, 0x04, 0x25, 0xfe, 0x5f, 0x00,
                  0x01, 0x02, 0x00, 0x00, 0x00, 0x8b, 0x04, 0x25, 0x00, 0x80, 0x00, 0x01, 0xf4});
    ASSERT_EQ(g.next_exit(), ExitKind::Hlt);
    uint64_t bits[1] = {};
    g.vm.get_dirty_log(2, bits);
    EXPECT_EQ(bits[0], (1ull << 0) | (1ull << 5) | (1ull << 6));
    EXPECT_EQ(mem.data()[0], 1);
    g.vm.get_dirty_log(2, bits);
    EXPECT_EQ(bits[0], 0u);
}

TEST(EmuVcpu, WriteToALoggingReadOnlySlotExitsAndLeavesItClean) {
    // As on KVM: the write exits as MMIO and never lands, so the read-only
    // slot's dirty log stays empty even though the slot logs.
    EmuGuest g;
    HostPages rom(4096);
    g.vm.set_user_memory_region({1, kMemReadonly | kMemLogDirtyPages, 0x800000, 4096, rom.addr()});
    // mov dword [0x800004],0x12345678; hlt
    g.start_long({0xc7, 0x04, 0x25, 0x04, 0x00, 0x80, 0x00, 0x78, 0x56, 0x34, 0x12, 0xf4});
    ASSERT_EQ(g.next_exit(), ExitKind::Mmio);
    EXPECT_EQ(g.exit.is_write, true);
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
    uint64_t bits[1] = {~0ull};
    g.vm.get_dirty_log(1, bits);
    EXPECT_EQ(bits[0], 0u);
}

std::string shutdown_reason(const std::vector<uint8_t>& code) {
    EmuGuest g;
    g.start_long(code);
    EXPECT_EQ(g.next_exit(), ExitKind::Shutdown);
    return g.vcpu->last_error();
}

TEST(EmuVcpu, EveryExceptionWithoutAnIdtShutsDown) {
    EXPECT_NE(shutdown_reason({0x0f, 0x0b}), "");                    // ud2
    EXPECT_NE(shutdown_reason({0xcc}).find("int3 (vector 3)"), std::string::npos);  // int3
    EXPECT_NE(shutdown_reason({0x31, 0xc9, 0xf7, 0xf1}), "");        // xor ecx,ecx; div ecx
    // mov rax,0x140000000; mov eax,[rax]: 5 GiB, beyond the page tables
    EXPECT_NE(shutdown_reason({0x48, 0xb8, 0, 0, 0, 0x40, 1, 0, 0, 0, 0x8b, 0x00}), "");
}

TEST(EmuVcpu, FetchFromMmioIsAnInternalError) {
    EmuGuest g;
    g.start_long({0xb8, 0x00, 0x00, 0x00, 0x40, 0xff, 0xe0});  // mov eax,0x40000000; jmp rax
    ASSERT_EQ(g.next_exit(), ExitKind::InternalError);
    EXPECT_EQ(g.exit.reason_code, static_cast<uint64_t>(KVM_INTERNAL_ERROR_EMULATION));
    EXPECT_NE(g.vcpu->last_error().find("0x40000000"), std::string::npos) << g.vcpu->last_error();
}

// Page tables that map 1 GiB (PD 0x4000's first entry) to the 2 MiB page
// at 0x200000, which holds a hlt: KVM halts there. Unicorn 2.0.1 goes to
// 0x40000000 itself, a device window: the error says why.
TEST(EmuVcpu, PageTablesThatAreNotAnIdentityMapAreNamedInTheError) {
    EmuGuest g;
    g.start_long({0xb8, 0x00, 0x00, 0x00, 0x40, 0xff, 0xe0});  // mov eax,0x40000000; jmp rax
    g.put64(0x4000, 0x200000 | 0x83);
    g.ram.data()[0x200000] = 0xf4;
    ASSERT_EQ(g.next_exit(), ExitKind::InternalError);
    const std::string why = g.vcpu->last_error();
    EXPECT_NE(why.find("map 0x40000000 to 0x200000"), std::string::npos) << why;
    EXPECT_NE(why.find("map addresses to themselves"), std::string::npos) << why;
}

TEST(EmuVcpu, SpinningGuestReturnsFromRunAndStopsForRegisters) {
    EmuGuest g;
    g.start_long({0xeb, 0xfe});  // jmp $
    for (int i = 0; i < 5; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_FALSE(g.vcpu->run().has_value());
        EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    }
    EXPECT_EQ(g.vcpu->regs().rip, kCodeAddr);  // at rest, at the loop
    EXPECT_FALSE(g.vcpu->run().has_value());               // and it goes on
}

TEST(EmuVcpu, RealModeDecodes16BitCode) {
    EmuGuest g;
    g.start_real({0xb8, 0x34, 0x12, 0xe7, 0x80, 0xf4});  // mov ax,0x1234; out 0x80,ax; hlt
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(g.exit.size, 2);
    uint16_t v = 0;
    std::memcpy(&v, g.io_data(), 2);
    EXPECT_EQ(v, 0x1234);
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->regs().rip, 0x1006u);
    EXPECT_EQ(g.vcpu->sregs().cr0 & 1, 0u);
}

// Real mode: IP wraps at the end of the 64 KiB code segment, as on the
// CPU (and KVM); Unicorn on its own would run on into the next 64 KiB.
TEST(EmuVcpu, RealModeIpWrapsAtTheSegmentEnd) {
    EmuGuest g;
    g.start_real({0x90, 0x90, 0x90, 0x90}, 0xfffc);                      // nop x4, to 0xffff
    std::memcpy(g.ram.data(), "\xb0\x01\xe6\x80\xf4", 5);            // at 0: mov al,1; out 0x80,al; hlt
    std::memcpy(g.ram.data() + 0x10000, "\xb0\x02\xe6\x80\xf4", 5);  // at 0x10000, unwrapped: al=2
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(g.io_data()[0], 1) << "IP ran on past 0xffff";
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->regs().rip, 5u);
}

// An instruction whose own bytes straddle the segment end takes its last
// bytes from past it (linear, as QEMU's TCG fetches them, and so the
// nested VM's KVM: accel_diff's ip_wrap_straddle), and IP wraps after it.
TEST(EmuVcpu, RealModeInstructionStraddlingTheSegmentEndRunsThenIpWraps) {
    EmuGuest g;
    g.start_real({0x90, 0xb8, 0x34}, 0xfffd);                // nop; mov ax,0x??34, its last byte past 0xffff
    std::memcpy(g.ram.data() + 0x10000, "\x12\xe6\x80", 3);  // 0x12; then out 0x80,al unwrapped
    std::memcpy(g.ram.data() + 0x0001, "\xf4", 1);            // at IP 1: hlt
    ASSERT_EQ(g.next_exit(), ExitKind::Hlt) << g.vcpu->last_error();
    const kvm_regs r = g.vcpu->regs();
    EXPECT_EQ(r.rax & 0xffff, 0x1234u);
    EXPECT_EQ(r.rip, 2u);
}

// An instruction that does not decode (ud2) is a #UD, which (no IDT) the
// CPU cannot deliver: a Shutdown, as on KVM, wherever it lies in the
// segment (Unicorn gives such an instruction no length).
TEST(EmuVcpu, RealModeUndefinedInstructionShutsDown) {
    EmuGuest g;
    g.start_real({0x0f, 0x0b});  // ud2
    EXPECT_EQ(g.next_exit(), ExitKind::Shutdown);
}

TEST(EmuVcpu, SlotAddedDuringAnExitIsThereForTheNextInstruction) {
    EmuGuest g;
    HostPages page(4096);
    page.data()[0] = 0x99;
    // out 0x80,al; mov al,[0x40000000]; out 0x81,al; hlt
    g.start_long({0xe6, 0x80, 0x8a, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0xe6, 0x81, 0xf4});
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    g.vm.set_user_memory_region({1, 0, 0x40000000, 4096, page.addr()});  // as a device's handler would
    ASSERT_EQ(g.next_exit(), ExitKind::Io);  // RAM now: no MMIO exit
    EXPECT_EQ(g.exit.addr, 0x81);
    EXPECT_EQ(g.io_data()[0], 0x99);
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
}

}  // namespace
}  // namespace kvmrr
