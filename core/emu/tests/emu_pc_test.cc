// EmuVcpu for a PC guest: the reset vector in ROM, real mode <-> 32-bit
// protected mode, interrupts through the IVT and the IDT, the interrupt
// window, ROM writes and a slot swapped under running code (PAM), and a
// delivery whose frame lies in a device window.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/emu/emu_vcpu.h"
#include "core/emu/emu_vm.h"
#include "core/emu/tests/emu_test_guest.h"

namespace kvmrr {
namespace {

using Bytes = std::vector<uint8_t>;
using testing::HostPages;

constexpr uint64_t kRamTop = 0xe0000;  // RAM below the BIOS area, as on a PC
constexpr uint32_t kIf = 1u << 9;

// RAM at 0..0xe0000 (slot 0) and a 64 KiB ROM, nothing mapped yet.
struct PcGuest {
    EmuVm vm;
    HostPages ram{kRamTop};
    HostPages rom{0x10000};
    std::unique_ptr<EmuVcpu> vcpu;
    VcpuExit exit;

    PcGuest() {
        vm.set_user_memory_region({0, 0, 0, ram.size(), ram.addr()});
        vcpu = std::make_unique<EmuVcpu>(vm, 0);
    }
    void put(uint64_t gpa, const Bytes& b) { std::memcpy(ram.data() + gpa, b.data(), b.size()); }
    void put_rom(uint64_t off, const Bytes& b) { std::memcpy(rom.data() + off, b.data(), b.size()); }
    void put64(uint64_t gpa, uint64_t v) { std::memcpy(ram.data() + gpa, &v, 8); }

    // Real mode at CS:IP = cs:ip, the other segments 0, SP 0x7000.
    void start_real(uint16_t cs, uint16_t ip) {
        kvm_sregs s = vcpu->sregs();
        for (kvm_segment* g : {&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss}) g->base = g->selector = 0;
        s.cs.selector = cs;
        s.cs.base = static_cast<uint64_t>(cs) << 4;
        s.idt.base = 0;
        s.idt.limit = 0x3ff;
        vcpu->set_sregs(s);
        kvm_regs r{};
        r.rip = ip;
        r.rsp = 0x7000;
        r.rflags = 2;
        vcpu->set_regs(r);
    }
    void ivt(uint8_t vector, uint16_t cs, uint16_t ip) {
        const uint32_t e = static_cast<uint32_t>(cs) << 16 | ip;
        std::memcpy(ram.data() + vector * 4, &e, 4);
    }
    std::optional<ExitKind> next() {
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < end)
            if (std::optional<VcpuExit> e = vcpu->run()) {
                exit = *e;
                return e->kind;
            }
        return std::nullopt;
    }
    uint32_t io_value() const {
        uint32_t v = 0;
        std::memcpy(&v, exit.data.data(), exit.size);
        return v;
    }
};

// lgdt [0x900]; lidt [0x910]; mov eax,cr0; or al,1; mov cr0,eax;
// jmp dword 0x08:0x1100; and at 0x1100 (32-bit): mov ax,0x10; mov ds,ax;
// mov ss,ax; mov esp,0x7000; then `body` from 0x110d. GDT: flat 32-bit
// code 0x08 and data 0x10, 16-bit code 0x18 and data 0x20 (base 0).
void to_protected_mode(PcGuest& g, const Bytes& body) {
    const uint64_t gdt[] = {0, 0x00cf9b000000ffff, 0x00cf93000000ffff, 0x00009b000000ffff, 0x000093000000ffff};
    std::memcpy(g.ram.data() + 0x800, gdt, sizeof gdt);
    g.put(0x900, {39, 0, 0x00, 0x08, 0, 0});
    g.put(0x910, {0x1f, 0x01, 0x00, 0x30, 0, 0});  // IDT at 0x3000, vectors 0..0x23
    g.put(0x1000, {0x0f, 0x01, 0x16, 0x00, 0x09, 0x0f, 0x01, 0x1e, 0x10, 0x09, 0x0f, 0x20, 0xc0, 0x0c, 0x01, 0x0f, 0x22,
                   0xc0, 0x66, 0xea, 0x00, 0x11, 0x00, 0x00, 0x08, 0x00});
    g.put(0x1100, {0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x8e, 0xd0, 0xbc, 0x00, 0x70, 0x00, 0x00});
    g.put(0x110d, body);
    g.start_real(0, 0x1000);
}

uint64_t idt_gate(uint32_t offset, uint16_t sel, uint8_t attr) {
    return (offset & 0xffffull) | (static_cast<uint64_t>(sel) << 16) | (static_cast<uint64_t>(attr) << 40) |
           (static_cast<uint64_t>(offset >> 16) << 48);
}

TEST(EmuPc, ResetVectorRunsFromTheRomAliasAndRomWritesExit) {
    PcGuest g;
    g.vm.set_user_memory_region({1, kMemReadonly, 0xf0000, 0x10000, g.rom.addr()});
    g.vm.set_user_memory_region({2, kMemReadonly, 0xffff0000, 0x10000, g.rom.addr()});
    g.put_rom(0xfff0, {0xea, 0x5b, 0xe0, 0x00, 0xf0});  // jmp 0xf000:0xe05b
    // mov ax,0x1234; out 0x80,ax; mov ax,0xf000; mov ds,ax;
    // mov byte [0x100],0x55; mov al,[0x100]; out 0x81,al; hlt
    g.put_rom(0xe05b, {0xb8, 0x34, 0x12, 0xe7, 0x80, 0xb8, 0x00, 0xf0, 0x8e, 0xd8, 0xc6, 0x06, 0x00, 0x01, 0x55, 0xa0,
                       0x00, 0x01, 0xe6, 0x81, 0xf4});
    g.put_rom(0x100, {0xab});
    const kvm_sregs reset = g.vcpu->sregs();  // a fresh vCPU's: KVM's reset state
    ASSERT_EQ(reset.cs.base, 0xffff0000u);
    g.vcpu->set_sregs(reset);
    kvm_regs r{};
    r.rip = 0xfff0;
    r.rflags = 2;
    g.vcpu->set_regs(r);
    EXPECT_TRUE(g.vcpu->guest_vectors());
    EXPECT_EQ(g.vcpu->sregs().cs.base, 0xffff0000u);

    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x80u);
    EXPECT_EQ(g.io_value(), 0x1234u);
    EXPECT_FALSE(g.exit.interrupts_enabled);
    g.vcpu->complete_exit();
    EXPECT_EQ(g.vcpu->regs().rip, 0xe060u);
    const kvm_sregs s = g.vcpu->sregs();
    EXPECT_EQ(s.cs.selector, 0xf000);
    EXPECT_EQ(s.cs.base, 0xf0000u);
    EXPECT_EQ(s.cr0, 0x60000010u);

