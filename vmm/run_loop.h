// The vCPU run loop: Vcpu::run (KVM_RUN or the emulator) returns an exit,
// handle_exit (or a replay's handler) answers it, repeat, until something
// ends the run, with a limit on exits and on wall-clock time.
//
// The timeout is a POSIX timer that signals this thread: the signal kicks
// a KVM vCPU out of KVM_RUN (EINTR) even if the guest spins without exits,
// and it repeats every 10 ms after the deadline, so a signal that lands
// while the thread is outside KVM_RUN cannot be missed. The emulated vCPU
// returns from run() on its own after a bounded wait (its guest is stopped
// only at an instruction boundary, from its own hook, never from this
// thread), so the deadline is checked there too. The signal handler does
// nothing; it is installed for SIGRTMIN + 1 by each timed run. A run that
// can be interrupted (RunLimits::interrupt) has the same timer fire every
// 10 ms from its start, and looks at the flag each time run() returns.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/vcpu/exit_handler.h"
#include "core/vcpu/vcpu.h"

namespace kvmrr {

// Set by a device (through RunControl) to end the run after this exit:
// with an exit status, or by a reset of the machine.
struct GuestExitRequest {
    bool requested = false;
    int status = 0;
    bool reset = false;
    bool output_matched = false;  // --stop-at-output saw its text
};

// Sees every exit around its handling (the recorder's tap): before_exit
// opens the exit (what a device does while handling it belongs to it),
// on_exit sees it handled, with the data a read returned; on_interrupt
// sees each external interrupt delivered (after exit number `exit`, at
// `rip`); on_pause each stop between exits at which the board is asked
// for one (after `exit` exits and, where the vCPU counts them,
// `instructions` instructions), before it is asked.
class ExitObserver {
public:
    virtual ~ExitObserver() = default;
    virtual void before_exit(const VcpuExit&) {}
    virtual void on_exit(const VcpuExit& exit, const ExitOutcome& outcome) = 0;
    virtual void on_interrupt(uint8_t /*vector*/, uint64_t /*exit*/, uint64_t /*rip*/) {}
    virtual void on_pause(uint64_t /*exit*/, std::optional<uint64_t> /*instructions*/) {}
};

// Guest replay of a recording whose run loop stopped its guest between
// exits (--ticks-between-exits): the instruction counts at which the run
// loop stops the replayed guest to ask the board again, in order. A guest
// found past the next one between exits ends the run (Diverged): it can
// never stop there.
class PausePlan {
public:
    virtual ~PausePlan() = default;
    // The count of the next stop, if one is planned.
    virtual std::optional<uint64_t> next_pause() const = 0;
    // The guest stopped there: the plan goes on to the one after.
    virtual void reached() = 0;
};

// A board's interrupt controllers and timers, as the run loop sees them at
// exit boundaries (where kvmrr delivers interrupts), and, on the host
// clock, when a timer falls due while the guest runs without exits.
class InterruptSource {
public:
    virtual ~InterruptSource() = default;
    // After each exit: runs the timers that are due, then says whether an
    // external interrupt waits for the CPU.
    virtual bool interrupt_pending() = 0;
    // The INTA cycle: the vector the CPU takes now.
    virtual uint8_t acknowledge() = 0;
    // The guest halted with interrupts enabled: waits (host clock) or
    // jumps (virtual clock) to the next timer whose interrupt would reach
    // the CPU, or, with none, waits for the input of a device whose
    // interrupt would, no later than `give_up` or than `stop` (when given)
    // is set. False when no interrupt can ever come.
    virtual bool wait_for_interrupt(std::chrono::steady_clock::time_point give_up,
                                    const std::atomic<int>* stop = nullptr) = 0;
    // Device replay, which does not see HLTs: where the recording's guest
    // waited for input alone, after the board's step at that HLT, takes
    // what the wait then took (the trace's next input says so). True if it
    // did.
    virtual bool take_awaited_input() { return false; }
    // One exit more (the virtual clock counts them).
    virtual void count_exit() {}
    // How long, roughly, until the next timer falls due, for a run loop
    // that stops a guest spinning without exits then and delivers what is
    // pending (a guest that waits for a tick in a loop gets it). Nothing
    // when no timer is armed, or when time must not stop the guest: the
    // virtual clock, whose time moves only with exits, keeps every
    // delivery at an exit. An estimate: a stop that comes early finds
    // nothing due, and the loop asks again.
    virtual std::optional<std::chrono::nanoseconds> next_timer_in() { return std::nullopt; }
};

// A debugger attached to the guest (guest replay's gdb server). The run
// loop hands it every Debug exit (Vcpu::set_debug); it returns when the
// guest may go on, having set the vCPU's next stops. Such an exit is the
// debugger's alone: not counted, not handled, and the time spent in it
// does not count against the run's time limit.
class DebugStopHandler {
public:
    virtual ~DebugStopHandler() = default;
    virtual void on_debug_stop(const VcpuExit& exit) = 0;
    // Called about every 10 ms while the guest runs (the debugger may ask
    // for a stop: Vcpu::set_debug then makes the next instruction one).
    virtual void poll() {}
};

struct RunLimits {
    uint64_t max_exits = 0;                 // 0: no limit
    std::chrono::milliseconds timeout{0};   // 0: no limit
    // Set by another thread (the CLI's signal watch), or by the exit
    // handler (guest replay, in a recording's last stretch between exits),
    // to end the run (a signal's number; 0: go on):
    // the run ends at the guest's next exit, which it does not handle (as
    // at a time-out, so guest replay stops at the same exit), or after a
    // second without one, with StopReason::Interrupted and the number as
    // its detail; a recording ends as cleanly as at any other end.
    const std::atomic<int>* interrupt = nullptr;
    DebugStopHandler* debugger = nullptr;  // null: a Debug exit is ignored
    PausePlan* pauses = nullptr;           // null: stops between exits only where a timer falls due
};

struct RunResult {
    StopReason reason = StopReason::None;
    int exit_status = 0;  // the guest's, for GuestExit
    uint64_t exits = 0;
    uint64_t detail = 0;
    kvm_regs regs{};
    kvm_sregs sregs{};
    // A time limit or a signal stopped the guest between two exits (it
    // ran without any), at an instruction no replay can stop at again.
    bool between_exits = false;
    // What the accelerator itself said about the stop, when it says more
    // than KVM's exit does (the emulator: which exception, where), or "".
    std::string note;
    std::string describe() const;  // one line for the user
};

// Answers an exit instead of handle_exit (guest replay serves reads from
// a trace this way); the observer is still told.
using ExitHandlerFn = std::function<ExitOutcome(VcpuExit&)>;

// `interrupts` (a board's, or null for none): a HLT with interrupts
// enabled waits for the next one instead of ending the run, and a pending
// interrupt is delivered after an exit when the guest can take it (else
// the vCPU is asked for an exit as soon as it can).
RunResult run_vcpu(Vcpu& vcpu, ExitTargets targets, const ExitPolicy& policy, const RunLimits& limits,
                   const GuestExitRequest& exit_request, ExitObserver* observer = nullptr,
                   const ExitHandlerFn& handler = {}, InterruptSource* interrupts = nullptr);

}  // namespace kvmrr
