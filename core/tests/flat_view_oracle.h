// The flat-view oracle of the differential tests (flat_view_oracle_test.cc,
// flat_view_listener_oracle_test.cc): it knows nothing of how FlatView
// renders. It collects every address where anything in the tree starts or
// ends (every region instance, following aliases, clipped by its
// ancestors), and for each piece between two such addresses it walks the
// tree from the root at the piece's first address asking "who answers
// here?". Inside a piece the set of regions covering an address does not
// change, so one walk per piece decides the whole piece. Neighbouring
// pieces are then merged exactly as the renderer must merge them. It is
// slow (pieces times depth times fan-out) and obviously right, which is
// the point. With it: the formatting of views and trees for failure
// messages, and the random trees' configurations.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "core/address.h"
#include "core/error.h"
#include "core/flat_view.h"
#include "core/memory_region.h"
#include "core/tests/random_tree.h"

namespace kvmrr::test {

using Kind = MemoryRegion::Kind;
using i128 = __int128;

// ---------------------------------------------------------------------------
// Formatting, for failure messages.

inline std::string hexs(uint64_t v) { return hex(v); }

inline std::string fmt_range(const FlatRange& f) {
    std::ostringstream o;
    o << "[" << hexs(f.range.start()) << ", " << hexs(f.range.end()) << ") " << (f.mr ? f.mr->name() : "<null>")
      << " off=" << hexs(f.offset_in_region);
    if (f.readonly) o << " ro";
    if (f.nonvolatile) o << " nv";
    if (f.romd_mode) o << " romd";
    if (f.dirty_log_mask) o << " log=" << int(f.dirty_log_mask);
    return o.str();
}

inline std::string fmt_view(const std::vector<FlatRange>& v) {
    std::string s;
    for (const FlatRange& f : v) s += "    " + fmt_range(f) + "\n";
    if (v.empty()) s = "    (empty)\n";
    return s;
}

inline std::string fmt_region_line(const MemoryRegion& r) {
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

inline void fmt_subtree(const MemoryRegion& r, int indent, std::string& out) {
    out += std::string(static_cast<size_t>(indent) * 2 + 4, ' ') + fmt_region_line(r) + "\n";
    for (MemoryRegion* c : r.subregions()) fmt_subtree(*c, indent + 1, out);
}

// The tree under `root`, then every other parentless region (detached
// subtrees that aliases may show).
inline std::string fmt_tree(const MemoryRegion& root, const std::vector<MemoryRegion*>& all) {
    std::string out = "  tree:\n";
    fmt_subtree(root, 0, out);
    for (MemoryRegion* r : all) {
        if (r == &root || r->parent()) continue;
        out += "  detached:\n";
        fmt_subtree(*r, 0, out);
    }
    return out;
}

inline std::string diff_views(const std::vector<FlatRange>& expected, const std::vector<FlatRange>& actual) {
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
inline bool oracle_romd(const MemoryRegion& mr) { return mr.kind() == Kind::RomDevice && mr.romd_mode(); }

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


inline RandomTreeConfig tree_config() { return {}; }

inline RandomTreeConfig huge_config() {
    RandomTreeConfig c;
    c.space = UINT64_MAX;  // the largest root AddrRange allows
    c.max_ram = 1 << 20;
    return c;
}

// The region whose parent chain ends at the top of `mr`'s tree.
inline const MemoryRegion& top_of(const MemoryRegion& mr) {
    const MemoryRegion* r = &mr;
    while (r->parent()) r = r->parent();
    return *r;
}

// Subregion order must be: priority descending, newest add first among
// equals (stamps come from the generator, not from the implementation;
// regions whose stamp is unknown are only checked for priority).
inline std::string check_subregion_order(const RandomTree& t) {
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

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace kvmrr::test
