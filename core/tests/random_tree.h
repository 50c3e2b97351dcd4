// Test-only helpers: a seeded generator of random region trees, and random
// topology changes on such a tree.
//
// The trees are meant to be nasty rather than realistic: every kind of
// region, siblings that overlap at random offsets with priorities drawn from
// a tiny range (so ties are everywhere), children that stick out of their
// parent (and get clipped) or lie entirely outside it, terminal regions with
// subregions of their own, aliases of anything created earlier (containers,
// terminals, other aliases, the root, detached subtrees), pairs of aliases
// whose windows are contiguous (so the renderer has something to merge),
// disabled regions, and readonly / nonvolatile / dirty-log / romd flags
// sprinkled over all of it. A chain of containers at least four deep hangs
// off the root so that nesting is always deep.
//
// Offsets and sizes are multiples of a granularity drawn per tree (1 byte,
// or 1/4096, 1/256 or 1/16 of the space: 16, 256 or 4096 bytes in the
// default 64 KiB space): coarse trees make exact coincidences (equal
// starts, abutting windows, contiguous alias offsets) frequent; fine trees
// make odd sizes and partial overlaps frequent. The space can be as large as
// UINT64_MAX (RAM-backed regions then stay small: each one is an mmap).
//
// Everything is drawn from one std::mt19937_64 seeded by the caller, so a
// seed reproduces the tree and the change sequence exactly. Any kvmrr::Error
// the API throws (an alias cycle, a collision of an add_subregion without
// overlap, a size a RAM block cannot take...) is caught and the step is
// recorded as refused; the API promises to leave the tree unchanged then.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/region_ops.h"

namespace kvmrr::test {

// Reads all ones, drops writes; rendering never calls it.
inline RegionOps& random_tree_ops() {
    static FunctionOps ops(nullptr, nullptr);
    return ops;
}

struct RandomTreeConfig {
    size_t min_regions = 5;  // root and spine included
    size_t max_regions = 60;
    uint64_t space = 0x10000;  // root size (before the occasional odd tweak)
    int min_priority = -2;
    int max_priority = 2;
    unsigned min_spine = 4;  // containers chained under the root
    unsigned max_spine = 5;
    // Largest RAM-backed region (each gets a RamBlock, an mmap); 0 = space.
    uint64_t max_ram = 0;
};

class RandomTree {
public:
    explicit RandomTree(uint64_t seed, const RandomTreeConfig& cfg = {})
        : cfg_(cfg), rng_(seed), sys_(std::make_unique<MemorySystem>()) {
        // 1 byte, or 1/4096, 1/256 or 1/16 of the space (16, 256 and 4096
        // bytes in a 64 KiB space).
        const int bits = std::bit_width(cfg_.space);
        const int shift = static_cast<int>(uniform(0, 3)) * 4;
        gran_ = shift == 0 || bits - 16 + shift < 0 ? 1 : uint64_t{1} << (bits - 16 + shift);
        build();
    }

    MemorySystem& sys() { return *sys_; }
    MemoryRegion& root() { return *root_; }
    std::mt19937_64& rng() { return rng_; }
    uint64_t granularity() const { return gran_; }
    // Every region created, in creation order (root first).
    const std::vector<MemoryRegion*>& regions() const { return regions_; }
    // Insertion stamp of a region's latest successful add_subregion* (or
    // set_priority to a new value, which re-inserts it among its new
    // equals, or set_address to a new place, which re-adds it as QEMU
    // does); the renderer must order equal priorities by it, newest first.
    // 0 for regions without a parent.
    uint64_t stamp(const MemoryRegion& mr) const {
        auto it = stamps_.find(&mr);
        return it == stamps_.end() ? 0 : it->second;
    }
    size_t refused() const { return refused_; }
    // Depth of the deepest region under the root (root = 0), tree edges only.
    unsigned depth() const { return depth_of(*root_); }

    uint64_t uniform(uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_); }
    bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
    int random_priority() {
        return static_cast<int>(uniform(0, static_cast<uint64_t>(cfg_.max_priority - cfg_.min_priority))) +
               cfg_.min_priority;
    }
    // A size from one granule to `hint_max` (default: the whole space),
    // log-uniform: the bit length is uniform, then the value within it.
    uint64_t random_size(uint64_t hint_max = 0) {
        const uint64_t max = std::max(hint_max ? hint_max : cfg_.space, gran_);
        const auto b = static_cast<int>(uniform(std::bit_width(gran_), std::bit_width(max)));
        const uint64_t top = std::min(max, b >= 64 ? UINT64_MAX : (uint64_t{1} << b) - 1);
        const uint64_t bottom = std::min(top, b <= 1 ? uint64_t{1} : uint64_t{1} << (b - 1));
        return round(uniform(bottom, top));
    }
    // A size for a RAM-backed region.
    uint64_t ram_size(uint64_t hint_max = 0) {
        const uint64_t s = random_size(hint_max);
        return cfg_.max_ram && s > cfg_.max_ram ? uniform(1, cfg_.max_ram) : s;
    }
    bool ram_may_span(uint64_t size) const { return !cfg_.max_ram || size <= cfg_.max_ram; }

