// Unit tests for core/flat_view.h: rendering a region tree into flat
// ranges (holes, clipping, priorities, enabling, aliases, attributes,
// merging). FlatViewBuilder, lookup, digest and re-rendering:
// flat_view_lookup_test.cc.
#include "core/flat_view.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/ram_block.h"
#include "core/region_ops.h"
#include "core/tests/flat_view_test_util.h"

namespace kvmrr {
namespace {

using namespace test;

// ---------------------------------------------------------------------------
// Basic rendering, holes, clipping

using FlatViewRender = Fixture;

TEST_F(FlatViewRender, EmptyContainerHasNoRanges) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    auto v = FlatView::render(root);
    EXPECT_EQ(v->size(), 0u);
    EXPECT_TRUE(v->ranges().empty());
}

TEST_F(FlatViewRender, HolesProduceNoRange) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_io("b", 0x800, ops);
    root.add_subregion(0x1000, a);
    root.add_subregion(0x4000, b);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x1000, 0x1000, &a, 0},
                                  {0x4000, 0x800, &b, 0},
                              }));
}

TEST_F(FlatViewRender, TerminalRootRendersAtZeroIgnoringItsAddr) {
    MemoryRegion& parent = sys.create_container("parent", 0x100000);
    MemoryRegion& ram = sys.create_ram("ram", 0x3000);
    parent.add_subregion(0x50000, ram);
    EXPECT_EQ(rendered(ram), fmt(std::vector<Exp>{{0, 0x3000, &ram, 0}}));
}

TEST_F(FlatViewRender, ChildClippedToParent) {
    MemoryRegion& root = sys.create_container("root", 0x4000);
    MemoryRegion& ram = sys.create_ram("ram", 0x2000);
    root.add_subregion(0x3000, ram);  // sticks out by 0x1000
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x3000, 0x1000, &ram, 0}}));
}

TEST_F(FlatViewRender, NestedClipping) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& c = sys.create_container("c", 0x1000);  // [0x1000, 0x2000)
    MemoryRegion& ram = sys.create_ram("ram", 0x3000);    // at c+0x800, clipped to c
    MemoryRegion& after = sys.create_ram("after", 0x1000);
    root.add_subregion(0x1000, c);
    c.add_subregion(0x800, ram);
    root.add_subregion(0x2000, after);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x1800, 0x800, &ram, 0},
                                  {0x2000, 0x1000, &after, 0},
                              }));
}

TEST_F(FlatViewRender, ChildOutsideParentVanishes) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& c = sys.create_container("c", 0x1000);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, c);
    c.add_subregion(0x1000, ram);  // starts exactly at c's end
    EXPECT_EQ(rendered(root), "");
}

TEST_F(FlatViewRender, ChildrenBeforeParentRamFillsBothSides) {
    MemoryRegion& root = sys.create_container("root", 0x20000);
    MemoryRegion& ram = sys.create_ram("ram", 0x10000);
    MemoryRegion& dev = sys.create_io("dev", 0x1000, ops);
    root.add_subregion(0x10000, ram);
    ram.add_subregion(0x4000, dev);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x10000, 0x4000, &ram, 0},
                                  {0x14000, 0x1000, &dev, 0},
                                  {0x15000, 0xb000, &ram, 0x5000},
                              }));
}

TEST_F(FlatViewRender, ChildWinsOverParentEvenWithLowPriority) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& low = sys.create_ram("low", 0x1000);
    root.add_subregion(0, ram);
    ram.add_subregion_overlap(0x1000, low, -10);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x0000, 0x1000, &ram, 0},
                                  {0x1000, 0x1000, &low, 0},
                                  {0x2000, 0x2000, &ram, 0x2000},
                              }));
}

// ---------------------------------------------------------------------------
// Priorities

TEST_F(FlatViewRender, HigherPriorityWinsRegardlessOfOrder) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& hi = sys.create_io("hi", 0x1000, ops);
    MemoryRegion& lo = sys.create_ram("lo", 0x4000);
    root.add_subregion_overlap(0x1000, hi, 1);  // added first, but higher
    root.add_subregion_overlap(0x0000, lo, 0);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x0000, 0x1000, &lo, 0},
                                  {0x1000, 0x1000, &hi, 0},
                                  {0x2000, 0x2000, &lo, 0x2000},
                              }));
    hi.set_priority(-1);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x0000, 0x4000, &lo, 0}}));
}