    ASSERT_EQ(g.next(), ExitKind::Mmio);
    EXPECT_TRUE(g.exit.is_write);
    EXPECT_EQ(g.exit.addr, 0xf0100u);
    EXPECT_EQ(g.exit.size, 1);
    EXPECT_EQ(g.exit.data[0], 0x55);
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x81u);
    EXPECT_EQ(g.io_value(), 0xabu);  // the ROM kept its byte
    EXPECT_EQ(g.rom.data()[0x100], 0xab);
    ASSERT_EQ(g.next(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->regs().rip, 0xe070u);
}

TEST(EmuPc, RealToProtectedModeAndBack) {
    PcGuest g;
    // 32-bit: mov eax,0xdeadbeef; out 0x80,eax; jmp 0x18:0x1200
    to_protected_mode(g, {0xb8, 0xef, 0xbe, 0xad, 0xde, 0xe7, 0x80, 0xea, 0x00, 0x12, 0x00, 0x00, 0x18, 0x00});
    // 16-bit protected: mov ax,0x20; mov ds,ax; mov ss,ax; mov eax,cr0;
    // and al,0xfe; mov cr0,eax; jmp 0x0100:0x0060
    g.put(0x1200, {0xb8, 0x20, 0x00, 0x8e, 0xd8, 0x8e, 0xd0, 0x0f, 0x20, 0xc0, 0x24, 0xfe, 0x0f, 0x22, 0xc0, 0xea, 0x60,
                   0x00, 0x00, 0x01});
    // real, CS 0x100: xor ax,ax; mov ds,ax; mov ss,ax; mov ax,0x5678;
    // out 0x82,ax; hlt
    g.put(0x1060, {0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xd0, 0xb8, 0x78, 0x56, 0xe7, 0x82, 0xf4});

    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.size, 4);
    EXPECT_EQ(g.io_value(), 0xdeadbeefu);
    g.vcpu->complete_exit();
    EXPECT_EQ(g.vcpu->regs().rip, 0x1114u);
    kvm_sregs s = g.vcpu->sregs();
    EXPECT_EQ(s.cr0 & 1, 1u);
    EXPECT_EQ(s.cs.selector, 0x08);
    EXPECT_EQ(s.cs.base, 0u);
    EXPECT_EQ(s.cs.db, 1);
    EXPECT_EQ(s.ss.selector, 0x10);

    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x82u);
    EXPECT_EQ(g.exit.size, 2);
    EXPECT_EQ(g.io_value(), 0x5678u);
    g.vcpu->complete_exit();
    EXPECT_EQ(g.vcpu->regs().rip, 0x6bu);  // the offset in CS, not 0x106b
    s = g.vcpu->sregs();
    EXPECT_EQ(s.cr0 & 1, 0u);
    EXPECT_EQ(s.cs.selector, 0x100);
    EXPECT_EQ(s.cs.base, 0x1000u);
    ASSERT_EQ(g.next(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->regs().rip, 0x6cu);
}

