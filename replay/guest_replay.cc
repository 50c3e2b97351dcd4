#include "replay/guest_replay.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <vector>

#include "core/vcpu/exit_handler.h"
#include "replay/event_compare.h"
#include "replay/gdb_server.h"
#include "replay/replayed_guest.h"
#include "record/trace_error.h"
#include "record/trace_text.h"
#include "replay/replay_engine.h"

namespace kvmrr {

namespace {

// Dirty logs are compared where they were harvested after a number of
// exits (the same exits come again); a harvest by wall-clock time cannot
// be repeated, so then the recorder runs without one and they are skipped.
bool exit_count_harvests(const TraceHeader& h) { return h.dirty_interval_ms == 0; }

RecorderOptions recorder_options(const TraceHeader& h) {
    if (!exit_count_harvests(h)) return RecorderOptions{};
    return RecorderOptions{h.dirty_interval_exits, 0, h.dirty_mark_port};
}

// The debugger's side of a guest replay, kept across the replays that a
// reverse step or continue runs again from the start (GdbRestart).
struct GdbSession {
    explicit GdbSession(uint16_t port) : connection(port) {}
    GdbConnection connection;
    std::optional<GdbServer> server;  // made with the first replay's guest
    std::optional<GdbPlan> plan;      // for the replay run again
};

class GuestReplay final : public ReplayEngine, PausePlan {
public:
    GuestReplay(TraceReader& r, const ReplayOptions& o, Accel accel, GdbSession* gdb)
        : ReplayEngine(r, o, accel, exit_count_harvests(r.header()), recorder_options(r.header())), gdb_session_(gdb) {}