TEST_F(FlatViewRender, EqualPrioritiesLastAddedWins) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& first = sys.create_ram("first", 0x2000);
    MemoryRegion& second = sys.create_ram("second", 0x2000);
    root.add_subregion_overlap(0x0000, first, 0);
    root.add_subregion_overlap(0x1000, second, 0);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x0000, 0x1000, &first, 0},
                                  {0x1000, 0x2000, &second, 0},
                              }));
    // Re-adding "first" makes it the newest.
    root.del_subregion(first);
    root.add_subregion_overlap(0x0000, first, 0);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x0000, 0x2000, &first, 0},
                                  {0x2000, 0x1000, &second, 0x1000},
                              }));
}

TEST_F(FlatViewRender, PriorityOnlyMattersAmongSiblings) {
    // A high-priority region inside a low-priority container still loses to
    // a higher-priority sibling of that container.
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& c = sys.create_container("c", 0x4000);
    MemoryRegion& inner = sys.create_ram("inner", 0x4000);
    MemoryRegion& top = sys.create_ram("top", 0x1000);
    root.add_subregion_overlap(0, c, 0);
    c.add_subregion_overlap(0, inner, 100);
    root.add_subregion_overlap(0x2000, top, 1);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x0000, 0x2000, &inner, 0},
                                  {0x2000, 0x1000, &top, 0},
                                  {0x3000, 0x1000, &inner, 0x3000},
                              }));
}

// ---------------------------------------------------------------------------
// Enabled

TEST_F(FlatViewRender, DisabledRegionsVanish) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& lo = sys.create_ram("lo", 0x4000);
    MemoryRegion& hi = sys.create_io("hi", 0x1000, ops);
    MemoryRegion& solo = sys.create_ram("solo", 0x1000);
    root.add_subregion_overlap(0, lo, 0);
    root.add_subregion_overlap(0x1000, hi, 1);
    root.add_subregion(0x8000, solo);
    hi.set_enabled(false);
    solo.set_enabled(false);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x0000, 0x4000, &lo, 0}}));
    lo.set_enabled(false);
    EXPECT_EQ(rendered(root), "");
    hi.set_enabled(true);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x1000, 0x1000, &hi, 0}}));
}

TEST_F(FlatViewRender, DisabledContainerHidesSubtree) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& c = sys.create_container("c", 0x4000);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    root.add_subregion(0x4000, c);
    c.add_subregion(0, a);
    c.add_subregion(0x2000, b);
    c.set_enabled(false);
    EXPECT_EQ(rendered(root), "");
    c.set_enabled(true);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x4000, 0x1000, &a, 0},
                                  {0x6000, 0x1000, &b, 0},
                              }));
}

TEST_F(FlatViewRender, DisabledChildOfRamLetsRamShowThrough) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& dev = sys.create_io("dev", 0x1000, ops);
    root.add_subregion(0, ram);
    ram.add_subregion(0x1000, dev);
    dev.set_enabled(false);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0, 0x4000, &ram, 0}}));
}

TEST_F(FlatViewRender, DisabledAliasAndDisabledAliasTarget) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x2000);
    MemoryRegion& a = sys.create_alias("a", ram, 0, 0x1000);
    root.add_subregion(0x4000, a);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x4000, 0x1000, &ram, 0}}));
    a.set_enabled(false);
    EXPECT_EQ(rendered(root), "");
    a.set_enabled(true);
    ram.set_enabled(false);  // a disabled target shows nothing through the alias either
    EXPECT_EQ(rendered(root), "");
}

// ---------------------------------------------------------------------------
// Aliases

TEST_F(FlatViewRender, AliasRebasesIntoRamTarget) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x2000);
    MemoryRegion& a = sys.create_alias("a", ram, 0x200, 0x800);
    root.add_subregion(0x1000, a);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x1000, 0x800, &ram, 0x200}}));
}

TEST_F(FlatViewRender, AliasIgnoresTargetsOwnAddr) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x2000);
    MemoryRegion& a = sys.create_alias("a", ram, 0x200, 0x800);
    root.add_subregion(0x8000, ram);  // the target is mapped itself, at 0x8000
    root.add_subregion(0x1000, a);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x1000, 0x800, &ram, 0x200},
                                  {0x8000, 0x2000, &ram, 0},
                              }));
}

