// Unit tests for core/flat_view.h: rendering a region tree into flat ranges,
// FlatViewBuilder with pre-claimed ranges, lookup / piece_end and digest.
#include "core/flat_view.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/ram_block.h"
#include "core/region_ops.h"

namespace kvmrr {
namespace {

// An expected flat range. romd is only compared for ROM devices (for other
// kinds the flag has no meaning).
struct Exp {
    uint64_t start;
    uint64_t size;
    const MemoryRegion* mr;
    uint64_t off;
    bool ro = false;
    bool nv = false;
    uint8_t mask = 0;
    bool romd = true;
};

std::string fmt_one(uint64_t start, uint64_t size, const MemoryRegion* mr, uint64_t off, bool ro, bool nv,
                    uint8_t mask, bool romd) {
    std::ostringstream os;
    os << std::hex << "[0x" << start << ",0x" << start + size << ") " << (mr ? mr->name() : "<null>") << " off=0x"
       << off;
    if (ro) os << " ro";
    if (nv) os << " nv";
    if (mask) os << " mask=" << unsigned(mask);
    if (mr && mr->kind() == MemoryRegion::Kind::RomDevice) os << (romd ? " romd" : " !romd");
    return os.str();
}

std::string fmt(const std::vector<FlatRange>& v) {
    std::string s;
    for (const auto& fr : v)
        s += fmt_one(fr.range.start(), fr.range.size(), fr.mr, fr.offset_in_region, fr.readonly, fr.nonvolatile,
                     fr.dirty_log_mask, fr.romd_mode) +
             "\n";
    return s;
}

std::string fmt(const std::vector<Exp>& v) {
    std::string s;
    for (const auto& e : v) s += fmt_one(e.start, e.size, e.mr, e.off, e.ro, e.nv, e.mask, e.romd) + "\n";
    return s;
}

std::string rendered(const MemoryRegion& root) { return fmt(FlatView::render(root)->ranges()); }

FlatRange make_fr(uint64_t start, uint64_t size, MemoryRegion& mr, uint64_t off) {
    FlatRange fr;
    fr.range = AddrRange::make(start, size);
    fr.mr = &mr;
    fr.offset_in_region = off;
    return fr;
}

struct Fixture : ::testing::Test {
    MemorySystem sys;
    FunctionOps ops{[](uint64_t, unsigned) -> uint64_t { return 0; }, [](uint64_t, uint64_t, unsigned) {}};
};

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
