#include "core/emu/abort_guard.h"

#include <setjmp.h>
#include <signal.h>

#include <mutex>

namespace kvmrr::emu {

namespace {

// Where the guarded call of this thread jumps back to, if one runs.
thread_local sigjmp_buf* t_back = nullptr;

// What handled SIGABRT before the guard was installed: set once, before
// the handler can run, and only read afterwards.
struct sigaction g_before {};

void on_abort(int sig, siginfo_t* info, void* context) {
    if (sigjmp_buf* back = t_back) {
        t_back = nullptr;
        siglongjmp(*back, 1);
    }
    // Not ours: as before. glibc's abort() raises SIGABRT again, with the
    // default action, once a handler returns.
    if (g_before.sa_flags & SA_SIGINFO) {
        if (g_before.sa_sigaction) g_before.sa_sigaction(sig, info, context);
    } else if (g_before.sa_handler != SIG_DFL && g_before.sa_handler != SIG_IGN && g_before.sa_handler != nullptr) {
        g_before.sa_handler(sig);
    }
}

void install_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_sigaction = on_abort;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGABRT, &sa, &g_before);
    });
}

}  // namespace

bool call_surviving_abort(const std::function<void()>& call) {
    install_once();
    sigjmp_buf back;
    sigjmp_buf* volatile outer = t_back;  // a guarded call within a guarded call
    if (sigsetjmp(back, 1) != 0) {
        t_back = outer;
        return false;
    }
    t_back = &back;
    call();
    t_back = outer;
    return true;
}

}  // namespace kvmrr::emu