TEST_F(FlatViewRender, AliasClippedToTarget) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x2000);
    MemoryRegion& a = sys.create_alias("a", ram, 0x1800, 0x1000);  // only 0x800 of target left
    root.add_subregion(0x4000, a);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x4000, 0x800, &ram, 0x1800}}));
}

TEST_F(FlatViewRender, AliasToContainerWithChildren) {
    MemoryRegion& root = sys.create_container("root", 0x100000);
    MemoryRegion& k = sys.create_container("k", 0x3000);
    MemoryRegion& r1 = sys.create_ram("r1", 0x1000);
    MemoryRegion& d = sys.create_io("d", 0x1000, ops);
    k.add_subregion(0x0000, r1);
    k.add_subregion(0x2000, d);
    root.add_subregion(0x20000, k);  // the target's own placement
    MemoryRegion& a = sys.create_alias("a", k, 0x800, 0x2000);  // window k[0x800, 0x2800)
    root.add_subregion(0x10000, a);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x10000, 0x800, &r1, 0x800},
                                  // k[0x1000, 0x2000) is a hole in k: no range
                                  {0x11800, 0x800, &d, 0},
                                  {0x20000, 0x1000, &r1, 0},
                                  {0x22000, 0x1000, &d, 0},
                              }));
}

TEST_F(FlatViewRender, AliasOfAlias) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& a1 = sys.create_alias("a1", ram, 0x1000, 0x2000);  // ram[0x1000, 0x3000)
    MemoryRegion& a2 = sys.create_alias("a2", a1, 0x800, 0x800);     // a1[0x800,0x1000) = ram[0x1800,0x2000)
    root.add_subregion(0x100, a2);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x100, 0x800, &ram, 0x1800}}));
}

TEST_F(FlatViewRender, AliasOffsetChangeMovesWindow) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& a = sys.create_alias("a", ram, 0, 0x1000);
    root.add_subregion(0x2000, a);
    a.set_alias_offset(0x3000);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x2000, 0x1000, &ram, 0x3000}}));
}

// ---------------------------------------------------------------------------
// Attribute inheritance

TEST_F(FlatViewRender, RomRangesAreReadonly) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& rom = sys.create_rom("rom", 0x1000);
    root.add_subregion(0xf000, rom);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0xf000, 0x1000, &rom, 0, /*ro=*/true}}));
}

TEST_F(FlatViewRender, ReadonlyAndNonvolatileInheritedDownward) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& c = sys.create_container("c", 0x4000);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    MemoryRegion& outside = sys.create_ram("outside", 0x1000);
    root.add_subregion(0, c);
    c.add_subregion(0x0000, a);
    c.add_subregion(0x2000, b);
    root.add_subregion(0x8000, outside);
    c.set_readonly(true);
    b.set_nonvolatile(true);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x0000, 0x1000, &a, 0, true, false},
                                  {0x2000, 0x1000, &b, 0, true, true},
                                  {0x8000, 0x1000, &outside, 0, false, false},
                              }));
    c.set_readonly(false);
    c.set_nonvolatile(true);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x0000, 0x1000, &a, 0, false, true},
                                  {0x2000, 0x1000, &b, 0, false, true},
                                  {0x8000, 0x1000, &outside, 0, false, false},
                              }));
}

TEST_F(FlatViewRender, ReadonlyInheritedThroughAliasOnly) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    MemoryRegion& a = sys.create_alias("a", ram, 0, 0x1000);
    root.add_subregion(0x0000, ram);
    root.add_subregion(0x4000, a);
    a.set_readonly(true);
    a.set_nonvolatile(true);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x0000, 0x1000, &ram, 0, false, false},
                                  {0x4000, 0x1000, &ram, 0, true, true},
                              }));
}

TEST_F(FlatViewRender, ReadonlyFromContainerAboveAliasReachesTarget) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& c = sys.create_container("c", 0x2000);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    MemoryRegion& a = sys.create_alias("a", ram, 0x400, 0x400);
    root.add_subregion(0x2000, c);
    c.add_subregion(0x1000, a);
    c.set_readonly(true);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x3000, 0x400, &ram, 0x400, true}}));
}

