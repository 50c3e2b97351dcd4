// Unit tests for core/memory_region.h (and the region-owning parts of
// MemorySystem: creation, destroy, RAM block ids).
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

namespace kvmrr {
namespace {

FunctionOps null_ops() {
    return FunctionOps([](uint64_t, unsigned) -> uint64_t { return 0; }, [](uint64_t, uint64_t, unsigned) {});
}

std::vector<std::string> names(const std::vector<MemoryRegion*>& v) {
    std::vector<std::string> out;
    for (auto* r : v) out.push_back(r->name());
    return out;
}

// Expects `fn` to throw kvmrr::Error (and nothing else).
template <class F>
void expect_error(F&& fn, const char* what) {
    try {
        fn();
        ADD_FAILURE() << what << ": no kvmrr::Error thrown";
    } catch (const Error&) {
    } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": wrong exception type: " << e.what();
    }
}

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
// Alias cycles

TEST(MemoryRegionAliasCycles, AliasToItself) {
    MemorySystem sys;
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    MemoryRegion& a = sys.create_alias("a", ram, 0, 0x1000);
    expect_error([&] { a.set_alias_target(a); }, "alias to itself");
    EXPECT_EQ(a.alias_target(), &ram);
}

TEST(MemoryRegionAliasCycles, AliasAddedIntoItsOwnTarget) {
    MemorySystem sys;
    MemoryRegion& c = sys.create_container("c", 0x10000);
    MemoryRegion& a = sys.create_alias("a", c, 0, 0x1000);
    expect_error([&] { c.add_subregion(0x8000, a); }, "alias into its target");
    expect_error([&] { c.add_subregion_overlap(0x8000, a, 1); }, "alias into its target (overlap)");
    EXPECT_EQ(a.parent(), nullptr);
    EXPECT_EQ(c.subregion_count(), 0u);
}

TEST(MemoryRegionAliasCycles, AliasAddedIntoItsTargetsSubtree) {
    MemorySystem sys;
    MemoryRegion& c = sys.create_container("c", 0x10000);
    MemoryRegion& d = sys.create_container("d", 0x4000);
    MemoryRegion& e = sys.create_container("e", 0x1000);
    c.add_subregion(0x4000, d);
    d.add_subregion(0x1000, e);
    MemoryRegion& a = sys.create_alias("a", c, 0, 0x100);
    expect_error([&] { e.add_subregion(0, a); }, "alias deep inside its target");
    EXPECT_EQ(a.parent(), nullptr);
    EXPECT_EQ(e.subregion_count(), 0u);
}

TEST(MemoryRegionAliasCycles, RetargetAliasToAnAncestor) {
    MemorySystem sys;
    MemoryRegion& c = sys.create_container("c", 0x10000);
    MemoryRegion& d = sys.create_container("d", 0x4000);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    MemoryRegion& a = sys.create_alias("a", ram, 0, 0x1000);
    c.add_subregion(0, d);
    d.add_subregion(0, a);
    expect_error([&] { a.set_alias_target(c); }, "retarget to grandparent");
    expect_error([&] { a.set_alias_target(d); }, "retarget to parent");
    EXPECT_EQ(a.alias_target(), &ram);
}

TEST(MemoryRegionAliasCycles, CycleThroughTwoAliasesAndContainers) {
    MemorySystem sys;
    MemoryRegion& c1 = sys.create_container("c1", 0x10000);
    MemoryRegion& c2 = sys.create_container("c2", 0x10000);
    MemoryRegion& inner = sys.create_container("inner", 0x1000);
    MemoryRegion& a1 = sys.create_alias("a1", c2, 0, 0x1000);  // a1 -> c2
    MemoryRegion& a2 = sys.create_alias("a2", c1, 0, 0x1000);  // a2 -> c1
    c1.add_subregion(0, a1);                                    // c1 contains a1 -> c2
    c2.add_subregion(0x4000, inner);
    // c2 > inner > a2 -> c1 > a1 -> c2: a cycle.
    expect_error([&] { inner.add_subregion(0, a2); }, "two-alias cycle via add");
    EXPECT_EQ(a2.parent(), nullptr);
    EXPECT_EQ(inner.subregion_count(), 0u);

    // The same cycle closed by retargeting: a3 -> ram, put in inner, then
    // retarget a3 to c1.
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    MemoryRegion& a3 = sys.create_alias("a3", ram, 0, 0x1000);
    inner.add_subregion(0, a3);
    expect_error([&] { a3.set_alias_target(c1); }, "two-alias cycle via retarget");
    EXPECT_EQ(a3.alias_target(), &ram);

    // Alias to an alias that leads back.
    MemoryRegion& a4 = sys.create_alias("a4", a1, 0, 0x1000);  // a4 -> a1 -> c2
    expect_error([&] { c2.add_subregion_overlap(0x8000, a4, 0); }, "alias of alias cycle");
    EXPECT_EQ(a4.parent(), nullptr);
}

TEST(MemoryRegionAliasCycles, ContainerContainingAliasToItIsRefused) {
    // The cycle is closed by adding a container into the subtree that the
    // alias points into.
    MemorySystem sys;
    MemoryRegion& top = sys.create_container("top", 0x10000);
    MemoryRegion& x = sys.create_container("x", 0x1000);
    MemoryRegion& a = sys.create_alias("a", x, 0, 0x1000);  // a -> x
    top.add_subregion(0, a);                                // top > a -> x
    expect_error([&] { x.add_subregion(0, top); }, "x > top > a -> x");
    EXPECT_EQ(top.parent(), nullptr);
    EXPECT_EQ(x.subregion_count(), 0u);
}

TEST(MemoryRegionAliasCycles, DiamondIsNotACycle) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    MemoryRegion& a1 = sys.create_alias("a1", ram, 0, 0x1000);
    MemoryRegion& a2 = sys.create_alias("a2", ram, 0, 0x1000);
    MemoryRegion& a3 = sys.create_alias("a3", a1, 0, 0x1000);
    root.add_subregion(0x0000, a1);
    root.add_subregion(0x1000, a2);
    root.add_subregion(0x2000, a3);
    root.add_subregion(0x3000, ram);
    EXPECT_EQ(root.subregion_count(), 4u);
}

