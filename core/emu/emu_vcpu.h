// EmuVcpu: a Vcpu that runs the guest in EmuVm's Unicorn engine
// (Accel::Emu).
//
// It returns the exits KVM would, as VcpuExits, so the run loop, the exit
// handler and the recorder do not know which accelerator ran:
//   in/out            Io, one exit per element for string I/O
//   MMIO (no slot, or a write to a read-only slot)
//                     Mmio with the whole access (1..8 bytes)
//   hlt               Hlt
//   interrupt window asked for and open
//                     InterruptWindow
//   a debugger's breakpoint or single step (set_debug)
//                     Debug, before the instruction, from the code hook
//   a CPU exception   Shutdown (kvmrr's own guests have no IDT, so on KVM
//                     each would triple-fault), unless the guest has its
//                     own vectors and is in real mode: then through its IVT
//   int n, int3, into Shutdown, unless the guest has its own vectors
//                     (set_guest_vectors): then through its IVT/IDT
//   fetch from MMIO or unmapped memory, other emulator errors
//                     InternalError (emulation), see last_error()
// Every exit carries RFLAGS.IF in interrupts_enabled. Code runs from RAM
// and from read-only slots (firmware ROM).
//
// A worker runs the guest on a stack of its own in the caller's thread (a
// fiber); ExitHandshake (exit_handshake.h) makes its synchronous callbacks
// look like KVM's exits. regs(), sregs() and the destructor first bring
// the guest to rest.
//
// Modes: long mode, and real mode with 32-bit protected mode (the guest
// switches between them itself, with CR0.PE and far jumps, as SeaBIOS
// does); emu_registers.h says which kvm_sregs are accepted. set_sregs of
// real mode (and of another mode) re-creates the engine and clears the
// general registers, so set sregs before regs, as VmRunner does. The x86
// reset state (CS 0xf000 with base 0xffff0000, IP 0xfff0) starts at the
// low alias 0xffff0 of the reset vector: no Unicorn call loads a CS base,
// and a PC maps the same ROM bytes there, and the firmware's first
// instruction is a far jump, so the guest runs the same code. sregs()
// reports the base that was set until the guest runs, then 0xf0000.
// Known gap: a stop exactly between the instruction that clears CR0.PE and
// the far jump that reloads CS would resume with CS's base taken as
// selector * 16 (stops there need a stop request at that instruction: the
// run loop makes none, as it asks only at exits, and firmware has IF clear).
//
// Far returns in real mode (retf, retf imm16, retfd) are done by hand: the
// code hook stops before them and the worker pops CS:IP. Unicorn 2.0.1
// with a memory-read hook would leave EIP at the return's own linear
// address (emu_by_hand.cc, real_far_return), whatever CS's base. Assumes a
// 16-bit stack, as real mode has after SS is loaded there.
//
// Interrupts (inject_interrupt, at exit boundaries): delivered by hand with
// the guest at rest, after completing a pending I/O or MMIO exit. Real
// mode: through the IVT at IDTR.base (push FLAGS, CS, IP; clear IF, TF,
// AC). Protected mode: 32-bit interrupt gates (clear IF) and trap gates,
// same privilege (push EFLAGS, CS, EIP); a gate not present, beyond the
// IDT limit or of another type makes the next run() return Shutdown with
// the reason in stop_note(). Long mode: not delivered (Shutdown, noted).
// The interrupt shadow: after STI, MOV SS or POP SS the window stays closed
// for one more instruction (judged from the instruction last completed;
// STI with IF already set counts too, which only delays by one
// instruction). request_interrupt_window(true) makes run() return an
// InterruptWindow exit at the first instruction boundary where IF is set
// and no shadow holds (the per-instruction hook checks it).
#pragma once

#include <memory>
#include <string>

#include "core/emu/emu_vm.h"
#include "core/vcpu/vcpu.h"

namespace kvmrr {

class EmuVcpu final : public Vcpu {
public:
    // One vCPU per EmuVm; it must not outlive the VM.
    EmuVcpu(EmuVm& vm, unsigned id);
    ~EmuVcpu() override;
    EmuVcpu(const EmuVcpu&) = delete;
    EmuVcpu& operator=(const EmuVcpu&) = delete;

    unsigned id() const override;
    // Waits at most 10 ms for the next exit.
    std::optional<VcpuExit> run() override;
    void complete_exit() override;
    kvm_regs regs() const override;
    void set_regs(const kvm_regs& r) override;
    kvm_sregs sregs() const override;
    void set_sregs(const kvm_sregs& s) override;

    // Why the last InternalError or Shutdown exit happened, in words (""
    // before any).
    std::string last_error() const;
    std::string stop_note() const override;  // "emulator: " and last_error(), or ""
    bool interrupt_window_open() const override;
    void inject_interrupt(uint8_t vector) override;
    void request_interrupt_window(bool on) override;
    bool set_tsc_source(TscSource* source) override;
    // Any number of breakpoints, and single steps, from the code hook.
    bool set_debug(const DebugSettings& settings) override;
    bool stops_anywhere() const override { return true; }
    std::optional<uint64_t> instructions_retired() const override;
    bool set_pause_at(std::optional<uint64_t> instructions) override;
    std::optional<FpuState> fpu() const override;
    // Unicorn's CPUID shows no local APIC, no long mode and few of the
    // features a 64-bit kernel requires, though its CPU has them (FPU, PSE,
    // TSC, MSR, PAE, PGE). The pc board, whose local APIC is at 0xfee00000,
    // shows them, as KVM does (see EmuVcpu::Impl::fix_cpuid).
    void use_pc_cpuid(bool on);
    // --deterministic-cpu: CPUID without the features of
    // core/vcpu/hidden_cpuid.h, as KVM's then shows it.
    void hide_nondeterministic_cpuid(bool on);

    // Whether the guest has its own IVT/IDT (a PC guest running firmware):
    // then `int n`, `int3` and `into` go through them as on a CPU. Off for
    // kvmrr's own fixture guests, which have none (those end as Shutdown).
    // set_sregs with the x86 reset state (CS 0xf000, base 0xffff0000)
    // turns it on; a board may also set it.
    void set_guest_vectors(bool on);
    bool guest_vectors() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace kvmrr
