#include "replay/event_compare.h"

#include <gtest/gtest.h>

namespace kvmrr {
namespace {

TraceEvent ev(EventBody b, uint64_t seq = 0) { return TraceEvent{seq, 0, std::move(b)}; }

TEST(EventCompare, SameEventsWithDifferentSequenceNumbersAreEqual) {
    RegionNames n;
    const AccessEvent a{true, 0x3f8, 1, true, 1, 0x41, {}, 3, TraceAccessStatus::Ok};
    EXPECT_FALSE(event_difference(ev(a, 1), n, ev(a, 9), n));
}

TEST(EventCompare, RegionsAreComparedByNameNotId) {
    RegionNames en, an;
    en.add({3, "uart", "io"});
    an.add({7, "uart", "io"});
    AccessEvent a{true, 0x3f8, 1, false, 1, 0x60, {}, 3, TraceAccessStatus::Ok};
    AccessEvent b = a;
    b.region = 7;
    EXPECT_FALSE(event_difference(ev(a), en, ev(b), an));
    an.add({8, "rtc", "io"});
    b.region = 8;
    EXPECT_EQ(event_difference(ev(a), en, ev(b), an), "region: expected 'uart', actual 'rtc'");
}

TEST(EventCompare, NamesEveryDifferingField) {
    RegionNames n;
    AccessEvent a{true, 0x3f8, 1, false, 1, 0x60, {}, kNoRegion, TraceAccessStatus::Ok};
    AccessEvent b = a;
    b.value = 0x20;
    b.status = TraceAccessStatus::Unassigned;
    EXPECT_EQ(event_difference(ev(a), n, ev(b), n), "value: expected 0x60, actual 0x20; status: expected ok, actual unassigned");
    EXPECT_EQ(event_difference(ev(a), n, ev(ClockEvent{5}), n), "expected a pio event, actual clock");
    AccessEvent m = a;
    m.io = false;
    EXPECT_EQ(event_difference(ev(a), n, ev(m), n), "expected a pio event, actual mmio");
    EXPECT_EQ(event_difference(ev(DmaWriteEvent{0x1000, {1, 2, 3}}), n, ev(DmaWriteEvent{0x1000, {1, 9, 3}}), n),
              "data: first difference at byte 1: expected 0x2, actual 0x9");
    EXPECT_EQ(event_difference(ev(ClockEvent{5}), n, ev(ClockEvent{6}), n), "clock: expected 5 ns, actual 6 ns");
}

TEST(EventCompare, ViewDifferenceListsOnlyTheChangedRanges) {
    RegionNames n;
    n.add({0, "ram", "ram"});
    n.add({1, "bank", "ram"});
    TopologyEvent a{0, 1, 2, {{0, 0xfff, 0, 0, false, false, false, 0}, {0x1000, 0x1fff, 1, 0x10000, false, false, false, 0}}};
    TopologyEvent b = a;
    b.flat_view_hash = 2;
    b.view[1].offset = 0x20000;
    EXPECT_EQ(view_difference(a, n, b, n), "- 0x1000-0x1fff bank @0x10000\n+ 0x1000-0x1fff bank @0x20000\n");
    EXPECT_EQ(view_difference(a, n, a, n), "");
    EXPECT_EQ(event_difference(ev(a), n, ev(b), n), "flat view hash: expected 0x1, actual 0x2");
}

}  // namespace
}  // namespace kvmrr