// ---------------------------------------------------------------------------
// Overflow and size rules

TEST(MemoryRegionChecks, AddSubregionOverflowThrows) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", UINT64_MAX);
    MemoryRegion& r = sys.create_ram("r", 0x1000);
    expect_error([&] { root.add_subregion(UINT64_MAX - 0x800, r); }, "offset+size overflows");
    expect_error([&] { root.add_subregion_overlap(UINT64_MAX, r, 0); }, "offset+size overflows (overlap)");
    EXPECT_EQ(r.parent(), nullptr);
    EXPECT_EQ(root.subregion_count(), 0u);
    // Exactly reaching UINT64_MAX is representable.
    root.add_subregion(UINT64_MAX - 0x1000, r);
    EXPECT_EQ(r.addr(), UINT64_MAX - 0x1000);
}

TEST(MemoryRegionChecks, SetAddressOverflowThrows) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", UINT64_MAX);
    MemoryRegion& r = sys.create_ram("r", 0x1000);
    root.add_subregion(0x1000, r);
    expect_error([&] { r.set_address(UINT64_MAX - 0xfff); }, "set_address overflow");
    EXPECT_EQ(r.addr(), 0x1000u);
    r.set_address(0x5000);
    EXPECT_EQ(r.addr(), 0x5000u);
}

TEST(MemoryRegionChecks, SetSizeOverflowThrows) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", UINT64_MAX);
    MemoryRegion& c = sys.create_container("c", 0x1000);
    root.add_subregion(UINT64_MAX - 0x2000, c);
    expect_error([&] { c.set_size(0x2001); }, "set_size overflow");
    EXPECT_EQ(c.size(), 0x1000u);
    c.set_size(0x2000);
    EXPECT_EQ(c.size(), 0x2000u);
}

