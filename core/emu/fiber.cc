#include "core/emu/fiber.h"

#include <sys/mman.h>

#include <cstdint>
#include <exception>

#include "core/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define KVMRR_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KVMRR_FIBER_ASAN 1
#endif
#endif
#ifdef KVMRR_FIBER_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace kvmrr::emu {

namespace {

constexpr size_t kGuard = 4096;

// AddressSanitizer must be told of every switch of stacks (its
// fiber-switching interface), or it takes the other stack's frames for
// overflows.
void start_switch([[maybe_unused]] void** fake_stack_save, [[maybe_unused]] const void* bottom,
                  [[maybe_unused]] size_t size) {
#ifdef KVMRR_FIBER_ASAN
    __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#endif
}

void finish_switch([[maybe_unused]] void* fake_stack_save, [[maybe_unused]] const void** bottom_old,
                   [[maybe_unused]] size_t* size_old) {
#ifdef KVMRR_FIBER_ASAN
    __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
#endif
}

}  // namespace

Fiber::Fiber(std::function<void()> body, size_t stack_bytes) : body_(std::move(body)), stack_bytes_(stack_bytes) {
    // Reserved, not committed: pages are taken as the stack grows. The
    // lowest page stays inaccessible, so an overflow faults instead of
    // writing over whatever lies below.
    void* m = mmap(nullptr, stack_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (m == MAP_FAILED) throw Error("emulator: cannot map a stack of " + std::to_string(stack_bytes_) + " bytes");
    stack_ = m;
    mprotect(stack_, kGuard, PROT_NONE);
    // The stack grows down from its top.
    own_ = boost::context::detail::make_fcontext(static_cast<char*>(stack_) + stack_bytes_, stack_bytes_ - kGuard,
                                                 &Fiber::entry);
}

// A body still suspended is abandoned with its frames (its owner makes it
// return first: ExitHandshake::shut_down). Frames never returned from (the
// body's first one always) leave their red zones marked in
// AddressSanitizer's shadow, which munmap does not clear: the next mapping
// at these addresses (Unicorn's translation buffer, say) would be taken for
// a stack and its first memset reported as an overflow.
Fiber::~Fiber() {
#ifdef KVMRR_FIBER_ASAN
    __asan_unpoison_memory_region(stack_, stack_bytes_);
#endif
    munmap(stack_, stack_bytes_);
}

// The body's first frame; it never returns (fcontext ends the process
// when this function returns): the last switch out leaves it for good.
void Fiber::entry(boost::context::detail::transfer_t from) {
    auto* f = static_cast<Fiber*>(from.data);
    f->caller_ = from.fctx;
    finish_switch(nullptr, &f->caller_bottom_, &f->caller_size_);
    try {
        f->body_();
    } catch (...) {
        // As an exception leaving a thread's function: the body's callers
        // (Unicorn's C frames) cannot be unwound.
        std::terminate();
    }
    f->done_ = true;
    f->switch_out(true);
}

void Fiber::resume() {
    if (done_) return;
    if (inside_) throw Error("emulator: a fiber resumed from its own body");
    started_ = true;
    inside_ = true;
    void* fake = nullptr;
    start_switch(&fake, static_cast<char*>(stack_) + kGuard, stack_bytes_ - kGuard);
    own_ = boost::context::detail::jump_fcontext(own_, this).fctx;
    finish_switch(fake, nullptr, nullptr);
    inside_ = false;
}

void Fiber::yield() { switch_out(false); }

void Fiber::switch_out(bool dying) {
    // A dying fiber's fake stack is released (null save slot).
    start_switch(dying ? nullptr : &fake_stack_, caller_bottom_, caller_size_);
    caller_ = boost::context::detail::jump_fcontext(caller_, nullptr).fctx;
    if (dying) std::terminate();  // a finished body is never resumed
    finish_switch(fake_stack_, &caller_bottom_, &caller_size_);
}

}  // namespace kvmrr::emu
