// Unit tests for core/memory_region.h: the kinds of region and their
// defaults, add_subregion / add_subregion_overlap. Alias cycles, size
// rules, destroy and RAM block ids: memory_region_rules_test.cc.
#include "core/memory_region.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/memory_system.h"
#include "core/ram_block.h"
#include "core/region_ops.h"
#include "core/tests/memory_region_test_util.h"

namespace kvmrr {
namespace {

using namespace test;

// ---------------------------------------------------------------------------
// Kinds and defaults

TEST(MemoryRegionKinds, ContainerDefaults) {
    MemorySystem sys;
    MemoryRegion& c = sys.create_container("c", 0x10000);
    EXPECT_EQ(c.kind(), MemoryRegion::Kind::Container);
    EXPECT_EQ(c.name(), "c");
    EXPECT_EQ(c.size(), 0x10000u);
    EXPECT_EQ(c.addr(), 0u);
    EXPECT_EQ(c.priority(), 0);
    EXPECT_FALSE(c.may_overlap());
    EXPECT_TRUE(c.enabled());
    EXPECT_FALSE(c.readonly());
    EXPECT_FALSE(c.nonvolatile());
    EXPECT_EQ(c.dirty_log_mask(), 0);
    EXPECT_EQ(c.parent(), nullptr);
    EXPECT_EQ(c.alias_target(), nullptr);
    EXPECT_EQ(c.ram_block(), nullptr);
    EXPECT_FALSE(c.is_ram_backed());
    EXPECT_EQ(c.ops(), nullptr);
    EXPECT_EQ(c.subregion_count(), 0u);
    EXPECT_TRUE(c.subregions().empty());
    EXPECT_EQ(&c.system(), &sys);
    EXPECT_EQ(sys.region_count(), 1u);
}

TEST(MemoryRegionKinds, RamDefaults) {
    MemorySystem sys;
    MemoryRegion& r = sys.create_ram("ram", 0x3000);
    EXPECT_EQ(r.kind(), MemoryRegion::Kind::Ram);
    EXPECT_EQ(r.size(), 0x3000u);
    EXPECT_FALSE(r.readonly());
    EXPECT_TRUE(r.enabled());
    ASSERT_NE(r.ram_block(), nullptr);
    EXPECT_TRUE(r.is_ram_backed());
    EXPECT_EQ(r.ram_block()->size(), 0x3000u);
    EXPECT_GE(r.ram_block()->mapped_size(), 0x3000u);
    EXPECT_NE(r.ram_block()->host(), nullptr);
    EXPECT_EQ(r.ram_offset(), 0u);
    EXPECT_EQ(r.ops(), nullptr);
    EXPECT_EQ(r.alias_target(), nullptr);
    ASSERT_EQ(sys.ram_blocks().size(), 1u);
    EXPECT_EQ(sys.ram_blocks()[0].get(), r.ram_block());
    // Fresh anonymous memory is zero and writable from the host.
    EXPECT_EQ(r.ram_block()->host()[0], 0);
    EXPECT_EQ(r.ram_block()->host()[0x2fff], 0);
    r.ram_block()->host()[0x2fff] = 0x5a;
    EXPECT_EQ(r.ram_block()->host()[0x2fff], 0x5a);
}

TEST(MemoryRegionKinds, RomIsReadonly) {
    MemorySystem sys;
    MemoryRegion& r = sys.create_rom("bios", 0x1000);
    EXPECT_EQ(r.kind(), MemoryRegion::Kind::Rom);
    EXPECT_TRUE(r.readonly());
    ASSERT_NE(r.ram_block(), nullptr);
    EXPECT_TRUE(r.is_ram_backed());
    EXPECT_EQ(r.ram_block()->size(), 0x1000u);
    EXPECT_EQ(r.ops(), nullptr);
}

TEST(MemoryRegionKinds, RomDeviceDefaults) {
    MemorySystem sys;
    FunctionOps ops = null_ops();
    AccessRules rules;
    rules.valid.min = 2;
    rules.valid.max = 4;
    rules.impl.min = 1;
    rules.impl.max = 2;
    MemoryRegion& r = sys.create_rom_device("flash", 0x2000, ops, rules);
    EXPECT_EQ(r.kind(), MemoryRegion::Kind::RomDevice);
    EXPECT_TRUE(r.romd_mode());  // romd mode is the default
    ASSERT_NE(r.ram_block(), nullptr);
    EXPECT_TRUE(r.is_ram_backed());
    EXPECT_EQ(r.ops(), &ops);
    EXPECT_EQ(r.rules().valid.min, 2u);
    EXPECT_EQ(r.rules().valid.max, 4u);
    EXPECT_EQ(r.rules().impl.max, 2u);
    r.set_romd(false);
    EXPECT_FALSE(r.romd_mode());
    r.set_romd(true);
    EXPECT_TRUE(r.romd_mode());
}

TEST(MemoryRegionKinds, IoDefaults) {
    MemorySystem sys;
    FunctionOps ops = null_ops();
    AccessRules rules;
    rules.valid.unaligned = true;
    rules.impl.min = 4;
    MemoryRegion& r = sys.create_io("uart", 8, ops, rules);
    EXPECT_EQ(r.kind(), MemoryRegion::Kind::Io);
    EXPECT_EQ(r.size(), 8u);
    EXPECT_EQ(r.ops(), &ops);
    EXPECT_EQ(r.ram_block(), nullptr);
    EXPECT_FALSE(r.is_ram_backed());
    EXPECT_TRUE(r.rules().valid.unaligned);
    EXPECT_EQ(r.rules().impl.min, 4u);
    EXPECT_FALSE(r.readonly());
    EXPECT_TRUE(sys.ram_blocks().empty());

    MemoryRegion& d = sys.create_io("dflt", 4, ops);
    EXPECT_EQ(d.rules().valid.min, 1u);
    EXPECT_EQ(d.rules().valid.max, 8u);
    EXPECT_FALSE(d.rules().valid.unaligned);
}

TEST(MemoryRegionKinds, AliasDefaults) {
    MemorySystem sys;
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& a = sys.create_alias("ram-hi", ram, 0x1000, 0x2000);
    EXPECT_EQ(a.kind(), MemoryRegion::Kind::Alias);
    EXPECT_EQ(a.alias_target(), &ram);
    EXPECT_EQ(a.alias_offset(), 0x1000u);
    EXPECT_EQ(a.size(), 0x2000u);
    EXPECT_EQ(a.parent(), nullptr);
    EXPECT_EQ(a.ops(), nullptr);
    EXPECT_EQ(sys.ram_blocks().size(), 1u);  // an alias allocates nothing
    a.set_alias_offset(0x800);
    EXPECT_EQ(a.alias_offset(), 0x800u);
    MemoryRegion& ram2 = sys.create_ram("ram2", 0x1000);
    a.set_alias_target(ram2);
    EXPECT_EQ(a.alias_target(), &ram2);
}

TEST(MemoryRegionKinds, ReservationDefaults) {
    MemorySystem sys;
    MemoryRegion& r = sys.create_reservation("hole", 0x1000);
    EXPECT_EQ(r.kind(), MemoryRegion::Kind::Reservation);
    EXPECT_EQ(r.ops(), nullptr);
    EXPECT_EQ(r.ram_block(), nullptr);
    EXPECT_FALSE(r.is_ram_backed());
    EXPECT_EQ(r.size(), 0x1000u);
}

TEST(MemoryRegionKinds, KindNamesAreDistinct) {
    std::set<std::string> seen;
    for (auto k : {MemoryRegion::Kind::Container, MemoryRegion::Kind::Ram, MemoryRegion::Kind::Rom,
                   MemoryRegion::Kind::RomDevice, MemoryRegion::Kind::Io, MemoryRegion::Kind::Alias,
                   MemoryRegion::Kind::Reservation}) {
        const char* n = MemoryRegion::kind_name(k);
        ASSERT_NE(n, nullptr);
        EXPECT_NE(std::string(n), "");
        seen.insert(n);
    }
    EXPECT_EQ(seen.size(), 7u);
}

TEST(MemoryRegionSetters, AttributesChange) {
    MemorySystem sys;
    MemoryRegion& r = sys.create_ram("ram", 0x1000);
    r.set_enabled(false);
    EXPECT_FALSE(r.enabled());
    r.set_enabled(true);
    EXPECT_TRUE(r.enabled());
    r.set_readonly(true);
    EXPECT_TRUE(r.readonly());
    r.set_nonvolatile(true);
    EXPECT_TRUE(r.nonvolatile());
    r.set_dirty_log(kDirtyLogVga, true);
    EXPECT_EQ(r.dirty_log_mask(), kDirtyLogVga);
    r.set_dirty_log(kDirtyLogRecord, true);
    EXPECT_EQ(r.dirty_log_mask(), kDirtyLogVga | kDirtyLogRecord);
    r.set_dirty_log(kDirtyLogVga, false);
    EXPECT_EQ(r.dirty_log_mask(), kDirtyLogRecord);
    r.set_dirty_log_mask(kDirtyLogMigration | kDirtyLogVga);
    EXPECT_EQ(r.dirty_log_mask(), kDirtyLogMigration | kDirtyLogVga);
    r.set_dirty_log_mask(0);
    EXPECT_EQ(r.dirty_log_mask(), 0);
}

// ---------------------------------------------------------------------------
// add_subregion / add_subregion_overlap

TEST(MemoryRegionSubregions, AddSetsParentOffsetPriority) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    root.add_subregion(0x2000, a);
    root.add_subregion_overlap(0x2800, b, 7);
    EXPECT_EQ(a.parent(), &root);
    EXPECT_EQ(a.addr(), 0x2000u);
    EXPECT_EQ(a.priority(), 0);
    EXPECT_FALSE(a.may_overlap());
    EXPECT_EQ(b.parent(), &root);
    EXPECT_EQ(b.addr(), 0x2800u);
    EXPECT_EQ(b.priority(), 7);
    EXPECT_TRUE(b.may_overlap());
    EXPECT_EQ(root.subregion_count(), 2u);
}

TEST(MemoryRegionSubregions, AdjacentNonOverlappingSiblingsAreFine) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    MemoryRegion& c = sys.create_ram("c", 0x1000);
    root.add_subregion(0x1000, a);
    root.add_subregion(0x2000, b);  // touches a's end
    root.add_subregion(0x0000, c);  // touches a's start
    EXPECT_EQ(root.subregion_count(), 3u);
}