TEST(MemoryRegionChecks, ZeroSizeRamThrows) {
    MemorySystem sys;
    expect_error([&] { sys.create_ram("zero", 0); }, "create_ram(0)");
    expect_error([&] { sys.create_rom("zero-rom", 0); }, "create_rom(0)");
    EXPECT_EQ(sys.region_count(), 0u);
    EXPECT_TRUE(sys.ram_blocks().empty());
}

TEST(MemoryRegionChecks, SetSizeZeroThrows) {
    MemorySystem sys;
    MemoryRegion& c = sys.create_container("c", 0x1000);
    expect_error([&] { c.set_size(0); }, "set_size(0) container");
    EXPECT_EQ(c.size(), 0x1000u);
    FunctionOps ops = null_ops();
    MemoryRegion& io = sys.create_io("io", 0x10, ops);
    expect_error([&] { io.set_size(0); }, "set_size(0) io");
    EXPECT_EQ(io.size(), 0x10u);
}

TEST(MemoryRegionChecks, SetAddressCollisionThrows) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    root.add_subregion(0x0000, a);
    root.add_subregion(0x4000, b);
    expect_error([&] { b.set_address(0x0800); }, "move b onto a");
    EXPECT_EQ(b.addr(), 0x4000u);
    b.set_address(0x1000);  // adjacent: fine
    EXPECT_EQ(b.addr(), 0x1000u);
}

TEST(MemoryRegionChecks, SetSizeCollisionThrows) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& a = sys.create_container("a", 0x1000);
    MemoryRegion& b = sys.create_container("b", 0x1000);
    root.add_subregion(0x0000, a);
    root.add_subregion(0x2000, b);
    expect_error([&] { a.set_size(0x2001); }, "grow a into b");
    EXPECT_EQ(a.size(), 0x1000u);
    a.set_size(0x2000);
    EXPECT_EQ(a.size(), 0x2000u);
}

TEST(MemoryRegionChecks, SetAliasOffsetOnNonAliasThrows) {
    MemorySystem sys;
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    MemoryRegion& c = sys.create_container("c", 0x1000);
    expect_error([&] { ram.set_alias_offset(0x10); }, "ram");
    expect_error([&] { c.set_alias_offset(0x10); }, "container");
    expect_error([&] { c.set_alias_target(ram); }, "set_alias_target on container");
    EXPECT_EQ(ram.alias_offset(), 0u);
    EXPECT_EQ(c.alias_target(), nullptr);
}

TEST(MemoryRegionChecks, SetRomdOnNonRomdThrows) {
    MemorySystem sys;
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    MemoryRegion& rom = sys.create_rom("rom", 0x1000);
    FunctionOps ops = null_ops();
    MemoryRegion& io = sys.create_io("io", 0x10, ops);
    expect_error([&] { ram.set_romd(false); }, "ram");
    expect_error([&] { rom.set_romd(false); }, "rom");
    expect_error([&] { io.set_romd(true); }, "io");
}

// ---------------------------------------------------------------------------
// destroy

TEST(MemorySystemDestroy, RefusesRegionsInUse) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& child = sys.create_container("child", 0x4000);
    MemoryRegion& leaf = sys.create_ram("leaf", 0x1000);
    MemoryRegion& target = sys.create_ram("target", 0x1000);
    MemoryRegion& alias = sys.create_alias("alias", target, 0, 0x1000);
    root.add_subregion(0, child);
    child.add_subregion(0, leaf);
    (void)sys.create_memory_space("mem", root);
    const size_t n = sys.region_count();
    EXPECT_EQ(n, 5u);

    expect_error([&] { sys.destroy(leaf); }, "has a parent");
    expect_error([&] { sys.destroy(child); }, "has parent and children");
    expect_error([&] { sys.destroy(target); }, "alias target");
    expect_error([&] { sys.destroy(root); }, "address-space root");
    EXPECT_EQ(sys.region_count(), n);
    EXPECT_EQ(leaf.parent(), &child);
    EXPECT_EQ(child.parent(), &root);

    // Detach the child: it still has a child of its own.
    root.del_subregion(child);
    expect_error([&] { sys.destroy(child); }, "has children");
    EXPECT_EQ(sys.region_count(), n);

    // Fully detached regions go.
    child.del_subregion(leaf);
    sys.destroy(leaf);
    EXPECT_EQ(sys.region_count(), n - 1);
    sys.destroy(child);
    EXPECT_EQ(sys.region_count(), n - 2);
    // An unplaced alias is detached; after it goes its target is free.
    sys.destroy(alias);
    EXPECT_EQ(sys.region_count(), n - 3);
    sys.destroy(target);
    EXPECT_EQ(sys.region_count(), n - 4);
}