// Until paging the engine makes the guest's stores to RAM itself (RAM is
// read-only to Unicorn); Unicorn's page walks then write accessed and
// dirty bits, which must land.
TEST(EmuPc, PagingTurnedOnSetsAccessedAndDirtyBitsInRam) {
    PcGuest g;
    g.put64(0x20000, 0x83);  // page directory: 0..4 MiB, one 4 MiB page, present and writable
    // mov eax,cr4; or eax,0x10 (PSE); mov cr4,eax; mov eax,0x20000; mov cr3,eax;
    // mov eax,cr0; or eax,0x80000000; mov cr0,eax; mov byte [0x3000],1;
    // mov al,[0x3000]; out 0x80,al; hlt
    to_protected_mode(g, {0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x10, 0x0f, 0x22, 0xe0, 0xb8, 0x00, 0x00, 0x02, 0x00, 0x0f,
                          0x22, 0xd8, 0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0xc6, 0x05,
                          0x00, 0x30, 0x00, 0x00, 0x01, 0xa0, 0x00, 0x30, 0x00, 0x00, 0xe6, 0x80, 0xf4});
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.io_value(), 1u);
    EXPECT_NE(g.vcpu->sregs().cr0 & (1ull << 31), 0u);
    uint64_t pde = 0;
    std::memcpy(&pde, g.ram.data() + 0x20000, 8);
    EXPECT_EQ(pde, 0x83u | 0x20 | 0x40);  // accessed, dirty
    EXPECT_EQ(g.ram.data()[0x3000], 1);
    g.vcpu->complete_exit();
    EXPECT_EQ(g.next(), ExitKind::Hlt);
}

TEST(EmuPc, InjectedInterruptGoesThroughTheIvt) {
    PcGuest g;
    g.ivt(0x20, 0, 0x2000);
    g.put(0x2000, {0x9c, 0x58, 0xe7, 0x90, 0xcf});  // pushf; pop ax; out 0x90,ax; iret
    g.put(0x1000, {0xfb, 0xe6, 0x80, 0xf4});        // sti; out 0x80,al; hlt
    g.start_real(0, 0x1000);
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x80u);
    EXPECT_TRUE(g.exit.interrupts_enabled);
    EXPECT_TRUE(g.vcpu->interrupt_window_open());
    g.vcpu->inject_interrupt(0x20);  // completes the out first
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x90u);
    EXPECT_FALSE(g.exit.interrupts_enabled);
    EXPECT_EQ(g.io_value() & kIf, 0u);
    g.vcpu->complete_exit();
    EXPECT_EQ(g.vcpu->regs().rsp, 0x7000u - 6);
    EXPECT_EQ(g.ram.data()[0x7000 - 6], 0x03);  // return IP 0x1003, the hlt
    ASSERT_EQ(g.next(), ExitKind::Hlt);
    EXPECT_TRUE(g.exit.interrupts_enabled);  // iret restored IF
    const kvm_regs r = g.vcpu->regs();
    EXPECT_EQ(r.rip, 0x1004u);
    EXPECT_EQ(r.rsp, 0x7000u);
    EXPECT_NE(r.rflags & kIf, 0u);
}

