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
    if (getcontext(&own_) != 0) throw Error("emulator: getcontext failed");
    own_.uc_stack.ss_sp = static_cast<char*>(stack_) + kGuard;
    own_.uc_stack.ss_size = stack_bytes_ - kGuard;
    own_.uc_link = nullptr;
    const auto self = reinterpret_cast<uintptr_t>(this);
    // makecontext passes int-sized arguments: the pointer in two halves.
    makecontext(&own_, reinterpret_cast<void (*)()>(&Fiber::entry), 2, static_cast<unsigned>(self >> 32),
                static_cast<unsigned>(self & 0xffffffffu));
}

// A body still suspended is abandoned with its frames (its owner makes it
// return first: ExitHandshake::shut_down).
Fiber::~Fiber() { munmap(stack_, stack_bytes_); }

void Fiber::entry(unsigned hi, unsigned lo) {
    auto* f = reinterpret_cast<Fiber*>((uintptr_t{hi} << 32) | lo);
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
    swapcontext(&caller_, &own_);
    finish_switch(fake, nullptr, nullptr);
    inside_ = false;
}

void Fiber::yield() { switch_out(false); }

void Fiber::switch_out(bool dying) {
    // A dying fiber's fake stack is released (null save slot).
    start_switch(dying ? nullptr : &fake_stack_, caller_bottom_, caller_size_);
    if (dying) {
        setcontext(&caller_);
        std::terminate();  // setcontext does not return
    }
    swapcontext(&own_, &caller_);
    finish_switch(fake_stack_, &caller_bottom_, &caller_size_);
}

}  // namespace kvmrr::emu
