// ExitHandshake on its own: a fake worker stands in for the emulator.
#include "core/emu/exit_handshake.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace kvmrr::emu {
namespace {

using namespace std::chrono_literals;

// A handshake whose worker is `body(hs)`, so the body can call back into it.
struct Harness {
    explicit Harness(std::function<void(ExitHandshake&)> b)
        : body(std::move(b)), hs(std::make_unique<ExitHandshake>([this] { body(*hs); })) {}
    std::function<void(ExitHandshake&)> body;
    std::unique_ptr<ExitHandshake> hs;
};

// A guest with no exits: spins at instruction boundaries until stopped.
void spin_until_stopped(ExitHandshake& hs) {
    while (!hs.stop_requested())
        if (hs.pause_due()) hs.pause();
}

// A worker whose every guest execution spins until stopped, counted.
std::function<void(ExitHandshake&)> spinning_guest(int& segments) {
    return [&segments](ExitHandshake& hs) {
        while (hs.wait_for_start()) {
            ++segments;
            spin_until_stopped(hs);
            hs.segment_ended(false);
        }
    };
}

TEST(ExitHandshake, ExitsAreReturnedInOrderAndCompletedByTheNextRun) {
    int buffer = 0;  // stands for the exit buffer
    std::vector<int> seen_by_worker;
    Harness h([&](ExitHandshake& hs) {
        while (hs.wait_for_start()) {
            for (int i = 1; i <= 3; ++i) {
                buffer = i;
                if (!hs.park()) return;
                seen_by_worker.push_back(buffer);  // what the handler wrote
            }
            buffer = 99;  // a final exit, outside any callback
            hs.segment_ended(true);
        }
    });
    ExitHandshake& hs = *h.hs;
    for (int i = 1; i <= 3; ++i) {
        ASSERT_TRUE(hs.run(1s));
        EXPECT_TRUE(hs.parked());
        EXPECT_EQ(buffer, i);
        buffer = i * 10;
    }
    ASSERT_TRUE(hs.run(1s));
    EXPECT_FALSE(hs.parked());
    EXPECT_EQ(buffer, 99);
    hs.quiesce();  // idle: returns at once
    hs.shut_down();
    EXPECT_EQ(seen_by_worker, (std::vector<int>{10, 20, 30}));
}

TEST(ExitHandshake, RunReturnsFalseWhileTheGuestSpinsAndQuiesceStopsIt) {
    int segments = 0;
    Harness h(spinning_guest(segments));
    ExitHandshake& hs = *h.hs;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(hs.run(10ms));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 10ms);  // it waited, guest running
    EXPECT_FALSE(hs.run(10ms));                              // the same execution, not a second one
    EXPECT_EQ(segments, 1);
    hs.quiesce();
    EXPECT_FALSE(hs.stop_requested());
    EXPECT_FALSE(hs.run(10ms));  // starts it again
    EXPECT_EQ(segments, 2);
    hs.shut_down();
    EXPECT_EQ(segments, 2);
}

TEST(ExitHandshake, CompleteFinishesTheExitsInstructionAndStopsAtTheNextBoundary) {
    int buffer = 0, seen = 0, segments = 0;
    Harness h([&](ExitHandshake& hs) {
        while (hs.wait_for_start()) {
            ++segments;
            buffer = 1;
            if (hs.park()) {
                seen = buffer;
                spin_until_stopped(hs);  // the instructions after it
            }
            hs.segment_ended(false);
        }
    });
    ExitHandshake& hs = *h.hs;
    ASSERT_TRUE(hs.run(1s));
    buffer = 7;
    hs.complete();
    EXPECT_EQ(seen, 7);
    EXPECT_FALSE(hs.parked());
    EXPECT_FALSE(hs.stop_requested());
    hs.quiesce();  // at rest already
    EXPECT_EQ(segments, 1);
}

TEST(ExitHandshake, ShutDownAbortsAParkedExit) {
    bool aborted = false;
    Harness h([&](ExitHandshake& hs) {
        while (hs.wait_for_start()) {
            aborted = !hs.park();
            hs.segment_ended(false);
        }
    });
    ExitHandshake& hs = *h.hs;
    ASSERT_TRUE(hs.run(1s));
    EXPECT_TRUE(hs.parked());
    hs.quiesce();  // parked is at rest
    hs.shut_down();
    EXPECT_TRUE(aborted);
    EXPECT_FALSE(hs.run(1s));  // after shut_down: nothing runs
}

TEST(ExitHandshake, DestroyingItStopsAPausedGuestAndEndsTheWorker) {
    bool ended = false;
    {
        Harness h([&](ExitHandshake& hs) {
            while (hs.wait_for_start()) {
                spin_until_stopped(hs);
                hs.segment_ended(false);
            }
            ended = true;
        });
        EXPECT_FALSE(h.hs->run(5ms));  // paused inside the guest
    }
    EXPECT_TRUE(ended);
}

TEST(ExitHandshake, AGuestPausedInOneThreadRunsOnFromAnother) {
    int segments = 0;
    Harness h(spinning_guest(segments));
    EXPECT_FALSE(h.hs->run(5ms));
    std::thread([&] { EXPECT_FALSE(h.hs->run(5ms)); }).join();
    EXPECT_EQ(segments, 1);
    h.hs->shut_down();
}

}  // namespace
}  // namespace kvmrr::emu