TEST(EmuPc, InjectedInterruptGoesThroughTheIdtGates) {
    PcGuest g;
    g.put64(0x3000 + 0x21 * 8, idt_gate(0x2100, 0x08, 0x8e));  // interrupt gate
    g.put64(0x3000 + 0x22 * 8, idt_gate(0x2200, 0x08, 0x8f));  // trap gate
    g.put64(0x3000 + 0x23 * 8, idt_gate(0x2200, 0x08, 0x0f));  // not present
    g.put(0x2100, {0x9c, 0x58, 0xe7, 0x90, 0xcf});  // pushfd; pop eax; out 0x90,eax; iretd
    g.put(0x2200, {0x9c, 0x58, 0xe7, 0x91, 0xcf});
    to_protected_mode(g, {0xfb, 0xe6, 0x80, 0xe6, 0x81, 0xe6, 0x83, 0xf4});  // sti; out 0x80/0x81/0x83,al; hlt
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x80u);
    g.vcpu->inject_interrupt(0x21);
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x90u);
    EXPECT_EQ(g.io_value() & kIf, 0u);  // an interrupt gate clears IF
    g.vcpu->complete_exit();
    EXPECT_EQ(g.vcpu->regs().rsp, 0x7000u - 12);
    uint32_t frame[3];
    std::memcpy(frame, g.ram.data() + 0x7000 - 12, sizeof frame);
    EXPECT_EQ(frame[0], 0x1110u);  // EIP: past the out
    EXPECT_EQ(frame[1], 0x08u);
    EXPECT_NE(frame[2] & kIf, 0u);
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x81u);
    EXPECT_TRUE(g.exit.interrupts_enabled);
    g.vcpu->inject_interrupt(0x22);
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x91u);
    EXPECT_NE(g.io_value() & kIf, 0u);  // a trap gate does not
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x83u);
    g.vcpu->inject_interrupt(0x23);
    ASSERT_EQ(g.next(), ExitKind::Shutdown);
    EXPECT_NE(g.vcpu->stop_note().find("not present"), std::string::npos) << g.vcpu->stop_note();
}

// The registers read while an exit is pending (a run that a time limit or
// a signal ended there): RIP is the instruction's IP within CS, as KVM
// gives it, never its linear address, in real mode with a CS base as
// anywhere else.
TEST(EmuPc, RipAtAPendingExitIsTheIpWithinCs) {
    for (const bool port : {true, false}) {
        PcGuest g;
        // nop; out 0x90,al at IP 0x11, or mov ax,0xe000; mov ds,ax; mov
        // [0x2000],al at IP 0x15 (0xe2000: no RAM there, an MMIO exit)
        g.put(0x1010, port ? Bytes{0x90, 0xe6, 0x90} : Bytes{0xb8, 0x00, 0xe0, 0x8e, 0xd8, 0xa2, 0x00, 0x20});
        g.start_real(0x100, 0x10);
        ASSERT_EQ(g.next(), port ? ExitKind::Io : ExitKind::Mmio);
        if (!port) {
            EXPECT_EQ(g.exit.addr, 0xe2000u);
        }
        EXPECT_EQ(g.vcpu->regs().rip, port ? 0x11u : 0x15u) << (port ? "out" : "mov");
        EXPECT_EQ(g.vcpu->sregs().cs.base, 0x1000u);
    }
}

TEST(EmuPc, IntNGoesThroughTheIvtOnlyForAGuestWithVectors) {
    for (bool vectors : {true, false}) {
        PcGuest g;
        g.ivt(0x10, 0, 0x2000);
        g.put(0x2000, {0xb0, 0x42, 0xe6, 0x90, 0xcf});  // mov al,0x42; out 0x90,al; iret
        g.put(0x1000, {0xcd, 0x10, 0xe6, 0x81, 0xf4});  // int 0x10; out 0x81,al; hlt
        g.start_real(0, 0x1000);
        g.vcpu->set_guest_vectors(vectors);
        if (!vectors) {
            ASSERT_EQ(g.next(), ExitKind::Shutdown);
            EXPECT_NE(g.vcpu->last_error().find("int 0x10 (vector 16) at 0x1000"), std::string::npos) << g.vcpu->last_error();
            EXPECT_NE(g.vcpu->last_error().find("no IDT"), std::string::npos) << g.vcpu->last_error();
            continue;
        }
        ASSERT_EQ(g.next(), ExitKind::Io);
        EXPECT_EQ(g.exit.addr, 0x90u);
        ASSERT_EQ(g.next(), ExitKind::Io);
        EXPECT_EQ(g.exit.addr, 0x81u);
        EXPECT_EQ(g.io_value(), 0x42u);
        ASSERT_EQ(g.next(), ExitKind::Hlt);
        EXPECT_EQ(g.vcpu->regs().rsp, 0x7000u);
    }
}