    ReplayReport run() {
        if (check_devices()) return finish();
        rep_.accel = accel_name(session_->accel());
        matcher_.replayed_on = rep_.accel;
        matcher_.recorded_on = h_.accelerator.empty() ? std::string("kvm") : h_.accelerator;
        matcher_.tsc_from_host = tsc_unrecorded(h_) || rep_.accel != "emu";
        start();
        check_initial_regs();
        std::vector<TraceEvent> group;
        if (!groups_.read(group) && !groups_.complete()) {
            rep_.unchecked += group.size();  // damage before the first access
            return finish();
        }
        matcher_.queue(group);
        // The board's steps before the first access (after a HLT, or a
        // kick of --ticks-between-exits) read their inputs from the
        // prologue.
        queue_inputs(group);
        RunOptions ro;
        if (h_.ticks_between_exits) {
            plan_pauses(group);
            ro.limits.pauses = this;
        }
        ro.limits.timeout = opts_.timeout.value_or(
            std::max(std::chrono::milliseconds(60000), std::chrono::milliseconds(h_.timeout_ms)));
        ro.limits.max_exits = h_.max_exits;  // the recording's --max-exits ends the replay at the same exit
        ro.global_dirty_log = true;  // as record_guest: every slot logs
        ro.limits.interrupt = &stop_last_stretch_;
        watch_for_last_stretch();  // a recording stopped before its guest's first exit
        ro.handler = [this](VcpuExit& e) { return guest_exit(e); };
        if (gdb_session_) {
            debug_target_.emplace(session_->vcpu(), session_->machine().memory_space());
            const bool again = gdb_session_->server.has_value();
            if (again) gdb_session_->server->set_target(*debug_target_);
            else gdb_session_->server.emplace(gdb_session_->connection, *debug_target_);
            gdb_ = &*gdb_session_->server;
            gdb_->set_monitor([this](std::string_view command) { return monitor(command); });
            gdb_->allow_reverse(opts_.reopen_trace && debug_target_->position());
            if (again) {
                if (const std::optional<GdbPlan> plan = std::exchange(gdb_session_->plan, std::nullopt)) gdb_->run_plan(*plan);
            } else if (opts_.gdb_after_event) {
                gdb_waits_after_ = opts_.gdb_after_event;  // guest_exit
            } else {
                announce_debugger(std::nullopt);
                gdb_->serve_start();
            }
            ro.limits.debugger = gdb_;
        }
        const RunResult r = session_->run(ro);
        if (gdb_ && rep_.divergence) gdb_->diverged(rep_.divergence->describe());
        if (!rep_.divergence && !cut_short_) matcher_.match({}, /*dirty_may_follow=*/true);  // the last access's
        current_access_ = nullptr;
        current_group_ = {};
        current_region_ = nullptr;
        if (rep_.divergence || cut_short_) return finish();
        bool more = true;
        if (!end_group_.empty()) {
            group = std::move(end_group_);  // read where the recording timed out
        } else {
            more = next_group(group);
            // The replay's own time limit, where the recording went on: the
            // report names it at the recording's next event, rather than
            // as a difference from the harvest and end it forced.
            if (r.reason == StopReason::Timeout && !group.empty() && !std::holds_alternative<EndEvent>(group.front().body)) {
                matcher_.diverge(group.front(), nullptr,
                                 "the replay reached its time limit (" + std::to_string(ro.limits.timeout.count()) +
                                     " ms, --timeout) before the guest made this exit of the recording's");
                return finish();
            }
        }
        // The last harvest and the end, as the recording did. A run this
        // replay stopped itself in the last stretch between exits ends as
        // the recording's did there.
        RunResult ended = r;
        if (r.reason == StopReason::Interrupted && stop_last_stretch_.load() && !group.empty())
            if (const EndEvent* end = std::get_if<EndEvent>(&group.front().body)) {
                ended.reason = end->reason == stop_reason_name(StopReason::Timeout) ? StopReason::Timeout : StopReason::Interrupted;
                ended.detail = end->detail;
                ended.between_exits = true;
            }
        rec_.finish(ended);
        // The rest up to the end event is compared; what follows it is not
        // a recording's (ReplayEngine::after_end).
        for (;;) {
            if (!group.empty() && std::holds_alternative<EndEvent>(group.front().body)) {
                // Where the recording stopped its guest between exits, the
                // replay's stopped elsewhere in that stretch.
                if (std::get<EndEvent>(group.front().body).between_exits)
                    matcher_.end_between_exits = rep_.end_between_exits = true;
                matcher_.queue(std::span(group).first(1));
                if (matcher_.match() && matcher_.saw_end()) {
                    rep_.ended = true;
                    after_end(std::span(group).subspan(1), more);
                }
                return finish();
            }
            matcher_.queue(group);
            if (!more) break;
            more = groups_.read(group);
        }
        matcher_.trace_lacks_end = groups_.complete();
        if (matcher_.match() && matcher_.saw_end()) rep_.ended = true;
        return finish();
    }

private:
    // The guest starts where the recording says it started: a trace with
    // no registers, or a rip the image does not start at, cannot be
    // replayed as recorded (and would "reproduce" anything).
    void check_initial_regs() const {
        constexpr size_t kGprs = 18, kRip = 16;
        if (h_.initial_regs.empty() || h_.initial_regs.front().gprs.size() != kGprs)
            throw TraceError("the trace header has no initial registers: guest replay cannot start the guest as recorded");
        const RegsRecord now = regs_record(session_->vcpu().regs(), session_->vcpu().sregs());
        const uint64_t recorded = h_.initial_regs.front().gprs[kRip];
        if (now.gprs.size() == kGprs && now.gprs[kRip] != recorded)
            throw TraceError("the trace header's initial rip " + hex(recorded) + " is not where its guest starts (" +
                             hex(now.gprs[kRip]) + ")");
    }

