// Ctrl-C (SIGINT), SIGTERM and SIGHUP during `kvmrr run` and `kvmrr
// record`: the first ends the run at its next look (RunLimits::interrupt),
// so a recording is closed and kept with the end "interrupted"; a second
// of the same kind ends kvmrr at once, as if nothing caught it.
//
// The signals are blocked in the thread that makes the watch, before it
// starts any other (the threads it starts inherit the mask), and a thread
// of the watch's own takes them from a signalfd. A signal ignored when
// kvmrr started (a background job's SIGINT, nohup's SIGHUP) stays ignored.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

namespace kvmrr::cli {

class InterruptWatch {
public:
    InterruptWatch();
    ~InterruptWatch();
    InterruptWatch(const InterruptWatch&) = delete;
    InterruptWatch& operator=(const InterruptWatch&) = delete;

    // The number of the first signal taken, or 0.
    const std::atomic<int>* flag() const { return &signal_; }
    // Ends the run as a first SIGINT would (the serial console's Ctrl-A
    // x, when keys send no signals), saying `why` on stderr; from any
    // thread, and nothing if a signal came first.
    void stop(const char* why);
    // Runs before a second signal ends kvmrr at once (the serial console
    // gives the terminal back its settings).
    void before_abrupt_end(std::function<void()> f);

private:
    void watch();

    std::atomic<int> signal_{0};
    std::mutex hook_mutex_;
    std::function<void()> before_abrupt_end_;
    int signal_fd_ = -1;
    int wake_fd_ = -1;  // an eventfd: the destructor's word to stop
    std::thread thread_;
};

}  // namespace kvmrr::cli
