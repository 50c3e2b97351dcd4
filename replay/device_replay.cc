#include "replay/device_replay.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>

#include "core/error.h"
#include "core/guest_image.h"
#include "core/kvm/exit_handler.h"
#include "core/kvm/memslot_listener.h"
#include "devices/machine.h"
#include "devices/vm_runner.h"
#include "record/event_sink.h"
#include "record/recorder.h"
#include "record/trace_text.h"
#include "replay/event_compare.h"
#include "replay/replay_vm.h"
#include "replay/trace_inputs.h"

namespace kvmrr {

namespace {

constexpr uint32_t kDefaultMaxSlots = 509;  // KVM's usual table when the header does not say

// Keeps what the replayed recorder produces, numbered in its own order.
class MemorySink final : public EventSink {
public:
    explicit MemorySink(RegionNames& names) : names_(names) {}
    uint64_t append(uint16_t vcpu, EventBody body) override {
        events.emplace_back(next_, vcpu, std::move(body));
        names_.observe(events.back());
        return next_++;
    }
    std::vector<TraceEvent> events;

private:
    RegionNames& names_;
    uint64_t next_ = 0;
};

MachineLayout layout_from_header(const TraceHeader& h) {
    MachineLayout l;
    l.ram_size = h.ram_size;
    l.rom_size = h.rom_size;
    l.rom_low_alias = h.rom_low_alias;
    l.devices.clear();
    for (const WindowRecord& w : h.windows)
        l.devices.push_back({w.name, w.io ? AddressSpace::Kind::Io : AddressSpace::Kind::Memory, w.addr, w.size});
    l.validate();
    return l;
}

GuestImage image_from_header(const TraceHeader& h) {
    GuestImage img;
    img.name = h.guest_name;
    img.entry = h.guest_entry;
    img.mode = h.guest_long_mode ? CpuMode::Long : CpuMode::Real;
    img.hash = h.guest_hash;
    for (const SegmentRecord& s : h.guest_segments) img.segments.push_back({s.addr, s.data, s.zero_fill});
    return img;
}

bool starts_group(const TraceEvent& e) {
    return std::holds_alternative<AccessEvent>(e.body) || std::holds_alternative<EndEvent>(e.body);
}

// The recorder options a replay runs its recorder with: none for device
// replay (no CPU, no dirty pages); for guest replay the recording's own
// exit-count harvest interval, so bitmaps are taken after the same exits.
RecorderOptions replay_recorder_options(const TraceHeader& h, bool guest) {
    if (!guest || h.dirty_interval_ms != 0) return RecorderOptions{};
    return RecorderOptions{h.dirty_interval_exits, 0, h.dirty_mark_port};
}

class Replayer {
public:
    Replayer(TraceReader& r, const ReplayOptions& o, bool guest)
        : reader_(r),
          opts_(o),
          h_(r.header()),
          expected_names_(h_),
          actual_names_(),
          guest_(guest),
          compare_dirty_(guest && h_.dirty_interval_ms == 0),
          rec_(inputs_, replay_recorder_options(h_, guest)),
          machine_(layout_from_header(h_), rec_, [](uint8_t) {}),
          vm_(h_.max_memslots ? h_.max_memslots : kDefaultMaxSlots),
          slots_(vm_),
          sink_(actual_names_) {}

    ReplayReport run() { return guest_ ? run_guest() : run_devices(); }

private:
    ReplayReport run_guest() {
        if (check_devices()) return std::move(rep_);
        if (opts_.prepare_machine) opts_.prepare_machine(machine_);
        runner_ = std::make_unique<VmRunner>(machine_, opts_.accel);
        rep_.accel = accel_name(runner_->accel());
        recorded_on_ = h_.accelerator.empty() ? std::string("kvm") : h_.accelerator;
        runner_->load(image_from_header(h_), h_.guest_args);
        for (const RegionRecord& r : rec_.describe_regions(machine_)) actual_names_.add(r);
        rec_.start(sink_, machine_, &runner_->memslots());
        std::vector<TraceEvent> group;
        if (!read_group(group) && !reader_.complete()) {
            rep_.unchecked += group.size();  // damage before the first access
            return finish();
        }
        expect(group);
        RunOptions ro;
        ro.limits.timeout = opts_.timeout;
        ro.global_dirty_log = true;  // as record_guest: every slot logs
        ro.handler = [this](VcpuExit& e) { return guest_exit(e); };
        const RunResult r = runner_->run(ro);
        if (rep_.divergence || cut_short_) return finish();
        rec_.finish(r);  // the last harvest and the end, as the recording did
        for (;;) {
            const bool more = read_group(group);
            expect(group);
            if (!more) break;
        }
        if (match() && saw_end_) rep_.ended = true;
        return finish();
    }