    // An offset for a child of `child_size` in a parent of `parent_size`:
    // mostly fully inside, sometimes sticking out of the end (clipped),
    // now and then entirely past the end.
    uint64_t random_offset(uint64_t parent_size, uint64_t child_size) {
        const uint64_t p = uniform(0, 99);
        if (p < 75 && child_size <= parent_size) return round_down(uniform(0, parent_size - child_size));
        if (p < 95) return round_down(uniform(0, parent_size - 1));
        return round_down(uniform(0, saturating_add(parent_size, parent_size / 2)));
    }

    static uint64_t saturating_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

    // A random region of a random kind (alias targets are drawn from the
    // regions created so far). Not attached anywhere.
    MemoryRegion& create_random_region() {
        const uint64_t pick = uniform(0, 99);
        const std::string n = std::to_string(serial_++);
        // Leaves mostly small, so that many of them show at once.
        const uint64_t leaf = chance(0.93) ? cfg_.space / 32 : cfg_.space;
        MemoryRegion* mr;
        if (pick < 24) {
            const uint64_t size = chance(0.7) ? round(uniform(cfg_.space / 16, cfg_.space / 2)) : random_size();
            mr = &sys_->create_container("c" + n, size);
        } else if (pick < 42) {
            mr = &sys_->create_ram("ram" + n, ram_size(leaf));
        } else if (pick < 48) {
            mr = &sys_->create_rom("rom" + n, ram_size(leaf));
        } else if (pick < 55) {
            mr = &sys_->create_rom_device("romd" + n, ram_size(leaf), random_tree_ops());
        } else if (pick < 66) {
            mr = &sys_->create_io("io" + n, random_size(leaf), random_tree_ops());
        } else if (pick < 72) {
            mr = &sys_->create_reservation("rsv" + n, random_size(leaf));
        } else {
            MemoryRegion& target = *regions_[uniform(chance(0.9) && regions_.size() > 1 ? 1 : 0, regions_.size() - 1)];
            mr = &sys_->create_alias("alias" + n, target, random_alias_offset(target),
                                     random_size(chance(0.7) ? target.size() : 0));
        }
        regions_.push_back(mr);
        return *mr;
    }

    // Attaches a parentless `child` under `parent`; false if refused.
    bool attach(MemoryRegion& parent, MemoryRegion& child, uint64_t offset, int priority, bool overlap = true) {
        try {
            if (overlap)
                parent.add_subregion_overlap(offset, child, priority);
            else
                parent.add_subregion(offset, child);
        } catch (const Error&) {
            ++refused_;
            return false;
        }
        stamps_[&child] = ++stamp_counter_;
        return true;
    }

    // A region that may receive subregions: containers mostly, sometimes a
    // terminal (RAM, I/O...); never an alias. Biased towards recent ones so
    // chains grow deep.
    MemoryRegion& random_parent() {
        std::vector<MemoryRegion*> c;
        const bool in_tree = chance(0.8);  // else anywhere, detached subtrees included
        for (MemoryRegion* r : regions_) {
            if (r->kind() == MemoryRegion::Kind::Alias) continue;
            if (in_tree && !in_root_tree(*r)) continue;
            if (r->kind() == MemoryRegion::Kind::Container || chance(0.15)) c.push_back(r);
        }
        if (c.empty()) return *root_;
        if (chance(0.4)) return *c[uniform(c.size() > 6 ? c.size() - 6 : 0, c.size() - 1)];
        return *c[uniform(0, c.size() - 1)];
    }

    // Sets random flags on `mr` (used at build time).
    void randomize_flags(MemoryRegion& mr) {
        const bool ramish = mr.is_ram_backed();
        try {
            if (chance(0.08)) mr.set_readonly(true);
            if (chance(0.08)) mr.set_nonvolatile(true);
            if (chance(ramish ? 0.25 : 0.05)) mr.set_dirty_log_mask(static_cast<uint8_t>(uniform(1, 7)));
            if (mr.kind() == MemoryRegion::Kind::RomDevice && chance(0.5)) mr.set_romd(false);
            if (chance(&mr == root_ ? 0.01 : spine_.count(&mr) ? 0.02 : 0.05)) mr.set_enabled(false);
        } catch (const Error&) {
            ++refused_;
        }
    }

