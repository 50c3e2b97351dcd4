// The run loop against a fake vCPU that plays a script of exits: the exit
// limit, the time-out, the guest's exit request, the completion of the last
// access before the registers are read, and a vCPU that fails.
#include "vmm/run_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {
namespace {

// Plays `script` (an empty step: interrupted before any exit). Its
// registers show what the loop did: rip counts the completed exits, so a
// register read before the last access was completed shows it.
class FakeVcpu final : public Vcpu {
public:
    struct Step {
        bool interrupted = false;
        ExitKind kind = ExitKind::Io;
        bool is_write = true;
        uint64_t addr = 0x80;
        uint8_t size = 1;
        std::chrono::milliseconds delay{0};  // how long the guest runs before it
        bool throws = false;                 // the accelerator fails instead
    };
    std::deque<Step> script;
    Step repeat;               // after the script: this, forever
    uint64_t completed = 0;    // exits whose instruction was finished
    bool pending = false;      // an I/O or MMIO exit not completed yet
    uint64_t regs_read_with_pending = 0;
    uint8_t data[8] = {};
    std::string note;

    unsigned id() const override { return 0; }
    std::optional<VcpuExit> run() override {
        finish_pending();
        Step s = script.empty() ? repeat : script.front();
        if (!script.empty()) script.pop_front();
        if (s.delay.count()) std::this_thread::sleep_for(s.delay);
        if (s.throws) throw Error("KVM_RUN: Bad address");
        if (s.interrupted) return std::nullopt;
        VcpuExit e;
        e.kind = s.kind;
        e.is_write = s.is_write;
        e.addr = s.addr;
        e.size = s.size;
        std::memset(data, 0, sizeof data);
        e.data = std::span(data, e.kind == ExitKind::Mmio ? sizeof data : s.size);
        pending = e.kind == ExitKind::Io || e.kind == ExitKind::Mmio;
        return e;
    }
    void complete_exit() override { finish_pending(); }
    kvm_regs regs() const override {
        kvm_regs r{};
        r.rip = completed;
        r.rax = data[0];
        if (pending) r.rflags = 1;  // marks "read with an exit pending"
        return r;
    }
    void set_regs(const kvm_regs&) override {}
    kvm_sregs sregs() const override { return {}; }
    void set_sregs(const kvm_sregs&) override {}
    std::string stop_note() const override { return note; }
    bool interrupt_window_open() const override { return window; }
    void inject_interrupt(uint8_t vector) override { injected.push_back(vector); }
    void request_interrupt_window(bool on) override { window_requested = on; }
    bool window = false;
    bool window_requested = false;
    std::vector<uint8_t> injected;

private:
    void finish_pending() {
        if (!pending) return;
        pending = false;
        ++completed;
    }
};

struct RunLoop : ::testing::Test {
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    ExitTargets targets{*m.io_space, *m.memory};
    FakeVcpu vcpu;
    GuestExitRequest request;

