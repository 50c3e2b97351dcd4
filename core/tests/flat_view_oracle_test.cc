// Differential tests of the renderer: random trees (core/tests/random_tree.h)
// are rendered by FlatView and by the oracle (flat_view_oracle.h) and must
// agree exactly; hand-built trees with literal expectations pin the oracle
// itself to the documented semantics; mutants of the oracle's rules must be
// caught. Every failure prints the seed, the tree and both views.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/flat_view.h"
#include "core/memory_listener.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/tests/random_tree.h"

#include "core/tests/flat_view_oracle.h"

namespace kvmrr {
namespace {

using namespace test;

constexpr uint64_t kTreeSeeds = 20000;
constexpr uint64_t kHugeTreeSeeds = 3000;
constexpr uint64_t kMutantSeeds = 1000;

// ---------------------------------------------------------------------------
// Hand-built trees with literal expectations: they pin the oracle itself to
// the documented semantics (and check the renderer on the same trees).

FlatRange fr(uint64_t start, uint64_t end, MemoryRegion& mr, uint64_t off, bool ro = false, bool nv = false,
             bool romd = false, uint8_t mask = 0) {
    FlatRange f;
    f.range = AddrRange::make(start, end - start);
    f.mr = &mr;
    f.offset_in_region = off;
    f.readonly = ro;
    f.nonvolatile = nv;
    f.romd_mode = romd;
    f.dirty_log_mask = mask;
    return f;
}

void expect_both(const MemoryRegion& root, const std::vector<FlatRange>& want, const char* what) {
    auto o = oracle_view(root);
    ASSERT_TRUE(o.has_value());
    EXPECT_TRUE(*o == want) << what << ": oracle disagrees with the literal expectation\n" << diff_views(want, *o);
    auto v = FlatView::render(root);
    EXPECT_TRUE(v->ranges() == want) << what << ": renderer disagrees with the literal expectation\n"
                                     << diff_views(want, v->ranges());
}

TEST(FlatViewOracle, HandBuiltPrioritiesTiesAliasesMerge) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& lo = sys.create_ram("lo", 0x4000);
    MemoryRegion& dev = sys.create_io("dev", 0x1000, test::random_tree_ops());
    MemoryRegion& hole = sys.create_reservation("hole", 0x800);
    MemoryRegion& sub = sys.create_container("sub", 0x4000);
    MemoryRegion& hi = sys.create_ram("hi", 0x2000);
    root.add_subregion_overlap(0x0, lo, 0);
    root.add_subregion_overlap(0x2000, dev, 1);   // higher priority beats lo
    root.add_subregion_overlap(0x3800, hole, 0);  // equal priority, added later: beats lo
    root.add_subregion(0x8000, sub);
    sub.set_readonly(true);
    sub.add_subregion(0x1000, hi);  // inherits readonly
    MemoryRegion& win = sys.create_alias("win", lo, 0x1000, 0x2000);
    root.add_subregion(0xC000, win);  // lo's siblings do not show through an alias of lo
    MemoryRegion& p1 = sys.create_alias("p1", hi, 0x0, 0x1000);
    MemoryRegion& p2 = sys.create_alias("p2", hi, 0x1000, 0x1000);
    root.add_subregion(0x4000, p1);
    root.add_subregion(0x5000, p2);  // contiguous with p1: merged, not readonly (path avoids sub)
    MemoryRegion& rwin = sys.create_alias("rwin", lo, 0x0, 0x800);
    rwin.set_readonly(true);
    rwin.set_nonvolatile(true);
    root.add_subregion(0xF000, rwin);  // readonly and nonvolatile through the alias
    expect_both(root,
                {fr(0x0, 0x2000, lo, 0x0), fr(0x2000, 0x3000, dev, 0x0), fr(0x3000, 0x3800, lo, 0x3000),
                 fr(0x3800, 0x4000, hole, 0x0), fr(0x4000, 0x6000, hi, 0x0), fr(0x9000, 0xB000, hi, 0x0, true),
                 fr(0xC000, 0xE000, lo, 0x1000), fr(0xF000, 0xF800, lo, 0x0, true, true)},
                "priorities/ties/aliases");

