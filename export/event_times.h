// EventTimes: a time for every event of a trace, for timelines.
//
// A trace stores no time per event. What it has: the guest's monotonic
// clock readings (clock events whose value is nanoseconds since the
// machine started: the pc board's timers, and every reading under
// --clock virtual) and the time of each dirty-log harvest (DirtyLog.timeNs,
// ns of the host's clock since recording started). Clock events also carry
// wall-clock readings (the RTC's, ns since 1970); the two share one event
// kind, so a reading below kWallClockFloorNs (about three years) is taken
// as monotonic and one above as the wall clock, which is not a time on the
// recording's own axis and is not used.
//
// Those readings are anchors: an event that has one is placed at it, and
// the events between two anchors are spread evenly in sequence number
// between them (linear interpolation). Clock readings are preferred; a
// trace without any uses its harvest times; a trace with neither is placed
// by ordinal, 1 µs an event. Events before the first anchor or after the
// last go 1 µs an event away from it. Anchors that go back in time are
// dropped (times never decrease). Memory is bounded: past kMaxAnchors the
// anchors are thinned to every other one (and so on), so a trace of any
// length costs at most that many.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "record/trace_event.h"

namespace kvmrr {

inline constexpr int64_t kWallClockFloorNs = 100'000'000'000'000'000;  // ~3.2 years in ns
inline constexpr uint64_t kOrdinalStepNs = 1000;

enum class TimeSource { Clock, Harvest, Ordinal };

class EventTimes {
public:
    explicit EventTimes(size_t max_anchors = kMaxAnchors) : max_anchors_(max_anchors) {}
    static constexpr size_t kMaxAnchors = size_t{1} << 20;

    // Pass 1: every event in order.
    void observe(const TraceEvent& e);
    // Between the passes: chooses the source.
    void finish();

    // Pass 2: the time of event `seq`, in ns; non-decreasing in seq.
    uint64_t at(uint64_t seq) const;
    TimeSource source() const { return source_; }
    size_t anchors() const { return chosen_.size(); }
    // One sentence on how events were placed, for the export's metadata.
    std::string describe() const;

    // A monotonic clock reading, not a wall-clock one (see above).
    static bool is_monotonic_reading(const ClockEvent& c) { return c.ns >= 0 && c.ns < kWallClockFloorNs; }

private:
    struct Anchor {
        uint64_t seq;
        uint64_t ns;
    };
    struct Anchors {
        std::vector<Anchor> kept;
        std::optional<Anchor> last;  // the latest reading, kept or not: the end stays exact
        uint64_t stride = 1, skipped = 0;
    };
    void add(Anchors& list, uint64_t seq, uint64_t ns);

    size_t max_anchors_;
    Anchors clock_, harvest_;
    std::vector<Anchor> chosen_;
    TimeSource source_ = TimeSource::Ordinal;
};

}  // namespace kvmrr
