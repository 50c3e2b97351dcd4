// EventMatcher: the one comparison loop of both replay engines.
//
// The replay runs the very Recorder that wrote the trace over its machine,
// into this matcher's sink; the matcher compares what that recorder
// produces with the recorded events, in order. Compared are all events but
// region definitions (each side numbers its regions; names are compared
// instead) and, unless dirty logs are compared (guest replay of an
// exit-count harvest), dirty logs. The first difference becomes the
// report's divergence, built with what the engine says of where it is
// (the access being replayed, its group, the region that answered).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "record/event_sink.h"
#include "record/trace_text.h"
#include "replay/replay_report.h"

namespace kvmrr {

class MemoryRegion;

// Where the replay stands when a difference is found.
struct ReplayPlace {
    const AccessEvent* access = nullptr;       // the recorded access being replayed
    std::span<const TraceEvent> group;         // its recorded group
    const MemoryRegion* region = nullptr;      // what answered it in the replay, once dispatched
};

class EventMatcher final : public EventSink {
public:
    // `expected` names the recorded regions (the group reader's); `report`
    // gets the counts and the divergence.
    EventMatcher(const RegionNames& expected, bool compare_dirty, ReplayReport& report);

    // EventSink: the replay's recorder writes here.
    uint64_t append(uint16_t vcpu, EventBody body) override;
    RegionNames& actual_names() { return actual_names_; }

    // Tells the divergence report where the engine is, which device window
    // an address falls in, and (guest replay) the two accelerators.
    std::function<ReplayPlace()> place;
    std::function<std::string(bool io, uint64_t addr)> device_at;
    std::function<std::string(bool io, uint64_t addr)> region_at;  // only where the place has no region
    std::string recorded_on, replayed_on;
    // The guest read the host's TSC, unrecorded, in the recording or in
    // the replay (KVM, or the emulator off the virtual clock): a guest
    // write that differs is then said to be a likely leak of it.
    bool tsc_from_host = false;
    // The trace was read to its end and has no end event: the end the
    // replay produces is not a divergence (the replay is not whole, which
    // ReplayEngine::finish says, as device replay does).
    bool trace_lacks_end = false;
    // The recorded end stopped its guest between two exits, where no
    // replay can stop it again (guest replay sets this when it reaches
    // such an end): that end's registers, and the pages in the dirty logs
    // of its last harvest, are not compared.
    bool end_between_exits = false;

    bool compared(const TraceEvent& e) const;
    // Takes recorded events into the comparison (and the report's counts),
    // to be matched by the next match().
    void queue(std::span<const TraceEvent> group);
    // Takes `group` into the comparison and matches the recorded events
    // waiting (queued, then the group's) with what the replay produced, in
    // order, as far as both go. What is left over on one side is a
    // divergence, except recorded dirty logs when `dirty_may_follow` (the
    // guest replay's last harvest comes only when the run has ended): those
    // wait for the next match. False at a divergence.
    bool match(std::span<const TraceEvent> group = {}, bool dirty_may_follow = false);
    // Records a divergence at recorded event `ex` (with the replay's `ac`,
    // if any) and returns it for the caller to add to.
    Divergence& diverge(const TraceEvent& ex, const TraceEvent* ac, std::string why);

    uint64_t last_seq() const { return last_seq_; }
    bool saw_end() const { return saw_end_; }
    // The recorded events before this one are the divergence's context.
    uint64_t context_end() const { return context_end_; }

private:
    void account(const TraceEvent& e);
    bool same_compared(const TraceEvent& ex, const TraceEvent& ac);
    const TraceEvent* next_actual();
    void diverge_extra(const TraceEvent& extra);
    std::string group_view_difference(std::span<const TraceEvent> group) const;

    const RegionNames& expected_names_;
    RegionNames actual_names_;
    bool compare_dirty_;
    ReplayReport& rep_;
    std::vector<TraceEvent> produced_;  // by the replay, numbered in its own order
    uint64_t next_seq_ = 0;
    size_t actual_pos_ = 0;             // first of produced_ not matched yet
    std::deque<TraceEvent> queued_;     // recorded, waiting for the replay's
    uint64_t last_seq_ = 0;
    bool saw_end_ = false;
    uint64_t context_end_ = 0;
    // Once a recorded region id and a replayed one were found to name the
    // same region, they always do (neither side ever renumbers), and the
    // names need not be looked up for every access again.
    static constexpr uint32_t kMemoRegionIds = 1u << 16;  // larger ids (only a crafted trace has them) are not memoised
    std::vector<uint32_t> same_region_;  // recorded region id -> replayed id of the same name
    std::pair<uint64_t, uint64_t> memo_generation_{~0ull, ~0ull};  // of the names same_region_ was learnt from
};

}  // namespace kvmrr
