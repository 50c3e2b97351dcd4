#include "export/event_times.h"

#include <algorithm>

namespace kvmrr {

void EventTimes::add(Anchors& a, uint64_t seq, uint64_t ns) {
    if (a.last && ns < a.last->ns) return;  // back in time: not an anchor
    a.last = Anchor{seq, ns};
    // Thinning keeps one anchor in `stride`: the memory bound holds for
    // any trace, at the cost of resolution in the longest ones.
    if (!a.kept.empty() && ++a.skipped < a.stride) return;
    a.skipped = 0;
    a.kept.push_back({seq, ns});
    if (a.kept.size() < max_anchors_) return;
    size_t n = 0;
    for (size_t i = 0; i < a.kept.size(); i += 2) a.kept[n++] = a.kept[i];
    a.kept.resize(n);
    a.stride *= 2;
}

void EventTimes::observe(const TraceEvent& e) {
    if (const auto* c = std::get_if<ClockEvent>(&e.body)) {
        if (is_monotonic_reading(*c)) add(clock_, e.seq, static_cast<uint64_t>(c->ns));
    } else if (const auto* d = std::get_if<DirtyEvent>(&e.body)) {
        if (d->time_ns) add(harvest_, e.seq, d->time_ns);
    }
}

void EventTimes::finish() {
    for (Anchors* a : {&clock_, &harvest_})
        if (a->last && a->last->seq != a->kept.back().seq) a->kept.push_back(*a->last);
    if (!clock_.kept.empty()) {
        source_ = TimeSource::Clock;
        chosen_ = std::move(clock_.kept);
    } else if (!harvest_.kept.empty()) {
        source_ = TimeSource::Harvest;
        chosen_ = std::move(harvest_.kept);
    } else {
        source_ = TimeSource::Ordinal;
    }
    clock_ = {};
    harvest_ = {};
}

uint64_t EventTimes::at(uint64_t seq) const {
    if (chosen_.empty()) return seq * kOrdinalStepNs;
    const auto after = std::upper_bound(chosen_.begin(), chosen_.end(), seq,
                                        [](uint64_t s, const Anchor& a) { return s < a.seq; });
    if (after == chosen_.begin()) {
        const uint64_t back = (after->seq - seq) * kOrdinalStepNs;
        return after->ns > back ? after->ns - back : 0;
    }
    const Anchor& a = *(after - 1);
    if (after == chosen_.end()) return a.ns + (seq - a.seq) * kOrdinalStepNs;
    const Anchor& b = *after;
    const double f = static_cast<double>(seq - a.seq) / static_cast<double>(b.seq - a.seq);
    return a.ns + static_cast<uint64_t>(f * static_cast<double>(b.ns - a.ns));
}

std::string EventTimes::describe() const {
    switch (source_) {
    case TimeSource::Clock:
        return "recorded time: the guest's monotonic clock readings (" + std::to_string(chosen_.size()) +
               " anchors); events between two readings are spread evenly between them by sequence number";
    case TimeSource::Harvest:
        return "recorded time: the dirty-log harvest times (" + std::to_string(chosen_.size()) +
               " anchors; the trace has no monotonic clock readings); events between two harvests are spread "
               "evenly between them by sequence number";
    case TimeSource::Ordinal:
        break;
    }
    return "ordinal: the trace holds no time, so event N is placed at N microseconds";
}

}  // namespace kvmrr