// A #UD and a #DE in real mode, with CS's base not 0: through the IVT,
// with the faulting instruction's IP pushed (faults), for a guest with its
// own vectors; without them, the #UD ends the run as before.
TEST(EmuPc, CpuExceptionsInRealModeGoThroughTheIvt) {
    for (bool vectors : {true, false}) {
        PcGuest g;
        g.ivt(6, 0, 0x2000);
        g.ivt(0, 0, 0x2100);
        // out imm8,al; push bp; mov bp,sp; add word [bp+2],2; pop bp; iret
        g.put(0x2000, {0xe6, 0x90, 0x55, 0x89, 0xe5, 0x83, 0x46, 0x02, 0x02, 0x5d, 0xcf});
        g.put(0x2100, {0xe6, 0x91, 0x55, 0x89, 0xe5, 0x83, 0x46, 0x02, 0x02, 0x5d, 0xcf});
        // ud2; mov ax,5; xor bl,bl; div bl; hlt (at CS 0x100, IP 0x10)
        g.put(0x1010, {0x0f, 0x0b, 0xb8, 0x05, 0x00, 0x30, 0xdb, 0xf6, 0xf3, 0xf4});
        g.start_real(0x100, 0x10);
        g.vcpu->set_guest_vectors(vectors);
        if (!vectors) {
            ASSERT_EQ(g.next(), ExitKind::Shutdown);
            continue;
        }
        ASSERT_EQ(g.next(), ExitKind::Io);
        EXPECT_EQ(g.exit.addr, 0x90u);
        ASSERT_EQ(g.next(), ExitKind::Io);
        EXPECT_EQ(g.exit.addr, 0x91u);
        ASSERT_EQ(g.next(), ExitKind::Hlt);
        const kvm_regs r = g.vcpu->regs();
        EXPECT_EQ(r.rip, 0x1au);  // past the hlt
        EXPECT_EQ(r.rsp, 0x7000u);
        EXPECT_EQ(g.vcpu->sregs().cs.selector, 0x100u);
    }
}