    // One exit of the replayed guest: it must be the next recorded access.
    ExitOutcome guest_exit(VcpuExit& e) {
        const ExitTargets targets{machine_.io_space(), machine_.memory_space()};
        if (e.kind != ExitKind::Io && e.kind != ExitKind::Mmio) return handle_exit(e, targets);  // the end event says if it should
        std::vector<TraceEvent> group;
        if (!read_group(group) && !reader_.complete()) {
            // Damage: this group may lack events; the replay ends here.
            cut_short_ = true;
            rep_.unchecked += group.size();
            return {StopReason::Diverged, e.addr};
        }
        AccessEvent got = access_record(e);  // for a read, the data is not the guest's yet
        const AccessEvent* a = group.empty() ? nullptr : std::get_if<AccessEvent>(&group.front().body);
        if (!a) {
            const TraceEvent where = group.empty() ? TraceEvent{last_seq_ + 1, 0, EndEvent{}} : group.front();
            diverge(where, nullptr, "the guest made an exit that the recording does not have: " +
                                        format_event(TraceEvent{where.seq, 0, got}, actual_names_, false));
            return {StopReason::Diverged, e.addr};
        }
        // What the guest cannot know is taken from the recording.
        got.region = a->region;
        got.status = a->status;
        if (!got.is_write) {
            got.value = a->value;
            got.bulk = a->bulk;
        }
        const TraceEvent actual{group.front().seq, group.front().vcpu, got};
        if (!same_event(group.front(), expected_names_, actual, expected_names_)) {
            diverge(group.front(), &actual, event_difference(group.front(), expected_names_, actual, expected_names_).value_or(""));
            return {StopReason::Diverged, e.addr};
        }
        ++rep_.accesses;
        current_access_ = a;
        current_group_ = group;
        queue_inputs(group);
        rec_.before_exit(e);
        const ExitOutcome o = handle_exit(e, targets);
        rec_.on_exit(e, o);
        // The guest sees the recorded value, whatever the device said (that
        // is compared too).
        if (!a->is_write) {
            if (a->count == 1) std::memcpy(e.data.data(), &a->value, std::min<size_t>(a->size, e.data.size()));
            else std::memcpy(e.data.data(), a->bulk.data(), std::min(a->bulk.size(), e.data.size()));
        }
        expect(group);
        match(true);
        current_access_ = nullptr;
        current_group_ = {};
        if (rep_.divergence) return {StopReason::Diverged, e.addr};
        return o;
    }

    ReplayReport run_devices() {
        if (check_devices()) return std::move(rep_);
        if (opts_.prepare_machine) opts_.prepare_machine(machine_);
        image_from_header(h_).load_into(machine_.memory_space());
        machine_.memory_space().add_listener(slots_);
        for (const RegionRecord& r : rec_.describe_regions(machine_)) actual_names_.add(r);
        // The start of a recording, as record_guest does it: taps on, then
        // dirty logging for every slot.
        rec_.start(sink_, machine_, &slots_);
        slots_.set_global_dirty_log(true);
        const auto started = std::chrono::steady_clock::now();
        bool told = false;

        std::vector<TraceEvent> spill;
        bool more = false;
        std::span<TraceEvent> group = read_group_in_place(spill, more);  // the prologue: what precedes the first access
        if (!more && !reader_.complete()) {
            rep_.unchecked += group.size();  // damage before the first access
            return finish();
        }
        expect(group);
        if (!match()) return finish();
        while (more) {
            group = read_group_in_place(spill, more);
            if (group.empty()) break;
            // A group cut short by damage may lack consequences its access
            // had: it is not replayed, only counted.
            if (!more && !reader_.complete()) {
                rep_.unchecked += group.size();
                break;
            }
            const TraceEvent& head = group.front();
            if (std::holds_alternative<EndEvent>(head.body)) {
                check_end(group);
                break;
            }
            replay_access(group);
            if (rep_.divergence) break;
            if (opts_.progress && rep_.events >= next_progress_) {
                next_progress_ = rep_.events + opts_.progress_every;
                if (told || std::chrono::steady_clock::now() - started > std::chrono::seconds(1)) {
                    told = true;
                    opts_.progress(rep_.events, reader_.event_count());
                }
            }
        }
        return finish();
    }

