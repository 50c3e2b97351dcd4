// Vcpu: what the run loop needs from a virtual CPU, whichever accelerator
// provides it.
//
// run() returns the next exit as a VcpuExit (vcpu_exit.h), plain data that
// both accelerators fill: KvmVcpu (core/kvm/kvm.h) decodes KVM's run area,
// EmuVcpu (core/emu/emu_vcpu.h) builds it from the emulator's callbacks. The
// exit's `data` span points into a buffer the vCPU owns and stays valid
// until the next run() or complete_exit(); for a read the handler writes
// the data there, and the next run() (or complete_exit()) hands it to the
// guest. Registers travel as kvm_regs/kvm_sregs: plain structs of the KVM
// API that both fill, no KVM needed.
#pragma once

#include <linux/kvm.h>

#include <optional>
#include <string>
#include <vector>

#include "core/vcpu/vcpu_exit.h"

namespace kvmrr {

// The guest's time-stamp counter where the accelerator traps RDTSC: a
// function of the board's clock, so that it is the same in every run.
class TscSource {
public:
    virtual ~TscSource() = default;
    // Called for each RDTSC/RDTSCP the guest executes, in order, on the
    // thread that runs the guest, while run() is in progress.
    virtual uint64_t read_tsc() = 0;
};

// What a debugger attached to the guest asks of the vCPU: run() returns a
// Debug exit before an instruction at one of `breakpoints` (linear
// addresses, as the CPU's debug registers take them) and, with
// `single_step`, before each instruction after the first it runs.
// Resuming at the breakpoint it stopped at runs that instruction. A Debug
// exit's `addr` is the linear address of the instruction it stopped
// before.
// A watchpoint stops the guest after an instruction that accessed
// [addr, addr + len) (linear) the way it watches.
struct Watchpoint {
    enum class Kind : uint8_t { Write, Read, Access };
    uint64_t addr = 0;
    uint64_t len = 1;
    Kind kind = Kind::Write;
    bool operator==(const Watchpoint&) const = default;
};

struct DebugSettings {
    bool single_step = false;
    std::vector<uint64_t> breakpoints;
    std::vector<Watchpoint> watchpoints;  // where stops_anywhere()
    // A stop before the instruction that comes when this many have been
    // done (instructions_retired()), where the vCPU counts them.
    std::optional<uint64_t> stop_at_instruction;
    bool active() const {
        return single_step || !breakpoints.empty() || !watchpoints.empty() || stop_at_instruction.has_value();
    }
};

// The x87 and SSE registers in KVM_GET_FPU's form (FXSAVE's: ST(0) to
// ST(7) in stack order, the abridged tag byte), and whether MXCSR is among
// them: KVM_GET_FPU leaves it out.
struct FpuState {
    kvm_fpu regs{};
    bool has_mxcsr = true;
};

class Vcpu {
public:
    virtual ~Vcpu() = default;
    virtual unsigned id() const = 0;
    // Enters the guest until the next exit. An exit that needs data (an I/O
    // or MMIO read) is completed by the next run() with what the handler
    // wrote into its data. Returns nothing when interrupted before any exit
    // (a signal for KVM, a bounded wait for the emulator), so that callers
    // can check a deadline and call run() again.
    virtual std::optional<VcpuExit> run() = 0;
    // Completes the instruction of the exit that run() last returned,
    // without running the guest further: what KVM_RUN with immediate_exit
    // does. Until then the registers are not defined alike everywhere
    // (after an OUT, RIP may or may not be past it on KVM, depending on
    // whether the host took the fast path or emulated the instruction).
    // A no-op when no I/O or MMIO exit is pending.
    virtual void complete_exit() = 0;
    virtual kvm_regs regs() const = 0;
    virtual void set_regs(const kvm_regs& r) = 0;
    virtual kvm_sregs sregs() const = 0;
    virtual void set_sregs(const kvm_sregs& s) = 0;
    // What the accelerator knows of the last stop beyond its exit (the
    // emulator: which exception, where), or "".
    virtual std::string stop_note() const { return ""; }

    // External interrupts, which kvmrr delivers itself (no in-kernel
    // irqchip), only at exit boundaries, between run() calls:
    // Whether the guest can take one now (RFLAGS.IF set, no interrupt
    // shadow after STI or MOV SS), as of the last exit.
    virtual bool interrupt_window_open() const = 0;
    // Delivers `vector` as an external interrupt before the guest's next
    // instruction, through the IVT in real mode and the IDT in protected
    // mode. Only when the window is open; a pending I/O or MMIO exit is
    // completed first.
    virtual void inject_interrupt(uint8_t vector) = 0;
    // Asks run() to return (an InterruptWindow exit) as soon as the guest
    // can take an interrupt, or no longer.
    virtual void request_interrupt_window(bool on) = 0;

    // Makes the guest's RDTSC and RDTSCP read `source` (null: the host's
    // TSC again). False where that cannot be done: KVM gives user space no
    // RDTSC exit, so there the guest reads the host's TSC, unrecorded.
    virtual bool set_tsc_source(TscSource* source) {
        (void)source;
        return false;
    }

    // Debug exits as `settings` say (none: the guest runs as before), set
    // between run() calls. False where the accelerator cannot stop so:
    // more breakpoints than it has (KVM's four debug registers).
    virtual bool set_debug(const DebugSettings& settings) {
        return !settings.active();
    }
    // Whether set_debug takes any number of breakpoints and watchpoints
    // (the emulator's hooks); where not, a debugger keeps more breakpoints
    // by single-stepping, and has no watchpoints.
    virtual bool stops_anywhere() const { return false; }
    // The instructions the guest has done since it started, where the
    // accelerator counts them (the emulator; KVM cannot): the same at the
    // same point of the same guest's run whatever stopped it on the way,
    // which is what a debugger's reverse steps are measured by. An
    // instruction a fault interrupts counts, and again when it runs
    // after its handler.
    virtual std::optional<uint64_t> instructions_retired() const { return std::nullopt; }
    // Makes run() return nothing, as at its bounded wait, before the
    // instruction that comes when `instructions` have been done
    // (instructions_retired()); none: no such stop. Set between run()
    // calls; the stop comes once. False where the accelerator counts no
    // instructions (KVM) and `instructions` is given.
    virtual bool set_pause_at(std::optional<uint64_t> instructions) { return !instructions; }
    // The x87 and SSE registers, where the accelerator can say.
    virtual std::optional<FpuState> fpu() const { return std::nullopt; }
};

}  // namespace kvmrr