// SeaBIOS's call16: `int 0x1c; lretw` in CS 0xf000 returned to the IVT
// handler's caller and then went to CS base + the lretw's own linear
// address (Unicorn 2.0.1 syncs EIP to the linear address before the load of
// the new CS). Far returns in real mode with a CS base other than 0 must
// land where the popped CS:IP says: retf, retf imm16 and retfd.
TEST(EmuPc, RealModeFarReturnWithACsBaseLandsOnThePoppedAddress) {
    PcGuest g;
    g.ivt(0x1c, 0, 0x2000);
    g.put(0x2000, {0xcf});  // iret
    // CS 0x100 (base 0x1000): push cs; push 0x10; int 0x1c; retf
    g.put(0x1000, {0x0e, 0x68, 0x10, 0x00, 0xcd, 0x1c, 0xcb});
    // 0x10: out 0x80,al; push 7; push cs; push 0x20; retf 2
    g.put(0x1010, {0xe6, 0x80, 0x6a, 0x07, 0x0e, 0x68, 0x20, 0x00, 0xca, 0x02, 0x00});
    // 0x20: out 0x81,al; push dword 0x100; push dword 0x30; retfd
    g.put(0x1020, {0xe6, 0x81, 0x66, 0x68, 0x00, 0x01, 0x00, 0x00, 0x66, 0x68, 0x30, 0x00, 0x00, 0x00, 0x66, 0xcb});
    // 0x30: out 0x82,al; hlt
    g.put(0x1030, {0xe6, 0x82, 0xf4});
    // Where the wrong returns went (CS base + the return's linear address):
    // hlt, so that a failure shows at once.
    for (uint64_t a : {0x2006u, 0x2018u, 0x202eu}) g.put(a, {0xf4});
    g.start_real(0x100, 0);
    g.vcpu->set_guest_vectors(true);
    for (uint64_t port : {0x80u, 0x81u, 0x82u}) {
        ASSERT_EQ(g.next(), ExitKind::Io) << "before port " << port << ", rip " << g.vcpu->regs().rip;
        EXPECT_EQ(g.exit.addr, port);
        g.vcpu->complete_exit();
        EXPECT_EQ(g.vcpu->regs().rsp, 0x7000u);
        EXPECT_EQ(g.vcpu->sregs().cs.selector, 0x100);
    }
    ASSERT_EQ(g.next(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->regs().rip, 0x33u);
    EXPECT_EQ(g.vcpu->regs().rsp, 0x7000u);
}

// The same with CS 0, where the return's linear address is its own offset:
// SYSLINUX calls the BIOS from CS 0 with `retf` to the vector's CS:IP (at
// 0:8c2e, into SeaBIOS's INT 10h at f000:f065), which went to f000:8c2e.
TEST(EmuPc, RealModeFarReturnFromCsZeroLandsOnThePoppedAddress) {
    PcGuest g;
    // 0:0x1000: push 0x100; push 0x30; retf
    g.put(0x1000, {0x68, 0x00, 0x01, 0x68, 0x30, 0x00, 0xcb});
    // 0x100:0x30: out 0x80,al; push 0; push 0x1100; retf (back to CS 0)
    g.put(0x1030, {0xe6, 0x80, 0x6a, 0x00, 0x68, 0x00, 0x11, 0xcb});
    // 0:0x1100: out 0x81,al; hlt
    g.put(0x1100, {0xe6, 0x81, 0xf4});
    g.put(0x1000 + 0x1006, {0xf4});  // where the wrong return went: 0x100:0x1006
    g.start_real(0, 0x1000);
    ASSERT_EQ(g.next(), ExitKind::Io) << "rip " << g.vcpu->regs().rip << " cs " << g.vcpu->sregs().cs.selector;
    EXPECT_EQ(g.exit.addr, 0x80u);
    EXPECT_EQ(g.vcpu->sregs().cs.selector, 0x100);
    g.vcpu->complete_exit();
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x81u);
    ASSERT_EQ(g.next(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->sregs().cs.selector, 0u);
    EXPECT_EQ(g.vcpu->regs().rip, 0x1103u);  // past the hlt
    EXPECT_EQ(g.vcpu->regs().rsp, 0x7000u);
}

TEST(EmuPc, InterruptWindowOpensAfterStiAndTheShadow) {
    PcGuest g;
    g.ivt(0x20, 0, 0x2000);
    g.put(0x2000, {0xe6, 0x90, 0xcf});                          // out 0x90,al; iret
    g.put(0x1000, {0xfa, 0xe6, 0x80, 0xfb, 0x90, 0xf4, 0xf4});  // cli; out 0x80,al; sti; nop; hlt; hlt
    g.start_real(0, 0x1000);
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_FALSE(g.exit.interrupts_enabled);
    EXPECT_FALSE(g.vcpu->interrupt_window_open());
    g.vcpu->request_interrupt_window(true);
    ASSERT_EQ(g.next(), ExitKind::InterruptWindow);
    EXPECT_TRUE(g.exit.interrupts_enabled);
    EXPECT_EQ(g.vcpu->regs().rip, 0x1005u);  // after the nop the sti let run
    EXPECT_TRUE(g.vcpu->interrupt_window_open());
    g.vcpu->request_interrupt_window(false);
    g.vcpu->inject_interrupt(0x20);
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x90u);
    ASSERT_EQ(g.next(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->regs().rip, 0x1006u);
}

TEST(EmuPc, StiHltHaltsWithTheWindowOpen) {
    PcGuest g;
    g.put(0x1000, {0xfa, 0xe6, 0x80, 0xfb, 0xf4});  // cli; out 0x80,al; sti; hlt
    g.start_real(0, 0x1000);
    ASSERT_EQ(g.next(), ExitKind::Io);
    g.vcpu->request_interrupt_window(true);
    // The hlt stands in the sti's shadow, so it runs before any interrupt.
    ASSERT_EQ(g.next(), ExitKind::Hlt);
    EXPECT_TRUE(g.exit.interrupts_enabled);
    EXPECT_TRUE(g.vcpu->interrupt_window_open());
    EXPECT_EQ(g.vcpu->regs().rip, 0x1005u);
}

TEST(EmuPc, SlotSwappedDuringAnExitRunsForTheNextInstruction) {
    PcGuest g;
    HostPages shadow_ram(0x10000);
    g.put_rom(0x100, {0xe6, 0x80, 0xb0, 0x01, 0xe6, 0x81, 0xf4});  // out 0x80,al; mov al,1; out 0x81,al; hlt
    std::memcpy(shadow_ram.data() + 0x100, g.rom.data() + 0x100, 7);
    shadow_ram.data()[0x103] = 0x02;  // mov al,2 in the RAM that replaces the ROM
    g.vm.set_user_memory_region({1, kMemReadonly, 0xf0000, 0x10000, g.rom.addr()});
    g.start_real(0xf000, 0x100);
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x80u);
    // What a PAM register write does: the ROM goes, RAM takes its place.
    g.vm.set_user_memory_region({1, 0, 0, 0, 0});
    g.vm.set_user_memory_region({3, 0, 0xf0000, 0x10000, shadow_ram.addr()});
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x81u);
    EXPECT_EQ(g.io_value(), 2u);
    EXPECT_EQ(g.next(), ExitKind::Hlt);
}