    ReplayReport finish() {
        rec_.detach();
        if (rep_.divergence && rep_.divergence->kind != "header") read_context(*rep_.divergence);
        if (!rep_.divergence) {
            TraceEvent e;
            // Whatever follows a divergence is not read; otherwise say why reading stopped.
            if (!reader_.complete()) rep_.damage = reader_.damage().value_or("the trace ends before its end event");
            else if (!rep_.ended) rep_.damage = "the trace has no end event";
        }
        return std::move(rep_);
    }

    // Reading stops at the first divergence, so the reader is free to go
    // back for the events before it. A trace too damaged to seek in gives
    // no context rather than a wrong one.
    void read_context(Divergence& v) {
        sync_reader();
        const uint64_t n = opts_.context_events;
        if (n == 0 || context_end_ == 0) return;
        if (!reader_.seek(context_end_ > n ? context_end_ - n : 0)) return;
        TraceEvent e;
        while (reader_.next(e) && e.seq < context_end_) v.context.push_back(format_event(e, expected_names_, false));
    }

    bool check_devices() {
        for (const DeviceRecord& d : h_.devices) {
            const Device* dev = machine_.device(d.name);
            std::string why;
            if (!dev) why = "the trace has device '" + d.name + "', this build does not";
            else if (dev->model_version() != d.model_version)
                why = "device '" + d.name + "' was model version " + std::to_string(d.model_version) + " when recorded, is " +
                      std::to_string(dev->model_version()) + " now";
            if (why.empty()) continue;
            Divergence v;
            v.kind = "header";
            v.device = d.name;
            v.difference = why;
            rep_.divergence = std::move(v);
            return true;
        }
        return false;
    }

    // Reads one group: the prologue (what precedes the first access), or
    // an access or end event with what follows it up to the next one.
    // False at the end of what can be read.
    bool read_group(std::vector<TraceEvent>& group, bool append = false) {
        if (!append) group.clear();
        // Straight from the reader's buffer: every event is moved once,
        // into its group, and the next group's head stays in the reader.
        while (TraceEvent* e = next_buffered()) {
            if (starts_group(*e) && (!group.empty() || !prologue_done_)) {
                prologue_done_ = true;
                return true;
            }
            expected_names_.observe(*e);
            group.push_back(std::move(*e));
            ++rpos_;
        }
        prologue_done_ = true;
        return false;
    }

    // read_group for device replay, without moving anything when it can:
    // the group in place in the reader's buffer when it lies wholly there
    // (nearly always), else moved into `spill`. Valid until the next read.
    std::span<TraceEvent> read_group_in_place(std::vector<TraceEvent>& spill, bool& more) {
        spill.clear();
        if (!next_buffered()) {
            prologue_done_ = true;
            more = false;
            return {};
        }
        const size_t start = rpos_;
        for (size_t k = start; k < rbuf_.size(); ++k) {
            if (starts_group(rbuf_[k]) && (k > start || !prologue_done_)) {
                for (size_t i = start; i < k; ++i) expected_names_.observe(rbuf_[i]);
                rpos_ = k;
                prologue_done_ = true;
                more = true;
                return rbuf_.subspan(start, k - start);
            }
        }
        // It goes on past this chunk: gather it.
        more = read_group(spill, true);
        return spill;
    }

    // The next event in the reader's buffer, not taken yet; the reader is
    // told what was taken only when the buffer runs out (or before the
    // reader is asked anything else: sync_reader()), not once per event.
    TraceEvent* next_buffered() {
        if (rpos_ == rbuf_.size()) {
            sync_reader();
            rbuf_ = reader_.buffered();
            if (rbuf_.empty()) return nullptr;
        }
        return &rbuf_[rpos_];
    }
    void sync_reader() {
        if (rpos_) reader_.consume(rpos_);
        rbuf_ = {};
        rpos_ = 0;
    }