    // Reversing the tie: lo re-added after hole now covers it.
    root.del_subregion(lo);
    root.add_subregion_overlap(0x0, lo, 0);
    expect_both(root,
                {fr(0x0, 0x2000, lo, 0x0), fr(0x2000, 0x3000, dev, 0x0), fr(0x3000, 0x4000, lo, 0x3000),
                 fr(0x4000, 0x6000, hi, 0x0), fr(0x9000, 0xB000, hi, 0x0, true), fr(0xC000, 0xE000, lo, 0x1000),
                 fr(0xF000, 0xF800, lo, 0x0, true, true)},
                "tie reversed by re-adding");
}

TEST(FlatViewOracle, HandBuiltClippingDisabledTerminalChildrenRomd) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x1000);
    MemoryRegion& big = sys.create_ram("big", 0x1000);
    MemoryRegion& dbg = sys.create_io("dbg", 0x10, test::random_tree_ops());
    big.add_subregion(0x20, dbg);  // a terminal region with a subregion
    root.add_subregion_overlap(0x0, big, -1);
    MemoryRegion& c1 = sys.create_container("c1", 0x800);
    MemoryRegion& c2 = sys.create_container("c2", 0x800);
    MemoryRegion& r2 = sys.create_ram("r2", 0x400);
    root.add_subregion(0x100, c1);
    c1.add_subregion(0x600, c2);  // absolute 0x700, clipped by c1 at 0x900
    c2.add_subregion(0x0, r2);    // [0x700, 0xB00) clipped to [0x700, 0x900)
    MemoryRegion& flash = sys.create_rom_device("flash", 0x100, test::random_tree_ops());
    flash.set_romd(false);
    root.add_subregion_overlap(0xA00, flash, 1);
    MemoryRegion& flash2 = sys.create_rom_device("flash2", 0x100, test::random_tree_ops());
    flash2.set_dirty_log_mask(kDirtyLogVga | kDirtyLogRecord);
    root.add_subregion_overlap(0xC00, flash2, 1);
    MemoryRegion& off = sys.create_io("off", 0x10, test::random_tree_ops());
    root.add_subregion_overlap(0x950, off, 5);
    off.set_enabled(false);
    expect_both(root,
                {fr(0x0, 0x20, big, 0x0), fr(0x20, 0x30, dbg, 0x0), fr(0x30, 0x700, big, 0x30),
                 fr(0x700, 0x900, r2, 0x0), fr(0x900, 0xA00, big, 0x900), fr(0xA00, 0xB00, flash, 0x0),
                 fr(0xB00, 0xC00, big, 0xB00), fr(0xC00, 0xD00, flash2, 0x0, false, false, true, 5),
                 fr(0xD00, 0x1000, big, 0xD00)},
                "clipping/disabled/romd");

    // Disabling c1 hides c2 and r2; the root's own address is ignored.
    c1.set_enabled(false);
    root.set_address(0x500);
    expect_both(root,
                {fr(0x0, 0x20, big, 0x0), fr(0x20, 0x30, dbg, 0x0), fr(0x30, 0xA00, big, 0x30),
                 fr(0xA00, 0xB00, flash, 0x0), fr(0xB00, 0xC00, big, 0xB00),
                 fr(0xC00, 0xD00, flash2, 0x0, false, false, true, 5), fr(0xD00, 0x1000, big, 0xD00)},
                "disabled container");
}

TEST(FlatViewOracle, HandBuiltAliasChainsAndDetachedTargets) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x1000);
    MemoryRegion& t = sys.create_ram("t", 0x2000);  // detached, shown only through aliases
    t.set_address(0x777);                           // ignored when shown through an alias
    t.set_dirty_log_mask(kDirtyLogMigration);
    MemoryRegion& a1 = sys.create_alias("a1", t, 0x1800, 0x400);
    MemoryRegion& a2 = sys.create_alias("a2", a1, 0x100, 0x100);
    root.add_subregion(0x10, a2);  // a2 offset 0 = a1 offset 0x100 = t offset 0x1900
    // An alias of a container shows the container's subregions; the window
    // is clipped by the alias, the container and the root.
    MemoryRegion& box = sys.create_container("box", 0x800);
    MemoryRegion& in1 = sys.create_rom("in1", 0x100);
    MemoryRegion& in2 = sys.create_io("in2", 0x400, test::random_tree_ops());
    box.add_subregion(0x0, in1);
    box.add_subregion(0x700, in2);  // clipped by box at 0x800
    MemoryRegion& ab = sys.create_alias("ab", box, 0x80, 0x1000);
    root.add_subregion(0x800, ab);  // box offset 0x80 at 0x800
    expect_both(root,
                {fr(0x10, 0x110, t, 0x1900, false, false, false, kDirtyLogMigration), fr(0x800, 0x880, in1, 0x80, true),
                 fr(0xE80, 0xF80, in2, 0x0)},
                "alias chains");
    // A disabled target hides every alias of it.
    t.set_enabled(false);
    expect_both(root, {fr(0x800, 0x880, in1, 0x80, true), fr(0xE80, 0xF80, in2, 0x0)}, "disabled target");
}

