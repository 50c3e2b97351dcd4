// The CLI's watch for SIGINT, SIGTERM and SIGHUP during a run: the first
// sets the flag the run loop looks at, a second ends the process as the
// signal would have (after the last word it was given), and one ignored
// when kvmrr started stays ignored; a stop asked for is a first SIGINT.
// Each case runs in a child process: signal masks and dispositions are the
// process's.
#include "tools/interrupt_watch.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

namespace kvmrr::cli {
namespace {

// Runs `child` in a forked process and returns its wait status.
int in_child(const std::function<int()>& child) {
    const pid_t pid = fork();
    if (pid == 0) _exit(child());
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

bool wait_for(const std::atomic<int>* flag, int want) {
    for (int i = 0; i < 400; ++i) {
        if (flag->load() == want) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

TEST(InterruptWatch, TheFirstSignalSetsTheFlagAndTheProgramGoesOn) {
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
        const int status = in_child([sig] {
            InterruptWatch w;
            if (w.flag()->load() != 0) return 10;
            kill(getpid(), sig);
            if (!wait_for(w.flag(), sig)) return 11;
            return 0;  // still alive, and the watch's destructor returns
        });
        ASSERT_TRUE(WIFEXITED(status)) << "signal " << sig << ": status " << status;
        EXPECT_EQ(WEXITSTATUS(status), 0) << "signal " << sig;
    }
}

TEST(InterruptWatch, ASecondSignalEndsTheProcessAsTheSignalWould) {
    const auto start = std::chrono::steady_clock::now();
    const int status = in_child([] {
        InterruptWatch w;
        kill(getpid(), SIGTERM);
        if (!wait_for(w.flag(), SIGTERM)) return 11;
        kill(getpid(), SIGTERM);
        std::this_thread::sleep_for(std::chrono::seconds(10));
        return 12;  // not ended by the second signal
    });
    ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
    EXPECT_EQ(WTERMSIG(status), SIGTERM);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// The serial console's Ctrl-A x: a first SIGINT's flag, once; a signal
// that came first keeps its number.
TEST(InterruptWatch, AStopAskedForIsAFirstSigint) {
    const int status = in_child([] {
        InterruptWatch w;
        w.stop("a test");
        if (w.flag()->load() != SIGINT) return 11;
        kill(getpid(), SIGTERM);  // now a second signal: ends the process
        std::this_thread::sleep_for(std::chrono::seconds(10));
        return 12;
    });
    ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
    EXPECT_EQ(WTERMSIG(status), SIGTERM);

    const int first = in_child([] {
        InterruptWatch w;
        kill(getpid(), SIGHUP);
        if (!wait_for(w.flag(), SIGHUP)) return 11;
        w.stop("a test");
        return w.flag()->load() == SIGHUP ? 0 : 12;
    });
    ASSERT_TRUE(WIFEXITED(first)) << "status " << first;
    EXPECT_EQ(WEXITSTATUS(first), 0);
}

// What must happen before a second signal ends kvmrr (the terminal's
// settings given back) does, in the watch's thread, before the end.
TEST(InterruptWatch, ASecondSignalRunsTheLastWordFirst) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const int status = in_child([&fds] {
        InterruptWatch w;
        w.before_abrupt_end([fd = fds[1]] { [[maybe_unused]] const ssize_t n = write(fd, "r", 1); });
        kill(getpid(), SIGTERM);
        if (!wait_for(w.flag(), SIGTERM)) return 11;
        kill(getpid(), SIGTERM);
        std::this_thread::sleep_for(std::chrono::seconds(10));
        return 12;
    });
    close(fds[1]);
    char c = 0;
    EXPECT_EQ(read(fds[0], &c, 1), 1);
    EXPECT_EQ(c, 'r');
    close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
    EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

TEST(InterruptWatch, ASignalIgnoredAtTheStartStaysIgnored) {
    const int status = in_child([] {
        signal(SIGINT, SIG_IGN);  // as a background job of a shell starts
        InterruptWatch w;
        kill(getpid(), SIGINT);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (w.flag()->load() != 0) return 11;
        kill(getpid(), SIGTERM);  // the others are still watched
        if (!wait_for(w.flag(), SIGTERM)) return 12;
        return 0;
    });
    ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace kvmrr::cli
