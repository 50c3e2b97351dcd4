#include "replay/event_compare.h"

#include <gtest/gtest.h>

#include "record/dirty_runs.h"
#include "record/tests/event_samples.h"

namespace kvmrr {
namespace {

TraceEvent ev(EventBody b, uint64_t seq = 0) { return TraceEvent{seq, 0, std::move(b)}; }

// A harvest of slot 0 (128 pages at 0) with `pages` dirty.
DirtyEvent dirty(std::initializer_list<unsigned> pages, uint64_t epoch = 0) {
    DirtyBitmap b{0, 0, 128, std::vector<uint64_t>(2)};
    for (unsigned p : pages) b.words[p / 64] |= uint64_t{1} << (p % 64);
    return make_dirty_event(b, epoch);
}

TEST(DirtyWithin, EveryPageOfOneAmongTheOthersInTheSameHarvest) {
    EXPECT_TRUE(dirty_within(dirty({}), dirty({})));
    EXPECT_TRUE(dirty_within(dirty({}), dirty({3})));
    EXPECT_TRUE(dirty_within(dirty({5, 6}), dirty({1, 2, 3, 5, 6, 7, 100})));
    EXPECT_TRUE(dirty_within(dirty({63, 64, 100}), dirty({62, 63, 64, 65, 99, 100})));
    EXPECT_FALSE(dirty_within(dirty({3}), dirty({})));
    EXPECT_FALSE(dirty_within(dirty({5, 6, 7}), dirty({5, 6})));     // a run that goes on past
    EXPECT_FALSE(dirty_within(dirty({4, 5}), dirty({5, 6})));        // one that starts before
    EXPECT_FALSE(dirty_within(dirty({1, 3}), dirty({1, 2})));        // a second run not covered
    EXPECT_FALSE(dirty_within(dirty({1}, 0), dirty({1}, 1)));        // another epoch
    DirtyEvent other_slot = dirty({1});
    other_slot.slot = 1;
    EXPECT_FALSE(dirty_within(dirty({1}), other_slot));
    DirtyEvent broken = dirty({1});
    broken.runs = {0x80};  // a varint cut short
    EXPECT_FALSE(dirty_within(broken, dirty({1})));
}

TEST(AcrossAccelerators, KvmsDirtyLogMayHoldMorePagesNeverFewer) {
    RegionNames n;
    const TraceEvent kvm = ev(dirty({1, 2, 3, 127})), emu = ev(dirty({127}));
    EXPECT_TRUE(AcrossAccelerators("kvm", "emu").same(kvm, n, emu, n));
    EXPECT_TRUE(AcrossAccelerators("emu", "kvm").same(emu, n, kvm, n));
    EXPECT_TRUE(AcrossAccelerators("", "emu").same(kvm, n, emu, n));  // a trace from before the header said: KVM
    EXPECT_FALSE(AcrossAccelerators("kvm", "emu").same(emu, n, kvm, n));
    EXPECT_FALSE(AcrossAccelerators("emu", "kvm").same(kvm, n, emu, n));
    // On one accelerator, bitmaps are compared exactly.
    EXPECT_FALSE(AcrossAccelerators("kvm", "kvm").same(kvm, n, emu, n));
    EXPECT_FALSE(AcrossAccelerators("emu", "emu").same(emu, n, kvm, n));
}

TEST(AcrossAccelerators, RegistersAtATripleFaultAreNotCompared) {
    RegionNames n;
    EndEvent a{"shutdown (triple fault)", 0, 3, 0, {{1, 2, 3}, 0x10, 0, 0, 0}, {{"debugcon", 7, 8}}};
    EndEvent b = a;
    b.regs.gprs = {0, 0, 0};
    b.regs.cr0 = 0x60000010;
    const AcrossAccelerators across("kvm", "emu");
    EXPECT_TRUE(across.same(ev(a), n, ev(b), n));
    EXPECT_FALSE(AcrossAccelerators("kvm", "kvm").same(ev(a), n, ev(b), n));
    EndEvent c = b;
    c.exits = 4;  // the rest of the end is compared
    EXPECT_FALSE(across.same(ev(a), n, ev(c), n));
    c = b;
    c.device_digests[0].digest = 9;
    EXPECT_FALSE(across.same(ev(a), n, ev(c), n));
    // Any other end: the registers too.
    a.reason = b.reason = "guest-exit";
    EXPECT_FALSE(across.same(ev(a), n, ev(b), n));
}

// A run ended by its time limit or a signal stopped at an exit it did not
// handle, where rip is the accelerator's: only rip is let differ.
TEST(AcrossAccelerators, RipAtAnEndThatStoppedAnExitIsNotCompared) {
    RegionNames n;
    std::vector<uint64_t> gprs(18, 7);
    gprs[16] = 0x100700;  // rip: at the OUT
    EndEvent a{"interrupted", 0, 3, 2, {gprs, 0x10, 0, 0, 0}, {{"uart16550", 7, 8}}};
    EndEvent b = a;
    b.regs.gprs[16] = 0x100701;  // past it
    const AcrossAccelerators across("emu", "kvm");
    EXPECT_TRUE(across.same(ev(a), n, ev(b), n));
    EXPECT_FALSE(AcrossAccelerators("emu", "emu").same(ev(a), n, ev(b), n));
    a.reason = b.reason = "timeout";
    EXPECT_TRUE(across.same(ev(a), n, ev(b), n));
    EndEvent c = b;
    c.regs.gprs[0] = 8;  // another register
    EXPECT_FALSE(across.same(ev(a), n, ev(c), n));
    c = b;
    c.exits = 4;
    EXPECT_FALSE(across.same(ev(a), n, ev(c), n));
    c = b;
    c.reason = "interrupted";  // the two ends must still be the same kind
    EXPECT_FALSE(across.same(ev(a), n, ev(c), n));
    a.reason = b.reason = "guest-exit";
    EXPECT_FALSE(across.same(ev(a), n, ev(b), n));
}

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

// The names a difference gives, "; "-separated: each part up to its first
// ": ", and "kind" for events of two kinds.
std::string named(const std::optional<std::string>& difference) {
    if (!difference) return "<none>";
    if (difference->starts_with("expected a ")) return "kind";
    std::string names;
    size_t at = 0;
    for (;;) {
        const size_t end = difference->find("; ", at);
        const std::string part = difference->substr(at, end == std::string::npos ? std::string::npos : end - at);
        names += (names.empty() ? "" : "; ") + part.substr(0, part.find(": "));
        if (end == std::string::npos) return names;
        at = end + 2;
    }
}

// Each member of each kind changed alone is named by the comparison (or,
// for the few that are not the guest's doing, is not compared), both ways.
TEST(EventCompare, EveryChangeIsNamedByTheComparison) {
    const RegionNames n(test::sample_header());
    for (const test::KindSample& k : test::kind_samples()) {
        const TraceEvent full{3, 1, k.full};
        EXPECT_FALSE(event_difference(full, n, full, n)) << k.record;
        for (const test::Change& c : k.changes) {
            TraceEvent changed = full;
            c.apply(changed.body);
            const std::string want = c.difference ? c.difference : "<none>";
            EXPECT_EQ(named(event_difference(full, n, changed, n)), want) << c.record << "::" << c.member;
            EXPECT_EQ(named(event_difference(changed, n, full, n)), want) << c.record << "::" << c.member;
            EXPECT_EQ(same_event(full, n, changed, n), !c.difference) << c.record << "::" << c.member;
            EXPECT_EQ(same_described(full, n, changed, n), !c.difference) << c.record << "::" << c.member;
        }
    }
}

// same_event's hand-written comparison of accesses says what the access's
// description says, for every member.
TEST(EventCompare, AccessFastPathAgreesWithTheDescription) {
    RegionNames en(test::sample_header()), an(test::sample_header());
    an.add({9, "entropy", "io"});  // the recorded region 3 under another id
    for (const test::KindSample& k : test::kind_samples()) {
        if (!std::holds_alternative<AccessEvent>(k.full)) continue;
        TraceEvent moved{3, 1, k.full};
        std::get<AccessEvent>(moved.body).region = 9;
        std::vector<TraceEvent> actual{{3, 1, k.full}, moved};
        for (const test::Change& c : k.changes) {
            actual.push_back({3, 1, k.full});
            c.apply(actual.back().body);
        }
        const TraceEvent expected{3, 1, k.full};
        for (const TraceEvent& a : actual) {
            EXPECT_EQ(same_event(expected, en, a, an), same_described(expected, en, a, an))
                << format_event(a, an, false);
            const auto& x = std::get<AccessEvent>(expected.body);
            const auto& y = std::get<AccessEvent>(a.body);
            if (x.region == y.region) {
                EXPECT_EQ(same_access_but_region(x, y), same_event(expected, en, a, an)) << format_event(a, an, false);
            }
        }
        EXPECT_TRUE(same_event(expected, en, moved, an));
    }
}

}  // namespace
}  // namespace kvmrr