// An alias of a terminal region without subregions is painted after the
// traversal (FlatViewBuilder puts its target's read off); the shortcut must
// stop as soon as the target gains a subregion and resume when it loses it,
// follow retargeting, keep the alias's place in the precedence order, and
// take the target's state (enabled, extent, attributes) as it is.
TEST(FlatViewOracle, HandBuiltAliasesOfLeavesFollowTheirTargets) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x4000);
    MemoryRegion& low = sys.create_ram("low", 0x4000);
    root.add_subregion_overlap(0x0, low, 0);
    MemoryRegion& ram = sys.create_ram("ram", 0x2000);  // detached, shown through `win`
    MemoryRegion& win = sys.create_alias("win", ram, 0x800, 0x1000);
    EXPECT_TRUE(win.alias_shows_a_leaf());
    root.add_subregion_overlap(0x1000, win, 1);  // ram offset 0x800 at 0x1000, over `low`
    const std::vector<FlatRange> plain = {fr(0x0, 0x1000, low, 0x0), fr(0x1000, 0x2000, ram, 0x800),
                                          fr(0x2000, 0x4000, low, 0x2000)};
    expect_both(root, plain, "alias of a leaf");

    MemoryRegion& dev = sys.create_io("dev", 0x100, test::random_tree_ops());
    ram.add_subregion(0xC00, dev);  // shows at 0x1000 + 0xC00 - 0x800
    EXPECT_FALSE(win.alias_shows_a_leaf());
    expect_both(root,
                {fr(0x0, 0x1000, low, 0x0), fr(0x1000, 0x1400, ram, 0x800), fr(0x1400, 0x1500, dev, 0x0),
                 fr(0x1500, 0x2000, ram, 0xD00), fr(0x2000, 0x4000, low, 0x2000)},
                "the target gained a subregion");
    ram.del_subregion(dev);
    EXPECT_TRUE(win.alias_shows_a_leaf());
    expect_both(root, plain, "the target lost it again");

    // Two put-off aliases and plain regions between them: each keeps its
    // place in the order (`hi` above `win` above `low`).
    MemoryRegion& rd = sys.create_rom_device("rd", 0x1000, test::random_tree_ops());
    MemoryRegion& hi = sys.create_alias("hi", rd, 0x0, 0x1000);
    root.add_subregion_overlap(0x1800, hi, 2);
    EXPECT_TRUE(hi.alias_shows_a_leaf());
    expect_both(root,
                {fr(0x0, 0x1000, low, 0x0), fr(0x1000, 0x1800, ram, 0x800), fr(0x1800, 0x2800, rd, 0x0, false, false, true),
                 fr(0x2800, 0x4000, low, 0x2800)},
                "two aliases of leaves");

    // Attributes: readonly from the alias's path, nonvolatile and the
    // dirty-log mask from the target; romd mode from the target.
    win.set_readonly(true);
    ram.set_nonvolatile(true);
    ram.set_dirty_log_mask(kDirtyLogMigration);
    rd.set_romd(false);
    const std::vector<FlatRange> attrs = {fr(0x0, 0x1000, low, 0x0),
                                          fr(0x1000, 0x1800, ram, 0x800, true, true, false, kDirtyLogMigration),
                                          fr(0x1800, 0x2800, rd, 0x0), fr(0x2800, 0x4000, low, 0x2800)};
    expect_both(root, attrs, "attributes");

    // A disabled target, or one outside the alias's window, shows nothing:
    // what lies below shows instead.
    const std::vector<FlatRange> no_hi = {fr(0x0, 0x1000, low, 0x0),
                                          fr(0x1000, 0x2000, ram, 0x800, true, true, false, kDirtyLogMigration),
                                          fr(0x2000, 0x4000, low, 0x2000)};
    rd.set_enabled(false);
    expect_both(root, no_hi, "disabled target");
    rd.set_enabled(true);
    hi.set_alias_offset(0x1000);  // the window starts where rd ends
    expect_both(root, no_hi, "target outside the window");
    hi.set_alias_offset(0x0);
    expect_both(root, attrs, "window back");

    // Retargeting, to a container and back; an alias of an alias is never
    // put off (its target is not terminal).
    MemoryRegion& box = sys.create_container("box", 0x1000);
    MemoryRegion& in = sys.create_ram("in", 0x100);
    box.add_subregion(0x0, in);
    hi.set_alias_target(box);
    EXPECT_FALSE(hi.alias_shows_a_leaf());
    expect_both(root,
                {fr(0x0, 0x1000, low, 0x0), fr(0x1000, 0x1800, ram, 0x800, true, true, false, kDirtyLogMigration),
                 fr(0x1800, 0x1900, in, 0x0), fr(0x1900, 0x2000, ram, 0x1100, true, true, false, kDirtyLogMigration),
                 fr(0x2000, 0x4000, low, 0x2000)},
                "retargeted to a container");
    hi.set_alias_target(rd);
    EXPECT_TRUE(hi.alias_shows_a_leaf());
    expect_both(root, attrs, "retargeted back");
    EXPECT_FALSE(sys.create_alias("chain", win, 0x0, 0x100).alias_shows_a_leaf());
    EXPECT_FALSE(sys.create_alias("of-box", box, 0x0, 0x100).alias_shows_a_leaf());
}

