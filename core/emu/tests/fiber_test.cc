// Fiber on its own: the order of resume() and yield(), a body's end, deep
// stacks, exceptions inside the body, and resuming from another thread.
#include "core/emu/fiber.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace kvmrr::emu {
namespace {

TEST(Fiber, ResumeRunsTheBodyUntilItYieldsAndYieldReturnsAtTheNextResume) {
    std::vector<std::string> log;
    Fiber* self = nullptr;
    Fiber f([&] {
        log.push_back("a");
        self->yield();
        log.push_back("b");
        self->yield();
        log.push_back("c");
    });
    self = &f;
    EXPECT_FALSE(f.started());
    EXPECT_TRUE(log.empty());  // nothing runs before the first resume
    f.resume();
    EXPECT_TRUE(f.started());
    EXPECT_EQ(log, (std::vector<std::string>{"a"}));
    log.push_back("1");
    f.resume();
    EXPECT_EQ(log, (std::vector<std::string>{"a", "1", "b"}));
    EXPECT_FALSE(f.done());
    f.resume();
    EXPECT_EQ(log, (std::vector<std::string>{"a", "1", "b", "c"}));
    EXPECT_TRUE(f.done());
    f.resume();  // done: nothing more
    EXPECT_EQ(log.size(), 4u);
}

TEST(Fiber, ManySwitchesKeepEachSidesLocals) {
    Fiber* self = nullptr;
    long inside = 0;
    Fiber f([&] {
        long mine = 0;  // lives on the fiber's stack across yields
        for (int i = 0; i < 100000; ++i) {
            mine += i;
            inside = mine;
            self->yield();
        }
    });
    self = &f;
    long expected = 0;
    for (int i = 0; i < 100000; ++i) {
        f.resume();
        expected += i;
        ASSERT_EQ(inside, expected);
    }
    f.resume();
    EXPECT_TRUE(f.done());
}

int depth(int n) {
    volatile char pad[1024];
    pad[0] = static_cast<char>(n);
    return n == 0 ? pad[0] : depth(n - 1) + 1 + pad[0] * 0;
}

TEST(Fiber, TheBodyHasADeepStack) {
    int got = -1;
    // 2 MiB of frames: more than a small coroutine stack, within the 8 MiB
    // a thread would have.
    Fiber f([&] { got = depth(2000); });
    f.resume();
    EXPECT_TRUE(f.done());
    EXPECT_EQ(got, 2000);
}

TEST(Fiber, ExceptionsThrownAndCaughtInsideTheBodyStayThere) {
    Fiber* self = nullptr;
    std::string caught;
    Fiber f([&] {
        try {
            self->yield();
            throw std::runtime_error("inside");
        } catch (const std::exception& e) {
            caught = e.what();
        }
    });
    self = &f;
    f.resume();
    f.resume();
    EXPECT_TRUE(f.done());
    EXPECT_EQ(caught, "inside");
}

TEST(Fiber, ASuspendedBodyCanBeResumedFromAnotherThread) {
    Fiber* self = nullptr;
    int step = 0;
    Fiber f([&] {
        step = 1;
        self->yield();
        step = 2;
    });
    self = &f;
    f.resume();
    EXPECT_EQ(step, 1);
    std::thread([&] { f.resume(); }).join();
    EXPECT_EQ(step, 2);
    EXPECT_TRUE(f.done());
}

TEST(Fiber, ResumingFromInsideItsOwnBodyIsRefused) {
    Fiber* self = nullptr;
    bool refused = false;
    Fiber f([&] {
        try {
            self->resume();
        } catch (const std::exception&) {
            refused = true;
        }
    });
    self = &f;
    f.resume();
    EXPECT_TRUE(refused);
    EXPECT_TRUE(f.done());
}

TEST(Fiber, OneNeverResumedIsDestroyedWithoutRunning) {
    bool ran = false;
    { Fiber f([&] { ran = true; }); }
    EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace kvmrr::emu