// KVM decodes `rep ins` once for a whole batch and writes the batch before
// fetching the instruction again; so does the emulator, even when the batch
// writes over the instruction itself (Unicorn alone would fetch it anew after
// the first byte written and run something else).
TEST(EmuPc, RepInsbOverItsOwnCodeWritesTheWholeBatch) {
    PcGuest g;
    // mov cx,8; mov di,0x1009; mov dx,0x61; rep insb (at 0x1009); hlt
    g.put(0x1000, {0xb9, 0x08, 0x00, 0xbf, 0x09, 0x10, 0xba, 0x61, 0x00, 0xf3, 0x6c, 0xf4});
    g.start_real(0, 0x1000);
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_FALSE(g.exit.is_write);
    EXPECT_EQ(g.exit.addr, 0x61u);
    EXPECT_EQ(g.exit.size, 1u);
    ASSERT_EQ(g.exit.count, 8u);
    const Bytes batch = {0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xf4};  // nops over itself, then hlt
    std::memcpy(g.exit.data.data(), batch.data(), batch.size());
    // The instruction ends with the batch (CX 0) and the guest goes on past
    // it, into the bytes it wrote: five nops, then the hlt at 0x1010.
    ASSERT_EQ(g.next(), ExitKind::Hlt);
    const kvm_regs r = g.vcpu->regs();
    EXPECT_EQ(r.rip, 0x1011u);
    EXPECT_EQ(r.rcx & 0xffff, 0u);
    EXPECT_EQ(r.rdi & 0xffff, 0x1011u);
    EXPECT_EQ(std::memcmp(g.ram.data() + 0x1009, batch.data(), batch.size()), 0);
}

// DI wraps at 0xffff in a 16-bit address size, within ES: the batch's last
// elements land at ES:0000, here over the `rep insw` itself.
TEST(EmuPc, RepInswWrapsDiWithinEsOverItsOwnCode) {
    PcGuest g;
    g.put(0x1000, {0xf3, 0x6d, 0xf4});  // rep insw; hlt, at ES:0000
    g.start_real(0, 0x1000);
    kvm_sregs s = g.vcpu->sregs();
    s.es.selector = 0x100;
    s.es.base = 0x1000;
    g.vcpu->set_sregs(s);
    kvm_regs r{};
    r.rip = 0x1000;
    r.rsp = 0x7000;
    r.rflags = 2;
    r.rcx = 4;
    r.rdi = 0xfffc;
    r.rdx = 0x61;
    g.vcpu->set_regs(r);
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.size, 2u);
    // KVM's batch: the bytes from DI to its page's end (4) bound the count.
    ASSERT_EQ(g.exit.count, 4u);
    const Bytes batch = {0x11, 0x11, 0x22, 0x22, 0x90, 0x90, 0xf4, 0x90};
    std::memcpy(g.exit.data.data(), batch.data(), batch.size());
    ASSERT_EQ(g.next(), ExitKind::Hlt);  // the hlt written at ES:0002
    r = g.vcpu->regs();
    EXPECT_EQ(r.rip, 0x1003u);
    EXPECT_EQ(r.rdi & 0xffff, 4u);
    EXPECT_EQ(r.rcx & 0xffff, 0u);
    EXPECT_EQ(std::memcmp(g.ram.data() + 0x10ffc, batch.data(), 4), 0);
    EXPECT_EQ(std::memcmp(g.ram.data() + 0x1000, batch.data() + 4, 4), 0);
}