// Regions live in the machine's pool, which keeps a destroyed region's
// slot for the next one; under AddressSanitizer the slot is poisoned, so a
// dangling reference is still caught. (Outside ASan there is nothing to see.)
TEST(MemorySystemDestroy, UseAfterDestroyIsCaughtUnderAddressSanitizer) {
    if (!RegionPool::kPoisonsFreeSlots) GTEST_SKIP() << "only an AddressSanitizer build can see a use of a destroyed region";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            MemorySystem sys;
            MemoryRegion* dangling = &sys.create_container("gone", 0x1000);
            sys.destroy(*dangling);
            volatile uint64_t size = dangling->size();
            (void)size;
        },
        "use-after-poison");
    // A new region reuses the slot, unpoisoned.
    MemorySystem sys;
    MemoryRegion& a = sys.create_container("a", 0x1000);
    MemoryRegion* slot = &a;
    sys.destroy(a);
    MemoryRegion& b = sys.create_container("b", 0x2000);
    EXPECT_EQ(&b, slot);
    EXPECT_EQ(b.size(), 0x2000u);
}

TEST(MemorySystemDestroy, SerialsAreNeverReusedWhenSlotsAre) {
    MemorySystem sys;
    MemoryRegion* a = &sys.create_container("a", 0x1000);
    const MemoryRegion& b = sys.create_container("b", 0x1000);
    EXPECT_NE(a->serial(), b.serial());
    const void* slot = a;
    const uint64_t old = a->serial();
    sys.destroy(*a);
    const MemoryRegion& c = sys.create_container("c", 0x1000);
    EXPECT_EQ(static_cast<const void*>(&c), slot);  // the pool hands the slot out again...
    EXPECT_NE(c.serial(), old);                      // ...but not the serial
    EXPECT_NE(c.serial(), b.serial());
    MemorySystem other;  // each system counts its own
    EXPECT_EQ(other.create_container("x", 0x1000).serial(), sys.create_container("y", 0x1000).serial() - 3);
}

TEST(MemorySystemDestroy, AliasRetargetReleasesOldTarget) {
    MemorySystem sys;
    MemoryRegion& t1 = sys.create_ram("t1", 0x1000);
    MemoryRegion& t2 = sys.create_ram("t2", 0x1000);
    MemoryRegion& a = sys.create_alias("a", t1, 0, 0x1000);
    expect_error([&] { sys.destroy(t1); }, "t1 aliased");
    a.set_alias_target(t2);
    sys.destroy(t1);  // no longer an alias target
    expect_error([&] { sys.destroy(t2); }, "t2 aliased");
    EXPECT_EQ(sys.region_count(), 2u);
}

// ---------------------------------------------------------------------------
// RAM block ids