    RunResult run(RunLimits limits, ExitObserver* observer = nullptr, const ExitHandlerFn& handler = {}) {
        return run_vcpu(vcpu, targets, ExitPolicy{}, limits, request, observer, handler);
    }
};

TEST_F(RunLoop, ExitLimitStopsAfterThatManyExitsAndCompletesTheLast) {
    vcpu.repeat = {};  // out 0x80 forever
    RunLimits l;
    l.max_exits = 5;
    const RunResult r = run(l);
    EXPECT_EQ(r.reason, StopReason::MaxExits);
    EXPECT_EQ(r.exits, 5u);
    EXPECT_EQ(r.detail, 5u);
    EXPECT_EQ(r.regs.rip, 5u) << "the fifth exit was completed before the registers were read";
    EXPECT_EQ(r.regs.rflags, 0u);
}

TEST_F(RunLoop, TheLastReadIsCompletedWithTheDevicesValueBeforeRegistersAreRead) {
    // A read of an unclaimed port gives all ones; the loop must hand that
    // to the vCPU (complete_exit) before it reads the registers.
    FakeVcpu::Step in;
    in.is_write = false;
    in.addr = 0x99;
    vcpu.script = {in};
    vcpu.repeat = in;
    RunLimits l;
    l.max_exits = 1;
    const RunResult r = run(l);
    EXPECT_EQ(r.reason, StopReason::MaxExits);
    EXPECT_EQ(r.regs.rip, 1u);
    EXPECT_EQ(r.regs.rax, 0xffu);
    EXPECT_EQ(r.regs.rflags, 0u);
}

TEST_F(RunLoop, TimeoutEndsAGuestThatNeverExitsAndLeavesTheExitAlone) {
    FakeVcpu::Step spin;
    spin.interrupted = true;
    spin.delay = std::chrono::milliseconds(5);
    vcpu.repeat = spin;
    RunLimits l;
    l.timeout = std::chrono::milliseconds(50);
    const auto t0 = std::chrono::steady_clock::now();
    const RunResult r = run(l);
    EXPECT_EQ(r.reason, StopReason::Timeout);
    EXPECT_EQ(r.detail, 50u);
    EXPECT_EQ(r.exits, 0u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(RunLoop, AnExitThatComesAfterTheDeadlineIsNotHandled) {
    FakeVcpu::Step late;
    late.delay = std::chrono::milliseconds(80);
    vcpu.script = {FakeVcpu::Step{}, late};
    vcpu.repeat = late;
    struct Count final : ExitObserver {
        int seen = 0;
        void on_exit(const VcpuExit&, const ExitOutcome&) override { ++seen; }
    } count;
    RunLimits l;
    l.timeout = std::chrono::milliseconds(40);
    const RunResult r = run(l, &count);
    EXPECT_EQ(r.reason, StopReason::Timeout);
    EXPECT_EQ(r.exits, 1u);
    EXPECT_EQ(count.seen, 1);
    EXPECT_EQ(r.regs.rflags, 1u) << "a timed-out run leaves the late exit pending, as it was";
}

TEST_F(RunLoop, InterruptionsBeforeTheDeadlineAreNotExits) {
    FakeVcpu::Step signal;
    signal.interrupted = true;
    FakeVcpu::Step hlt;
    hlt.kind = ExitKind::Hlt;
    vcpu.script = {signal, signal, FakeVcpu::Step{}, signal, hlt};
    const RunResult r = run({});
    EXPECT_EQ(r.reason, StopReason::Halt);
    EXPECT_EQ(r.exits, 2u);
    EXPECT_EQ(r.regs.rip, 1u);  // the out was completed by the next run()
}

// A debugger's stops: handed to it, not exits of the guest's (no count,
// no observer, no handler), and the time stopped there is not the run's.
struct Debugger final : DebugStopHandler {
    int stops = 0, polls = 0;
    std::chrono::milliseconds hold{0};
    void on_debug_stop(const VcpuExit& e) override {
        EXPECT_EQ(e.kind, ExitKind::Debug);
        ++stops;
        std::this_thread::sleep_for(hold);
    }
    void poll() override { ++polls; }
};

TEST_F(RunLoop, DebugStopsGoToTheDebuggerAndAreNotExits) {
    FakeVcpu::Step debug;
    debug.kind = ExitKind::Debug;
    FakeVcpu::Step hlt;
    hlt.kind = ExitKind::Hlt;
    vcpu.script = {debug, FakeVcpu::Step{}, debug, debug, hlt};
    struct Count final : ExitObserver {
        int seen = 0;
        void on_exit(const VcpuExit&, const ExitOutcome&) override { ++seen; }
    } count;
    Debugger dbg;
    RunLimits l;
    l.debugger = &dbg;
    int handled = 0;
    const RunResult r = run(l, &count, [&](VcpuExit& e) {
        ++handled;
        return handle_exit(e, targets, ExitPolicy{});
    });
    EXPECT_EQ(r.reason, StopReason::Halt);
    EXPECT_EQ(r.exits, 2u);
    EXPECT_EQ(count.seen, 2);
    EXPECT_EQ(handled, 2);
    EXPECT_EQ(dbg.stops, 3);
    EXPECT_GE(dbg.polls, 1);
}

TEST_F(RunLoop, TimeStoppedInTheDebuggerIsNotTheRunsTime) {
    FakeVcpu::Step debug;
    debug.kind = ExitKind::Debug;
    FakeVcpu::Step hlt;
    hlt.kind = ExitKind::Hlt;
    vcpu.script = {debug, debug, debug, hlt};
    Debugger dbg;
    dbg.hold = std::chrono::milliseconds(40);
    RunLimits l;
    l.debugger = &dbg;
    l.timeout = std::chrono::milliseconds(60);  // less than the 120 ms stopped
    const RunResult r = run(l);
    EXPECT_EQ(r.reason, StopReason::Halt);
    EXPECT_EQ(dbg.stops, 3);
}

// Asked to stop (Ctrl-C, or guest replay in a recording's last stretch),
// the run ends at the guest's next exit; a debugger's stop is none, so a
// run that ends there ends between exits.
TEST_F(RunLoop, ARunAskedToStopDoesNotTakeADebugStopForAnExit) {
    FakeVcpu::Step debug;
    debug.kind = ExitKind::Debug;
    debug.delay = std::chrono::milliseconds(300);
    vcpu.repeat = debug;
    std::atomic<int> stop{SIGINT};
    Debugger dbg;
    RunLimits l;
    l.debugger = &dbg;
    l.interrupt = &stop;
    const RunResult r = run(l);
    EXPECT_EQ(r.reason, StopReason::Interrupted);
    EXPECT_TRUE(r.between_exits);
    EXPECT_EQ(r.exits, 0u);
    EXPECT_GE(dbg.stops, 2);  // handed on until the second's wait was over
}

TEST_F(RunLoop, TheGuestsExitRequestEndsTheRunWithItsStatus) {
    vcpu.repeat = {};
    int calls = 0;
    const RunResult r = run({}, nullptr, [&](VcpuExit&) {
        if (++calls == 3) {
            request.requested = true;
            request.status = 42;
        }
        return ExitOutcome{};
    });
    EXPECT_EQ(r.reason, StopReason::GuestExit);
    EXPECT_EQ(r.exit_status, 42);
    EXPECT_EQ(r.exits, 3u);
    EXPECT_EQ(r.regs.rip, 3u);
}

TEST_F(RunLoop, AStopFromTheHandlerEndsTheRunWithItsDetailAndTheVcpusNote) {
    FakeVcpu::Step shutdown;
    shutdown.kind = ExitKind::Shutdown;
    vcpu.script = {FakeVcpu::Step{}, shutdown};
    vcpu.note = "emulator: CPU exception 6 at 0x100000 with no IDT";
    const RunResult r = run({});
    EXPECT_EQ(r.reason, StopReason::Shutdown);
    EXPECT_EQ(r.exits, 2u);
    EXPECT_EQ(r.note, vcpu.note);
    EXPECT_NE(r.describe().find("CPU exception 6"), std::string::npos) << r.describe();
    EXPECT_EQ(r.regs.rip, 1u);
}

TEST_F(RunLoop, ObserverSeesEveryExitAroundItsHandlingWithTheRegionThatAnswered) {
    FunctionOps ops([](uint64_t, unsigned) { return 0x5au; }, [](uint64_t, uint64_t, unsigned) {});
    MemoryRegion& port = sys.create_io("port", 1, ops);
    m.io->add_subregion(0x700, port);
    FakeVcpu::Step in;
    in.is_write = false;
    in.addr = 0x700;
    vcpu.script = {in, in};
    struct Log final : ExitObserver {
        std::vector<std::string> events;
        void before_exit(const VcpuExit& e) override { events.push_back("before " + hex(e.addr)); }
        void on_exit(const VcpuExit& e, const ExitOutcome& o) override {
            events.push_back("on " + hex(e.addr) + " " + hex(e.data[0]) + " " + (o.region ? o.region->name() : "none"));
        }
    } log;
    RunLimits l;
    l.max_exits = 2;
    run(l, &log);
    EXPECT_EQ(log.events, (std::vector<std::string>{"before 0x700", "on 0x700 0x5a port", "before 0x700", "on 0x700 0x5a port"}));
}

TEST(RunResultText, AnEmulatorFailureIsNotCalledKvms) {
    RunResult r;
    r.reason = StopReason::InternalError;
    r.note = "emulator: fetch from MMIO at 0x40000000";
    EXPECT_EQ(r.describe().find("KVM"), std::string::npos) << r.describe();
    EXPECT_NE(r.describe().find("emulator internal error"), std::string::npos) << r.describe();
    r.note.clear();
    EXPECT_NE(r.describe().find("KVM internal error"), std::string::npos) << r.describe();
}

TEST_F(RunLoop, AVcpuThatFailsPassesTheErrorOn) {
    FakeVcpu::Step bad;
    bad.throws = true;
    vcpu.script = {FakeVcpu::Step{}, bad};
    try {
        run({});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("KVM_RUN: Bad address"), std::string::npos);
    }
}

}  // namespace
}  // namespace kvmrr
