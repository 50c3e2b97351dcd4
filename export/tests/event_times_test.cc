// Tests for export/event_times.h: where events without a time of their
// own land on the timeline.
#include "export/event_times.h"

#include <gtest/gtest.h>

namespace kvmrr {
namespace {

TraceEvent clock(uint64_t seq, int64_t ns) { return TraceEvent(seq, 0, ClockEvent{ns}); }
TraceEvent access(uint64_t seq) { return TraceEvent(seq, 0, AccessEvent{}); }
TraceEvent harvest(uint64_t seq, uint64_t ns) {
    DirtyEvent d;
    d.time_ns = ns;
    return TraceEvent(seq, 0, d);
}

TEST(EventTimes, NoTimeAtAllIsOrdinal) {
    EventTimes t;
    for (uint64_t s = 0; s < 5; ++s) t.observe(access(s));
    t.finish();
    EXPECT_EQ(t.source(), TimeSource::Ordinal);
    EXPECT_EQ(t.at(0), 0u);
    EXPECT_EQ(t.at(4), 4 * kOrdinalStepNs);
    EXPECT_NE(t.describe().find("ordinal"), std::string::npos);
}

TEST(EventTimes, ClockReadingsAreAnchorsAndEventsBetweenAreInterpolated) {
    EventTimes t;
    t.observe(access(0));
    t.observe(clock(1, 10'000));
    t.observe(access(2));
    t.observe(access(3));
    t.observe(access(4));
    t.observe(clock(5, 50'000));
    t.observe(access(6));
    t.finish();
    EXPECT_EQ(t.source(), TimeSource::Clock);
    EXPECT_EQ(t.anchors(), 2u);
    EXPECT_EQ(t.at(1), 10'000u);
    EXPECT_EQ(t.at(3), 30'000u);  // halfway between the readings
    EXPECT_EQ(t.at(5), 50'000u);
    EXPECT_EQ(t.at(0), 9'000u);   // 1 µs an event before the first
    EXPECT_EQ(t.at(6), 51'000u);  // and after the last
}

TEST(EventTimes, WallClockReadingsAreNotAnchorsAndHarvestsServeWithoutClock) {
    EventTimes t;
    t.observe(clock(0, 1'700'000'000'000'000'000));  // the RTC's wall clock
    t.observe(harvest(1, 2'000'000));
    t.observe(access(2));
    t.observe(harvest(3, 4'000'000));
    t.finish();
    EXPECT_EQ(t.source(), TimeSource::Harvest);
    EXPECT_EQ(t.at(2), 3'000'000u);
    EXPECT_NE(t.describe().find("harvest"), std::string::npos);
}

TEST(EventTimes, ClockReadingsWinOverHarvestsAndBackwardReadingsAreDropped) {
    EventTimes t;
    t.observe(harvest(0, 99'000'000));
    t.observe(clock(1, 5'000));
    t.observe(clock(2, 4'000));  // back in time: dropped
    t.observe(clock(3, 7'000));
    t.finish();
    EXPECT_EQ(t.source(), TimeSource::Clock);
    EXPECT_EQ(t.anchors(), 2u);
    EXPECT_EQ(t.at(2), 6'000u);
    for (uint64_t s = 0; s < 3; ++s) EXPECT_LE(t.at(s), t.at(s + 1));
}

TEST(EventTimes, AnchorsStayBoundedAndTimesStayInOrder) {
    EventTimes t(64);
    for (uint64_t s = 0; s < 100'000; ++s) t.observe(clock(s, static_cast<int64_t>(s * 10)));
    t.finish();
    EXPECT_LE(t.anchors(), 64u);
    EXPECT_GT(t.anchors(), 16u);
    uint64_t last = 0;
    for (uint64_t s = 0; s < 100'000; s += 97) {
        EXPECT_GE(t.at(s), last);
        last = t.at(s);
        // Linear readings stay exact under thinning.
        EXPECT_NEAR(static_cast<double>(t.at(s)), static_cast<double>(s * 10), 20.0) << s;
    }
}

}  // namespace
}  // namespace kvmrr