TEST(MemoryRegionSubregions, CollisionOfTwoNonOverlapSiblingsThrows) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    root.add_subregion(0x1000, a);
    expect_error([&] { root.add_subregion(0x1fff, b); }, "collision by one byte");
    EXPECT_EQ(b.parent(), nullptr);
    EXPECT_EQ(root.subregion_count(), 1u);
    expect_error([&] { root.add_subregion(0x0800, b); }, "collision at start");
    expect_error([&] { root.add_subregion(0x1000, b); }, "same place");
    EXPECT_EQ(b.parent(), nullptr);
    EXPECT_EQ(root.subregion_count(), 1u);
    // The region is still usable afterwards.
    root.add_subregion(0x2000, b);
    EXPECT_EQ(b.parent(), &root);
    EXPECT_EQ(b.addr(), 0x2000u);
}

TEST(MemoryRegionSubregions, OverlapMayOverlapAnything) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& a = sys.create_ram("a", 0x2000);
    MemoryRegion& o1 = sys.create_ram("o1", 0x1000);
    MemoryRegion& o2 = sys.create_ram("o2", 0x1000);
    MemoryRegion& o3 = sys.create_ram("o3", 0x10000);
    root.add_subregion(0x1000, a);
    root.add_subregion_overlap(0x1800, o1, 0);   // overlaps a, same priority
    root.add_subregion_overlap(0x1800, o2, -1);  // overlaps a and o1 exactly
    root.add_subregion_overlap(0x0000, o3, 2);   // covers everything
    EXPECT_EQ(root.subregion_count(), 4u);
    EXPECT_EQ(o1.parent(), &root);
    EXPECT_EQ(o2.parent(), &root);
    EXPECT_EQ(o3.parent(), &root);
    EXPECT_TRUE(o1.may_overlap());
    EXPECT_EQ(o2.priority(), -1);
}

