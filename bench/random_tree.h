// Benchmark-only helpers: a seeded generator of random, overlapping region
// trees and a trivial RegionOps.
//
// The tree has exactly `regions` regions (root included): containers nested
// several levels deep whose children are added with add_subregion_overlap
// at random offsets and random priorities, so siblings overlap freely, and
// terminal leaves of every kind that renders (RAM, ROM, I/O, aliases into
// earlier RAM/ROM leaves, reservations). Everything is drawn from one
// mt19937_64 seeded by the caller, so the same (regions, seed) pair always
// builds the same tree.
//
// Aliases only target RAM/ROM leaves (as QEMU's "pc.ram" aliases do), never
// containers: an alias of a container would render that container's whole
// subtree a second time, and the benchmark would then measure a tree much
// larger than `regions`.
//
// RAM and ROM leaves are kept small (4 KiB .. 1 MiB) because each one gets
// its own RamBlock (an mmap); I/O and reservation leaves can be large.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/region_ops.h"

namespace kvmrr::bench {

// Reads return the offset, writes are dropped: the cheapest device.
class TrivialOps final : public RegionOps {
public:
    uint64_t read(uint64_t offset, unsigned /*size*/) override { return offset; }
    void write(uint64_t, uint64_t, unsigned) override {}
};

struct RandomTreeStats {
    size_t containers = 0, ram = 0, rom = 0, io = 0, alias = 0, reservation = 0;
    unsigned max_depth = 0;
    size_t total() const { return containers + ram + rom + io + alias + reservation; }
};

class RandomTreeBuilder {
public:
    static constexpr uint64_t kPage = 4096;

    RandomTreeBuilder(MemorySystem& sys, RegionOps& ops, uint64_t seed) : sys_(sys), ops_(ops), rng_(seed) {}

    // Builds a tree of exactly `regions` regions (>= 1) under a root
    // container of `root_size` bytes, inside one transaction.
    MemoryRegion& build(size_t regions, uint64_t root_size = 1ull << 52, unsigned max_children = 8) {
        if (regions == 0) throw std::invalid_argument("random tree: zero regions");
        max_children_ = std::max(2u, max_children);
        Transaction t(sys_);
        MemoryRegion& root = sys_.create_container("root", root_size);
        ++stats_.containers;
        fill(root, regions - 1, 1);
        root_ = &root;
        t.commit();
        return root;
    }

    MemoryRegion& root() const { return *root_; }
    const RandomTreeStats& stats() const { return stats_; }
    // All terminal regions, in creation order.
    const std::vector<MemoryRegion*>& leaves() const { return leaves_; }
    // RAM and ROM leaves (the possible alias targets).
    const std::vector<MemoryRegion*>& ram_leaves() const { return ram_; }

private:
    uint64_t uniform(uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_); }
    std::string next_name(const char* prefix) { return prefix + std::to_string(serial_++); }

    // A random offset that keeps [offset, offset + size) inside the parent,
    // page aligned when it can be.
    uint64_t place(uint64_t parent_size, uint64_t size) {
        const uint64_t room = parent_size - size;
        uint64_t off = uniform(0, room);
        if (room >= kPage) off &= ~(kPage - 1);
        return off;
    }

    // Distributes `budget` descendants over the children of `c`.
    void fill(MemoryRegion& c, size_t budget, unsigned depth) {
        stats_.max_depth = std::max(stats_.max_depth, depth);
        if (budget == 0) return;
        const size_t k = std::min<size_t>(budget, uniform(2, max_children_));
        // Each child gets one region (itself) plus a random, skewed share of
        // the rest, so subtrees have very different sizes.
        std::vector<double> w(k);
        double sum = 0;
        std::exponential_distribution<double> expo(1.0);
        for (auto& x : w) sum += (x = expo(rng_));
        std::vector<size_t> share(k, 1);
        size_t rest = budget - k, given = 0;
        for (size_t i = 0; i < k; ++i) {
            size_t s = static_cast<size_t>(static_cast<double>(rest) * w[i] / sum);
            share[i] += s;
            given += s;
        }
        for (; given < rest; ++given) share[uniform(0, k - 1)] += 1;

        for (size_t i = 0; i < k; ++i) {
            const int prio = static_cast<int>(uniform(0, 6)) - 2;  // -2 .. 4
            if (share[i] == 1) {
                add_leaf(c, prio);
            } else {
                // Containers are 1/2 .. 1/16 of their parent (at least 1 MiB
                // or the whole parent), so siblings overlap often.
                uint64_t size = c.size() >> uniform(1, 4);
                size = std::max(size, std::min<uint64_t>(c.size(), 1ull << 20));
                MemoryRegion& sub = sys_.create_container(next_name("c"), size);
                ++stats_.containers;
                c.add_subregion_overlap(place(c.size(), size), sub, prio);
                fill(sub, share[i] - 1, depth + 1);
            }
        }
    }

    void add_leaf(MemoryRegion& c, int prio) {
        const uint64_t pick = uniform(0, 99);
        MemoryRegion* mr = nullptr;
        if (pick < 40 || (pick < 60 && ram_.empty())) {  // RAM
            const uint64_t size = std::min(c.size(), kPage << uniform(0, 8));
            mr = &sys_.create_ram(next_name("ram"), size);
            ram_.push_back(mr);
            ++stats_.ram;
        } else if (pick < 45) {  // ROM
            const uint64_t size = std::min(c.size(), kPage << uniform(0, 4));
            mr = &sys_.create_rom(next_name("rom"), size);
            ram_.push_back(mr);
            ++stats_.rom;
        } else if (pick < 60) {  // alias into an earlier RAM/ROM leaf
            MemoryRegion& target = *ram_[uniform(0, ram_.size() - 1)];
            const uint64_t pages = target.size() / kPage;
            const uint64_t first = pages > 1 ? uniform(0, pages - 1) : 0;
            uint64_t size = (pages > 1 ? uniform(1, pages - first) : 1) * kPage;
            size = std::min({size, target.size() - first * kPage, c.size()});
            mr = &sys_.create_alias(next_name("alias"), target, first * kPage, size);
            ++stats_.alias;
        } else if (pick < 95) {  // I/O, anywhere from a page to half the parent
            uint64_t size = std::max<uint64_t>(c.size() >> uniform(1, 12), std::min(c.size(), kPage));
            mr = &sys_.create_io(next_name("io"), size, ops_);
            ++stats_.io;
        } else {  // reservation
            uint64_t size = std::max<uint64_t>(c.size() >> uniform(2, 10), std::min(c.size(), kPage));
            mr = &sys_.create_reservation(next_name("rsv"), size);
            ++stats_.reservation;
        }
        c.add_subregion_overlap(place(c.size(), mr->size()), *mr, prio);
        leaves_.push_back(mr);
    }

    MemorySystem& sys_;
    RegionOps& ops_;
    std::mt19937_64 rng_;
    unsigned max_children_ = 8;
    uint64_t serial_ = 0;
    MemoryRegion* root_ = nullptr;
    RandomTreeStats stats_;
    std::vector<MemoryRegion*> leaves_;
    std::vector<MemoryRegion*> ram_;
};

}  // namespace kvmrr::bench