    // One exit of the replayed guest: it must be the next recorded access.
    ExitOutcome guest_exit(VcpuExit& e) {
        Machine& m = session_->machine();
        const ExitTargets targets{m.io_space(), m.memory_space()};
        ++exits_;
        if (e.kind != ExitKind::Io && e.kind != ExitKind::Mmio) {
            // The recording's clock (or a signal) may have stopped the run
            // at this exit, which has no event of its own: the end follows
            // the last access's group, and counts the exits before this one
            // (a HLT after a wait the time limit cut short, which the guest
            // left without an interrupt, as it did here).
            if (const std::optional<ExitOutcome> stop = recorded_stop_here()) return *stop;
            // No access of its own (a HLT, an interrupt window): what the
            // board does after it belongs to the last access's group. The
            // recorder counts every exit (its harvest interval), as it did.
            rec_.before_exit(e);
            const ExitOutcome o = handle_exit(e, targets, policy_);  // the end event says if it should stop
            rec_.on_exit(e, o);
            watch_for_last_stretch();
            return o;
        }
        // What the last access, and the board after it and after any exit
        // since, produced (a timer's clock reading, an interrupt delivered)
        // is complete now; a difference is reported at that access.
        if (!matcher_.match({}, /*dirty_may_follow=*/true)) return {StopReason::Diverged, e.addr};
        current_access_ = nullptr;
        current_group_ = {};
        current_region_ = nullptr;
        std::vector<TraceEvent>& group = group_;
        if (!next_group(group) && !groups_.complete()) {
            // Damage: this group may lack events; the replay ends here.
            cut_short_ = true;
            rep_.unchecked += group.size();
            return {StopReason::Diverged, e.addr};
        }
        // The recording's clock (or a signal to kvmrr) stopped the run when
        // this exit came: it was not handled there, and is not here (the
        // run loop does not count it). The end is matched after the run, as
        // the recorder writes it.
        if (const std::optional<ExitOutcome> stop = unhandled_end(group)) {
            end_group_ = std::move(group);
            group.clear();
            return *stop;
        }
        AccessEvent got = access_record(e);  // for a read, the data is not the guest's yet
        const AccessEvent* a = group.empty() ? nullptr : std::get_if<AccessEvent>(&group.front().body);
        if (!a) {
            const TraceEvent where = group.empty() ? TraceEvent{matcher_.last_seq() + 1, 0, EndEvent{}} : group.front();
            matcher_.diverge(where, nullptr, "the guest made an exit that the recording does not have: " +
                                                 format_event(TraceEvent{where.seq, 0, got}, matcher_.actual_names(), false));
            return {StopReason::Diverged, e.addr};
        }
        // What the guest cannot know is taken from the recording.
        got.region = a->region;
        got.status = a->status;
        if (!got.is_write) {
            got.value = a->value;
            got.bulk = a->bulk;
        }
        const RegionNames& names = groups_.names();
        const TraceEvent actual{group.front().seq, group.front().vcpu, got};
        if (!same_event(group.front(), names, actual, names)) {
            matcher_.diverge(group.front(), &actual, event_difference(group.front(), names, actual, names).value_or(""));
            return {StopReason::Diverged, e.addr};
        }
        ++rep_.accesses;
        current_access_ = a;
        current_group_ = group;
        queue_inputs(group);
        rec_.before_exit(e);
        const ExitOutcome o = handle_exit(e, targets, policy_);
        current_region_ = o.region;
        rec_.on_exit(e, o);
        // The guest sees the recorded value, whatever the device said (that
        // is compared too).
        if (!a->is_write) {
            if (a->count == 1) std::memcpy(e.data.data(), &a->value, std::min<size_t>(a->size, e.data.size()));
            else std::memcpy(e.data.data(), a->bulk.data(), std::min(a->bulk.size(), e.data.size()));
        }
        // Matched at the next exit, or at the end: the board's step after
        // this exit (run_vcpu's) belongs to the group too. Until then the
        // group stays in group_, for a divergence's report.
        matcher_.queue(group);
        if (h_.ticks_between_exits) plan_pauses(group);
        watch_for_last_stretch();
        if (gdb_waits_after_ && group.back().seq >= *gdb_waits_after_) {
            gdb_waits_after_.reset();
            const uint64_t seq = group.front().seq;
            gdb_->start_at_next_stop([this, seq] { announce_debugger(seq); });
        }
        return o;
    }