TEST(MemoryRegionSubregions, NonOverlapOverAnOverlapSiblingIsFine) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& o = sys.create_ram("o", 0x4000);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    root.add_subregion_overlap(0, o, 1);
    root.add_subregion(0x1000, a);  // over o, which was added with overlap
    EXPECT_EQ(a.parent(), &root);
    EXPECT_EQ(root.subregion_count(), 2u);
}

TEST(MemoryRegionSubregions, OrderHighestPriorityFirstTiesMostRecentFirst) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x100000);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    MemoryRegion& c = sys.create_ram("c", 0x1000);
    MemoryRegion& d = sys.create_ram("d", 0x1000);
    MemoryRegion& e = sys.create_ram("e", 0x1000);
    MemoryRegion& f = sys.create_ram("f", 0x1000);
    root.add_subregion(0x0000, a);             // prio 0
    root.add_subregion_overlap(0x0000, b, 1);  // prio 1
    root.add_subregion_overlap(0x0000, c, 0);  // prio 0, newer than a
    root.add_subregion_overlap(0x0000, d, 1);  // prio 1, newer than b
    root.add_subregion_overlap(0x0000, e, -3);
    root.add_subregion(0x8000, f);             // prio 0, newest
    EXPECT_EQ(names(root.subregions()), (std::vector<std::string>{"d", "b", "f", "c", "a", "e"}));
}

