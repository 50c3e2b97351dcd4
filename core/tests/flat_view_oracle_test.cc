// Differential tests of the renderer and of the listener protocol.
//
// The oracle below knows nothing of how FlatView renders. It collects every
// address where anything in the tree starts or ends (every region instance,
// following aliases, clipped by its ancestors), and for each piece between
// two such addresses it walks the tree from the root at the piece's first
// address asking "who answers here?". Inside a piece the set of regions
// covering an address does not change, so one walk per piece decides the
// whole piece. Neighbouring pieces are then merged exactly as the renderer
// must merge them. It is slow (pieces times depth times fan-out) and
// obviously right, which is the point.
//
// Random trees (core/tests/random_tree.h) are rendered both ways and must
// agree exactly; random change sequences on an address space must reach
// listeners as a protocol that turns each listener's copy of the old view
// into exactly the new one.
//
// Every failure prints the seed, the tree and both views.

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

namespace kvmrr {
namespace {

using Kind = MemoryRegion::Kind;
using i128 = __int128;

// ---------------------------------------------------------------------------
// Formatting, for failure messages.

std::string hexs(uint64_t v) { return hex(v); }

std::string fmt_range(const FlatRange& f) {
    std::ostringstream o;
    o << "[" << hexs(f.range.start()) << ", " << hexs(f.range.end()) << ") " << (f.mr ? f.mr->name() : "<null>")
      << " off=" << hexs(f.offset_in_region);
    if (f.readonly) o << " ro";
    if (f.nonvolatile) o << " nv";
    if (f.romd_mode) o << " romd";
    if (f.dirty_log_mask) o << " log=" << int(f.dirty_log_mask);
    return o.str();
}

std::string fmt_view(const std::vector<FlatRange>& v) {
    std::string s;
    for (const FlatRange& f : v) s += "    " + fmt_range(f) + "\n";
    if (v.empty()) s = "    (empty)\n";
    return s;
}

std::string fmt_region_line(const MemoryRegion& r) {
    std::ostringstream o;
    o << r.name() << " " << MemoryRegion::kind_name(r.kind()) << " addr=" << hexs(r.addr())
      << " size=" << hexs(r.size()) << " prio=" << r.priority();
    if (!r.enabled()) o << " DISABLED";
    if (r.readonly()) o << " ro";
    if (r.nonvolatile()) o << " nv";
    if (r.dirty_log_mask()) o << " log=" << int(r.dirty_log_mask());
    if (r.kind() == Kind::RomDevice) o << (r.romd_mode() ? " romd=on" : " romd=off");
    if (r.kind() == Kind::Alias) o << " -> " << r.alias_target()->name() << " @" << hexs(r.alias_offset());
    return o.str();
}

void fmt_subtree(const MemoryRegion& r, int indent, std::string& out) {
    out += std::string(static_cast<size_t>(indent) * 2 + 4, ' ') + fmt_region_line(r) + "\n";
    for (MemoryRegion* c : r.subregions()) fmt_subtree(*c, indent + 1, out);
}

// The tree under `root`, then every other parentless region (detached
// subtrees that aliases may show).
std::string fmt_tree(const MemoryRegion& root, const std::vector<MemoryRegion*>& all) {
    std::string out = "  tree:\n";
    fmt_subtree(root, 0, out);
    for (MemoryRegion* r : all) {
        if (r == &root || r->parent()) continue;
        out += "  detached:\n";
        fmt_subtree(*r, 0, out);
    }
    return out;
}

std::string diff_views(const std::vector<FlatRange>& expected, const std::vector<FlatRange>& actual) {
    size_t i = 0;
    while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
    std::string s = "  first difference at index " + std::to_string(i) + ":\n";
    s += "    expected: " + (i < expected.size() ? fmt_range(expected[i]) : std::string("(end)")) + "\n";
    s += "    actual:   " + (i < actual.size() ? fmt_range(actual[i]) : std::string("(end)")) + "\n";
    s += "  expected (oracle), " + std::to_string(expected.size()) + " ranges:\n" + fmt_view(expected);
    s += "  actual (renderer), " + std::to_string(actual.size()) + " ranges:\n" + fmt_view(actual);
    return s;
}

// ---------------------------------------------------------------------------
// The oracle.

// Deliberately wrong variants of the semantics, used only to show that the
// random trees are sensitive to each rule (if a mutant renders the same
// views as the real rules, a renderer with that bug would pass unnoticed).
struct OracleRules {
    bool merge = true;
    bool oldest_first_among_equals = false;  // mutant: ties in insertion order
    bool lowest_priority_first = false;      // mutant: priorities reversed
    bool alias_flags_ignored = false;        // mutant: readonly/nonvolatile of alias path dropped
    bool disabled_ignored = false;           // mutant: disabled regions still answer
    bool target_addr_added = false;          // mutant: alias target's own addr() not ignored
    bool no_clip_by_parent = false;          // mutant: children not clipped by their parent
    bool containers_answer = false;          // mutant: containers fill their gaps
};

// What ROM-device mode a range of `mr` carries.
bool oracle_romd(const MemoryRegion& mr) { return mr.kind() == Kind::RomDevice && mr.romd_mode(); }

class Oracle {
public:
    explicit Oracle(OracleRules rules = {}) : rules_(rules) {}

