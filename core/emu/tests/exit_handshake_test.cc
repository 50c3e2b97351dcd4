// ExitHandshake on its own: a fake worker stands in for the emulator.
#include "core/emu/exit_handshake.h"

#include <gtest/gtest.h>

#include <thread>

namespace kvmrr::emu {
namespace {

using namespace std::chrono_literals;

TEST(ExitHandshake, ExitsAreReturnedInOrderAndCompletedByTheNextRun) {
    ExitHandshake hs;
    int buffer = 0;  // stands for the exit buffer
    std::vector<int> seen_by_worker;
    std::thread worker([&] {
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
    for (int i = 1; i <= 3; ++i) {
        ASSERT_TRUE(hs.run(1s));
        EXPECT_EQ(buffer, i);
        buffer = i * 10;
    }
    ASSERT_TRUE(hs.run(1s));
    EXPECT_EQ(buffer, 99);
    hs.quiesce();  // idle: returns at once
    hs.shut_down();
    worker.join();
    EXPECT_EQ(seen_by_worker, (std::vector<int>{10, 20, 30}));
}

TEST(ExitHandshake, RunReturnsFalseWhileTheGuestSpinsAndQuiesceStopsIt) {
    ExitHandshake hs;
    std::atomic<int> segments{0};
    std::thread worker([&] {
        while (hs.wait_for_start()) {
            ++segments;
            while (!hs.stop_requested()) std::this_thread::yield();  // a guest with no exits
            hs.segment_ended(false);
        }
    });
    EXPECT_FALSE(hs.run(10ms));
    EXPECT_FALSE(hs.run(10ms));  // the same execution, not a second one
    EXPECT_EQ(segments.load(), 1);
    hs.quiesce();
    EXPECT_FALSE(hs.stop_requested());
    EXPECT_FALSE(hs.run(10ms));  // starts it again
    hs.shut_down();
    worker.join();
    EXPECT_EQ(segments.load(), 2);
}

TEST(ExitHandshake, ShutDownAbortsAParkedExit) {
    ExitHandshake hs;
    bool aborted = false;
    std::thread worker([&] {
        while (hs.wait_for_start()) {
            aborted = !hs.park();
            hs.segment_ended(false);
        }
    });
    ASSERT_TRUE(hs.run(1s));
    EXPECT_TRUE(hs.parked());
    hs.quiesce();  // parked is at rest
    hs.shut_down();
    worker.join();
    EXPECT_TRUE(aborted);
}

}  // namespace
}  // namespace kvmrr::emu