    void replay_access(std::span<TraceEvent> group) {
        const TraceEvent& head = group.front();
        const AccessEvent& a = std::get<AccessEvent>(head.body);
        ++rep_.accesses;
        current_access_ = &a;
        struct Reset {
            const AccessEvent*& p;
            ~Reset() { p = nullptr; }
        } reset{current_access_};
        if (machine_.exit_request().requested) {
            diverge(head, nullptr, "the replayed guest had already asked to exit (status " +
                                       std::to_string(machine_.exit_request().status) + ") before this access");
            return;
        }
        queue_inputs(group);

        const size_t n = static_cast<size_t>(a.size) * a.count;
        // A single access (nearly all of them) needs no buffer of its own.
        uint64_t word = 0;
        uint8_t* data = reinterpret_cast<uint8_t*>(&word);
        if (n > 8) {
            data_.assign(n, 0);
            data = data_.data();
        }
        if (a.is_write) {
            if (a.count == 1) std::memcpy(data, &a.value, a.size);
            else std::memcpy(data, a.bulk.data(), std::min(n, a.bulk.size()));
        }
        VcpuExit e;
        e.kind = a.io ? ExitKind::Io : ExitKind::Mmio;
        e.is_write = a.is_write;
        e.size = a.size;
        e.count = a.count;
        e.addr = a.addr;
        e.data = std::span(data, a.io ? n : std::max<size_t>(n, 8));
        rec_.before_exit(e);
        const ExitOutcome o = handle_exit(e, {machine_.io_space(), machine_.memory_space()});
        rec_.on_exit(e, o);
        match_group(group);
    }

    // expect(group) then match(), for device replay, where nothing is left
    // waiting between groups: the recorded events are compared where they
    // are instead of being queued.
    void match_group(std::span<TraceEvent> group) {
        current_group_ = group;
        struct Reset {
            std::span<const TraceEvent>& g;
            ~Reset() { g = {}; }
        } reset{current_group_};
        for (const TraceEvent& e : group) account(e);
        size_t gi = 0;
        auto next_expected = [&]() -> const TraceEvent* {
            while (gi < group.size() && !compared(group[gi])) ++gi;
            return gi < group.size() ? &group[gi] : nullptr;
        };
        const TraceEvent* ex = next_expected();
        while (ex) {
            const TraceEvent* ac = next_actual();
            if (!ac) break;
            ++rep_.checked;
            if (!same_compared(*ex, *ac)) {
                diverge(*ex, ac, event_difference(*ex, expected_names_, *ac, actual_names_).value_or(""));
                return;
            }
            ++gi;
            ++actual_pos_;
            ex = next_expected();
        }
        const TraceEvent* extra = next_actual();
        if (!extra) {
            sink_.events.clear();
            actual_pos_ = 0;
        }
        if (ex) {
            diverge(*ex, nullptr, std::string("the replay produced no ") + event_kind(*ex) + " event here");
            return;
        }
        if (extra) diverge_extra(*extra);
    }

    // Queues a recorded group to be matched with what the replay produces.
    void expect(std::span<const TraceEvent> group) {
        for (const TraceEvent& e : group) {
            account(e);
            if (!compared(e)) continue;
            expected_.push_back(e);
        }
    }

    // same_event, with the region of an access compared through a memo:
    // once a recorded region id and a replayed one were found to name the
    // same region, they always do (neither side ever renumbers), and the
    // names need not be looked up for every access again.
    bool same_compared(const TraceEvent& ex, const TraceEvent& ac) {
        const auto* a = std::get_if<AccessEvent>(&ex.body);
        const auto* b = std::get_if<AccessEvent>(&ac.body);
        if (!a || !b || ex.vcpu != ac.vcpu) return same_event(ex, expected_names_, ac, actual_names_);
        // A region defined since (a trace may even redefine an id) voids it.
        if (expected_names_.generation() != memo_generation_.first ||
            actual_names_.generation() != memo_generation_.second) {
            same_region_.clear();
            memo_generation_ = {expected_names_.generation(), actual_names_.generation()};
        }
        if (a->region < same_region_.size() && same_region_[a->region] == b->region && b->region != kNoRegion)
            return same_access_but_region(*a, *b);
        if (!same_event(ex, expected_names_, ac, actual_names_)) return false;
        if (a->region < kMemoRegionIds && b->region != kNoRegion) {
            if (same_region_.size() <= a->region) same_region_.resize(a->region + 1, kNoRegion);
            same_region_[a->region] = b->region;
        }
        return true;
    }