TEST(MemoryRegionSubregions, SetPriorityReorders) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    MemoryRegion& c = sys.create_ram("c", 0x1000);
    root.add_subregion_overlap(0, a, 1);
    root.add_subregion_overlap(0, b, 2);
    root.add_subregion_overlap(0, c, 3);
    EXPECT_EQ(names(root.subregions()), (std::vector<std::string>{"c", "b", "a"}));
    a.set_priority(5);
    EXPECT_EQ(a.priority(), 5);
    EXPECT_EQ(names(root.subregions()), (std::vector<std::string>{"a", "c", "b"}));
    c.set_priority(-1);
    EXPECT_EQ(names(root.subregions()), (std::vector<std::string>{"a", "b", "c"}));
}

// Child arrays live in the pool's blocks, which double when full, are
// shared out by size class and reused after release; a wide container's
// gets a block of its own. Random adds, removals, priority changes and
// moves between three parents (one of them past 4,096 children) must keep
// every parent's subregions exactly in the order a plain model gives:
// highest priority first, the most recently (re)inserted first among
// equals. Two parents handed one array, or a stale copy, shows here.
TEST(MemoryRegionSubregions, ChildArraysFollowRandomChangesOfAnyWidth) {
    MemorySystem sys;
    std::vector<MemoryRegion*> parents;
    for (int i = 0; i < 3; ++i) parents.push_back(&sys.create_container("p" + std::to_string(i), 0x100000));
    std::vector<MemoryRegion*> pool;
    for (int i = 0; i < 5000; ++i) pool.push_back(&sys.create_reservation("r" + std::to_string(i), 0x1000));
    struct Entry {
        int priority;
        uint64_t stamp;
        MemoryRegion* mr;
    };
    std::vector<std::vector<Entry>> model(parents.size());
    std::vector<int> where(pool.size(), -1);  // parent index, -1: detached
    uint64_t stamp = 0;
    std::mt19937_64 rng(7);
    auto pick = [&](size_t n) { return static_cast<size_t>(std::uniform_int_distribution<size_t>(0, n - 1)(rng)); };
    auto add = [&](size_t r, size_t p) {
        const int prio = static_cast<int>(pick(7)) - 3;
        parents[p]->add_subregion_overlap(0, *pool[r], prio);
        model[p].push_back({prio, ++stamp, pool[r]});
        where[r] = static_cast<int>(p);
    };
    auto remove = [&](size_t r) {
        const auto p = static_cast<size_t>(where[r]);
        parents[p]->del_subregion(*pool[r]);
        std::erase_if(model[p], [&](const Entry& e) { return e.mr == pool[r]; });
        where[r] = -1;
    };
    auto check = [&](const char* when) {
        for (size_t p = 0; p < parents.size(); ++p) {
            std::vector<Entry> m = model[p];
            std::sort(m.begin(), m.end(), [](const Entry& a, const Entry& b) {
                return a.priority != b.priority ? a.priority > b.priority : a.stamp > b.stamp;
            });
            std::vector<MemoryRegion*> want;
            for (const Entry& e : m) want.push_back(e.mr);
            ASSERT_EQ(parents[p]->subregions(), want) << when << ", parent " << p;
            ASSERT_EQ(parents[p]->subregion_count(), want.size());
        }
    };
    // Fill parent 0 past a dedicated block's threshold, one by one.
    for (size_t r = 0; r < 4500; ++r) add(r, r % 10 == 0 ? 1 : 0);
    check("after filling");
    for (int step = 0; step < 20000; ++step) {
        const size_t r = pick(pool.size());
        const int op = static_cast<int>(pick(4));
        if (where[r] < 0) {
            add(r, pick(parents.size()));
        } else if (op == 0) {
            remove(r);
        } else if (op == 1) {  // a new priority re-inserts it as the newest of that priority
            const auto p = static_cast<size_t>(where[r]);
            const int prio = static_cast<int>(pick(7)) - 3;
            for (Entry& e : model[p])
                if (e.mr == pool[r] && e.priority != prio) e = {prio, ++stamp, pool[r]};  // unchanged: a no-op
            pool[r]->set_priority(prio);
        } else if (op == 2) {  // move to another parent
            remove(r);
            add(r, pick(parents.size()));
        } else {  // empty a whole parent now and then, releasing its array
            if (pick(500) == 0)
                for (size_t i = 0; i < pool.size(); ++i)
                    if (where[i] == where[r] && static_cast<size_t>(i) != r) remove(i);
        }
        if (step % 997 == 0) check("during the random changes");
    }
    check("at the end");
}

