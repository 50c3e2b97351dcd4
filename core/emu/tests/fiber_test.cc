// Fiber on its own: the order of resume() and yield(), a body's end, deep
// stacks, exceptions inside the body, and resuming from another thread.
#include "core/emu/fiber.h"

#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define KVMRR_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KVMRR_TEST_ASAN 1
#endif
#endif
#ifdef KVMRR_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

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

#ifdef KVMRR_TEST_ASAN
// A frame with an array whose address escapes: AddressSanitizer puts red
// zones around it in its shadow while the frame is live.
[[gnu::noinline]] void yield_with_a_guarded_frame(Fiber& f, uintptr_t& at) {
    volatile char local[64] = {};
    at = reinterpret_cast<uintptr_t>(&local[0]);
    f.yield();
    local[0] = 1;
}

// Maps a page where a destroyed fiber's frame was and asks AddressSanitizer
// whether any of it is still marked (stale shadow from the stack).
bool page_is_clean_after(uintptr_t at) {
    auto page = reinterpret_cast<void*>(at & ~uintptr_t{4095});
    void* m = mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m == MAP_FAILED) return true;  // taken by something else: nothing to see
    bool clean = __asan_region_is_poisoned(m, 4096) == nullptr;
    munmap(m, 4096);
    return clean;
}

TEST(Fiber, AnAbandonedBodyLeavesNoMarksInTheSanitizersShadow) {
    uintptr_t at = 0;
    {
        Fiber f([&] { yield_with_a_guarded_frame(f, at); });
        f.resume();
        ASSERT_NE(at, 0u);
        ASSERT_NE(__asan_region_is_poisoned(reinterpret_cast<void*>(at - 64), 256), nullptr);
    }
    EXPECT_TRUE(page_is_clean_after(at));
}

TEST(Fiber, AFinishedBodyLeavesNoMarksInTheSanitizersShadow) {
    uintptr_t at = 0;
    {
        Fiber f([&] {
            volatile char local[64] = {};
            at = reinterpret_cast<uintptr_t>(&local[0]);
        });
        f.resume();
        ASSERT_TRUE(f.done());
    }
    EXPECT_TRUE(page_is_clean_after(at));
}
#endif

}  // namespace
}  // namespace kvmrr::emu