TEST(RamBlockIds, CreationOrderPerSystem) {
    MemorySystem s1;
    MemorySystem s2;
    FunctionOps ops = null_ops();
    MemoryRegion& a = s1.create_ram("a", 0x1000);
    MemoryRegion& x = s2.create_ram("x", 0x1000);
    MemoryRegion& b = s1.create_rom("b", 0x1000);
    (void)s1.create_container("no-block", 0x1000);
    (void)s1.create_io("no-block-io", 0x10, ops);
    MemoryRegion& c = s1.create_rom_device("c", 0x1000, ops);
    MemoryRegion& y = s2.create_ram("y", 0x2000);
    ASSERT_NE(a.ram_block(), nullptr);
    ASSERT_NE(b.ram_block(), nullptr);
    ASSERT_NE(c.ram_block(), nullptr);
    EXPECT_EQ(a.ram_block()->id(), 0u);
    EXPECT_EQ(b.ram_block()->id(), 1u);
    EXPECT_EQ(c.ram_block()->id(), 2u);
    EXPECT_EQ(x.ram_block()->id(), 0u);  // a second system starts at 0 too
    EXPECT_EQ(y.ram_block()->id(), 1u);
    EXPECT_EQ(a.ram_block()->name(), "a");
    ASSERT_EQ(s1.ram_blocks().size(), 3u);
    ASSERT_EQ(s2.ram_blocks().size(), 2u);
    EXPECT_EQ(s1.ram_blocks()[0]->id(), 0u);
    EXPECT_EQ(s1.ram_blocks()[1]->id(), 1u);
    EXPECT_EQ(s1.ram_blocks()[2]->id(), 2u);
}

TEST(RamBlockIds, NewSystemAfterOldOneDiesStartsAtZero) {
    { MemorySystem tmp; (void)tmp.create_ram("t0", 0x1000); (void)tmp.create_ram("t1", 0x1000); }
    MemorySystem sys;
    EXPECT_EQ(sys.create_ram("r", 0x1000).ram_block()->id(), 0u);
}

TEST(RamBlockIds, IdsStableAndNotReusedAfterDestroy) {
    MemorySystem sys;
    MemoryRegion& r0 = sys.create_ram("r0", 0x1000);
    MemoryRegion& r1 = sys.create_ram("r1", 0x1000);
    MemoryRegion& r2 = sys.create_ram("r2", 0x1000);
    RamBlock* b2 = r2.ram_block();
    sys.destroy(r1);
    MemoryRegion& r3 = sys.create_ram("r3", 0x1000);
    EXPECT_EQ(r0.ram_block()->id(), 0u);
    EXPECT_EQ(r2.ram_block(), b2);
    EXPECT_EQ(r2.ram_block()->id(), 2u);
    EXPECT_EQ(r3.ram_block()->id(), 3u);  // creation order, no reuse of 1
    std::set<uint32_t> ids;
    for (auto& b : sys.ram_blocks()) EXPECT_TRUE(ids.insert(b->id()).second) << "duplicate id " << b->id();
}

TEST(RamBlockIds, FailedCreationDoesNotConsumeAnId) {
    MemorySystem sys;
    MemoryRegion& r0 = sys.create_ram("r0", 0x1000);
    expect_error([&] { sys.create_ram("bad", 0); }, "zero-size");
    MemoryRegion& r1 = sys.create_ram("r1", 0x1000);
    EXPECT_EQ(r0.ram_block()->id(), 0u);
    EXPECT_EQ(r1.ram_block()->id(), 1u);
}

}  // namespace
}  // namespace kvmrr

namespace kvmrr {
namespace {

// Moving a region re-adds it (QEMU's set_address): it then wins ties with
// its equal-priority siblings.
TEST(MemoryRegionTieOrder, SetAddressMakesTheRegionTheNewestAmongEquals) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& a = sys.create_ram("a", 0x2000);
    MemoryRegion& b = sys.create_ram("b", 0x2000);
    root.add_subregion_overlap(0, a, 0);
    root.add_subregion_overlap(0x1000, b, 0);
    a.set_address(0x800);
    auto v = FlatView::render(root);
    ASSERT_EQ(v->size(), 2u);
    EXPECT_EQ(v->ranges()[0].mr, &a);
    EXPECT_EQ(v->ranges()[0].range, AddrRange::make(0x800, 0x2000));
    EXPECT_EQ(v->ranges()[1].mr, &b);
    EXPECT_EQ(v->ranges()[1].range, AddrRange::make(0x2800, 0x800));
    EXPECT_EQ(v->ranges()[1].offset_in_region, 0x1800u);
}

}  // namespace
}  // namespace kvmrr
