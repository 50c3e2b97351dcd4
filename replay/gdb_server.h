// A GDB stub for a guest replay: `kvmrr replay --guest --gdb PORT` stops
// the replayed guest before its first instruction and lets GDB (`target
// remote :PORT`) look at it, set breakpoints and watchpoints, continue
// and single-step, as rr does for a process. The guest is the
// recording's, so the debugger may look but not change it: register and
// memory writes are refused; every run to the same breakpoint finds the
// same state.
//
// The debugger is waited for before the guest's first instruction or, as
// `rr replay -g EVENT` does, at the first instruction boundary after a
// recorded exit (start_at_next_stop); `monitor` commands (GDB's qRcmd)
// are the replay's to answer. Where the target counts instructions, GDB
// can step and continue backwards: the stub has the replay run again
// from its start (GdbRestart, GdbPlan) to the position it goes back to.
//
// Registers are shown as amd64's, i386's or, for 16-bit code, i386's
// with GDB's i8086 architecture (a target description of GDB's
// org.gnu.gdb.i386.core, .sse and .segments features, and CR0, CR2, CR3,
// CR4 and EFER besides: replay/gdb_registers.h), the x87 and SSE ones
// as the vCPU reports them (GdbTarget::fpu; "unavailable" where it
// cannot). GDB cannot take a description that changes
// during a session, so one is chosen at the start, by default after the
// mode the guest starts in. Addresses are linear, as the CPU's
// breakpoints take them: in real mode CS * 16 + IP, which is not what
// `$pc` (the IP) shows.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/vcpu/vcpu.h"
#include "replay/gdb_arch.h"
#include "replay/gdb_registers.h"
#include "replay/gdb_connection.h"
#include "vmm/run_loop.h"

namespace kvmrr {

// Where the guest is to stop next: after one instruction; before the
// instructions at GDB's breakpoints (linear addresses), its software ones
// (Z0, `break`) and its hardware ones (Z1, `hbreak`); after an access to
// one of its watchpoints.
struct GdbStops {
    bool step = false;
    std::vector<uint64_t> software, hardware;
    std::vector<Watchpoint> watchpoints;  // Z2-Z4: write, read, access
    std::optional<uint64_t> stop_at;      // a position (GdbTarget::position) to stop at
};

// Going backwards: the replay runs again from its start, to a position
// (To: where GDB then finds the guest, told `reply`), or (Search) up to
// the position GDB asked from, noting the last breakpoint or watchpoint
// stop before it, to go To there next.
struct GdbPlan {
    enum class Kind : uint8_t { To, Search };
    Kind kind = Kind::To;
    uint64_t position = 0;
    std::string reply;  // To: the stop reply
};

// Thrown by the stub out of the replay's run when a reverse step or
// continue needs the replay run again from its start with `plan`; not an
// std::exception, so that nothing on the way takes it for an error.
struct GdbRestart {
    GdbPlan plan;
};

// What the stub debugs: a stopped vCPU and the memory it sees.
class GdbTarget {
public:
    virtual ~GdbTarget() = default;
    virtual kvm_regs regs() = 0;
    virtual kvm_sregs sregs() = 0;
    // At a linear address, RAM and ROM only; false where it cannot read.
    virtual bool read_memory(uint64_t linear, void* out, size_t n) = 0;
    // False where the breakpoints cannot all be kept (the stops are then
    // as they were).
    virtual bool set_stops(const GdbStops& stops) = 0;
    // Whether a Debug exit before the instruction at `linear` is one of
    // the stops asked for (a target may stop more often than asked, to
    // look for them).
    virtual bool stop_wanted(uint64_t linear) { (void)linear; return true; }
    // Whether it keeps watchpoints; where not, GDB is told they are not
    // supported and watches by stepping and comparing itself.
    virtual bool watches() const { return false; }
    // Where the guest is in its run, as instructions done, where the
    // target counts them; with it GDB can step and continue backwards.
    virtual std::optional<uint64_t> position() { return std::nullopt; }
    // The x87 and SSE registers, where the target can say.
    virtual std::optional<FpuState> fpu() { return std::nullopt; }
};

class GdbServer final : public DebugStopHandler {
public:
    GdbServer(GdbConnection& connection, GdbTarget& target, GdbArch arch = GdbArch::Amd64)
        : c_(connection), t_(&target), arch_(arch) {}