// ---------------------------------------------------------------------------
// Random trees: renderer against oracle.

void check_random_trees(const RandomTreeConfig& cfg, uint64_t first_seed, uint64_t seeds) {
    const auto t0 = std::chrono::steady_clock::now();
    size_t failures = 0, skipped = 0, deep = 0, total_ranges = 0, via_alias = 0, max_instances = 0;
    size_t ro = 0, nv = 0, romd = 0, logged = 0, refused = 0, empty = 0, high = 0;
    std::map<Kind, size_t> kinds;
    for (uint64_t seed = first_seed; seed < first_seed + seeds; ++seed) {
        RandomTree t(seed, cfg);
        refused += t.refused();
        if (t.depth() >= 4) ++deep;
        if (std::string err = check_subregion_order(t); !err.empty()) {
            if (++failures <= 3) ADD_FAILURE() << "seed " << seed << ": " << err << "\n" << fmt_tree(t.root(), t.regions());
            continue;
        }
        size_t inst = 0;
        auto expected = oracle_view(t.root(), {}, &inst);
        max_instances = std::max(max_instances, inst);
        if (!expected) {
            ++skipped;
            continue;
        }
        std::vector<FlatRange> actual;
        try {
            actual = FlatView::render(t.root())->ranges();
        } catch (const std::exception& e) {
            if (++failures <= 3) ADD_FAILURE() << "seed " << seed << ": render threw " << e.what() << "\n"
                                                << fmt_tree(t.root(), t.regions());
            continue;
        }
        if (actual != *expected) {
            if (++failures <= 3)
                ADD_FAILURE() << "seed " << seed << " (granularity " << hexs(t.granularity())
                              << "): renderer and oracle disagree\n"
                              << fmt_tree(t.root(), t.regions()) << diff_views(*expected, actual);
            continue;
        }
        total_ranges += expected->size();
        if (expected->empty()) ++empty;
        for (const FlatRange& f : *expected) {
            ++kinds[f.mr->kind()];
            ro += f.readonly;
            nv += f.nonvolatile;
            romd += f.romd_mode;
            logged += f.dirty_log_mask != 0;
            if (&top_of(*f.mr) != &t.root()) ++via_alias;
            if (f.range.last() >= (uint64_t{1} << 63)) ++high;
        }
    }
    EXPECT_EQ(failures, 0u) << "of " << seeds << " seeds";
    EXPECT_LE(skipped, seeds / 100) << "too many trees too large for the oracle";
    EXPECT_GE(deep, seeds * 95 / 100) << "trees not deep enough";
    // The generator must actually exercise everything.
    const size_t some = seeds / 30;
    for (Kind k : {Kind::Ram, Kind::Rom, Kind::RomDevice, Kind::Io, Kind::Reservation})
        EXPECT_GT(kinds[k], some) << MemoryRegion::kind_name(k);
    EXPECT_GT(ro, some);
    EXPECT_GT(nv, some);
    EXPECT_GT(romd, some);
    EXPECT_GT(logged, some);
    EXPECT_GT(via_alias, some);
    std::printf("[ stats ] %llu seeds, %zu ranges, %zu via detached alias targets, %zu empty views, %zu skipped, "
                "%zu deep>=4, %zu ranges above 2^63, max %zu instances, %zu refused API calls, %.2f s\n",
                static_cast<unsigned long long>(seeds), total_ranges, via_alias, empty, skipped, deep, high,
                max_instances, refused, seconds_since(t0));
}

