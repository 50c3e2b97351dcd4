#include "vmm/run_loop.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>

#include "core/error.h"

namespace kvmrr {

namespace {

int timeout_signal() { return SIGRTMIN + 1; }

void ignore_signal(int) {}

// A per-run timer aimed at the calling thread: its signal makes KVM_RUN
// return (the emulator's run() returns on its own within its bounded wait).
class ThreadTimer {
public:
    ThreadTimer() {
        struct sigaction sa {};
        sa.sa_handler = ignore_signal;  // no SA_RESTART: KVM_RUN must return EINTR
        sigemptyset(&sa.sa_mask);
        if (sigaction(timeout_signal(), &sa, nullptr) < 0) throw Error("sigaction for the run timeout failed");
        sigevent ev{};
        ev.sigev_notify = SIGEV_THREAD_ID;
        ev.sigev_signo = timeout_signal();
        ev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
        if (timer_create(CLOCK_MONOTONIC, &ev, &timer_) < 0)
            throw Error(std::string("timer_create for the run timeout failed: ") + std::strerror(errno));
    }
    // Fires `after` from now (at least a microsecond), then every `every`
    // (0: once).
    void arm(std::chrono::nanoseconds after, std::chrono::nanoseconds every = {}) {
        itimerspec its{};
        const int64_t ns = std::max<int64_t>(after.count(), 1000);
        its.it_value.tv_sec = ns / 1000000000;
        its.it_value.tv_nsec = ns % 1000000000;
        its.it_interval.tv_sec = every.count() / 1000000000;
        its.it_interval.tv_nsec = every.count() % 1000000000;
        timer_settime(timer_, 0, &its, nullptr);
    }
    void disarm() {
        const itimerspec none{};
        timer_settime(timer_, 0, &none, nullptr);
    }
    ~ThreadTimer() { timer_delete(timer_); }
    ThreadTimer(const ThreadTimer&) = delete;
    ThreadTimer& operator=(const ThreadTimer&) = delete;

private:
    timer_t timer_{};
};

}  // namespace

std::string RunResult::describe() const {
    char buf[160];
    switch (reason) {
        case StopReason::GuestExit:
            std::snprintf(buf, sizeof buf, "guest exited with status %d after %" PRIu64 " exits", exit_status, exits);
            break;
        case StopReason::Halt:
            std::snprintf(buf, sizeof buf, "guest halted (status 0) after %" PRIu64 " exits at rip 0x%llx", exits,
                          static_cast<unsigned long long>(regs.rip));
            break;
        case StopReason::Shutdown:
            std::snprintf(buf, sizeof buf, "guest triple-faulted after %" PRIu64 " exits: rip 0x%llx rsp 0x%llx cr0 0x%llx cr3 0x%llx",
                          exits, static_cast<unsigned long long>(regs.rip), static_cast<unsigned long long>(regs.rsp),
                          static_cast<unsigned long long>(sregs.cr0), static_cast<unsigned long long>(sregs.cr3));
            break;
        case StopReason::Interrupted: {
            const char* name = detail > 0 && detail < 65 ? sigabbrev_np(static_cast<int>(detail)) : nullptr;
            std::snprintf(buf, sizeof buf, "interrupted by SIG%s after %" PRIu64 " exits at rip 0x%llx", name ? name : "?", exits,
                          static_cast<unsigned long long>(regs.rip));
            break;
        }
        case StopReason::UnassignedAccess:
        case StopReason::InvalidAccess:
            std::snprintf(buf, sizeof buf, "%s at 0x%" PRIx64 " (rip after it 0x%llx) after %" PRIu64 " exits", stop_reason_name(reason),
                          detail, static_cast<unsigned long long>(regs.rip), exits);
            break;
        default: {
            // The trace keeps KVM's name for an internal error whichever
            // accelerator had it; the user is told which one did.
            const bool emulator = reason == StopReason::InternalError && note.rfind("emulator", 0) == 0;
            std::snprintf(buf, sizeof buf, "%s (detail 0x%" PRIx64 ") after %" PRIu64 " exits, rip 0x%llx",
                          emulator ? "emulator internal error" : stop_reason_name(reason), detail, exits,
                          static_cast<unsigned long long>(regs.rip));
        }
    }
    std::string s = buf;
    if (between_exits) s += ", between exits";
    return note.empty() ? s : s + " (" + note + ")";
}

namespace {

// Delivers a pending external interrupt if the guest can take it now, or
// asks for the exit at which it can. The last access is completed first,
// so that the rip the trace keeps is past it on every host.
void deliver(Vcpu& vcpu, InterruptSource& irq, ExitObserver* observer, uint64_t exits, bool& access_pending) {
    if (!irq.interrupt_pending()) {
        vcpu.request_interrupt_window(false);
        return;
    }
    if (!vcpu.interrupt_window_open()) {
        vcpu.request_interrupt_window(true);
        return;
    }
    if (access_pending) vcpu.complete_exit();
    access_pending = false;
    const uint8_t vector = irq.acknowledge();
    const uint64_t rip = observer ? vcpu.regs().rip : 0;
    vcpu.inject_interrupt(vector);
    vcpu.request_interrupt_window(false);
    if (observer) observer->on_interrupt(vector, exits, rip);
}

}  // namespace

RunResult run_vcpu(Vcpu& vcpu, ExitTargets targets, const ExitPolicy& policy, const RunLimits& limits,
                   const GuestExitRequest& exit_request, ExitObserver* observer, const ExitHandlerFn& handler,
                   InterruptSource* interrupts) {
    using Clock = std::chrono::steady_clock;
    RunResult res;
    std::optional<ThreadTimer> timer;
    const bool timed = limits.timeout.count() > 0;
    Clock::time_point deadline = Clock::now() + limits.timeout;
    constexpr std::chrono::milliseconds kLook{10};
    if (timed || limits.interrupt) {
        timer.emplace();
        // Interruptible: every 10 ms from now, which finds the deadline too.
        timer->arm(limits.interrupt ? std::chrono::nanoseconds(kLook) : std::chrono::nanoseconds(limits.timeout), kLook);
    }
    // Stops a guest that spins without exits when a timer falls due, so
    // that the tick it waits for comes (the host clock only). It fires
    // again every kKickRetry until the next exit re-arms it: a signal that
    // lands before the thread enters KVM_RUN does not stop the guest, and
    // one that never came again would leave it spinning until the
    // time-out (seen under ASan in the nested VM).
    constexpr std::chrono::milliseconds kKickRetry{10};
    std::optional<ThreadTimer> kick;
    bool kicking = false;  // a timer is armed and may fall due between exits
    bool access_pending = false;  // the last exit handled was I/O or MMIO
    constexpr std::chrono::seconds kInterruptWait{1};
    std::optional<Clock::time_point> interrupt_give_up;  // asked to stop: by then at the latest
    Clock::time_point next_poll{};  // the debugger's next look for an interrupt

    for (;;) {
        if (limits.max_exits && res.exits >= limits.max_exits) {
            res.reason = StopReason::MaxExits;
            res.detail = limits.max_exits;
            break;
        }
        kicking = false;
        if (interrupts) {
            if (const auto in = interrupts->next_timer_in()) {
                if (!kick) kick.emplace();
                kick->arm(*in, kKickRetry);
                kicking = true;
            } else if (kick) {
                kick->disarm();
            }
        }
        if (limits.debugger) {
            const Clock::time_point now = Clock::now();
            if (now >= next_poll) {
                limits.debugger->poll();
                next_poll = now + kLook;
            }
        }
        if (limits.pauses && !vcpu.set_pause_at(limits.pauses->next_pause()))
            throw Error("this accelerator counts no instructions: it cannot stop the guest between exits where the "
                        "recording's did");
        std::optional<VcpuExit> exit = vcpu.run();
        // A debugger's stop is no exit of the guest's: a run that ends
        // there ends between two exits.
        const bool debug_stop = exit && exit->kind == ExitKind::Debug;
        const bool at_exit = exit && !debug_stop;
        if (timed && Clock::now() >= deadline) {
            // An exit that came just now is not handled: a pending I/O read
            // is left half done, which does not matter for a stopped run.
            res.reason = StopReason::Timeout;
            res.detail = static_cast<uint64_t>(limits.timeout.count());
            res.between_exits = !at_exit;
            break;
        }
        if (limits.interrupt) {
            if (const int sig = limits.interrupt->load(std::memory_order_relaxed)) {
                // The run ends at an exit, which it leaves unhandled as a
                // time-out does, so that guest replay stops at the same one;
                // a guest that makes none within kInterruptWait is stopped
                // where it is (a point no replay can find again). A replay
                // with stops still planned in that stretch (pauses) goes on
                // to them first: they are where the recording went.
                const bool planned_ahead = limits.pauses && limits.pauses->next_pause();
                if (!interrupt_give_up && !planned_ahead) interrupt_give_up = Clock::now() + kInterruptWait;
                if (at_exit || (interrupt_give_up && Clock::now() >= *interrupt_give_up)) {
                    res.reason = StopReason::Interrupted;
                    res.detail = static_cast<uint64_t>(sig);
                    res.between_exits = !at_exit;
                    break;
                }
            }
        }
        if (debug_stop) {
            const Clock::time_point paused = Clock::now();
            if (limits.debugger) limits.debugger->on_debug_stop(*exit);
            if (timed) {
                deadline += Clock::now() - paused;
                if (!limits.interrupt) timer->arm(std::max(deadline - Clock::now(), Clock::duration(1)), kLook);
            }
            continue;
        }
        if (!exit) {
            // A signal, or the emulator's bounded wait, before the deadline:
            // between two exits, where a tick that fell due is delivered
            // (the last access was completed when the guest went on). A
            // replay delivers where the plan says instead, whatever stopped
            // the guest there.
            std::optional<uint64_t> done;
            if (kicking || limits.pauses) done = vcpu.instructions_retired();
            const std::optional<uint64_t> next = limits.pauses ? limits.pauses->next_pause() : std::nullopt;
            if (next && done && *done > *next) {
                // Passed without a stop there: that pause can never come
                // (the replay reports it missing).
                res.reason = StopReason::Diverged;
                res.between_exits = true;
                break;
            }
            const bool planned = next && next == done;
            if (planned) limits.pauses->reached();
            if ((kicking || planned) && interrupts) {
                if (observer) observer->on_pause(res.exits, done);
                access_pending = false;
                deliver(vcpu, *interrupts, observer, res.exits, access_pending);
            }
            continue;
        }
        ++res.exits;
        VcpuExit& e = *exit;
        access_pending = e.kind == ExitKind::Io || e.kind == ExitKind::Mmio;
        if (interrupts) interrupts->count_exit();
        if (observer) observer->before_exit(e);
        ExitOutcome o = handler ? handler(e) : handle_exit(e, targets, policy);
        if (observer) observer->on_exit(e, o);
        // A HLT with interrupts enabled waits for one, on a board that has
        // them; with them disabled (no NMI is modelled), or with no timer
        // that could ever fire, the guest has halted for good.
        if (interrupts && o.stop == StopReason::Halt && e.interrupts_enabled) {
            const Clock::time_point give_up = timed ? deadline : Clock::time_point::max();
            if (interrupts->interrupt_pending() || interrupts->wait_for_interrupt(give_up, limits.interrupt))
                o.stop = StopReason::None;
        }
        if (exit_request.reset) {
            res.reason = StopReason::Reset;
            break;
        }
        if (exit_request.output_matched) {
            res.reason = StopReason::OutputMatched;
            break;
        }
        if (exit_request.requested) {
            res.reason = StopReason::GuestExit;
            res.exit_status = exit_request.status;
            break;
        }
        if (o.stop != StopReason::None) {
            res.reason = o.stop;
            res.detail = o.detail;
            // A handler that ends the run as a time-out did not handle the
            // exit (guest replay stops where the recording's clock stopped
            // it): uncounted, as the exit the loop's own time-out stops at.
            if (o.stop == StopReason::Timeout || o.stop == StopReason::Interrupted) --res.exits;
            break;
        }
        if (interrupts) deliver(vcpu, *interrupts, observer, res.exits, access_pending);
    }
    // Finish the instruction of the last handled I/O or MMIO exit before
    // reading the registers: where RIP stands at such an exit differs
    // between KVM hosts (VMX's fast PIO path leaves it at an OUT, KVM's
    // instruction emulator moves it past OUTs and MMIO writes but not
    // reads) and from the emulator. Completed, RIP is past the instruction
    // that made the last access everywhere, which is what traces compare.
    // A timed-out (or interrupted) exit was never handled, so it is left as
    // it is.
    if (res.reason != StopReason::Timeout && res.reason != StopReason::Interrupted && access_pending)
        vcpu.complete_exit();
    res.regs = vcpu.regs();
    res.sregs = vcpu.sregs();
    if (res.reason == StopReason::Shutdown || res.reason == StopReason::InternalError) res.note = vcpu.stop_note();
    return res;
}

}  // namespace kvmrr
