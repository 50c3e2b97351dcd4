// ExitHandshake: KVM's "run() returns an exit, the next run() completes
// it" on top of an emulator whose callbacks must return a read's value at
// once (internal to core/emu; no Unicorn types).
//
// The worker, which runs the guest, is a fiber (fiber.h) in the thread
// that calls run(). When the guest reaches an exit, the callback that saw
// it fills the exit buffer and park()s: the fiber yields, and run() returns
// the exit; its handler writes the read data into the buffer; the next
// run() resumes the fiber, whose callback returns the data to the
// emulator. So the guest is always either idle (not started, or stopped at
// an instruction boundary), paused at an instruction boundary inside the
// emulator, or parked in exactly one exit. run() waits a bounded time: a
// guest that spins without exits checks the time (pause_due(), every
// kPauseEvery checks) and pauses once run()'s wait is over, so the run
// loop can check its deadline; a later run() resumes that same guest
// execution rather than starting another.
//
// One thread at a time: run() and the rest are called by the vCPU's owner,
// and the worker runs only inside them.
#pragma once

#include <chrono>
#include <functional>

#include "core/emu/fiber.h"

namespace kvmrr::emu {

class ExitHandshake {
public:
    // `worker` loops on wait_for_start() and runs the guest; it must not
    // throw, and it must return once wait_for_start() returns false.
    explicit ExitHandshake(std::function<void()> worker);
    ~ExitHandshake();  // shut_down()

    // --- the caller of run() ---
    // Resumes a parked exit or a paused guest, or starts the guest, for up
    // to `wait`. True when an exit is in the buffer.
    bool run(std::chrono::milliseconds wait);
    // Returns once the guest is at rest (idle, or parked in an exit whose
    // data the caller has not handed back), stopping a paused guest at
    // its instruction boundary.
    void quiesce();
    // Hands a parked exit (already returned by run()) its data, lets the
    // guest finish that instruction and stops it at the next instruction
    // boundary; returns once it is at rest. KVM_RUN with immediate_exit.
    void complete();
    bool parked() const { return phase_ == Phase::Parked; }
    // Makes the worker end: a parked exit is aborted (park() returns
    // false), a paused guest is stopped, wait_for_start() returns false;
    // returns once the worker has returned.
    void shut_down();

    // --- the worker ---
    // Until run() asks for guest execution (true) or shut_down (false).
    bool wait_for_start();
    // Posts the exit in the buffer and waits for the next run(); false when
    // shutting down instead (the callback must stop the emulator).
    bool park();
    // The guest stopped outside any callback; `exit_posted` when it left a
    // final exit (HLT, shutdown, error) in the buffer.
    void segment_ended(bool exit_posted);
    // Checked by the per-instruction hook.
    bool stop_requested() const { return stop_; }
    // Checked by the guest at instruction boundaries: true (rarely) when
    // run()'s wait is over, and the guest must pause() there.
    bool pause_due() {
        if (--countdown_ != 0) return false;
        countdown_ = kPauseEvery;
        return timed_ && std::chrono::steady_clock::now() >= deadline_;
    }
    // Hands control back to run()'s caller until the guest is resumed (by
    // run(), or to stop: quiesce(), shut_down()).
    void pause() { fiber_.yield(); }

    // How many pause_due() calls share one look at the clock.
    static constexpr unsigned kPauseEvery = 1024;

private:
    enum class Phase : unsigned char { Idle, Running, Parked };
    bool at_rest() const { return (phase_ == Phase::Idle && !go_) || (phase_ == Phase::Parked && !resume_); }
    // Runs the worker until it yields, unless it has returned.
    void enter() { fiber_.resume(); }
    // Runs the worker, asked to stop at the next instruction boundary,
    // until it is at rest (quiesce, complete).
    void run_to_rest();

    Fiber fiber_;
    Phase phase_ = Phase::Idle;
    bool go_ = false;          // run() asked the idle worker to start
    bool resume_ = false;      // run() handed a parked exit its data
    bool exit_ready_ = false;  // an exit is in the buffer, not yet returned by run()
    bool quit_ = false;
    bool stop_ = false;
    bool timed_ = false;  // inside run(): the guest pauses at deadline_
    std::chrono::steady_clock::time_point deadline_{};
    unsigned countdown_ = kPauseEvery;
};

}  // namespace kvmrr::emu