TEST(FlatViewOracle, RandomTreesMatchRenderer) { check_random_trees(tree_config(), 1, kTreeSeeds); }

// Renders of more than a couple of thousand paints sort them by radix
// rather than by comparison: large flat trees of overlapping regions whose
// starts differ in all 63 bits (seven digits) or in the low 24 (three),
// or, page aligned, only from bit 12 up (the sort skips the bits all
// starts share), and often share one, against the oracle.
TEST(FlatViewOracle, LargeTreesSortedByRadixMatchRenderer) {
    for (uint64_t seed = 1; seed <= 6; ++seed) {
        const bool page_aligned = seed > 4;
        std::mt19937_64 rng(seed);
        auto uniform = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
        const unsigned space_bits = seed % 2 ? 63 : 24;
        MemorySystem sys;
        MemoryRegion& root = sys.create_container("root", uint64_t{1} << space_bits);
        std::vector<MemoryRegion*> parents{&root};
        for (int i = 0; i < 40; ++i) {
            const uint64_t size = uint64_t{1} << uniform(space_bits - 8, space_bits - 3);
            MemoryRegion& c = sys.create_container("c" + std::to_string(i), size);
            uint64_t at = uniform(0, root.size() - size);
            if (page_aligned) at &= ~uint64_t{0xfff};
            root.add_subregion_overlap(at, c, static_cast<int>(uniform(0, 4)) - 2);
            parents.push_back(&c);
        }
        std::vector<uint64_t> starts;  // reused now and then, so that some starts are equal
        size_t leaves = 0;
        for (int i = 0; i < 3000; ++i) {
            MemoryRegion& parent = *parents[uniform(0, parents.size() - 1)];
            const uint64_t size = std::min<uint64_t>(parent.size(), uint64_t{1} << uniform(0, space_bits - 23));
            uint64_t at = uniform(0, parent.size() - size);
            if (!starts.empty() && uniform(0, 9) == 0) at = std::min(starts[uniform(0, starts.size() - 1)], parent.size() - size);
            if (page_aligned) at &= ~uint64_t{0xfff};
            starts.push_back(at);
            MemoryRegion& leaf = sys.create_reservation("r" + std::to_string(i), size);
            parent.add_subregion_overlap(at, leaf, static_cast<int>(uniform(0, 4)) - 2);
            ++leaves;
        }
        ASSERT_GE(leaves, 2048u);
        const auto expected = oracle_view(root);
        ASSERT_TRUE(expected.has_value()) << "seed " << seed << ": too large for the oracle";
        const std::vector<FlatRange> actual = FlatView::render(root)->ranges();
        EXPECT_TRUE(actual == *expected) << "seed " << seed << "\n" << diff_views(*expected, actual);
        EXPECT_GT(actual.size(), 1000u);
    }
}

// A paint that arrives under the sweep's current winner, loses to it and
// ends no later is dropped on arrival; one that wins, or outlives the
// winner, must still show. Literal view, oracle, and the count dropped.
TEST(FlatViewOracle, PaintsHiddenByTheWinnerAreDroppedOnArrival) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x100000);
    MemoryRegion& lid = sys.create_reservation("lid", 0x10000);
    root.add_subregion_overlap(0x10000, lid, 5);  // [0x10000, 0x20000)
    for (int i = 0; i < 8; ++i) {                 // under it, losing: never show
        MemoryRegion& r = sys.create_ram("under" + std::to_string(i), 0x1000);
        root.add_subregion_overlap(0x11000 + 0x1000 * i, r, 1);
    }
    MemoryRegion& above = sys.create_ram("above", 0x1000);
    root.add_subregion_overlap(0x18000, above, 6);  // wins inside the lid
    MemoryRegion& tail = sys.create_ram("tail", 0x4000);
    root.add_subregion_overlap(0x1E000, tail, 1);  // loses, but outlives the lid
    RenderScratch scratch;
    const std::vector<FlatRange> want = {fr(0x10000, 0x18000, lid, 0x0), fr(0x18000, 0x19000, above, 0x0),
                                         fr(0x19000, 0x20000, lid, 0x9000), fr(0x20000, 0x22000, tail, 0x2000)};
    expect_both(root, want, "hidden under a winner");
    EXPECT_TRUE(FlatView::render(root, &scratch)->ranges() == want);
    EXPECT_EQ(scratch.hidden_paints, 8u) << "the eight regions under the lid are dropped on arrival, nothing else";
}

