// Fiber: a body that runs on a stack of its own in the thread that resumes
// it, and hands control back by yielding (internal to core/emu).
//
// The emulated vCPU runs the guest inside Unicorn's uc_emu_start, whose
// callbacks must return a read's value at once, while run() must return
// each exit to its caller first. A fiber lets the callback hand the exit
// over and be resumed later without a second thread: no kernel wake-up and
// no move between cores at every exit (a futex hand-over to a worker
// thread cost about a fifth of a SeaBIOS boot's wall time on the
// emulator). Boost.Context's fcontext switches the stacks: it saves the
// registers a call preserves and nothing else, where glibc's swapcontext
// also saves and restores the signal mask, a system call at each of the two
// switches of an exit. The switches are announced to AddressSanitizer when
// it is built in.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>
#include <functional>

namespace kvmrr::emu {

class Fiber {
public:
    // The body starts at the first resume().
    explicit Fiber(std::function<void()> body, size_t stack_bytes = size_t{8} << 20);
    ~Fiber();
    Fiber(const Fiber&) = delete;
    Fiber& operator=(const Fiber&) = delete;

    // Runs the body until it yields or returns. Not from inside the body.
    void resume();
    // From inside the body: back to the resume() that ran it.
    void yield();
    bool started() const { return started_; }
    // The body has returned (resume() would do nothing).
    bool done() const { return done_; }

private:
    using Context = boost::context::detail::fcontext_t;
    static void entry(boost::context::detail::transfer_t from);
    void switch_out(bool dying);

    std::function<void()> body_;
    void* stack_ = nullptr;  // mapping of stack_bytes_, its lowest page a guard
    size_t stack_bytes_ = 0;
    Context own_ = nullptr;     // where resume() goes on in the body
    Context caller_ = nullptr;  // where yield() goes back to
    bool started_ = false;
    bool done_ = false;
    bool inside_ = false;
    // AddressSanitizer's bookkeeping of the stack left (fake stack) and of
    // the resumer's stack, which the fiber learns on each switch in.
    void* fake_stack_ = nullptr;
    const void* caller_bottom_ = nullptr;
    size_t caller_size_ = 0;
};

}  // namespace kvmrr::emu
