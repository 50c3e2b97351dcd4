#include "replay/event_matcher.h"

#include <algorithm>

#include "core/memory_region.h"
#include "replay/event_compare.h"

namespace kvmrr {

EventMatcher::EventMatcher(const RegionNames& expected, bool compare_dirty, ReplayReport& report)
    : expected_names_(expected), compare_dirty_(compare_dirty), rep_(report) {}

uint64_t EventMatcher::append(uint16_t vcpu, EventBody body) {
    produced_.emplace_back(next_seq_, vcpu, std::move(body));
    actual_names_.observe(produced_.back());
    return next_seq_++;
}

bool EventMatcher::compared(const TraceEvent& e) const {
    if (std::holds_alternative<RegionDefEvent>(e.body)) return false;
    return compare_dirty_ || !std::holds_alternative<DirtyEvent>(e.body);
}

// The report's counts for one recorded event taken into the comparison.
void EventMatcher::account(const TraceEvent& e) {
    ++rep_.events;
    last_seq_ = e.seq;
    if (const auto* end = std::get_if<EndEvent>(&e.body)) {
        saw_end_ = true;
        rep_.end_reason = end->reason;
        rep_.exit_status = end->exit_status;
    }
    if (std::holds_alternative<DirtyEvent>(e.body) && !compare_dirty_) ++rep_.skipped_dirty;
}

void EventMatcher::queue(std::span<const TraceEvent> group) {
    for (const TraceEvent& e : group) {
        account(e);
        if (compared(e)) queued_.push_back(e);
    }
}

bool EventMatcher::match(std::span<const TraceEvent> group, bool dirty_may_follow) {
    for (const TraceEvent& e : group) account(e);
    // The recorded events waiting: the queued ones, then the group's, which
    // are compared where they lie (device replay queues nothing, so it
    // copies no event).
    size_t gi = 0;
    auto next_expected = [&]() -> const TraceEvent* {
        if (!queued_.empty()) return &queued_.front();
        while (gi < group.size() && !compared(group[gi])) ++gi;
        return gi < group.size() ? &group[gi] : nullptr;
    };
    auto take_expected = [&] {
        if (!queued_.empty()) queued_.pop_front();
        else ++gi;
    };
    const TraceEvent* ex = next_expected();
    while (ex) {
        const TraceEvent* ac = next_actual();
        if (!ac) break;
        ++rep_.checked;
        if (!same_compared(*ex, *ac)) {
            diverge(*ex, ac, event_difference(*ex, expected_names_, *ac, actual_names_).value_or(""));
            return false;
        }
        take_expected();
        ++actual_pos_;
        ex = next_expected();
    }
    const TraceEvent* extra = next_actual();
    if (extra && trace_lacks_end && std::holds_alternative<EndEvent>(extra->body)) extra = nullptr;
    if (!extra) {
        produced_.clear();
        actual_pos_ = 0;
    }
    if (ex) {
        const auto is_dirty = [](const TraceEvent& e) { return std::holds_alternative<DirtyEvent>(e.body); };
        const bool only_dirty_left =
            std::all_of(queued_.begin(), queued_.end(), is_dirty) &&
            std::all_of(group.begin() + static_cast<long>(gi), group.end(),
                        [&](const TraceEvent& e) { return !compared(e) || is_dirty(e); });
        if (!(dirty_may_follow && only_dirty_left)) {
            diverge(*ex, nullptr, std::string("the replay produced no ") + event_kind(*ex) + " event here");
            return false;
        }
        for (; gi < group.size(); ++gi)
            if (compared(group[gi])) queued_.push_back(group[gi]);
    }
    if (extra) {
        diverge_extra(*extra);
        return false;
    }
    return true;
}

// same_event, with the region of an access compared through a memo (see
// same_region_).
bool EventMatcher::same_compared(const TraceEvent& ex, const TraceEvent& ac) {
    const auto* a = std::get_if<AccessEvent>(&ex.body);
    const auto* b = std::get_if<AccessEvent>(&ac.body);
    if (!a || !b || ex.vcpu != ac.vcpu)
        return same_event(ex, expected_names_, ac, actual_names_) ||
               (!replayed_on.empty() && AcrossAccelerators(recorded_on, replayed_on).only_allowed_difference(ex, ac)) ||
               (end_between_exits && same_but_where_it_stopped(ex, ac));
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
const TraceEvent* EventMatcher::next_actual() {
    while (actual_pos_ < produced_.size() && !compared(produced_[actual_pos_])) ++actual_pos_;
    return actual_pos_ < produced_.size() ? &produced_[actual_pos_] : nullptr;
}

// The replay produced an event after the last recorded one of its group.
void EventMatcher::diverge_extra(const TraceEvent& extra) {
    Divergence& v = diverge(TraceEvent{last_seq_, extra.vcpu, extra.body}, &extra,
                            std::string("the replay produced a ") + event_kind(extra) +
                                " event that the trace does not have here");
    v.expected.clear();
    context_end_ = last_seq_ + 1;  // it came after the last recorded event
}

Divergence& EventMatcher::diverge(const TraceEvent& ex, const TraceEvent* ac, std::string why) {
    Divergence v;
    v.seq = ex.seq;
    v.vcpu = ex.vcpu;
    v.kind = event_kind(ex);
    v.expected = format_event(ex, expected_names_, false);
    if (ac) v.actual = format_event(*ac, actual_names_, false);
    v.difference = std::move(why);
    // Across accelerators KVM's bitmap may hold pages the emulator's does
    // not (AcrossAccelerators), never the other way round; say which rule
    // this one broke.
    if (std::holds_alternative<DirtyEvent>(ex.body) && !replayed_on.empty() && recorded_on != replayed_on)
        v.difference += " (recorded on " + recorded_on + ", replayed on " + replayed_on +
                        ": the emulator dirtied a page that KVM did not, or the harvests differ; docs/ACCELERATORS.md)";
    const auto* wx = std::get_if<AccessEvent>(&ex.body);
    const auto* wa = ac ? std::get_if<AccessEvent>(&ac->body) : nullptr;
    if (tsc_from_host && wx && wa && writes_to_same_place(*wx, *wa))
        v.difference += " (the guest wrote another value after the same inputs: most likely it read the time-stamp "
                        "counter, which is the host's, unrecorded, on KVM and on the emulator off the virtual clock)";
    context_end_ = ex.seq;  // the context is read back when the replay ends
    if (ac && std::holds_alternative<TopologyEvent>(ex.body) && std::holds_alternative<TopologyEvent>(ac->body)) {
        const auto& te = std::get<TopologyEvent>(ex.body);
        const auto& ta = std::get<TopologyEvent>(ac->body);
        v.view_diff = te.view.empty() ? "(the trace does not keep this view's ranges)\n"
                                      : view_difference(te, expected_names_, ta, actual_names_);
    }
    const ReplayPlace where = place ? place() : ReplayPlace{};
    if (v.view_diff.empty() && !where.group.empty()) v.view_diff = group_view_difference(where.group);
    if (where.access) {
        const AccessEvent& a = *where.access;
        v.addr = a.addr;
        if (where.region) v.region = where.region->name();
        else if (region_at) v.region = region_at(a.io, a.addr);
        if (device_at) v.device = device_at(a.io, a.addr);
    }
    rep_.divergence = std::move(v);
    return *rep_.divergence;
}

// A topology commit that differs often shows first in its memslot changes
// (the memslot listener hears the commit before the recorder does): the
// views of the same access, when both sides have one.
std::string EventMatcher::group_view_difference(std::span<const TraceEvent> group) const {
    for (const TraceEvent& ex : group) {
        const auto* te = std::get_if<TopologyEvent>(&ex.body);
        if (!te || te->view.empty()) continue;
        for (const TraceEvent& ac : produced_) {
            const auto* ta = std::get_if<TopologyEvent>(&ac.body);
            if (ta && ta->space == te->space && ta->flat_view_hash != te->flat_view_hash)
                return view_difference(*te, expected_names_, *ta, actual_names_);
        }
    }
    return {};
}

}  // namespace kvmrr
