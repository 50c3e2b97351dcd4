#include "core/emu/exit_handshake.h"

namespace kvmrr::emu {

bool ExitHandshake::run(std::chrono::milliseconds wait) {
    std::unique_lock lk(mu_);
    if (!exit_ready_) {
        if (phase_ == Phase::Parked) {
            resume_ = true;
            cv_.notify_all();
        } else if (phase_ == Phase::Idle) {
            go_ = true;
            cv_.notify_all();
        }
        // Running: a previous run() timed out; keep waiting for that guest.
    }
    if (!cv_.wait_for(lk, wait, [&] { return exit_ready_; })) return false;
    exit_ready_ = false;
    return true;
}

void ExitHandshake::quiesce() {
    std::unique_lock lk(mu_);
    if (at_rest()) return;
    stop_.store(true, std::memory_order_release);
    cv_.wait(lk, [&] { return at_rest(); });
    if (!quit_) stop_.store(false, std::memory_order_release);
}

void ExitHandshake::complete() {
    std::unique_lock lk(mu_);
    if (phase_ != Phase::Parked || exit_ready_ || resume_) return;
    stop_.store(true, std::memory_order_release);
    resume_ = true;
    cv_.notify_all();
    cv_.wait(lk, [&] { return at_rest(); });
    if (!quit_) stop_.store(false, std::memory_order_release);
}

bool ExitHandshake::parked() const {
    std::lock_guard lk(mu_);
    return phase_ == Phase::Parked;
}

void ExitHandshake::shut_down() {
    std::lock_guard lk(mu_);
    quit_ = true;
    stop_.store(true, std::memory_order_release);
    cv_.notify_all();
}

bool ExitHandshake::wait_for_start() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return go_ || quit_; });
    if (quit_) return false;
    go_ = false;
    phase_ = Phase::Running;
    return true;
}

bool ExitHandshake::park() {
    std::unique_lock lk(mu_);
    phase_ = Phase::Parked;
    exit_ready_ = true;
    cv_.notify_all();
    cv_.wait(lk, [&] { return resume_ || quit_; });
    resume_ = false;
    phase_ = Phase::Running;
    return !quit_;
}

void ExitHandshake::segment_ended(bool exit_posted) {
    std::lock_guard lk(mu_);
    if (exit_posted) exit_ready_ = true;
    phase_ = Phase::Idle;
    cv_.notify_all();
}

}  // namespace kvmrr::emu
