#include "core/emu/exit_handshake.h"

namespace kvmrr::emu {

ExitHandshake::ExitHandshake(std::function<void()> worker) : fiber_(std::move(worker)) {}

ExitHandshake::~ExitHandshake() { shut_down(); }

bool ExitHandshake::run(std::chrono::milliseconds wait) {
    if (!exit_ready_ && !quit_) {
        if (phase_ == Phase::Parked) {
            resume_ = true;
        } else if (phase_ == Phase::Idle) {
            go_ = true;
        }
        // Running: a previous run() paused it; it goes on.
        deadline_ = std::chrono::steady_clock::now() + wait;
        timed_ = true;
        enter();
        timed_ = false;
    }
    if (!exit_ready_) return false;
    exit_ready_ = false;
    return true;
}

void ExitHandshake::quiesce() {
    if (at_rest() || fiber_.done()) return;
    run_to_rest();
}

void ExitHandshake::complete() {
    if (phase_ != Phase::Parked || exit_ready_ || resume_ || fiber_.done()) return;
    resume_ = true;
    run_to_rest();
}

void ExitHandshake::run_to_rest() {
    stop_ = true;
    while (!at_rest() && !fiber_.done()) enter();
    if (!quit_) stop_ = false;
}

void ExitHandshake::shut_down() {
    quit_ = true;
    stop_ = true;
    go_ = false;
    // A worker never started has nothing on its stack; one started runs on
    // to its end.
    if (fiber_.started())
        while (!fiber_.done()) enter();
}

bool ExitHandshake::wait_for_start() {
    while (!go_ && !quit_) fiber_.yield();
    if (quit_) return false;
    go_ = false;
    phase_ = Phase::Running;
    return true;
}

bool ExitHandshake::park() {
    phase_ = Phase::Parked;
    exit_ready_ = true;
    do {
        fiber_.yield();
    } while (!resume_ && !quit_);
    resume_ = false;
    phase_ = Phase::Running;
    return !quit_;
}

void ExitHandshake::segment_ended(bool exit_posted) {
    if (exit_posted) exit_ready_ = true;
    phase_ = Phase::Idle;
}

}  // namespace kvmrr::emu
