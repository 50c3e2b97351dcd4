// ExitHandshake: KVM's "run() returns an exit, the next run() completes
// it" on top of an emulator whose callbacks must return a read's value at
// once (internal to core/emu; no Unicorn types).
//
// A worker thread runs the guest. When the guest reaches an exit, the
// callback that saw it fills the exit buffer and park()s: the caller of
// run() wakes and returns the exit; its handler writes the read data into
// the buffer; the next run() resumes the worker, whose callback returns
// the data to the emulator. So the guest is always either idle (not
// started, or stopped at an instruction boundary), running, or parked in
// exactly one exit. run() waits a bounded time, so a guest that spins
// without exits still lets the run loop check its deadline; a later run()
// keeps waiting for the same guest execution rather than starting another.
//
// Lock order: this mutex is never held while calling into the emulator;
// the worker takes EmuEngine's mutex only while not holding it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace kvmrr::emu {

class ExitHandshake {
public:
    // --- the caller of run() ---
    // Resumes a parked exit or starts the guest, then waits up to `wait`
    // for the next exit. True when there is one in the buffer.
    bool run(std::chrono::milliseconds wait);
    // Returns once the guest is at rest (idle, or parked in an exit whose
    // data the caller has not handed back), asking a running guest to stop
    // at the next instruction boundary.
    void quiesce();
    // Hands a parked exit (already returned by run()) its data, lets the
    // guest finish that instruction and stops it at the next instruction
    // boundary; returns once it is at rest. KVM_RUN with immediate_exit.
    void complete();
    bool parked() const;
    // Makes the worker end: a parked exit is aborted, a running guest is
    // stopped, wait_for_start() returns false.
    void shut_down();

    // --- the worker ---
    // Blocks until run() asks for guest execution (true) or shut_down (false).
    bool wait_for_start();
    // Posts the exit in the buffer and waits for the next run(); false when
    // shutting down instead (the callback must stop the emulator).
    bool park();
    // The guest stopped outside any callback; `exit_posted` when it left a
    // final exit (HLT, shutdown, error) in the buffer.
    void segment_ended(bool exit_posted);
    // Checked by the per-instruction hook.
    bool stop_requested() const { return stop_.load(std::memory_order_acquire); }

private:
    enum class Phase : unsigned char { Idle, Running, Parked };
    bool at_rest() const { return (phase_ == Phase::Idle && !go_) || (phase_ == Phase::Parked && !resume_); }

    mutable std::mutex mu_;
    std::condition_variable cv_;
    Phase phase_ = Phase::Idle;
    bool go_ = false;          // run() asked the idle worker to start
    bool resume_ = false;      // run() handed a parked exit its data
    bool exit_ready_ = false;  // an exit is in the buffer, not yet returned by run()
    bool quit_ = false;
    std::atomic<bool> stop_{false};
};

}  // namespace kvmrr::emu