// The sweep drops ended paints from its heap once the heap has doubled:
// many short paints under long-lived winners, some of them reaching past
// the winners' ends (those must survive the drop and show afterwards),
// against the oracle; and the drop must have happened.
TEST(FlatViewOracle, EndedPaintsDroppedFromTheSweepsHeapMatchRenderer) {
    RenderScratch scratch;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        std::mt19937_64 rng(seed);
        auto uniform = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
        constexpr uint64_t kSpace = uint64_t{1} << 32;
        MemorySystem sys;
        MemoryRegion& root = sys.create_container("root", kSpace);
        for (int i = 0; i < 6; ++i) {  // the long-lived winners
            const uint64_t size = uniform(kSpace / 16, kSpace / 4);
            MemoryRegion& lid = sys.create_reservation("lid" + std::to_string(i), size);
            root.add_subregion_overlap(uniform(0, kSpace - size), lid, 10 + i);
        }
        for (int i = 0; i < 600; ++i) {
            // Mostly short; one in eight long enough to outlive a lid.
            const uint64_t size = uniform(0, 7) ? uniform(1, kSpace >> 16) : uniform(kSpace >> 8, kSpace >> 3);
            MemoryRegion& r = sys.create_reservation("r" + std::to_string(i), size);
            root.add_subregion_overlap(uniform(0, kSpace - size), r, static_cast<int>(uniform(0, 8)) - 4);
        }
        const auto expected = oracle_view(root);
        ASSERT_TRUE(expected.has_value()) << "seed " << seed << ": too large for the oracle";
        const std::vector<FlatRange> actual = FlatView::render(root, &scratch)->ranges();
        EXPECT_TRUE(actual == *expected) << "seed " << seed << "\n" << diff_views(*expected, actual);
    }
    EXPECT_GT(scratch.heap_sweeps, 20u) << "the heap never grew enough to be swept";
}

// The same over the whole 64-bit space: regions and alias windows near
// 2^64, alias targets whose offset 0 lies far below address 0.
TEST(FlatViewOracle, RandomTreesAcrossThe64BitSpaceMatchRenderer) {
    check_random_trees(huge_config(), 1000001, kHugeTreeSeeds);
}

// The random trees must be able to tell a correct renderer from a wrong
// one: each deliberately wrong rule set must change the view of a fair share
// of the trees (so a renderer with that bug fails RandomTreesMatchRenderer).
TEST(FlatViewOracle, RandomTreesDetectWrongRules) {
    struct Mutant {
        const char* name;
        OracleRules rules;
    };
    std::vector<Mutant> mutants;
    auto add = [&](const char* name, auto set) {
        OracleRules r;
        set(r);
        mutants.push_back({name, r});
    };
    add("no merge", [](OracleRules& r) { r.merge = false; });
    add("oldest first among equal priorities", [](OracleRules& r) { r.oldest_first_among_equals = true; });
    add("lowest priority first", [](OracleRules& r) { r.lowest_priority_first = true; });
    add("alias flags not inherited", [](OracleRules& r) { r.alias_flags_ignored = true; });
    add("disabled regions answer", [](OracleRules& r) { r.disabled_ignored = true; });
    add("alias target addr() added", [](OracleRules& r) { r.target_addr_added = true; });
    add("children not clipped by parent", [](OracleRules& r) { r.no_clip_by_parent = true; });
    add("containers answer", [](OracleRules& r) { r.containers_answer = true; });

    std::vector<size_t> caught(mutants.size());
    size_t used = 0;
    for (uint64_t seed = 1; seed <= kMutantSeeds; ++seed) {
        RandomTree t(seed, tree_config());
        auto good = oracle_view(t.root());
        if (!good) continue;
        ++used;
        for (size_t i = 0; i < mutants.size(); ++i) {
            auto bad = oracle_view(t.root(), mutants[i].rules);
            if (!bad || *bad != *good) ++caught[i];
        }
    }
    for (size_t i = 0; i < mutants.size(); ++i) {
        std::printf("[ mutant ] %-40s changes %zu of %zu views\n", mutants[i].name, caught[i], used);
        EXPECT_GE(caught[i], used / 50) << mutants[i].name << " is rarely visible in the random trees";
    }
}

