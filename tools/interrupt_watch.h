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

private:
    void watch();

    std::atomic<int> signal_{0};
    int signal_fd_ = -1;
    int wake_fd_ = -1;  // an eventfd: the destructor's word to stop
    std::thread thread_;
};

}  // namespace kvmrr::cli