    // The first event the replay produced that is compared and not matched yet.
    const TraceEvent* next_actual() {
        while (actual_pos_ < sink_.events.size() && !compared(sink_.events[actual_pos_])) ++actual_pos_;
        return actual_pos_ < sink_.events.size() ? &sink_.events[actual_pos_] : nullptr;
    }

    // The replay produced an event after the last recorded one of its group.
    void diverge_extra(const TraceEvent& extra) {
        Divergence& v = diverge(TraceEvent{last_seq_, extra.vcpu, extra.body}, &extra,
                                std::string("the replay produced a ") + event_kind(extra) +
                                    " event that the trace does not have here");
        v.expected.clear();
        context_end_ = last_seq_ + 1;  // it came after the last recorded event
    }

    // Hands the devices the inputs recorded after the group's access.
    void queue_inputs(std::span<const TraceEvent> group) {
        if (inputs_.pending()) inputs_.clear();  // left over by a device that asked for less
        for (size_t i = 1; i < group.size(); ++i) inputs_.push(group[i].body);
    }

    // The report's counts for one recorded event taken into the comparison.
    void account(const TraceEvent& e) {
        ++rep_.events;
        last_seq_ = e.seq;
        if (std::holds_alternative<EndEvent>(e.body)) {
            saw_end_ = true;
            rep_.end_reason = std::get<EndEvent>(e.body).reason;
            rep_.exit_status = std::get<EndEvent>(e.body).exit_status;
        }
        if (std::holds_alternative<DirtyEvent>(e.body) && !compare_dirty_) ++rep_.skipped_dirty;
    }

    // Matches the queued recorded events with the replay's, in order, as far
    // as both go; what is left over on one side is a divergence, except
    // recorded dirty logs when `dirty_may_follow` (the guest replay's last
    // harvest comes only when the run has ended).
    bool match(bool dirty_may_follow = false) {
        while (!expected_.empty()) {
            const TraceEvent* ac = next_actual();
            if (!ac) break;
            const TraceEvent& ex = expected_.front();
            ++rep_.checked;
            if (!same_compared(ex, *ac)) {
                diverge(ex, ac, event_difference(ex, expected_names_, *ac, actual_names_).value_or(""));
                return false;
            }
            expected_.pop_front();
            ++actual_pos_;
        }
        const TraceEvent* extra = next_actual();
        if (!extra) {
            sink_.events.clear();
            actual_pos_ = 0;
        }
        const bool only_dirty_left = std::all_of(expected_.begin(), expected_.end(), [](const TraceEvent& e) {
            return std::holds_alternative<DirtyEvent>(e.body);
        });
        if (!expected_.empty() && !(dirty_may_follow && only_dirty_left)) {
            diverge(expected_.front(), nullptr, std::string("the replay produced no ") + event_kind(expected_.front()) + " event here");
            return false;
        }
        if (extra) {
            diverge_extra(*extra);
            return false;
        }
        return true;
    }

    bool compared(const TraceEvent& e) const {
        if (std::holds_alternative<RegionDefEvent>(e.body)) return false;
        return compare_dirty_ || !std::holds_alternative<DirtyEvent>(e.body);
    }