// Unicorn fails a whole translated block when one of its instructions
// cannot be fetched; KVM runs the instructions before it, then fails at it.
TEST(EmuPc, FetchFaultIsReportedAtTheInstructionNotItsBlock) {
    PcGuest g;
    // mov al,1; out 0x80,al; four nops, the last at 0xdffff: then the end of
    // RAM (nothing at 0xe0000 here).
    g.put(0xdfff8, {0xb0, 0x01, 0xe6, 0x80, 0x90, 0x90, 0x90, 0x90});
    g.start_real(0xdfff, 0x8);
    ASSERT_EQ(g.next(), ExitKind::Io);
    EXPECT_EQ(g.exit.addr, 0x80u);
    ASSERT_EQ(g.next(), ExitKind::InternalError);
    EXPECT_EQ(g.vcpu->regs().rip, 0x10u);  // 0xdfff:0x0010 = 0xe0000
    EXPECT_NE(g.vcpu->last_error().find("0xe0000"), std::string::npos) << g.vcpu->last_error();
    // Stepping left no exits behind: the same code runs as one block again.
    g.put(0xdfffc, {0xf4});
    g.start_real(0xdfff, 0x8);
    ASSERT_EQ(g.next(), ExitKind::Io);
    ASSERT_EQ(g.next(), ExitKind::Hlt);
    EXPECT_EQ(g.vcpu->regs().rip, 0xdu);  // past the hlt at 0xdfffc
}

// Code reached in a device window is not read from the device (no MMIO
// exit): KVM cannot run it either and fails.
TEST(EmuPc, JumpIntoADeviceWindowIsAnEmulationFailure) {
    PcGuest g;
    g.put(0x1000, {0xea, 0x00, 0x00, 0x00, 0xe0});  // jmp 0xe000:0000
    g.start_real(0, 0x1000);
    ASSERT_EQ(g.next(), ExitKind::InternalError);
    EXPECT_EQ(g.exit.reason_code, static_cast<uint32_t>(KVM_INTERNAL_ERROR_EMULATION));
    EXPECT_NE(g.vcpu->last_error().find("0xe0000"), std::string::npos) << g.vcpu->last_error();
}

// The emulator delivers interrupts and exceptions by hand, writing the
// frame at SS:SP outside Unicorn's run; a stack in a device window
// (0xe0000 here) is where such a write would reach a device's callback,
// from which no exit can be made (it corrupted the caller's stack: found
// by random firmware). The run ends with an internal error that names the
// address, the process goes on.
void starts_with_its_stack_in_a_device_window(PcGuest& g, uint16_t cs, uint16_t ip) {
    g.start_real(cs, ip);
    kvm_sregs s = g.vcpu->sregs();
    s.ss.selector = 0xe000;
    s.ss.base = 0xe0000;
    g.vcpu->set_sregs(s);
    kvm_regs r = g.vcpu->regs();
    r.rsp = 0x100;
    g.vcpu->set_regs(r);
}

TEST(EmuPc, AnInterruptWhoseFrameLiesInADeviceWindowEndsTheRun) {
    PcGuest g;
    g.ivt(0x20, 0, 0x2000);
    g.put(0x2000, {0xcf});                          // iret
    g.put(0x1000, {0xfb, 0xe6, 0x80, 0xf4});        // sti; out 0x80,al; hlt
    starts_with_its_stack_in_a_device_window(g, 0, 0x1000);
    ASSERT_EQ(g.next(), ExitKind::Io);
    ASSERT_TRUE(g.vcpu->interrupt_window_open());
    g.vcpu->inject_interrupt(0x20);
    ASSERT_EQ(g.next(), ExitKind::InternalError);
    EXPECT_EQ(g.exit.reason_code, static_cast<uint32_t>(KVM_INTERNAL_ERROR_EMULATION));
    const std::string why = g.vcpu->last_error();
    EXPECT_NE(why.find("interrupt 32"), std::string::npos) << why;
    EXPECT_NE(why.find("0xe00fe"), std::string::npos) << why;  // the first push: FLAGS at SS:SP-2
    EXPECT_NE(why.find("device window"), std::string::npos) << why;
}

TEST(EmuPc, AnExceptionWhoseFrameLiesInADeviceWindowEndsTheRun) {
    PcGuest g;
    g.ivt(6, 0, 0x2000);
    g.put(0x2000, {0xcf});        // iret
    g.put(0x1000, {0x0f, 0x0b});  // ud2
    starts_with_its_stack_in_a_device_window(g, 0, 0x1000);
    g.vcpu->set_guest_vectors(true);
    ASSERT_EQ(g.next(), ExitKind::InternalError);
    const std::string why = g.vcpu->last_error();
    EXPECT_NE(why.find("0xe00fe"), std::string::npos) << why;
    EXPECT_NE(why.find("device window"), std::string::npos) << why;
}

}  // namespace
}  // namespace kvmrr
