// Unit tests for core/flat_view.h beyond rendering: FlatViewBuilder with
// pre-claimed ranges, lookup / piece_end, digest, and re-rendering part of
// a view.
#include "core/flat_view.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/region_ops.h"
#include "core/tests/flat_view_test_util.h"

namespace kvmrr {
namespace {

using namespace test;

// ---------------------------------------------------------------------------
// FlatViewBuilder

using FlatViewBuilderTest = Fixture;

// The worked example: two ranges are claimed first; then mr1 (RAM over
// [0, 0x8000)) with its subregion mr2 (RAM at 0x1800, size 0x4000) is
// rendered. The claimed ranges stay exactly as they were; mr2 fills only
// the parts of [0x1800, 0x5800) that are not claimed; mr1 fills the rest.
TEST_F(FlatViewBuilderTest, WorkedExampleFillsOnlyGaps) {
    MemoryRegion& a = sys.create_ram("A", 0x10000);
    MemoryRegion& b = sys.create_io("B", 0x10000, ops);
    MemoryRegion& mr1 = sys.create_ram("mr1", 0x8000);
    MemoryRegion& mr2 = sys.create_ram("mr2", 0x4000);
    mr1.add_subregion(0x1800, mr2);

    FlatRange fr1 = make_fr(0x1000, 0x1000, a, 0x3000);
    fr1.readonly = true;
    fr1.dirty_log_mask = kDirtyLogMigration;
    FlatRange fr2 = make_fr(0x5000, 0x1000, b, 0x40);
    fr2.nonvolatile = true;

    FlatViewBuilder builder;
    builder.add_existing(fr1);
    builder.add_existing(fr2);
    builder.render(mr1, 0, AddrRange::make(0, 0x8000));
    std::vector<FlatRange> out = builder.finish();

    EXPECT_EQ(fmt(out), fmt(std::vector<Exp>{
                            {0x0000, 0x1000, &mr1, 0x0000},
                            {0x1000, 0x1000, &a, 0x3000, true, false, kDirtyLogMigration},
                            {0x2000, 0x3000, &mr2, 0x0800},
                            {0x5000, 0x1000, &b, 0x40, false, true},
                            {0x6000, 0x2000, &mr1, 0x6000},
                        }));
    ASSERT_EQ(out.size(), 5u);
    EXPECT_TRUE(out[1] == fr1) << "fr1 must come out exactly unchanged";
    EXPECT_TRUE(out[3] == fr2) << "fr2 must come out exactly unchanged";
}

TEST_F(FlatViewBuilderTest, WorkedExampleWithBaseAndClip) {
    // The same tree placed at 0x10000 and clipped to [0x10800, 0x17000).
    MemoryRegion& a = sys.create_ram("A", 0x10000);
    MemoryRegion& b = sys.create_ram("B", 0x10000);
    MemoryRegion& mr1 = sys.create_ram("mr1", 0x8000);
    MemoryRegion& mr2 = sys.create_ram("mr2", 0x4000);
    mr1.add_subregion(0x1800, mr2);

    FlatViewBuilder builder;
    builder.add_existing(make_fr(0x11000, 0x1000, a, 0));
    builder.add_existing(make_fr(0x15000, 0x1000, b, 0));
    builder.render(mr1, 0x10000, AddrRange::make(0x10800, 0x6800));
    EXPECT_EQ(fmt(builder.finish()), fmt(std::vector<Exp>{
                                         {0x10800, 0x0800, &mr1, 0x0800},
                                         {0x11000, 0x1000, &a, 0},
                                         {0x12000, 0x3000, &mr2, 0x0800},
                                         {0x15000, 0x1000, &b, 0},
                                         {0x16000, 0x1000, &mr1, 0x6000},
                                     }));
}

TEST_F(FlatViewBuilderTest, ExistingRangeOutsideRenderIsKept) {
    MemoryRegion& a = sys.create_ram("A", 0x1000);
    MemoryRegion& r = sys.create_ram("r", 0x1000);
    FlatViewBuilder builder;
    builder.add_existing(make_fr(0x9000, 0x1000, a, 0));
    builder.render(r, 0x1000, AddrRange::make(0x1000, 0x1000));
    EXPECT_EQ(fmt(builder.finish()), fmt(std::vector<Exp>{
                                         {0x1000, 0x1000, &r, 0},
                                         {0x9000, 0x1000, &a, 0},
                                     }));
}

TEST_F(FlatViewBuilderTest, ExistingCoveringEverythingLeavesNothingToFill) {
    MemoryRegion& a = sys.create_ram("A", 0x10000);
    MemoryRegion& r = sys.create_ram("r", 0x1000);
    FlatViewBuilder builder;
    builder.add_existing(make_fr(0, 0x10000, a, 0));
    builder.render(r, 0x4000, AddrRange::make(0x4000, 0x1000));
    EXPECT_EQ(fmt(builder.finish()), fmt(std::vector<Exp>{{0, 0x10000, &a, 0}}));
}

TEST_F(FlatViewBuilderTest, MergeAcrossExistingAndRenderedAndFinishWithoutMerge) {
    // The claimed range is itself a piece of r with the matching offset: the
    // merged result is one range; finish(false) keeps the three pieces.
    MemoryRegion& r = sys.create_ram("r", 0x3000);
    {
        FlatViewBuilder builder;
        builder.add_existing(make_fr(0x1000, 0x1000, r, 0x1000));
        builder.render(r, 0, AddrRange::make(0, 0x3000));
        EXPECT_EQ(fmt(builder.finish()), fmt(std::vector<Exp>{{0, 0x3000, &r, 0}}));
    }
    {
        FlatViewBuilder builder;
        builder.add_existing(make_fr(0x1000, 0x1000, r, 0x1000));
        builder.render(r, 0, AddrRange::make(0, 0x3000));
        EXPECT_EQ(fmt(builder.finish(false)), fmt(std::vector<Exp>{
                                                  {0x0000, 0x1000, &r, 0x0000},
                                                  {0x1000, 0x1000, &r, 0x1000},
                                                  {0x2000, 0x1000, &r, 0x2000},
                                              }));
    }
}

TEST_F(FlatViewBuilderTest, RenderIgnoresRegionAddr) {
    MemoryRegion& parent = sys.create_container("parent", 0x100000);
    MemoryRegion& r = sys.create_ram("r", 0x1000);
    parent.add_subregion(0x7000, r);
    FlatViewBuilder builder;
    builder.render(r, 0x3000, AddrRange::make(0, 0x100000));
    EXPECT_EQ(fmt(builder.finish()), fmt(std::vector<Exp>{{0x3000, 0x1000, &r, 0}}));
}

// ---------------------------------------------------------------------------
// lookup / piece_end

struct FlatViewLookup : Fixture {
    MemoryRegion* a = nullptr;
    MemoryRegion* b = nullptr;
    MemoryRegion* c = nullptr;
    void SetUp() override {
        a = &sys.create_ram("a", 0x1000);
        b = &sys.create_ram("b", 0x1000);
        c = &sys.create_ram("c", 0x1000);
    }
};

TEST_F(FlatViewLookup, RangesHolesAndBoundaries) {
    // [0, 0x1000) a, [0x1000, 0x2000) b, hole, [0x5000, 0x6000) c, hole to the end
    FlatView v({make_fr(0, 0x1000, *a, 0), make_fr(0x1000, 0x1000, *b, 0), make_fr(0x5000, 0x1000, *c, 0)});
    ASSERT_EQ(v.size(), 3u);

    ASSERT_NE(v.lookup(0), nullptr);
    EXPECT_EQ(v.lookup(0)->mr, a);
    EXPECT_EQ(v.piece_end(0), 0x1000u);
    EXPECT_EQ(v.lookup(0xfff)->mr, a);
    EXPECT_EQ(v.piece_end(0xfff), 0x1000u);
    ASSERT_NE(v.lookup(0x1000), nullptr);
    EXPECT_EQ(v.lookup(0x1000)->mr, b);
    EXPECT_EQ(v.piece_end(0x1000), 0x2000u);
    EXPECT_EQ(v.lookup(0x1fff)->mr, b);
    // The hole [0x2000, 0x5000)
    EXPECT_EQ(v.lookup(0x2000), nullptr);
    EXPECT_EQ(v.piece_end(0x2000), 0x5000u);
    EXPECT_EQ(v.lookup(0x4fff), nullptr);
    EXPECT_EQ(v.piece_end(0x4fff), 0x5000u);
    ASSERT_NE(v.lookup(0x5000), nullptr);
    EXPECT_EQ(v.lookup(0x5000)->mr, c);
    EXPECT_EQ(v.lookup(0x5000), &v.ranges()[2]);
    EXPECT_EQ(v.piece_end(0x5800), 0x6000u);
    // The hole to the end of the space
    EXPECT_EQ(v.lookup(0x6000), nullptr);
    EXPECT_EQ(v.piece_end(0x6000), UINT64_MAX);
    EXPECT_EQ(v.lookup(UINT64_MAX - 1), nullptr);
    EXPECT_EQ(v.piece_end(UINT64_MAX - 1), UINT64_MAX);
}

TEST_F(FlatViewLookup, LeadingHoleAtZero) {
    FlatView v({make_fr(0x3000, 0x1000, *a, 0)});
    EXPECT_EQ(v.lookup(0), nullptr);
    EXPECT_EQ(v.piece_end(0), 0x3000u);
    EXPECT_EQ(v.lookup(0x2fff), nullptr);
    EXPECT_EQ(v.piece_end(0x2fff), 0x3000u);
    EXPECT_EQ(v.lookup(0x3000)->mr, a);
    EXPECT_EQ(v.piece_end(0x3fff), 0x4000u);
    EXPECT_EQ(v.lookup(0x4000), nullptr);
}

TEST_F(FlatViewLookup, OverlappingOrUnsortedRangesAreRefused) {
    EXPECT_THROW(FlatView({make_fr(0x1000, 0x1000, *a, 0), make_fr(0x1800, 0x1000, *b, 0)}), Error);
    EXPECT_THROW(FlatView({make_fr(0x3000, 0x1000, *a, 0), make_fr(0x1000, 0x1000, *b, 0)}), Error);
    // Touching is fine, and leaves no hole between them.
    FlatView v({make_fr(0x1000, 0x1000, *a, 0), make_fr(0x2000, 0x1000, *b, 0)});
    EXPECT_EQ(v.lookup(0x1fff)->mr, a);
    EXPECT_EQ(v.lookup(0x2000)->mr, b);
    EXPECT_EQ(v.piece_end(0x1000), 0x2000u);
}

TEST_F(FlatViewLookup, EmptyViewIsOneHole) {
    FlatView v(std::vector<FlatRange>{});
    EXPECT_EQ(v.size(), 0u);
    EXPECT_EQ(v.lookup(0), nullptr);
    EXPECT_EQ(v.piece_end(0), UINT64_MAX);
    EXPECT_EQ(v.lookup(0x12345678), nullptr);
    EXPECT_EQ(v.lookup(UINT64_MAX - 1), nullptr);
    EXPECT_EQ(v.piece_end(UINT64_MAX - 1), UINT64_MAX);
}

// A default-constructed FlatView is the empty view: one hole. Run in a
// child process so that a crash reports as a failure of this test only.
TEST(FlatViewDefault, DefaultConstructedViewIsOneHole) {
    EXPECT_EXIT(
        {
            FlatView v;
            const bool ok = v.size() == 0 && v.lookup(0) == nullptr && v.lookup(0x1234) == nullptr &&
                            v.piece_end(0x1234) == UINT64_MAX && v.lookup(UINT64_MAX - 1) == nullptr;
            std::exit(ok ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "");
}

TEST_F(FlatViewLookup, RangeEndingAtTopOfSpace) {
    FlatView v({make_fr(0x1000, 0x1000, *a, 0), make_fr(UINT64_MAX - 0x1000, 0x1000, *b, 0)});
    EXPECT_EQ(v.lookup(UINT64_MAX - 0x1001), nullptr);
    EXPECT_EQ(v.piece_end(UINT64_MAX - 0x1001), UINT64_MAX - 0x1000);
    ASSERT_NE(v.lookup(UINT64_MAX - 0x1000), nullptr);
    EXPECT_EQ(v.lookup(UINT64_MAX - 0x1000)->mr, b);
    ASSERT_NE(v.lookup(UINT64_MAX - 1), nullptr);
    EXPECT_EQ(v.lookup(UINT64_MAX - 1)->mr, b);
    EXPECT_EQ(v.piece_end(UINT64_MAX - 1), UINT64_MAX);
    EXPECT_EQ(v.lookup(0x2000), nullptr);
    EXPECT_EQ(v.piece_end(0x2000), UINT64_MAX - 0x1000);
}

TEST_F(FlatViewLookup, ManyRangesEveryBoundary) {
    // 100 ranges of 0x10 bytes with 0x10-byte holes between them.
    std::vector<FlatRange> frs;
    for (uint64_t i = 0; i < 100; ++i) frs.push_back(make_fr(0x100 + i * 0x20, 0x10, *a, i * 0x10));
    FlatView v(frs);
    ASSERT_EQ(v.size(), 100u);
    EXPECT_EQ(v.lookup(0xff), nullptr);
    EXPECT_EQ(v.piece_end(0), 0x100u);
    for (uint64_t i = 0; i < 100; ++i) {
        const uint64_t s = 0x100 + i * 0x20;
        ASSERT_NE(v.lookup(s), nullptr) << i;
        EXPECT_EQ(v.lookup(s)->offset_in_region, i * 0x10) << i;
        EXPECT_EQ(v.lookup(s + 0xf), &v.ranges()[i]) << i;
        EXPECT_EQ(v.piece_end(s), s + 0x10) << i;
        EXPECT_EQ(v.lookup(s + 0x10), nullptr) << i;
        EXPECT_EQ(v.lookup(s + 0x1f), nullptr) << i;
        EXPECT_EQ(v.piece_end(s + 0x10), i == 99 ? UINT64_MAX : s + 0x20) << i;
    }
}

TEST_F(FlatViewLookup, RenderedViewLookup) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& dev = sys.create_io("dev", 0x100, ops);
    root.add_subregion(0, ram);
    ram.add_subregion(0x2000, dev);
    auto v = FlatView::render(root);
    ASSERT_EQ(v->size(), 3u);
    EXPECT_EQ(v->lookup(0x1fff)->mr, &ram);
    EXPECT_EQ(v->piece_end(0x1fff), 0x2000u);
    EXPECT_EQ(v->lookup(0x2000)->mr, &dev);
    EXPECT_EQ(v->piece_end(0x2000), 0x2100u);
    EXPECT_EQ(v->lookup(0x2100)->mr, &ram);
    EXPECT_EQ(v->lookup(0x2100)->offset_in_region, 0x2100u);
    EXPECT_EQ(v->piece_end(0x2100), 0x4000u);
    EXPECT_EQ(v->lookup(0x4000), nullptr);
    EXPECT_EQ(v->piece_end(0x4000), UINT64_MAX);
}

// ---------------------------------------------------------------------------
// digest and equality

using FlatViewDigest = FlatViewLookup;

TEST_F(FlatViewDigest, EqualViewsHaveEqualDigests) {
    FlatView v1({make_fr(0, 0x1000, *a, 0), make_fr(0x3000, 0x1000, *b, 0x10)});
    FlatView v2({make_fr(0, 0x1000, *a, 0), make_fr(0x3000, 0x1000, *b, 0x10)});
    EXPECT_TRUE(v1 == v2);
    EXPECT_EQ(v1.digest(), v2.digest());
    EXPECT_EQ(v1.digest(), v1.digest());
}

TEST_F(FlatViewDigest, DigestChangesWithEveryMappingDetail) {
    const std::vector<FlatRange> base = {make_fr(0, 0x1000, *a, 0), make_fr(0x3000, 0x1000, *b, 0x10)};
    const uint64_t d0 = FlatView(base).digest();

    auto changed = [&](auto mutate) {
        std::vector<FlatRange> v = base;
        mutate(v);
        return FlatView(v).digest();
    };
    EXPECT_NE(d0, changed([](auto& v) { v[1].range = AddrRange::make(0x4000, 0x1000); })) << "start";
    EXPECT_NE(d0, changed([](auto& v) { v[1].range = AddrRange::make(0x3000, 0x800); })) << "size";
    EXPECT_NE(d0, changed([&](auto& v) { v[1].mr = c; })) << "region";
    EXPECT_NE(d0, changed([](auto& v) { v[1].offset_in_region = 0x20; })) << "offset";
    EXPECT_NE(d0, changed([](auto& v) { v[0].readonly = true; })) << "readonly";
    EXPECT_NE(d0, changed([](auto& v) { v[0].nonvolatile = true; })) << "nonvolatile";
    EXPECT_NE(d0, changed([](auto& v) { v.pop_back(); })) << "range removed";
    EXPECT_NE(FlatView(std::vector<FlatRange>{}).digest(), d0);
}

TEST_F(FlatViewDigest, StableAcrossSystemsWithSameTopology) {
    // The digest is built from names, not pointers: two systems with the
    // same tree give the same digest.
    auto build = [](MemorySystem& s) {
        MemoryRegion& root = s.create_container("root", 0x10000);
        MemoryRegion& ram = s.create_ram("ram", 0x4000);
        MemoryRegion& al = s.create_alias("al", ram, 0x1000, 0x1000);
        root.add_subregion(0, ram);
        root.add_subregion(0x8000, al);
        return FlatView::render(root)->digest();
    };
    MemorySystem s1;
    MemorySystem s2;
    (void)s2.create_ram("padding", 0x1000);  // different allocation history
    EXPECT_EQ(build(s1), build(s2));
}

TEST_F(FlatViewDigest, RenderedDigestTracksTopologyChanges) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    root.add_subregion(0, ram);
    const uint64_t d1 = FlatView::render(root)->digest();
    EXPECT_EQ(FlatView::render(root)->digest(), d1);
    ram.set_address(0x1000);
    const uint64_t d2 = FlatView::render(root)->digest();
    EXPECT_NE(d1, d2);
    ram.set_address(0);
    EXPECT_EQ(FlatView::render(root)->digest(), d1);
    EXPECT_TRUE(*FlatView::render(root) == *FlatView::render(root));
}

// ---------------------------------------------------------------------------
// Re-rendering part of a view (what a commit does when it knows where its
// changes lie).

TEST(FlatViewRerender, KeepsRangesOutsideTheIntervalsAndMergesAcrossTheirEdges) {
    MemorySystem sys;
    FunctionOps ops{[](uint64_t, unsigned) -> uint64_t { return 0; }, [](uint64_t, uint64_t, unsigned) {}};
    MemoryRegion& root = sys.create_ram("root", 0x10000);
    MemoryRegion& io = sys.create_io("io", 0x2000, ops);
    root.add_subregion(0x4000, io);
    const auto before = FlatView::render(root);
    ASSERT_EQ(before->size(), 3u);

    io.set_enabled(false);
    // The whole extent of the change: the same as a full render, one RAM
    // range merged across both edges of the interval.
    const auto whole = FlatView::rerender(*before, root, {AddrRange::make(0x4000, 0x2000)});
    EXPECT_TRUE(*whole == *FlatView::render(root));
    ASSERT_EQ(whole->size(), 1u);
    EXPECT_EQ(whole->ranges()[0].range, AddrRange::make(0, 0x10000));

    // Only part of it: outside, the old ranges stay, cut at the edges with
    // their offsets moved along.
    const auto part = FlatView::rerender(*before, root, {AddrRange::make(0x5000, 0x800)});
    ASSERT_EQ(part->size(), 5u);
    const auto& r = part->ranges();
    EXPECT_EQ(r[0].range, AddrRange::make(0, 0x4000));
    EXPECT_EQ(r[1].range, AddrRange::make(0x4000, 0x1000));
    EXPECT_EQ(r[1].mr, &io);
    EXPECT_EQ(r[2].range, AddrRange::make(0x5000, 0x800));
    EXPECT_EQ(r[2].mr, &root);
    EXPECT_EQ(r[2].offset_in_region, 0x5000u);
    EXPECT_EQ(r[3].range, AddrRange::make(0x5800, 0x800));
    EXPECT_EQ(r[3].mr, &io);
    EXPECT_EQ(r[3].offset_in_region, 0x1800u);
    EXPECT_EQ(r[4].range, AddrRange::make(0x6000, 0xa000));

    // Two intervals inside one old range, and nothing changed: the range
    // comes back whole.
    const auto same = FlatView::rerender(*whole, root, {AddrRange::make(0x1000, 0x1000), AddrRange::make(0x8000, 0x10)});
    EXPECT_TRUE(*same == *whole);

    EXPECT_THROW(FlatView::rerender(*before, root, {AddrRange::make(0x8000, 0x10), AddrRange::make(0x1000, 0x10)}),
                 Error);
    EXPECT_THROW(FlatView::rerender(*before, root, {AddrRange::make(0x1000, 0x10), AddrRange::make(0x1010, 0x10)}),
                 Error);
}

// The runs of the old view that went into the new one as they were are
// reported (a commit's listener diff skips them). A run whose last range
// merges with what the re-render puts after it ends one range earlier.
TEST(FlatViewRerender, ReportsTheRunsItCopiedAsTheyWere) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    std::vector<MemoryRegion*> ram;
    for (int i = 0; i < 3; ++i) {
        ram.push_back(&sys.create_ram("a" + std::to_string(i), 0x1000));
        root.add_subregion(static_cast<uint64_t>(i) * 0x1000, *ram.back());
    }
    MemoryRegion& b = sys.create_ram("b", 0x3000);
    root.add_subregion_overlap(0x3000, b, 0);
    MemoryRegion& lid = sys.create_reservation("lid", 0x1000);
    root.add_subregion_overlap(0x4000, lid, 1);
    MemoryRegion& c = sys.create_ram("c", 0x1000);
    root.add_subregion(0x8000, c);
    const auto before = FlatView::render(root);
    // a0 a1 a2 b lid b c
    ASSERT_EQ(before->size(), 7u);