    void check_end(std::span<const TraceEvent> group) {
        const TraceEvent& ev = group.front();
        const EndEvent& end = std::get<EndEvent>(ev.body);
        ++rep_.events;
        ++rep_.checked;
        rep_.end_reason = end.reason;
        rep_.exit_status = end.exit_status;
        const GuestExitRequest& req = machine_.exit_request();
        const bool guest_exit = end.reason == stop_reason_name(StopReason::GuestExit);
        if (guest_exit != req.requested) {
            diverge(ev, nullptr, guest_exit ? "the recorded guest asked to exit, the replayed devices saw no such request"
                                            : "the replayed devices saw the guest ask to exit (status " +
                                                  std::to_string(req.status) + "), the recording ended by " + end.reason);
            return;
        }
        if (guest_exit && req.status != end.exit_status) {
            diverge(ev, nullptr, "exit status: expected " + std::to_string(end.exit_status) + ", actual " +
                                     std::to_string(req.status));
            return;
        }
        for (const DeviceDigestRecord& d : end.device_digests) {
            const Device* dev = machine_.device(d.name);
            if (!dev) {
                diverge(ev, nullptr, "device '" + d.name + "' is in the end event but not in the replayed machine");
                return;
            }
            if (dev->register_digest() != d.register_digest) {
                Divergence& v = diverge(ev, nullptr, "state of device '" + d.name + "': expected digest " +
                                                         hex(d.register_digest) + ", actual " + hex(dev->register_digest()));
                v.device = d.name;
                return;
            }
        }
        rep_.ended = true;
        for (size_t i = 1; i < group.size(); ++i) ++rep_.events;  // nothing should follow the end
    }

    Divergence& diverge(const TraceEvent& ex, const TraceEvent* ac, std::string why) {
        Divergence v;
        v.seq = ex.seq;
        v.vcpu = ex.vcpu;
        v.kind = event_kind(ex);
        v.expected = format_event(ex, expected_names_, false);
        if (ac) v.actual = format_event(*ac, actual_names_, false);
        v.difference = std::move(why);
        // Bitmaps are compared across accelerators too: with the boot page
        // tables' accessed and dirty bits preset, KVM and the emulator dirty
        // the same pages. A guest that builds its own tables can still make
        // the CPU's page walker write them on KVM only; say so.
        if (std::holds_alternative<DirtyEvent>(ex.body) && !rep_.accel.empty() && recorded_on_ != rep_.accel)
            v.difference += " (recorded on " + recorded_on_ + ", replayed on " + rep_.accel +
                            ": a CPU that sets page-table accessed/dirty bits itself dirties pages the other does not)";
        context_end_ = ex.seq;  // the context is read back in finish()
        if (ac && std::holds_alternative<TopologyEvent>(ex.body) && std::holds_alternative<TopologyEvent>(ac->body)) {
            const auto& te = std::get<TopologyEvent>(ex.body);
            const auto& ta = std::get<TopologyEvent>(ac->body);
            v.view_diff = te.view.empty() ? "(the trace does not keep this view's ranges)\n"
                                          : view_difference(te, expected_names_, ta, actual_names_);
        }
        if (v.view_diff.empty() && !current_group_.empty()) v.view_diff = group_view_difference(current_group_);
        if (current_access_) locate(v, *current_access_);
        rep_.divergence = std::move(v);
        return *rep_.divergence;
    }

    // A topology commit that differs often shows first in its memslot
    // changes (the memslot listener hears the commit before the recorder
    // does): the views of the same access, when both sides have one.
    std::string group_view_difference(std::span<const TraceEvent> group) {
        for (const TraceEvent& ex : group) {
            const auto* te = std::get_if<TopologyEvent>(&ex.body);
            if (!te || te->view.empty()) continue;
            for (const TraceEvent& ac : sink_.events) {
                const auto* ta = std::get_if<TopologyEvent>(&ac.body);
                if (ta && ta->space == te->space && ta->flat_view_hash != te->flat_view_hash)
                    return view_difference(*te, expected_names_, *ta, actual_names_);
            }
        }
        return {};
    }

    // Where the access being replayed went: region and device window.
    void locate(Divergence& v, const AccessEvent& a) {
        v.addr = a.addr;
        const AddressSpace& as = a.io ? static_cast<const AddressSpace&>(machine_.io_space())
                                      : static_cast<const AddressSpace&>(machine_.memory_space());
        if (const FlatRange* fr = as.view()->lookup(a.addr)) v.region = fr->mr->name();
        const auto kind = a.io ? AddressSpace::Kind::Io : AddressSpace::Kind::Memory;
        for (const DeviceWindow& w : machine_.layout().devices)
            if (w.space == kind && a.addr >= w.addr && a.addr - w.addr < w.size) v.device = w.name;
    }

