#include "tools/interrupt_watch.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/error.h"

namespace kvmrr::cli {

namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

bool ignored(int sig) {
    struct sigaction sa {};
    return sigaction(sig, nullptr, &sa) == 0 && sa.sa_handler == SIG_IGN;
}

}  // namespace

InterruptWatch::InterruptWatch() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : kSignals)
        if (!ignored(s)) sigaddset(&set, s);
    if (sigisemptyset(&set)) return;
    // Blocked from here on, and in every thread started after: only the
    // signalfd takes them. They stay blocked after the watch (kvmrr is
    // about to exit then, and one that comes late waits for that).
    if (const int err = pthread_sigmask(SIG_BLOCK, &set, nullptr))
        throw Error(std::string("cannot block SIGINT for the run: ") + std::strerror(err));
    signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_CLOEXEC);
    if (signal_fd_ < 0 || wake_fd_ < 0) {
        const int err = errno;
        if (signal_fd_ >= 0) close(signal_fd_);
        if (wake_fd_ >= 0) close(wake_fd_);
        signal_fd_ = wake_fd_ = -1;
        pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
        throw Error(std::string("cannot watch for SIGINT during the run: ") + std::strerror(err));
    }
    thread_ = std::thread([this] { watch(); });
}

InterruptWatch::~InterruptWatch() {
    if (thread_.joinable()) {
        const uint64_t one = 1;
        if (write(wake_fd_, &one, sizeof one) == sizeof one) thread_.join();
        else thread_.detach();  // cannot happen with an eventfd; never hang here
    }
    if (signal_fd_ >= 0) close(signal_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
}

void InterruptWatch::stop(const char* why) {
    int none = 0;
    if (!signal_.compare_exchange_strong(none, SIGINT)) return;
    const std::string note = std::string("kvmrr: ") + why + ": ending the run at its next exit\n";
    [[maybe_unused]] const ssize_t n = write(STDERR_FILENO, note.data(), note.size());
}

void InterruptWatch::before_abrupt_end(std::function<void()> f) {
    const std::lock_guard lock(hook_mutex_);
    before_abrupt_end_ = std::move(f);
}

void InterruptWatch::watch() {
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        signalfd_siginfo si{};
        if (read(signal_fd_, &si, sizeof si) != static_cast<ssize_t>(sizeof si)) continue;
        const int sig = static_cast<int>(si.ssi_signo);
        int none = 0;
        if (signal_.compare_exchange_strong(none, sig)) {
            const char* name = sigabbrev_np(sig);
            const std::string note = std::string("kvmrr: SIG") + (name ? name : "?") +
                                     ": ending the run at its next exit (a second signal ends kvmrr at once)\n";
            [[maybe_unused]] const ssize_t n = write(STDERR_FILENO, note.data(), note.size());
            continue;
        }
        // Asked again: end now, as the signal would have with no watch.
        {
            const std::lock_guard lock(hook_mutex_);
            if (before_abrupt_end_) before_abrupt_end_();
        }
        signal(sig, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
        raise(sig);
    }
}

}  // namespace kvmrr::cli
