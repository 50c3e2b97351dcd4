// Unit tests for core/memory_region.h (and the region-owning parts of
// MemorySystem): alias cycles, overflow and size rules, destroy, RAM block
// ids, and the tie order of a moved region.
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