    TraceReader& reader_;
    const ReplayOptions& opts_;
    const TraceHeader& h_;
    RegionNames expected_names_, actual_names_;
    bool guest_;
    bool compare_dirty_;
    std::string recorded_on_;  // guest replay: the accelerator the trace was recorded on
    TraceInputs inputs_;
    Recorder rec_;
    Machine machine_;
    ReplayVm vm_;
    MemslotListener slots_;
    MemorySink sink_;
    // Events compared: all but region definitions (each side numbers its
    // regions; names are compared instead) and, without the guest's CPU,
    // dirty logs.
    bool saw_end_ = false;
    bool cut_short_ = false;  // guest replay reached damage in the trace
    std::unique_ptr<VmRunner> runner_;
    std::deque<TraceEvent> expected_;  // recorded, waiting for the replay's
    size_t actual_pos_ = 0;            // first of sink_.events not matched yet
    uint64_t last_seq_ = 0;
    bool prologue_done_ = false;
    // The recorded events just before a divergence are read back from the
    // trace when it is reported (finish()), rather than kept, one by one,
    // for the whole replay: those before context_end_.
    uint64_t context_end_ = 0;
    std::span<TraceEvent> rbuf_;  // the reader's buffered events (next_buffered)
    size_t rpos_ = 0;             // how many of them were taken
    static constexpr uint32_t kMemoRegionIds = 1u << 16;  // larger ids (only a crafted trace has them) are not memoised
    std::vector<uint32_t> same_region_;  // recorded region id -> replayed id of the same name (see same_compared)
    std::pair<uint64_t, uint64_t> memo_generation_{~0ull, ~0ull};  // of the names same_region_ was learnt from
    std::vector<uint8_t> data_;
    const AccessEvent* current_access_ = nullptr;
    std::span<const TraceEvent> current_group_;  // the group being replayed, for a divergence's view difference
    uint64_t next_progress_ = 0;
    ReplayReport rep_;
};

}  // namespace

std::string Divergence::describe() const {
    std::string s = "divergence";
    if (seq) s += " at event #" + std::to_string(*seq) + " (vcpu" + std::to_string(vcpu) + ", " + kind + ")";
    else s += " in the " + kind;
    s += ": " + difference + "\n";
    if (addr) {
        s += "  access at " + hex(*addr) + " answered by region " + (region.empty() ? std::string("none") : region);
        s += device.empty() ? std::string(" (no device window)") : " of device " + device;
        s += "\n";
    } else if (!device.empty()) {
        s += "  device: " + device + "\n";
    }
    if (!expected.empty()) s += "  expected: " + expected + "\n";
    if (!actual.empty()) s += "  actual:   " + actual + "\n";
    if (!view_diff.empty()) {
        s += "  flat view, recorded (-) against replayed (+):\n";
        size_t from = 0;
        while (from < view_diff.size()) {
            const size_t nl = view_diff.find('\n', from);
            s += "    " + view_diff.substr(from, nl - from) + "\n";
            from = nl == std::string::npos ? view_diff.size() : nl + 1;
        }
    }
    if (!context.empty()) {
        s += "  the recorded events before it:\n";
        for (const std::string& c : context) s += "    " + c + "\n";
    }
    return s;
}

std::string ReplayReport::summary() const {
    std::string s;
    if (reproduced()) s = "reproduced: ";
    else if (divergence) s = "DIVERGED: ";
    else s = "INCOMPLETE: ";
    s += std::to_string(events) + " events, " + std::to_string(accesses) + " accesses replayed, " +
         std::to_string(checked) + " events checked, " + std::to_string(skipped_dirty) + " dirty logs skipped";
    if (ended) {
        s += "; guest ended by " + end_reason;
        if (end_reason == stop_reason_name(StopReason::GuestExit)) s += " with status " + std::to_string(exit_status);
    }
    if (!accel.empty()) s += "; guest ran on " + accel;
    if (unchecked) s += "; " + std::to_string(unchecked) + " events of a cut group not replayed";
    if (damage) s += "; trace damaged: " + *damage;
    return s;
}

ReplayReport replay_devices(TraceReader& reader, const ReplayOptions& options) {
    Replayer r(reader, options, false);
    return r.run();
}

ReplayReport replay_guest(TraceReader& reader, const ReplayOptions& options) {
    Replayer r(reader, options, true);
    return r.run();
}

}  // namespace kvmrr