    // Applies one random topology change, returns what it did (for logs).
    // Each call is one setter, so outside a transaction it is one commit.
    std::string random_change() {
        for (;;) {
            MemoryRegion& r = random_region_biased();
            const bool is_alias = r.kind() == MemoryRegion::Kind::Alias;
            const uint64_t op = uniform(0, 99);
            std::string d;
            try {
                if (op < 14) {
                    d = std::string(r.enabled() ? "disable " : "enable ") + r.name();
                    r.set_enabled(!r.enabled());
                } else if (op < 26) {
                    uint64_t psize = r.parent() ? r.parent()->size() : cfg_.space;
                    uint64_t off = random_offset(psize, r.size());
                    d = "set_address " + r.name() + " " + hex(off);
                    const uint64_t old = r.addr();
                    r.set_address(off);
                    if (off != old && r.parent()) stamps_[&r] = ++stamp_counter_;  // moving re-adds
                } else if (op < 33) {
                    uint64_t s = random_size();
                    d = "set_size " + r.name() + " " + hex(s);
                    r.set_size(s);
                } else if (op < 41) {
                    int p = random_priority();
                    d = "set_priority " + r.name() + " " + std::to_string(p);
                    const int old = r.priority();
                    r.set_priority(p);
                    if (p != old && r.parent()) stamps_[&r] = ++stamp_counter_;
                } else if (op < 48) {
                    if (!is_alias) continue;
                    uint64_t o = random_alias_offset(*r.alias_target());
                    d = "set_alias_offset " + r.name() + " " + hex(o);
                    r.set_alias_offset(o);
                } else if (op < 51) {
                    if (!is_alias) continue;
                    MemoryRegion& t = *regions_[uniform(0, regions_.size() - 1)];
                    d = "set_alias_target " + r.name() + " " + t.name();
                    r.set_alias_target(t);
                } else if (op < 56) {
                    d = std::string("set_readonly ") + r.name() + (r.readonly() ? " off" : " on");
                    r.set_readonly(!r.readonly());
                } else if (op < 60) {
                    d = std::string("set_nonvolatile ") + r.name() + (r.nonvolatile() ? " off" : " on");
                    r.set_nonvolatile(!r.nonvolatile());
                } else if (op < 67) {
                    if (chance(0.5)) {
                        auto m = static_cast<uint8_t>(uniform(0, 7));
                        d = "set_dirty_log_mask " + r.name() + " " + std::to_string(m);
                        r.set_dirty_log_mask(m);
                    } else {
                        auto c = static_cast<DirtyLogClient>(1u << uniform(0, 2));
                        bool on = !(r.dirty_log_mask() & c);
                        d = "set_dirty_log " + r.name() + " " + std::to_string(c) + (on ? " on" : " off");
                        r.set_dirty_log(c, on);
                    }
                } else if (op < 71) {
                    if (r.kind() != MemoryRegion::Kind::RomDevice) continue;
                    d = std::string("set_romd ") + r.name() + (r.romd_mode() ? " off" : " on");
                    r.set_romd(!r.romd_mode());
                } else if (op < 82) {
                    if (!r.parent()) continue;
                    d = "del_subregion " + r.parent()->name() + " " + r.name();
                    r.parent()->del_subregion(r);
                    stamps_.erase(&r);
                } else if (op < 95) {
                    if (r.parent() || &r == root_) continue;
                    MemoryRegion& p = random_parent();
                    if (&p == &r) continue;
                    uint64_t off = random_offset(p.size(), r.size());
                    int prio = random_priority();
                    d = "add_subregion_overlap " + p.name() + " " + hex(off) + " " + r.name() + " prio " +
                        std::to_string(prio);
                    if (!attach(p, r, off, prio)) d += " (refused)";
                    return d;
                } else {
                    if (regions_.size() >= 90) continue;
                    MemoryRegion& p = random_parent();
                    MemoryRegion& n = create_random_region();
                    uint64_t off = random_offset(p.size(), n.size());
                    int prio = random_priority();
                    d = "new " + n.name() + " (" + MemoryRegion::kind_name(n.kind()) + " size " + hex(n.size()) +
                        ") under " + p.name() + " at " + hex(off) + " prio " + std::to_string(prio);
                    if (!attach(p, n, off, prio)) d += " (refused)";
                    return d;
                }
            } catch (const Error& e) {
                ++refused_;
                return d + " (refused: " + e.what() + ")";
            }
            return d;
        }
    }

private:
    uint64_t round(uint64_t v) const { return std::max(gran_, v / gran_ * gran_); }
    uint64_t round_down(uint64_t v) const { return v / gran_ * gran_; }

    uint64_t random_alias_offset(const MemoryRegion& target) {
        if (chance(0.3)) return 0;
        uint64_t lim = target.size();
        if (chance(0.08)) lim = saturating_add(lim, lim / 2);
        return round_down(uniform(0, lim - 1));
    }