    // The guest of a replay run again from its start (after GdbRestart).
    void set_target(GdbTarget& target) { t_ = &target; }
    // At that replay's start, in place of serve_start: carries out the
    // plan GdbRestart gave, for the debugger still connected.
    void run_plan(const GdbPlan& plan);
    // Whether GDB may step and continue backwards: the target counts its
    // instructions (GdbTarget::position) and the replay can run again
    // from its start (GdbRestart).
    void allow_reverse(bool on) { reverse_ = on; }

    // The guest before its first instruction: serves the debugger until
    // it lets the guest run (or detaches).
    void serve_start();
    // The guest runs on to its next instruction boundary and waits there
    // for a debugger as serve_start does (`on_wait` is called first, to
    // say where to connect).
    void start_at_next_stop(std::function<void()> on_wait);
    // GDB's `monitor COMMAND` (qRcmd): `answer` gives the text GDB prints,
    // or nothing for a command it does not know.
    void set_monitor(std::function<std::optional<std::string>(std::string_view)> answer) { monitor_ = std::move(answer); }
    // DebugStopHandler: a breakpoint or step (or the stop the debugger's
    // interrupt asked for) is reported, then served the same way.
    void on_debug_stop(const VcpuExit& exit) override;
    void poll() override;
    // The replay diverged from its recording (`why`, the report's words):
    // a debugger waiting for the guest is told so on its console and finds
    // the guest stopped where the replay found the difference (at the
    // diverging exit, or the one after it where the difference is in what
    // the device did), to look at it before it is let go (a resume then
    // ends the session as finish does).
    void diverged(const std::string& why);
    // The replay has ended (`status` 0: reproduced): a debugger waiting
    // for the guest hears that it exited, and is let go.
    void finish(int status);
    bool attached() const { return c_.connected(); }

    void set_arch(GdbArch arch) { arch_ = arch; }  // before a debugger connects

private:
    enum class Resume : uint8_t { None, Continue, Step, Detach, ReverseStep, ReverseContinue };
    void serve();
    std::string handle(std::string_view packet, Resume& resume);
    std::string read_memory(std::string_view args);
    std::string breakpoint(std::string_view packet);
    // Puts `item` into `list` or takes it out, and tells the target.
    template <typename T>
    std::string toggle(std::vector<T>& list, const T& item, bool insert);
    std::string features(std::string_view args);
    std::string monitor(std::string_view hex_command);
    Resume vcont(std::string_view actions);
    void apply_stops(bool step);
    // The stop reply for a breakpoint, step or watchpoint stop.
    std::string stop_reply(const VcpuExit& exit) const;
    // The registers as they are now, for 'g' and 'p'.
    template <typename F>
    auto with_cpu(F read) {
        const kvm_regs r = t_->regs();
        const kvm_sregs s = t_->sregs();
        const std::optional<FpuState> f = t_->fpu();
        return read(GdbCpuView{r, s, f ? &*f : nullptr});
    }
    // A reverse step or continue asked for where the guest is now.
    void reverse(Resume kind);
    void plan_stop(const VcpuExit& exit);
    [[noreturn]] void end_search();
    void detach();

    GdbConnection& c_;
    GdbTarget* t_;
    GdbArch arch_;
    GdbStops stops_;  // the breakpoints; `step` as last resumed
    bool running_ = false;             // the debugger waits for a stop reply
    bool interrupt_asked_ = false;     // its interrupt made the next stop
    std::function<void()> start_pending_;  // start_at_next_stop's, until that stop
    std::optional<GdbPlan> plan_;          // run_plan's, until carried out
    bool reverse_ = false;
    std::optional<std::pair<uint64_t, std::string>> last_hit_;  // a Search's last stop before its end, and its reply
    std::function<std::optional<std::string>(std::string_view)> monitor_;
};

}  // namespace kvmrr