    lid.set_enabled(false);
    std::vector<FlatView::CopiedRun> copied;
    const auto after = FlatView::rerender(*before, root, {AddrRange::make(0x4000, 0x1000)}, nullptr, &copied);
    ASSERT_TRUE(*after == *FlatView::render(root));
    ASSERT_EQ(after->size(), 5u);  // a0 a1 a2 b c
    // a0 starts a block (it is appended on its own, as it might merge with
    // what precedes it); a1, a2 and the first piece of b are copied as one
    // run, and b's piece then grows over the lid's interval and the rest of
    // b, so the run keeps a1 and a2 only. The second piece of b (merged
    // too) starts the next block, whose run is c.
    ASSERT_EQ(copied.size(), 2u);
    EXPECT_EQ(copied[0].old_first, 1u);
    EXPECT_EQ(copied[0].new_first, 1u);
    EXPECT_EQ(copied[0].count, 2u);
    EXPECT_EQ(copied[1].old_first, 6u);
    EXPECT_EQ(copied[1].new_first, 4u);
    EXPECT_EQ(copied[1].count, 1u);
    for (const FlatView::CopiedRun& run : copied)
        for (size_t k = 0; k < run.count; ++k)
            EXPECT_TRUE(before->ranges()[run.old_first + k] == after->ranges()[run.new_first + k]);

    // Another re-render, of an interval nothing shows in, reports its own
    // runs: everything after a0.
    (void)FlatView::rerender(*after, root, {AddrRange::make(0xf000, 0x10)}, nullptr, &copied);
    ASSERT_EQ(copied.size(), 1u);
    EXPECT_EQ(copied[0].old_first, 1u);
    EXPECT_EQ(copied[0].count, 4u);  // a1 a2 b c, after a0
}

TEST(FlatViewRerender, ARootThatShrankLosesTheRangesPastItsEnd) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_ram("root", 0x10000);
    const auto before = FlatView::render(root);
    root.set_size(0x8000);
    // The interval the commit would pass: the root's old extent.
    const auto after = FlatView::rerender(*before, root, {AddrRange::make(0, 0x10000)});
    EXPECT_TRUE(*after == *FlatView::render(root));
    // Even with an interval that misses the end, nothing lies past it.
    const auto cut = FlatView::rerender(*before, root, {AddrRange::make(0, 0x10)});
    ASSERT_EQ(cut->size(), 1u);
    EXPECT_EQ(cut->ranges()[0].range, AddrRange::make(0, 0x8000));
}

}  // namespace
}  // namespace kvmrr