TEST(MemoryRegionSubregions, RegionWithParentCannotBeAddedAgain) {
    MemorySystem sys;
    MemoryRegion& p1 = sys.create_container("p1", 0x10000);
    MemoryRegion& p2 = sys.create_container("p2", 0x10000);
    MemoryRegion& r = sys.create_ram("r", 0x1000);
    p1.add_subregion(0x1000, r);
    expect_error([&] { p2.add_subregion(0, r); }, "add to a second parent");
    expect_error([&] { p2.add_subregion_overlap(0, r, 1); }, "add with overlap to a second parent");
    expect_error([&] { p1.add_subregion_overlap(0x4000, r, 1); }, "add to the same parent twice");
    EXPECT_EQ(r.parent(), &p1);
    EXPECT_EQ(r.addr(), 0x1000u);
    EXPECT_EQ(p1.subregion_count(), 1u);
    EXPECT_EQ(p2.subregion_count(), 0u);
    // After removal it can be added elsewhere.
    p1.del_subregion(r);
    EXPECT_EQ(r.parent(), nullptr);
    EXPECT_EQ(p1.subregion_count(), 0u);
    p2.add_subregion(0x2000, r);
    EXPECT_EQ(r.parent(), &p2);
    EXPECT_EQ(r.addr(), 0x2000u);
}

TEST(MemoryRegionSubregions, ContainerCycleRefused) {
    MemorySystem sys;
    MemoryRegion& c1 = sys.create_container("c1", 0x10000);
    MemoryRegion& c2 = sys.create_container("c2", 0x1000);
    c1.add_subregion(0, c2);
    expect_error([&] { c1.add_subregion_overlap(0, c1, 0); }, "container into itself");
    expect_error([&] { c2.add_subregion_overlap(0, c1, 0); }, "ancestor into descendant");
    EXPECT_EQ(c1.parent(), nullptr);
    EXPECT_EQ(c2.subregion_count(), 0u);
}

TEST(MemoryRegionSubregions, DelNonChildThrowsAndLeavesTreeUnchanged) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& sub = sys.create_container("sub", 0x4000);
    MemoryRegion& grandchild = sys.create_ram("gc", 0x1000);
    MemoryRegion& loose = sys.create_ram("loose", 0x1000);
    MemoryRegion& other = sys.create_container("other", 0x1000);
    MemoryRegion& others_child = sys.create_ram("oc", 0x100);
    root.add_subregion(0x1000, sub);
    sub.add_subregion(0x800, grandchild);
    other.add_subregion(0, others_child);

    expect_error([&] { root.del_subregion(loose); }, "detached region");
    expect_error([&] { root.del_subregion(grandchild); }, "grandchild is no direct child");
    expect_error([&] { root.del_subregion(others_child); }, "child of another region");
    expect_error([&] { root.del_subregion(root); }, "itself");

    EXPECT_EQ(names(root.subregions()), (std::vector<std::string>{"sub"}));
    EXPECT_EQ(names(sub.subregions()), (std::vector<std::string>{"gc"}));
    EXPECT_EQ(grandchild.parent(), &sub);
    EXPECT_EQ(grandchild.addr(), 0x800u);
    EXPECT_EQ(others_child.parent(), &other);
    EXPECT_EQ(loose.parent(), nullptr);
    EXPECT_EQ(sub.parent(), &root);
}

TEST(MemoryRegionSubregions, DelSubregionThenReAddKeepsOtherChildren) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    root.add_subregion(0, a);
    root.add_subregion(0x1000, b);
    root.del_subregion(a);
    EXPECT_EQ(names(root.subregions()), (std::vector<std::string>{"b"}));
    expect_error([&] { root.del_subregion(a); }, "delete twice");
    root.add_subregion(0, a);
    EXPECT_EQ(names(root.subregions()), (std::vector<std::string>{"a", "b"}));  // a is newest now
}

TEST(MemoryRegionSubregions, AbsoluteAddr) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x100000);
    MemoryRegion& c = sys.create_container("c", 0x10000);
    MemoryRegion& r = sys.create_ram("r", 0x1000);
    root.add_subregion(0x20000, c);
    c.add_subregion(0x3000, r);
    EXPECT_EQ(r.absolute_addr(), 0x23000u);
    EXPECT_EQ(c.absolute_addr(), 0x20000u);
    EXPECT_EQ(root.absolute_addr(), 0u);
}

// ---------------------------------------------------------------------------

}  // namespace
}  // namespace kvmrr