// ---------------------------------------------------------------------------
// Only the address spaces whose tree changed are rendered again.

TEST(FlatViewOracle, RenderCountFollowsTheChangedTreeOnly) {
    MemorySystem sys;
    MemoryRegion& root_a = sys.create_container("root_a", 0x10000);
    MemoryRegion& root_b = sys.create_container("root_b", 0x10000);
    MemoryRegion& ram_a = sys.create_ram("ram_a", 0x1000);
    MemoryRegion& ram_b = sys.create_ram("ram_b", 0x1000);
    root_a.add_subregion(0x0, ram_a);
    root_b.add_subregion(0x0, ram_b);
    // A detached subtree shown in A only through an alias (two levels down).
    MemoryRegion& box = sys.create_container("box", 0x4000);
    MemoryRegion& deep = sys.create_container("deep", 0x2000);
    MemoryRegion& hidden = sys.create_ram("hidden", 0x1000);
    box.add_subregion(0x1000, deep);
    deep.add_subregion(0x0, hidden);
    MemoryRegion& win = sys.create_alias("win", box, 0x0, 0x4000);
    root_a.add_subregion(0x8000, win);
    // A region no space can see.
    MemoryRegion& orphan = sys.create_ram("orphan", 0x1000);
    MemoryRegion& orphan_box = sys.create_container("orphan_box", 0x2000);
    orphan_box.add_subregion(0x0, orphan);

    auto& as_a = sys.create_memory_space("a", root_a);
    auto& as_b = sys.create_memory_space("b", root_b);
    uint64_t a = as_a.render_count(), b = as_b.render_count();
    auto expect_counts = [&](uint64_t da, uint64_t db, const char* what) {
        EXPECT_EQ(as_a.render_count() - a, da) << what << " (space a)";
        EXPECT_EQ(as_b.render_count() - b, db) << what << " (space b)";
        a = as_a.render_count();
        b = as_b.render_count();
        // Whatever was rendered, the views are right (once published).
        if (sys.transaction_depth() != 0) return;
        EXPECT_TRUE(as_a.view()->ranges() == *oracle_view(root_a)) << what;
        EXPECT_TRUE(as_b.view()->ranges() == *oracle_view(root_b)) << what;
    };

    ram_a.set_address(0x2000);
    expect_counts(1, 0, "change in a's tree");
    ram_b.set_address(0x3000);
    expect_counts(0, 1, "change in b's tree");
    hidden.set_address(0x800);
    expect_counts(1, 0, "change of a region reached from a only through an alias");
    deep.set_enabled(false);
    expect_counts(1, 0, "disabling the alias target's subtree");
    deep.set_enabled(true);
    expect_counts(1, 0, "enabling it again");
    orphan.set_address(0x800);
    expect_counts(0, 0, "change of a region no space can see");
    {
        Transaction t(sys);
        ram_a.set_address(0x4000);
        hidden.set_dirty_log_mask(kDirtyLogVga);
        ram_a.set_readonly(true);
    }
    expect_counts(1, 0, "three changes of a's tree in one transaction");
    sys.begin();
    ram_b.set_address(0x5000);
    sys.begin();
    ram_a.set_address(0x6000);
    sys.commit();
    expect_counts(0, 0, "inner commit");
    sys.commit();
    expect_counts(1, 1, "outer commit after changes in both trees");

    // Once b shows the detached subtree too, a change there renders both.
    MemoryRegion& win_b = sys.create_alias("win_b", deep, 0x0, 0x2000);
    root_b.add_subregion(0x8000, win_b);
    expect_counts(0, 1, "alias added to b");
    hidden.set_address(0x0);
    expect_counts(1, 1, "change of a region both spaces reach through aliases");
    box.set_size(0x1800);  // still contains deep's first half; only a shows box
    expect_counts(1, 0, "change of a region only a reaches");
}

}  // namespace
}  // namespace kvmrr