    // PausePlan: where the recording's run loop stopped its guest between
    // exits after the access of `group` (or before the first): the replay
    // stops it at the same instruction counts. One the replayed guest
    // passes without stopping is left out of what the replay produces,
    // which the match of the group then reports; one with no count is
    // planned at 0, a place every guest has passed.
    void plan_pauses(std::span<const TraceEvent> group) {
        pauses_.clear();
        next_pause_ = 0;
        for (const TraceEvent& e : group)
            if (const auto* p = std::get_if<PauseEvent>(&e.body)) pauses_.push_back(p->counted ? p->instructions : 0);
    }
    std::optional<uint64_t> next_pause() const override {
        if (next_pause_ >= pauses_.size()) return std::nullopt;
        return pauses_[next_pause_];
    }
    void reached() override { ++next_pause_; }

    // Says where the debugger is waited for, with the registers as the
    // guest's mode there wants them unless the options say otherwise.
    void announce_debugger(std::optional<uint64_t> after_event) {
        const GdbArch arch = opts_.gdb_arch.value_or(gdb_arch_for(debug_target_->sregs()));
        gdb_->set_arch(arch);
        if (opts_.gdb_listening)
            opts_.gdb_listening(ReplayOptions::GdbListening{gdb_session_->connection.port(), arch, after_event});
    }

    // GDB's `monitor` commands: where in the recording the guest is.
    std::optional<std::string> monitor(std::string_view command) {
        if (command == "help")
            return std::string("kvmrr monitor commands:\n  when   the recorded exit the guest made last, and its number\n");
        if (command != "when") return std::nullopt;
        const std::optional<uint64_t> done = debug_target_->position();
        const std::string instructions = done ? std::to_string(*done) + " instructions done, " : "";
        if (exits_ == 0) return "kvmrr: " + instructions + "before the guest's first exit\n";
        std::string text = "kvmrr: " + instructions + "after exit " + std::to_string(exits_) + " of the replay";
        if (!group_.empty())
            text += "; the last access: " + format_event(group_.front(), groups_.names(), false);
        if (!text.ends_with('\n')) text += '\n';
        return text;
    }

    // The group after the current access's is read ahead (after each exit)
    // to see whether the recording stopped before the next access; the
    // next access takes it from there. The two vectors trade places, so
    // neither gives up its storage.
    void read_ahead() {
        if (ahead_read_) return;
        ahead_more_ = groups_.read(ahead_);
        ahead_read_ = true;
    }
    // The next group, as EventGroupReader::read.
    bool next_group(std::vector<TraceEvent>& group) {
        if (!ahead_read_) return groups_.read(group);
        group.swap(ahead_);
        ahead_read_ = false;
        return ahead_more_;
    }

    // How the replay stops when `group` is an end that the recording made
    // at an exit it did not handle (its time limit, a signal), else nothing.
    std::optional<ExitOutcome> unhandled_end(const std::vector<TraceEvent>& group) const {
        const EndEvent* end = group.empty() ? nullptr : std::get_if<EndEvent>(&group.front().body);
        if (!end) return std::nullopt;
        const bool timed_out = end->reason == stop_reason_name(StopReason::Timeout);
        if (!timed_out && end->reason != stop_reason_name(StopReason::Interrupted)) return std::nullopt;
        return ExitOutcome{timed_out ? StopReason::Timeout : StopReason::Interrupted, timed_out ? h_.timeout_ms : end->detail};
    }

    // At an exit without an access: whether the recording stopped there,
    // unhandled. An end read ahead names the stopped exit by the count of
    // those before it.
    std::optional<ExitOutcome> recorded_stop_here() {
        read_ahead();
        const std::optional<ExitOutcome> stop = unhandled_end(ahead_);
        if (!stop || std::get<EndEvent>(ahead_.front().body).exits + 1 != exits_) return std::nullopt;
        end_group_ = std::move(ahead_);
        ahead_.clear();
        ahead_read_ = false;
        return stop;
    }