TEST_F(FlatViewRender, DirtyLogMaskAndRomdModeCopied) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    MemoryRegion& flash = sys.create_rom_device("flash", 0x1000, ops);
    root.add_subregion(0x0000, ram);
    root.add_subregion(0x1000, flash);
    ram.set_dirty_log_mask(kDirtyLogVga | kDirtyLogRecord);
    auto v = FlatView::render(root);
    ASSERT_EQ(v->size(), 2u);
    EXPECT_EQ(v->ranges()[0].dirty_log_mask, kDirtyLogVga | kDirtyLogRecord);
    EXPECT_EQ(v->ranges()[1].dirty_log_mask, 0);
    EXPECT_TRUE(v->ranges()[1].romd_mode);
    flash.set_romd(false);
    auto w = FlatView::render(root);
    ASSERT_EQ(w->size(), 2u);
    EXPECT_FALSE(w->ranges()[1].romd_mode);
    EXPECT_EQ(w->ranges()[1].mr, &flash);
}

TEST_F(FlatViewRender, HostPointer) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& dev = sys.create_io("dev", 0x1000, ops);
    root.add_subregion(0x8000, ram);
    ram.add_subregion(0x1000, dev);
    auto v = FlatView::render(root);
    ASSERT_EQ(v->size(), 3u);
    EXPECT_EQ(v->ranges()[0].host(), ram.ram_block()->host());
    EXPECT_EQ(v->ranges()[1].host(), nullptr);
    EXPECT_EQ(v->ranges()[2].host(), ram.ram_block()->host() + 0x2000);
}

// ---------------------------------------------------------------------------
// Merging

TEST_F(FlatViewRender, AdjacentAliasesToContiguousRamMerge) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& a1 = sys.create_alias("a1", ram, 0x1000, 0x1000);
    MemoryRegion& a2 = sys.create_alias("a2", ram, 0x2000, 0x1000);
    root.add_subregion(0x5000, a1);
    root.add_subregion(0x6000, a2);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x5000, 0x2000, &ram, 0x1000}}));
}

TEST_F(FlatViewRender, DifferentAttributesDoNotMerge) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& a1 = sys.create_alias("a1", ram, 0x1000, 0x1000);
    MemoryRegion& a2 = sys.create_alias("a2", ram, 0x2000, 0x1000);
    root.add_subregion(0x5000, a1);
    root.add_subregion(0x6000, a2);
    a2.set_readonly(true);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x5000, 0x1000, &ram, 0x1000, false},
                                  {0x6000, 0x1000, &ram, 0x2000, true},
                              }));
    a2.set_readonly(false);
    a1.set_nonvolatile(true);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x5000, 0x1000, &ram, 0x1000, false, true},
                                  {0x6000, 0x1000, &ram, 0x2000, false, false},
                              }));
}

TEST_F(FlatViewRender, NonContiguousOffsetsDoNotMerge) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& a1 = sys.create_alias("a1", ram, 0x1000, 0x1000);
    MemoryRegion& a2 = sys.create_alias("a2", ram, 0x2800, 0x1000);
    root.add_subregion(0x5000, a1);
    root.add_subregion(0x6000, a2);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x5000, 0x1000, &ram, 0x1000},
                                  {0x6000, 0x1000, &ram, 0x2800},
                              }));
}

TEST_F(FlatViewRender, DifferentRegionsDoNotMerge) {
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& r1 = sys.create_ram("r1", 0x1000);
    MemoryRegion& r2 = sys.create_ram("r2", 0x1000);
    root.add_subregion(0x0000, r1);
    root.add_subregion(0x1000, r2);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{
                                  {0x0000, 0x1000, &r1, 0},
                                  {0x1000, 0x1000, &r2, 0},
                              }));
}

TEST_F(FlatViewRender, HigherPriorityAliasWithMatchingOffsetMerges) {
    // A higher-priority alias of the same RAM sits over the middle with
    // matching offsets: the three pieces merge into one range.
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x3000);
    MemoryRegion& patch = sys.create_alias("patch", ram, 0x1000, 0x1000);
    root.add_subregion_overlap(0, ram, 0);
    root.add_subregion_overlap(0x1000, patch, 1);
    EXPECT_EQ(rendered(root), fmt(std::vector<Exp>{{0x0000, 0x3000, &ram, 0}}));
}

}  // namespace
}  // namespace kvmrr