    bool in_root_tree(const MemoryRegion& mr) const {
        const MemoryRegion* top = &mr;
        while (top->parent()) top = top->parent();
        return top == root_;
    }

    // Half the time a region of the root's tree, where changes show.
    MemoryRegion& random_region_biased() {
        if (chance(0.5)) {
            std::vector<MemoryRegion*> in_tree;
            for (MemoryRegion* r : regions_)
                if (in_root_tree(*r)) in_tree.push_back(r);
            return *in_tree[uniform(0, in_tree.size() - 1)];
        }
        return *regions_[uniform(0, regions_.size() - 1)];
    }

    unsigned depth_of(const MemoryRegion& mr) const {
        unsigned d = 0;
        for (MemoryRegion* c : mr.subregions()) d = std::max(d, 1 + depth_of(*c));
        return d;
    }

    void build() {
        Transaction t(*sys_);
        uint64_t root_size = cfg_.space;
        if (chance(0.1)) root_size -= round_down(uniform(0, root_size / 3));
        root_ = chance(0.1) && ram_may_span(root_size) ? &sys_->create_ram("root", root_size) : &sys_->create_container("root", root_size);
        regions_.push_back(root_);
        const size_t n = uniform(cfg_.min_regions, cfg_.max_regions);

        // The spine: containers (now and then a RAM region) chained under
        // the root, each a large part of its parent.
        MemoryRegion* p = root_;
        const auto spine = static_cast<unsigned>(uniform(cfg_.min_spine, cfg_.max_spine));
        for (unsigned i = 0; i < spine; ++i) {
            uint64_t size = round(uniform(p->size() / 4, p->size()));
            uint64_t off = round_down(uniform(0, p->size() - (chance(0.7) ? size : size / 2)));
            off = std::min(off, round_down(UINT64_MAX - size));  // the child's range must fit in 64 bits
            const std::string name = "s" + std::to_string(serial_++);
            MemoryRegion& c = chance(0.08) && ram_may_span(size) ? sys_->create_ram(name, size) : sys_->create_container(name, size);
            regions_.push_back(&c);
            spine_.insert(&c);
            attach(*p, c, off, random_priority());
            p = &c;
        }

        while (regions_.size() < n) {
            if (chance(0.07) && regions_.size() + 2 <= n) {
                try {
                    add_split_alias_pair();
                } catch (const Error&) {
                    ++refused_;
                }
                continue;
            }
            MemoryRegion* created = nullptr;
            try {
                created = &create_random_region();
            } catch (const Error&) {
                ++refused_;
                ++serial_;
                continue;
            }
            MemoryRegion& mr = *created;
            if (chance(0.15)) continue;  // left detached: may be an alias target
            MemoryRegion& parent = random_parent();
            if (&parent == &mr) continue;
            if (chance(0.06)) {
                attach(parent, mr, random_offset(parent.size(), mr.size()), 0, /*overlap=*/false);
            } else {
                attach(parent, mr, random_offset(parent.size(), mr.size()), random_priority());
            }
        }
        for (MemoryRegion* r : regions_) randomize_flags(*r);
    }

    // Two aliases of one target showing contiguous windows side by side:
    // where both answer, the renderer must merge them into one range.
    void add_split_alias_pair() {
        MemoryRegion& target = *regions_[uniform(0, regions_.size() - 1)];
        MemoryRegion& parent = random_parent();
        const uint64_t o = random_alias_offset(target);
        const uint64_t s1 = random_size(), s2 = random_size();
        const uint64_t at = random_offset(parent.size(), saturating_add(s1, s2));
        MemoryRegion& a1 = sys_->create_alias("alias" + std::to_string(serial_++), target, o, s1);
        regions_.push_back(&a1);
        MemoryRegion& a2 =
            sys_->create_alias("alias" + std::to_string(serial_++), target, saturating_add(o, s1), s2);
        regions_.push_back(&a2);
        const int prio = random_priority();
        attach(parent, a1, at, prio);
        attach(parent, a2, saturating_add(at, s1), chance(0.5) ? prio : random_priority());
    }

    RandomTreeConfig cfg_;
    std::mt19937_64 rng_;
    std::unique_ptr<MemorySystem> sys_;
    MemoryRegion* root_ = nullptr;
    uint64_t gran_ = 1;
    uint64_t serial_ = 0;
    uint64_t stamp_counter_ = 0;
    size_t refused_ = 0;
    std::vector<MemoryRegion*> regions_;
    std::map<const MemoryRegion*, uint64_t> stamps_;
    std::set<const MemoryRegion*> spine_;
};

}  // namespace kvmrr::test