    // After an exit handled: when the recording's time limit or a signal
    // stopped its guest between this exit and the next (its end, read
    // ahead, says so and counts this exit as its last), the run loop is
    // asked to end the replay's run as after Ctrl-C: at the guest's next
    // exit, or a second later. Where the recording stopped in that stretch
    // no replay can find again; without this a guest that makes no more
    // exits (a hang) would run to the replay's own time limit.
    void watch_for_last_stretch() {
        read_ahead();
        const EndEvent* end = ahead_.empty() ? nullptr : std::get_if<EndEvent>(&ahead_.front().body);
        if (end && end->between_exits && end->exits == exits_ && unhandled_end(ahead_))
            stop_last_stretch_.store(SIGALRM, std::memory_order_relaxed);
    }

public:
    // The replay has ended: a debugger still attached hears how.
    void let_debugger_go(const ReplayReport& rep) {
        if (gdb_) gdb_->finish(rep.divergence ? 1 : 0);
    }

private:
    GdbSession* gdb_session_;  // with a debugger
    std::optional<ReplayedGuest> debug_target_;
    GdbServer* gdb_ = nullptr;
    std::optional<uint64_t> gdb_waits_after_;  // the event after whose exit the debugger is waited for
    std::vector<TraceEvent> ahead_;   // the group after the current access's, once read
    bool ahead_read_ = false, ahead_more_ = true;
    uint64_t exits_ = 0;              // the guest's exits so far, as the run loop counts them
    std::atomic<int> stop_last_stretch_{0};  // RunLimits::interrupt: set by watch_for_last_stretch
    bool cut_short_ = false;  // the trace's damage was reached
    std::vector<TraceEvent> group_;  // the last access's group, until it is matched
    std::vector<TraceEvent> end_group_;  // the end, read at the exit where the recording timed out
    std::vector<uint64_t> pauses_;       // the current group's stops between exits (instruction counts)
    size_t next_pause_ = 0;
};

// A recording whose run loop stopped its guest between exits is replayed
// where the stops can be found again: on the emulator, by its instruction
// count, which traces since kTracePauseVersion keep. Left to choose, that
// accelerator is taken.
Accel guest_replay_accel(const TraceHeader& h, Accel asked) {
    if (!h.ticks_between_exits) return asked;
    const std::string why = "the trace was recorded with --ticks-between-exits: some interrupts came between exits, ";
    const std::string device_replay = "; `kvmrr replay` without --guest replays its devices";
    if (h.format_version < kTracePauseVersion)
        throw TraceError(why + "and this trace (format " + std::to_string(h.format_version) +
                         ") does not say where, which format " + std::to_string(kTracePauseVersion) + " does" +
                         device_replay);
    if (h.accelerator != accel_name(Accel::Emu))
        throw TraceError(why + "at points that only an instruction count names, and KVM, which recorded it, counts "
                               "none" + device_replay);
    if (asked == Accel::Kvm)
        throw TraceError(why + "at points that only an instruction count names, and KVM counts none: replay it on "
                               "the emulator (--accel emu)");
    return Accel::Emu;
}

}  // namespace

ReplayReport replay_guest(TraceReader& reader, const ReplayOptions& options) {
    const Accel accel = guest_replay_accel(reader.header(), options.accel);
    if (!options.gdb_port) return GuestReplay(reader, options, accel, nullptr).run();
    GdbSession gdb(*options.gdb_port);
    TraceReader* trace = &reader;
    std::optional<TraceReader> again;
    for (;;) {
        try {
            GuestReplay r(*trace, options, accel, &gdb);
            ReplayReport rep = r.run();
            r.let_debugger_go(rep);
            return rep;
        } catch (const GdbRestart& restart) {
            // A reverse step or continue: the same replay again from the
            // start, the debugger still connected, to where it goes.
            gdb.plan = restart.plan;
            again.reset();
            again.emplace(options.reopen_trace());
            trace = &*again;
        }
    }
}

}  // namespace kvmrr