    // nullopt if the tree has more region instances (alias paths multiply
    // them) than the oracle is willing to enumerate.
    std::optional<std::vector<FlatRange>> render(const MemoryRegion& root) {
        bounds_.clear();
        instances_ = 0;
        if (!collect(root, 0, 0, static_cast<i128>(root.size()))) return std::nullopt;
        std::sort(bounds_.begin(), bounds_.end());
        bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());

        std::vector<FlatRange> out;
        for (size_t i = 0; i + 1 < bounds_.size(); ++i) {
            const uint64_t lo = static_cast<uint64_t>(bounds_[i]);
            const uint64_t hi = static_cast<uint64_t>(bounds_[i + 1]);
            std::optional<Answer> a = walk(root, 0, lo, false, false);
            if (!a) continue;
            FlatRange f;
            f.range = AddrRange::make(lo, hi - lo);
            f.mr = const_cast<MemoryRegion*>(a->mr);
            f.offset_in_region = a->offset;
            f.dirty_log_mask = a->mr->dirty_log_mask();
            f.romd_mode = oracle_romd(*a->mr);
            f.readonly = a->readonly;
            f.nonvolatile = a->nonvolatile;
            if (rules_.merge && !out.empty() && mergeable(out.back(), f)) {
                out.back().range = AddrRange::make(out.back().range.start(), out.back().range.size() + f.range.size());
            } else {
                out.push_back(f);
            }
        }
        return out;
    }

    size_t instances() const { return instances_; }

private:
    struct Answer {
        const MemoryRegion* mr;
        uint64_t offset;
        bool readonly;
        bool nonvolatile;
    };

    static bool mergeable(const FlatRange& a, const FlatRange& b) {
        return a.mr == b.mr && a.range.end() == b.range.start() &&
               a.offset_in_region + a.range.size() == b.offset_in_region && a.dirty_log_mask == b.dirty_log_mask &&
               a.romd_mode == b.romd_mode && a.readonly == b.readonly && a.nonvolatile == b.nonvolatile;
    }

    // Children in the order they are tried.
    std::vector<MemoryRegion*> children(const MemoryRegion& r) const {
        std::vector<MemoryRegion*> c = r.subregions();  // highest priority first, newest first among equals
        if (rules_.oldest_first_among_equals) {
            for (size_t i = 0; i < c.size();) {
                size_t j = i;
                while (j < c.size() && c[j]->priority() == c[i]->priority()) ++j;
                std::reverse(c.begin() + static_cast<long>(i), c.begin() + static_cast<long>(j));
                i = j;
            }
        }
        if (rules_.lowest_priority_first) {
            std::stable_sort(c.begin(), c.end(),
                             [](const MemoryRegion* a, const MemoryRegion* b) { return a->priority() < b->priority(); });
        }
        return c;
    }

    // Absolute position of the alias target's offset 0, for an alias whose
    // offset 0 is at `base`.
    i128 target_base(const MemoryRegion& alias, i128 base) const {
        i128 b = base - static_cast<i128>(alias.alias_offset());
        if (rules_.target_addr_added) b += static_cast<i128>(alias.alias_target()->addr());
        return b;
    }

    // Records the clipped extent of every region instance reachable from
    // `r` (whose offset 0 is at `base`), clipped to [lo, hi). Disabled
    // regions are walked too: extra boundaries cost nothing.
    bool collect(const MemoryRegion& r, i128 base, i128 lo, i128 hi) {
        if (++instances_ > kMaxInstances) return false;
        const i128 s = std::max(base, lo);
        const i128 e = std::min(base + static_cast<i128>(r.size()), hi);
        if (s < e) {
            bounds_.push_back(s);
            bounds_.push_back(e);
        } else if (!rules_.no_clip_by_parent) {
            return true;  // nothing below can show through an empty window
        }
        if (!rules_.no_clip_by_parent) {
            lo = s;
            hi = e;
        }
        if (r.kind() == Kind::Alias) return collect(*r.alias_target(), target_base(r, base), lo, hi);
        for (MemoryRegion* c : r.subregions())
            if (!collect(*c, base + static_cast<i128>(c->addr()), lo, hi)) return false;
        return true;
    }

