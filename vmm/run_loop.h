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
// nothing; it is installed for SIGRTMIN + 1 by each timed run.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
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
};

// Sees every exit around its handling (the recorder's tap): before_exit
// opens the exit (what a device does while handling it belongs to it),
// on_exit sees it handled, with the data a read returned.
class ExitObserver {
public:
    virtual ~ExitObserver() = default;
    virtual void before_exit(const VcpuExit&) {}
    virtual void on_exit(const VcpuExit& exit, const ExitOutcome& outcome) = 0;
};

struct RunLimits {
    uint64_t max_exits = 0;                 // 0: no limit
    std::chrono::milliseconds timeout{0};   // 0: no limit
};

struct RunResult {
    StopReason reason = StopReason::None;
    int exit_status = 0;  // the guest's, for GuestExit
    uint64_t exits = 0;
    uint64_t detail = 0;
    kvm_regs regs{};
    kvm_sregs sregs{};
    // What the accelerator itself said about the stop, when it says more
    // than KVM's exit does (the emulator: which exception, where), or "".
    std::string note;
    std::string describe() const;  // one line for the user
};

// Answers an exit instead of handle_exit (guest replay serves reads from
// a trace this way); the observer is still told.
using ExitHandlerFn = std::function<ExitOutcome(VcpuExit&)>;

RunResult run_vcpu(Vcpu& vcpu, ExitTargets targets, const ExitPolicy& policy, const RunLimits& limits,
                   const GuestExitRequest& exit_request, ExitObserver* observer = nullptr,
                   const ExitHandlerFn& handler = {});

}  // namespace kvmrr