    // Who answers at `p`, in region `r` whose offset 0 is at `base`?
    std::optional<Answer> walk(const MemoryRegion& r, i128 base, uint64_t p, bool ro, bool nv) const {
        if (!r.enabled() && !rules_.disabled_ignored) return std::nullopt;
        const i128 pp = static_cast<i128>(p);
        const bool inside = pp >= base && pp < base + static_cast<i128>(r.size());
        if (!inside && !rules_.no_clip_by_parent) return std::nullopt;
        if (r.kind() == Kind::Alias) {
            if (!rules_.alias_flags_ignored) {
                ro |= r.readonly();
                nv |= r.nonvolatile();
            }
            return walk(*r.alias_target(), target_base(r, base), p, ro, nv);
        }
        ro |= r.readonly();
        nv |= r.nonvolatile();
        for (MemoryRegion* c : children(r)) {
            if (auto a = walk(*c, base + static_cast<i128>(c->addr()), p, ro, nv)) return a;
        }
        if (inside && (r.kind() != Kind::Container || rules_.containers_answer))
            return Answer{&r, static_cast<uint64_t>(pp - base), ro, nv};
        return std::nullopt;
    }

    static constexpr size_t kMaxInstances = 200000;
    OracleRules rules_;
    std::vector<i128> bounds_;  // all inside [0, root size]
    size_t instances_ = 0;
};

std::optional<std::vector<FlatRange>> oracle_view(const MemoryRegion& root, OracleRules rules = {},
                                                  size_t* instances = nullptr) {
    Oracle o(rules);
    auto v = o.render(root);
    if (instances) *instances = o.instances();
    return v;
}

// ---------------------------------------------------------------------------
// Shared helpers.

constexpr uint64_t kTreeSeeds = 20000;
constexpr uint64_t kHugeTreeSeeds = 3000;
constexpr uint64_t kMutantSeeds = 1000;
constexpr uint64_t kSequences = 4000;  // every fourth across the 64-bit space
constexpr int kStepsPerSequence = 40;

test::RandomTreeConfig tree_config() { return {}; }

test::RandomTreeConfig huge_config() {
    test::RandomTreeConfig c;
    c.space = UINT64_MAX;  // the largest root AddrRange allows
    c.max_ram = 1 << 20;
    return c;
}

// The region whose parent chain ends at the top of `mr`'s tree.
const MemoryRegion& top_of(const MemoryRegion& mr) {
    const MemoryRegion* r = &mr;
    while (r->parent()) r = r->parent();
    return *r;
}

// Subregion order must be: priority descending, newest add first among
// equals (stamps come from the generator, not from the implementation;
// regions whose stamp is unknown are only checked for priority).
std::string check_subregion_order(const test::RandomTree& t) {
    for (const MemoryRegion* r : t.regions()) {
        const std::vector<MemoryRegion*> got = r->subregions();
        for (size_t i = 0; i < got.size(); ++i) {
            for (size_t j = i + 1; j < got.size(); ++j) {
                const MemoryRegion& a = *got[i];
                const MemoryRegion& b = *got[j];
                const bool ok = a.priority() > b.priority() ||
                                (a.priority() == b.priority() &&
                                 (t.stamp(a) == 0 || t.stamp(b) == 0 || t.stamp(a) > t.stamp(b)));
                if (ok) continue;
                std::string s = "subregions() of " + r->name() + " in wrong order: " + a.name() + " (priority " +
                                std::to_string(a.priority()) + ", added #" + std::to_string(t.stamp(a)) +
                                ") before " + b.name() + " (priority " + std::to_string(b.priority()) +
                                ", added #" + std::to_string(t.stamp(b)) + "); order:";
                for (auto* c : got) s += " " + c->name();
                return s;
            }
        }
    }
    return {};
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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

void check_random_trees(const test::RandomTreeConfig& cfg, uint64_t first_seed, uint64_t seeds) {
    const auto t0 = std::chrono::steady_clock::now();
    size_t failures = 0, skipped = 0, deep = 0, total_ranges = 0, via_alias = 0, max_instances = 0;
    size_t ro = 0, nv = 0, romd = 0, logged = 0, refused = 0, empty = 0, high = 0;
    std::map<Kind, size_t> kinds;
    for (uint64_t seed = first_seed; seed < first_seed + seeds; ++seed) {
        test::RandomTree t(seed, cfg);
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
        test::RandomTree t(seed, tree_config());
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
// Random change sequences: listeners must see old view -> new view.

enum class Ev { Begin, Commit, Add, Del, Nop, LogStart, LogStop };

const char* ev_name(Ev e) {
    switch (e) {
        case Ev::Begin: return "begin";
        case Ev::Commit: return "commit";
        case Ev::Add: return "region_add";
        case Ev::Del: return "region_del";
        case Ev::Nop: return "region_nop";
        case Ev::LogStart: return "log_start";
        case Ev::LogStop: return "log_stop";
    }
    return "?";
}

FlatRange from_section(const MemoryRegionSection& s) {
    FlatRange f;
    f.range = s.range;
    f.mr = s.mr;
    f.offset_in_region = s.offset_within_region;
    f.dirty_log_mask = s.dirty_log_mask;
    f.romd_mode = s.romd_mode;
    f.readonly = s.readonly;
    f.nonvolatile = s.nonvolatile;
    return f;
}

struct Event {
    int listener;
    Ev type;
    FlatRange section;  // unused for begin/commit
    uint8_t old_mask = 0, new_mask = 0;
};

std::string fmt_event(const Event& e) {
    std::string s = "L" + std::to_string(e.listener) + " " + ev_name(e.type);
    if (e.type != Ev::Begin && e.type != Ev::Commit) s += " " + fmt_range(e.section);
    if (e.type == Ev::LogStart || e.type == Ev::LogStop)
        s += " (" + std::to_string(e.old_mask) + " -> " + std::to_string(e.new_mask) + ")";
    return s;
}

// A listener that keeps its own copy of the flat view, built only from the
// calls it receives, and checks every call against that copy.
class ModelListener final : public MemoryListener {
public:
    ModelListener(int id, std::vector<Event>& log, bool nops) : id_(id), log_(log), nops_(nops) {}
    bool wants_region_nop() const override { return nops_; }

    void begin() override {
        log_.push_back({id_, Ev::Begin, {}});
        if (in_batch_) error("begin() inside an open begin()");
        in_batch_ = true;
        begins_++;
        start_batch();
    }
    void commit() override {
        log_.push_back({id_, Ev::Commit, {}});
        if (!in_batch_) error("commit() without begin()");
        in_batch_ = false;
    }
    void region_del(const MemoryRegionSection& s) override {
        FlatRange f = from_section(s);
        log_.push_back({id_, Ev::Del, f});
        check_call(s, "region_del");
        if (seen_add_) error("region_del after region_add/region_nop/log_start in the same batch: " + fmt_range(f));
        auto it = model_.find(f.range.start());
        if (it == model_.end()) {
            error("region_del of a range the listener does not have: " + fmt_range(f));
        } else if (!(it->second == f)) {
            error("region_del of " + fmt_range(f) + " but the listener has " + fmt_range(it->second));
        } else {
            model_.erase(it);
        }
    }
    void region_add(const MemoryRegionSection& s) override {
        FlatRange f = from_section(s);
        log_.push_back({id_, Ev::Add, f});
        check_call(s, "region_add");
        seen_add_ = true;
        auto next = model_.lower_bound(f.range.start());
        if (next != model_.end() && next->second.range.overlaps(f.range))
            error("region_add of " + fmt_range(f) + " overlaps " + fmt_range(next->second));
        if (next != model_.begin() && std::prev(next)->second.range.overlaps(f.range))
            error("region_add of " + fmt_range(f) + " overlaps " + fmt_range(std::prev(next)->second));
        model_[f.range.start()] = f;
        touched_.insert(f.range.start());
    }
    void region_nop(const MemoryRegionSection& s) override {
        FlatRange f = from_section(s);
        log_.push_back({id_, Ev::Nop, f});
        check_call(s, "region_nop");
        if (!nops_) error("region_nop, though it said it does not want them: " + fmt_range(f));
        seen_add_ = true;
        auto it = model_.find(f.range.start());
        if (it == model_.end() || !it->second.same_mapping(f))
            error("region_nop of " + fmt_range(f) + " but the listener has " +
                  (it == model_.end() ? std::string("nothing there") : fmt_range(it->second)));
    }
    void log_start(const MemoryRegionSection& s, uint8_t old_mask, uint8_t new_mask) override {
        log_change(s, old_mask, new_mask, Ev::LogStart);
    }
    void log_stop(const MemoryRegionSection& s, uint8_t old_mask, uint8_t new_mask) override {
        log_change(s, old_mask, new_mask, Ev::LogStop);
    }

    int id() const { return id_; }
    int begins() const { return begins_; }
    bool in_batch() const { return in_batch_; }
    std::vector<FlatRange> model() const {
        std::vector<FlatRange> v;
        for (const auto& [start, f] : model_) v.push_back(f);
        return v;
    }
    void reset() {
        model_.clear();
        in_batch_ = false;
        start_batch();
    }
    // Calls outside begin()/commit() are accepted while this is set (when
    // the listener is being registered).
    void set_registering(bool on) {
        registering_ = on;
        if (on) start_batch();
    }
    void set_as(const AddressSpace* as) { as_ = as; }
    std::vector<std::string>& errors() { return errors_; }

private:
    void start_batch() {
        seen_add_ = false;
        touched_.clear();
    }
    void error(const std::string& e) { errors_.push_back("L" + std::to_string(id_) + ": " + e); }
    void check_call(const MemoryRegionSection& s, const char* what) {
        if (!in_batch_ && !registering_) error(std::string(what) + " outside begin()/commit()");
        if (s.as != as_) error(std::string(what) + " with the wrong address space");
    }
    void log_change(const MemoryRegionSection& s, uint8_t old_mask, uint8_t new_mask, Ev type) {
        FlatRange f = from_section(s);
        log_.push_back({id_, type, f, old_mask, new_mask});
        const char* what = type == Ev::LogStart ? "log_start" : "log_stop";
        check_call(s, what);
        // log_stop may come with the removals (it does no harm before a
        // region_del); log_start belongs with the additions.
        if (type == Ev::LogStart) seen_add_ = true;
        const uint8_t gained = new_mask & ~old_mask, lost = old_mask & ~new_mask;
        if (type == Ev::LogStart ? gained == 0 : lost == 0)
            error(std::string(what) + " without a client " + (type == Ev::LogStart ? "starting" : "stopping") +
                  ": " + fmt_event(log_.back()));
        if (f.dirty_log_mask != new_mask)
            error(std::string(what) + " section mask differs from new_mask: " + fmt_event(log_.back()));
        auto it = model_.find(f.range.start());
        if (it == model_.end() || !it->second.same_mapping(f)) {
            error(std::string(what) + " of " + fmt_range(f) + " but the listener has " +
                  (it == model_.end() ? std::string("nothing there") : fmt_range(it->second)));
            return;
        }
        // The mask moves from old to new; a second call for the same range
        // in one batch (start and stop together), or a log_start right after
        // the region_add that already carried the new mask, finds it moved.
        const bool already = touched_.count(f.range.start()) && it->second.dirty_log_mask == new_mask;
        if (it->second.dirty_log_mask != old_mask && !already)
            error(std::string(what) + " with old mask " + std::to_string(old_mask) + " but the listener has " +
                  fmt_range(it->second));
        it->second.dirty_log_mask = new_mask;
        touched_.insert(f.range.start());
    }

    int id_;
    std::vector<Event>& log_;
    const AddressSpace* as_ = nullptr;
    std::map<uint64_t, FlatRange> model_;
    std::set<uint64_t> touched_;  // ranges added or log-changed in this batch
    std::vector<std::string> errors_;
    bool in_batch_ = false;
    bool seen_add_ = false;
    bool registering_ = false;
    bool nops_;
    int begins_ = 0;
};

struct ListenerSlot {
    std::unique_ptr<ModelListener> l;
    int priority;
    uint64_t registration = 0;  // 0 = not registered
};

// Active listener ids in forward order (ascending priority, ties in
// registration order).
std::vector<int> forward_order(const std::vector<ListenerSlot>& slots) {
    std::vector<const ListenerSlot*> v;
    for (const auto& s : slots)
        if (s.registration) v.push_back(&s);
    std::sort(v.begin(), v.end(), [](const ListenerSlot* a, const ListenerSlot* b) {
        return std::tie(a->priority, a->registration) < std::tie(b->priority, b->registration);
    });
    std::vector<int> ids;
    for (auto* s : v) ids.push_back(s->l->id());
    return ids;
}

bool contains_mapping(const std::vector<FlatRange>& view, const FlatRange& f) {
    return std::any_of(view.begin(), view.end(), [&](const FlatRange& g) { return g.same_mapping(f); });
}

// Checks the calls of one commit (all listeners, in call order) against the
// protocol; `forward` is the listener order.
void check_commit_log(const std::vector<Event>& log, const std::vector<int>& forward,
                      const std::vector<FlatRange>& old_view, const std::vector<FlatRange>& new_view,
                      std::vector<std::string>& errors) {
    // Pass order: every region_del (of every listener) before the first
    // region_add / region_nop / log_start. (log_stop may go in either pass.)
    ptrdiff_t last_del = -1, first_add = -1;
    for (size_t i = 0; i < log.size(); ++i) {
        const Ev t = log[i].type;
        if (t == Ev::Del) last_del = static_cast<ptrdiff_t>(i);
        if ((t == Ev::Add || t == Ev::Nop || t == Ev::LogStart) && first_add < 0)
            first_add = static_cast<ptrdiff_t>(i);
    }
    if (last_del >= 0 && first_add >= 0 && last_del > first_add)
        errors.push_back("a region_del (call #" + std::to_string(last_del) + ") comes after an addition (call #" +
                         std::to_string(first_add) + ")");

    // Per range: region_del and log_stop reach listeners in reverse order,
    // region_add, region_nop and log_start in forward order, every active
    // listener exactly once.
    std::vector<int> reverse(forward.rbegin(), forward.rend());
    std::map<std::tuple<Ev, uint64_t, uint64_t, const MemoryRegion*, uint64_t>, std::vector<int>> per_range;
    std::vector<std::tuple<Ev, uint64_t, uint64_t, const MemoryRegion*, uint64_t>> keys;
    for (const Event& e : log) {
        if (e.type == Ev::Begin || e.type == Ev::Commit) continue;
        auto key = std::make_tuple(e.type, e.section.range.start(), e.section.range.size(),
                                   static_cast<const MemoryRegion*>(e.section.mr), e.section.offset_in_region);
        if (!per_range.count(key)) keys.push_back(key);
        per_range[key].push_back(e.listener);
        // Minimal difference: nothing unchanged is removed and re-added.
        if (e.type == Ev::Del && contains_mapping(new_view, e.section))
            errors.push_back("region_del of a range that is unchanged in the new view: " + fmt_event(e));
        if (e.type == Ev::Add && contains_mapping(old_view, e.section))
            errors.push_back("region_add of a range that was already in the old view: " + fmt_event(e));
        if ((e.type == Ev::Nop || e.type == Ev::LogStart || e.type == Ev::LogStop) &&
            !(contains_mapping(old_view, e.section) && contains_mapping(new_view, e.section)))
            errors.push_back(std::string(ev_name(e.type)) + " of a range not in both views: " + fmt_event(e));
    }
    for (const auto& key : keys) {
        const std::vector<int>& got = per_range[key];
        const Ev t = std::get<0>(key);
        const std::vector<int>& want = t == Ev::Del || t == Ev::LogStop ? reverse : forward;
        if (got != want) {
            std::string s = std::string(ev_name(std::get<0>(key))) + " at " + hexs(std::get<1>(key)) +
                            " reached listeners in order";
            for (int id : got) s += " L" + std::to_string(id);
            s += ", expected";
            for (int id : want) s += " L" + std::to_string(id);
            errors.push_back(s);
        }
    }
    for (const Event& e : log)
        if (std::find(forward.begin(), forward.end(), e.listener) == forward.end())
            errors.push_back("a listener that is not registered was called: " + fmt_event(e));
    // Every listener that was called got begin() first and commit() last.
    for (int id : forward) {
        std::vector<Ev> mine;
        for (const Event& e : log)
            if (e.listener == id) mine.push_back(e.type);
        if (mine.empty()) {
            if (old_view != new_view) errors.push_back("L" + std::to_string(id) + " not told about a changed view");
            continue;
        }
        if (mine.front() != Ev::Begin || mine.back() != Ev::Commit)
            errors.push_back("L" + std::to_string(id) + "'s calls are not bracketed by begin()/commit()");
    }
}

class SequenceRunner {
public:
    // `nops`: whether the listeners want region_nop (all of them or none,
    // so that a range's calls reach every listener or none).
    SequenceRunner(uint64_t seed, bool huge, bool nops) : seed_(seed), tree_(seed, sequence_config(huge)) {
        log_.reserve(1024);
        as_ = &tree_.sys().create_memory_space("mem", tree_.root());
        // Listener ids: 1 (prio 10), 2 (prio -5), 3 (prio -5, after 2),
        // 4 (prio 0, registered late).
        for (auto [id, prio] : {std::pair{1, 10}, {2, -5}, {3, -5}, {4, 0}}) {
            slots_.push_back({std::make_unique<ModelListener>(id, log_, nops), prio, 0});
            slots_.back().l->set_as(as_);
        }
        for (int i = 0; i < 3; ++i) register_listener(slots_[static_cast<size_t>(i)]);
    }

    static test::RandomTreeConfig sequence_config(bool huge) {
        test::RandomTreeConfig c = huge ? huge_config() : tree_config();
        c.min_regions = 5;
        c.max_regions = 40;
        return c;
    }

    // Runs the sequence; returns false (after reporting) on the first error.
    bool run(int steps, int late_step, int remove_step, int readd_step) {
        if (!verify("initial registration")) return false;
        for (int step = 1; step <= steps; ++step) {
            step_ = step;
            old_view_.reset();  // registration is checked by register_listener
            if (step == late_step) {
                register_listener(slots_[3]);
                if (!verify("late listener L4 registered")) return false;
            }
            if (step == remove_step) {
                // The listener may be told to undo the view (as QEMU does:
                // begin, region_del of every range, commit), or nothing.
                log_.clear();
                as_->remove_listener(*slots_[2].l);
                slots_[2].registration = 0;
                for (const Event& e : log_)
                    if (e.listener != 3 || e.type == Ev::Add || e.type == Ev::Nop || e.type == Ev::LogStart)
                        return report("remove_listener produced " + fmt_event(e));
                if (!log_.empty() && !slots_[2].l->model().empty())
                    return report("remove_listener left the listener with ranges");
                if (!slots_[2].l->errors().empty()) return verify("remove_listener");
                removals_ += !log_.empty();
            }
            if (step == readd_step) {
                register_listener(slots_[2]);
                if (!verify("L3 registered again")) return false;
            }
            if (!random_step()) return false;
        }
        return true;
    }

    size_t commits() const { return commits_; }
    // Commits that re-rendered only where their changes were.
    size_t partial_renders() const { return as_->partial_render_count(); }
    size_t removals_told() const { return removals_; }
    size_t changed_views() const { return changed_views_; }
    size_t calls() const { return calls_; }
    std::map<Ev, size_t>& call_kinds() { return call_kinds_; }

private:
    void register_listener(ListenerSlot& s) {
        s.l->reset();
        log_.clear();
        s.l->set_registering(true);
        as_->add_listener(*s.l, s.priority);
        s.l->set_registering(false);
        s.registration = ++registrations_;
        // Only the new listener hears about the current view, as additions.
        for (const Event& e : log_) {
            if (e.listener != s.l->id())
                s.l->errors().push_back("L" + std::to_string(e.listener) +
                                        " called while another listener was registered: " + fmt_event(e));
            else if (e.type == Ev::Del || e.type == Ev::Nop || e.type == Ev::LogStop)
                s.l->errors().push_back("registration produced " + fmt_event(e));
        }
    }

    bool random_step() {
        auto& rng = tree_.rng();
        const uint64_t kind = std::uniform_int_distribution<uint64_t>(0, 99)(rng);
        old_view_ = as_->view();
        log_.clear();
        std::string what;
        if (kind < 62) {
            what = tree_.random_change();
            history_.push_back(what);
        } else if (kind < 90) {
            // Several changes in one explicit transaction: nothing reaches
            // the listeners, and the view stays, until the commit.
            const int n = static_cast<int>(std::uniform_int_distribution<int>(2, 5)(rng));
            const bool raii = kind < 76;
            what = std::string(raii ? "Transaction" : "begin/commit") + " of " + std::to_string(n);
            history_.push_back(what + " {");
            {
                std::optional<Transaction> tx;
                if (raii)
                    tx.emplace(tree_.sys());
                else
                    tree_.sys().begin();
                for (int i = 0; i < n; ++i) {
                    history_.push_back("    " + tree_.random_change());
                    if (!log_.empty() || as_->view() != old_view_)
                        return report("a change inside an open transaction reached listeners or the view");
                }
                if (!raii) tree_.sys().commit();
            }
            history_.push_back("}");
        } else {
            // Nested transactions: the inner commit publishes nothing.
            what = "nested transaction";
            history_.push_back("begin {");
            tree_.sys().begin();
            history_.push_back("    " + tree_.random_change());
            tree_.sys().begin();
            history_.push_back("    begin {");
            history_.push_back("        " + tree_.random_change());
            tree_.sys().commit();
            history_.push_back("    }");
            if (!log_.empty() || as_->view() != old_view_)
                return report("an inner commit reached listeners or the view");
            history_.push_back("    " + tree_.random_change());
            tree_.sys().commit();
            history_.push_back("}");
        }
        ++commits_;
        return verify(what);
    }

    // After a commit: the log follows the protocol, every listener's model
    // equals the new view, and the new view equals the oracle's.
    bool verify(const std::string& what) {
        const std::vector<FlatRange>& now = as_->view()->ranges();
        const std::vector<FlatRange> before = old_view_ ? old_view_->ranges() : std::vector<FlatRange>{};
        std::vector<std::string> errors;
        if (tree_.sys().transaction_depth() != 0) errors.push_back("transaction left open");
        if (old_view_) {
            check_commit_log(log_, forward_order(slots_), before, now, errors);
            if (before != now) ++changed_views_;
        }
        calls_ += log_.size();
        for (const Event& e : log_) ++call_kinds_[e.type];
        for (auto& s : slots_) {
            for (auto& e : s.l->errors()) errors.push_back(e);
            s.l->errors().clear();
            if (!s.registration) continue;
            if (s.l->in_batch()) errors.push_back("L" + std::to_string(s.l->id()) + " left without commit()");
            std::vector<FlatRange> m = s.l->model();
            if (m != now)
                errors.push_back("L" + std::to_string(s.l->id()) + "'s copy differs from the view\n" +
                                 diff_views(now, m));
        }
        if (std::string e = check_subregion_order(tree_); !e.empty()) errors.push_back(e);
        if (auto o = oracle_view(tree_.root()); o && *o != now)
            errors.push_back("the address space's view differs from the oracle\n" + diff_views(*o, now));
        if (errors.empty()) return true;
        std::string msg = "after: " + what + "\n";
        for (auto& e : errors) msg += "  " + e + "\n";
        msg += "  old view:\n" + fmt_view(before);
        return report(msg);
    }

    bool report(const std::string& msg) {
        std::string h;
        size_t first = history_.size() > 40 ? history_.size() - 40 : 0;
        for (size_t i = first; i < history_.size(); ++i) h += "    " + history_[i] + "\n";
        std::string calls;
        for (const Event& e : log_) calls += "    " + fmt_event(e) + "\n";
        ADD_FAILURE() << "sequence seed " << seed_ << ", step " << step_ << ": " << msg << "  new view:\n"
                      << fmt_view(as_->view()->ranges()) << "  listener calls of this commit:\n"
                      << calls << "  changes so far (last 40):\n"
                      << h << fmt_tree(tree_.root(), tree_.regions());
        return false;
    }

    // Declared before the tree so that the memory system (and its address
    // space) goes away while the listeners and their log still exist.
    std::vector<Event> log_;
    std::vector<ListenerSlot> slots_;
    uint64_t seed_;
    test::RandomTree tree_;
    MemoryAddressSpace* as_ = nullptr;
    uint64_t registrations_ = 0;
    std::shared_ptr<const FlatView> old_view_;
    std::vector<std::string> history_;
    int step_ = 0;
    size_t commits_ = 0, changed_views_ = 0, calls_ = 0, removals_ = 0;
    std::map<Ev, size_t> call_kinds_;
};

TEST(FlatViewOracle, RandomChangeSequencesDriveListenersExactly) {
    const auto t0 = std::chrono::steady_clock::now();
    size_t failed = 0, commits = 0, changed = 0, calls = 0, partial = 0;
    std::map<Ev, size_t> kinds;
    for (uint64_t seed = 1; seed <= kSequences; ++seed) {
        SequenceRunner r(seed * 7919 + 17, seed % 4 == 0, seed % 3 != 0);
        std::mt19937_64 plan(seed);
        auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(plan); };
        const int late = pick(1, kStepsPerSequence);
        const int remove = pick(1, kStepsPerSequence);
        const int readd = pick(0, 1) ? pick(remove, kStepsPerSequence) : -1;
        bool ok = false;
        try {
            ok = r.run(kStepsPerSequence, late, remove, readd);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "sequence seed " << seed * 7919 + 17 << " threw " << e.what();
        }
        if (!ok && ++failed >= 3) break;
        commits += r.commits();
        partial += r.partial_renders();
        changed += r.changed_views();
        calls += r.calls();
        for (auto [k, n] : r.call_kinds()) kinds[k] += n;
    }
    EXPECT_EQ(failed, 0u);
    EXPECT_GT(changed, commits / 8) << "too few commits changed the view";
    // Commits that re-render in part (all but those with too many
    // changes to list) are checked against the oracle like full ones.
    EXPECT_GT(partial, commits / 4) << "too few partial re-renders";
    for (Ev e : {Ev::Begin, Ev::Commit, Ev::Add, Ev::Del, Ev::LogStart, Ev::LogStop})
        EXPECT_GT(kinds[e], 100u) << ev_name(e);
    std::printf("[ stats ] %llu sequences, %zu commits (%zu changed the view, %zu re-rendered in part), %zu "
                "listener calls (add %zu, del %zu, nop %zu, log_start %zu, log_stop %zu), %.2f s\n",
                static_cast<unsigned long long>(kSequences), commits, changed, partial, calls, kinds[Ev::Add],
                kinds[Ev::Del], kinds[Ev::Nop], kinds[Ev::LogStart], kinds[Ev::LogStop], seconds_since(t0));
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
