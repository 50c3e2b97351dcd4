// Unit tests for core/address_space.h: dispatch of guest accesses through
// MemoryAddressSpace to RAM, ROM, ROM devices, reservations and holes, and
// accesses split at range boundaries. The access rules, sizes, byte
// copies, the I/O space and dispatch across commits:
// address_space_rules_test.cc.
#include "core/address_space.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/ram_block.h"
#include "core/region_ops.h"
#include "core/tests/address_space_test_util.h"

namespace kvmrr {
namespace {

using namespace test;

// ---------------------------------------------------------------------------
// RAM

TEST_F(AsTest, RamWritesAreLittleEndianInHostMemory) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, ram);
    uint8_t* h = ram.ram_block()->host();

    EXPECT_EQ(as.write(Gpa(0x10), 0x1122334455667788ull, 8), AccessStatus::Ok);
    const uint8_t exp8[] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    EXPECT_EQ(std::memcmp(h + 0x10, exp8, 8), 0);

    EXPECT_EQ(as.write(Gpa(0x20), 0xa1b2c3d4, 4), AccessStatus::Ok);
    EXPECT_EQ(h[0x20], 0xd4);
    EXPECT_EQ(h[0x21], 0xc3);
    EXPECT_EQ(h[0x22], 0xb2);
    EXPECT_EQ(h[0x23], 0xa1);
    EXPECT_EQ(h[0x24], 0x00);

    // Only the low `size` bytes of the value are written.
    EXPECT_EQ(as.write(Gpa(0x31), 0xffffabcd, 2), AccessStatus::Ok);
    EXPECT_EQ(h[0x30], 0x00);
    EXPECT_EQ(h[0x31], 0xcd);
    EXPECT_EQ(h[0x32], 0xab);
    EXPECT_EQ(h[0x33], 0x00);

    EXPECT_EQ(as.write(Gpa(0x40), 0x5a5a5a5a5a5a5aeeull, 1), AccessStatus::Ok);
    EXPECT_EQ(h[0x3f], 0x00);
    EXPECT_EQ(h[0x40], 0xee);
    EXPECT_EQ(h[0x41], 0x00);
}

TEST_F(AsTest, RamReadsAreLittleEndian) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, ram);
    uint8_t* h = ram.ram_block()->host();
    const uint8_t bytes[] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x42};
    std::memcpy(h + 0x100, bytes, sizeof bytes);

    AccessResult r8 = as.read(Gpa(0x100), 8);
    EXPECT_EQ(r8.status, AccessStatus::Ok);
    EXPECT_EQ(r8.value, 0xefcdab8967452301ull);
    EXPECT_EQ(as.read(Gpa(0x100), 4).value, 0x67452301u);
    EXPECT_EQ(as.read(Gpa(0x104), 4).value, 0xefcdab89u);
    EXPECT_EQ(as.read(Gpa(0x102), 2).value, 0x6745u);
    EXPECT_EQ(as.read(Gpa(0x108), 1).value, 0x42u);
    // RAM has no alignment rules.
    EXPECT_EQ(as.read(Gpa(0x101), 8).value, 0x42efcdab89674523ull);
    EXPECT_EQ(as.read(Gpa(0x103), 2).value, 0x8967u);
}

TEST_F(AsTest, RamAtNonZeroAddressAndThroughAlias) {
    MemoryRegion& ram = sys.create_ram("ram", 0x2000);
    MemoryRegion& al = sys.create_alias("ram-alias", ram, 0x800, 0x1000);
    root.add_subregion(0x10000, ram);
    root.add_subregion(0x40000, al);
    EXPECT_EQ(as.write(Gpa(0x10010), 0xdeadbeef, 4), AccessStatus::Ok);
    EXPECT_EQ(host_le(ram, 0x10, 4), 0xdeadbeefu);
    EXPECT_EQ(as.write(Gpa(0x40020), 0xcafe, 2), AccessStatus::Ok);  // ram offset 0x820
    EXPECT_EQ(host_le(ram, 0x820, 2), 0xcafeu);
    EXPECT_EQ(as.read(Gpa(0x10820), 2).value, 0xcafeu);
    EXPECT_EQ(as.read(Gpa(0x3fffc), 4).status, AccessStatus::Unassigned);  // just below the alias
    EXPECT_EQ(as.read(Gpa(0x41000), 4).status, AccessStatus::Unassigned);  // just past the alias
    EXPECT_EQ(as.read(Gpa(0x40ffc), 4).value, host_le(ram, 0x17fc, 4));
}

TEST_F(AsTest, RamStatsCounted) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, ram);
    as.reset_stats();
    (void)as.read(Gpa(0), 4);
    (void)as.read(Gpa(8), 8);
    (void)as.write(Gpa(0), 1, 1);
    EXPECT_EQ(as.stats().reads, 2u);
    EXPECT_EQ(as.stats().writes, 1u);
    EXPECT_EQ(as.stats().unassigned_reads, 0u);
    EXPECT_EQ(as.stats().unassigned_writes, 0u);
    EXPECT_EQ(as.stats().invalid, 0u);
    EXPECT_EQ(as.stats().rom_writes_dropped, 0u);
    EXPECT_TRUE(faults.empty());
    as.reset_stats();
    EXPECT_EQ(as.stats().reads, 0u);
    EXPECT_EQ(as.stats().writes, 0u);
}

// ---------------------------------------------------------------------------
// Splitting at range boundaries

TEST_F(AsTest, ReadStraddlingRamAndIoIsSplit) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    RegDev dev(0x100);
    MemoryRegion& io = sys.create_io("dev", 0x100, dev);
    root.add_subregion(0, ram);
    root.add_subregion(0x1000, io);
    uint8_t* h = ram.ram_block()->host();
    h[0xffc] = 0x01;
    h[0xffd] = 0x02;
    h[0xffe] = 0x03;
    h[0xfff] = 0x04;
    AccessResult r = as.read(Gpa(0xffc), 8);
    EXPECT_EQ(r.status, AccessStatus::Ok);
    EXPECT_EQ(r.value, 0x8382818004030201ull);
    EXPECT_EQ(dev.calls(), calls({R(0, 4)}));
    EXPECT_TRUE(faults.empty());
}

TEST_F(AsTest, WriteStraddlingRamAndIoIsSplit) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    RegDev dev(0x100);
    MemoryRegion& io = sys.create_io("dev", 0x100, dev);
    root.add_subregion(0, ram);
    root.add_subregion(0x1000, io);
    EXPECT_EQ(as.write(Gpa(0xffc), 0x1122334455667788ull, 8), AccessStatus::Ok);
    EXPECT_EQ(host_le(ram, 0xffc, 4), 0x55667788u);
    EXPECT_EQ(dev.calls(), calls({W(0, 4, 0x11223344)}));
    EXPECT_EQ(dev.le(0, 4), 0x11223344u);
}

TEST_F(AsTest, ReadStraddlingIoAndRamIsSplit) {
    RegDev dev(0x100);
    MemoryRegion& io = sys.create_io("dev", 0x100, dev);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0x1000, io);
    root.add_subregion(0x1100, ram);
    ram.ram_block()->host()[0] = 0xaa;
    ram.ram_block()->host()[1] = 0xbb;
    AccessResult r = as.read(Gpa(0x10fe), 4);
    EXPECT_EQ(r.status, AccessStatus::Ok);
    EXPECT_EQ(r.value, 0xbbaa0000u | dev.le(0xfe, 2));
    EXPECT_EQ(dev.calls(), calls({R(0xfe, 2)}));
}

TEST_F(AsTest, AccessStraddlingTwoRamRegions) {
    MemoryRegion& r1 = sys.create_ram("r1", 0x1000);
    MemoryRegion& r2 = sys.create_ram("r2", 0x1000);
    root.add_subregion(0, r1);
    root.add_subregion(0x1000, r2);
    EXPECT_EQ(as.write(Gpa(0xffe), 0x0a0b0c0d, 4), AccessStatus::Ok);
    EXPECT_EQ(host_le(r1, 0xffe, 2), 0x0c0du);
    EXPECT_EQ(host_le(r2, 0, 2), 0x0a0bu);
    EXPECT_EQ(as.read(Gpa(0xffe), 4).value, 0x0a0b0c0du);
}

// ---------------------------------------------------------------------------
// Unassigned and reservations

TEST_F(AsTest, UnassignedReadsAreAllOnes) {
    struct Case {
        unsigned size;
        uint64_t ones;
    };
    for (Case c : {Case{1, 0xff}, Case{2, 0xffff}, Case{4, 0xffffffff}, Case{8, ~0ull}}) {
        AccessResult r = as.read(Gpa(0x50000), c.size);
        EXPECT_EQ(r.status, AccessStatus::Unassigned) << c.size;
        EXPECT_EQ(r.value, c.ones) << c.size;
    }
    EXPECT_EQ(as.stats().unassigned_reads, 4u);
    EXPECT_EQ(as.stats().unassigned_writes, 0u);
    ASSERT_EQ(faults.size(), 4u);
    EXPECT_EQ(faults[1].as, &as);
    EXPECT_EQ(faults[1].addr, 0x50000u);
    EXPECT_EQ(faults[1].size, 2u);
    EXPECT_FALSE(faults[1].is_write);
    EXPECT_EQ(faults[1].status, AccessStatus::Unassigned);
    EXPECT_EQ(faults[3].size, 8u);
}

TEST_F(AsTest, UnassignedWritesAreDroppedAndReported) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, ram);
    EXPECT_EQ(as.write(Gpa(0x7000), 0xabcd, 2), AccessStatus::Unassigned);
    EXPECT_EQ(as.stats().unassigned_writes, 1u);
    EXPECT_EQ(as.stats().unassigned_reads, 0u);
    ASSERT_EQ(faults.size(), 1u);
    EXPECT_EQ(faults[0].addr, 0x7000u);
    EXPECT_EQ(faults[0].size, 2u);
    EXPECT_TRUE(faults[0].is_write);
    EXPECT_EQ(faults[0].value, 0xabcdu);
    EXPECT_EQ(faults[0].status, AccessStatus::Unassigned);
    for (uint64_t i = 0; i < 0x1000; ++i) ASSERT_EQ(ram.ram_block()->host()[i], 0) << i;
}

TEST_F(AsTest, PartlyUnassignedRead) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, ram);
    uint8_t* h = ram.ram_block()->host();
    h[0xffc] = 0x12;
    h[0xffd] = 0x34;
    h[0xffe] = 0x56;
    h[0xfff] = 0x78;
    AccessResult r = as.read(Gpa(0xffc), 8);
    EXPECT_EQ(r.status, AccessStatus::Unassigned);
    EXPECT_EQ(r.value, 0xffffffff78563412ull);
    EXPECT_EQ(as.stats().unassigned_reads, 1u);
    ASSERT_EQ(faults.size(), 1u);
    EXPECT_EQ(faults[0].addr, 0x1000u);  // the piece that faulted
    EXPECT_EQ(faults[0].size, 4u);
    EXPECT_FALSE(faults[0].is_write);
    EXPECT_EQ(faults[0].status, AccessStatus::Unassigned);
}

TEST_F(AsTest, PartlyUnassignedWriteKeepsRamPart) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0x1000, ram);
    EXPECT_EQ(as.write(Gpa(0xffc), 0x1122334455667788ull, 8), AccessStatus::Unassigned);
    EXPECT_EQ(host_le(ram, 0, 4), 0x11223344u);
    EXPECT_EQ(as.stats().unassigned_writes, 1u);
    ASSERT_EQ(faults.size(), 1u);
    EXPECT_EQ(faults[0].addr, 0xffcu);
    EXPECT_EQ(faults[0].size, 4u);
    EXPECT_TRUE(faults[0].is_write);
}

TEST_F(AsTest, NoFaultHandlerIsFine) {
    as.set_fault_handler(nullptr);
    EXPECT_EQ(as.read(Gpa(0x1234), 4).value, 0xffffffffu);
    EXPECT_EQ(as.write(Gpa(0x1234), 1, 4), AccessStatus::Unassigned);
    EXPECT_EQ(as.stats().unassigned_reads, 1u);
    EXPECT_EQ(as.stats().unassigned_writes, 1u);
}

TEST_F(AsTest, ReservationBehavesAsUnassigned) {
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& resv = sys.create_reservation("resv", 0x1000);
    root.add_subregion_overlap(0, ram, 0);
    root.add_subregion_overlap(0x1000, resv, 1);  // hides the RAM underneath
    fill_pattern(ram, 0x10);
    const uint64_t before = host_le(ram, 0x1000, 8);

    AccessResult r = as.read(Gpa(0x1000), 4);
    EXPECT_EQ(r.status, AccessStatus::Unassigned);
    EXPECT_EQ(r.value, 0xffffffffu);
    EXPECT_EQ(as.read(Gpa(0x1ffe), 2).value, 0xffffu);
    EXPECT_EQ(as.write(Gpa(0x1000), 0, 8), AccessStatus::Unassigned);
    EXPECT_EQ(host_le(ram, 0x1000, 8), before);
    EXPECT_EQ(as.stats().unassigned_reads, 2u);
    EXPECT_EQ(as.stats().unassigned_writes, 1u);
    ASSERT_EQ(faults.size(), 3u);
    EXPECT_EQ(faults[0].addr, 0x1000u);
    EXPECT_EQ(faults[0].status, AccessStatus::Unassigned);
    // Outside the reservation the RAM answers.
    AccessResult ok = as.read(Gpa(0x2000), 1);
    EXPECT_EQ(ok.status, AccessStatus::Ok);
    EXPECT_EQ(ok.value, host_le(ram, 0x2000, 1));
}

// ---------------------------------------------------------------------------
// ROM and readonly RAM

TEST_F(AsTest, RomReadsContentsAndDropsWrites) {
    MemoryRegion& rom = sys.create_rom("bios", 0x1000);
    root.add_subregion(0xf0000, rom);
    fill_pattern(rom, 0x33);
    const uint64_t before = host_le(rom, 0x10, 8);

    AccessResult r = as.read(Gpa(0xf0010), 8);
    EXPECT_EQ(r.status, AccessStatus::Ok);
    EXPECT_EQ(r.value, before);

    EXPECT_EQ(as.write(Gpa(0xf0010), 0x0102030405060708ull, 8), AccessStatus::Ok);
    EXPECT_EQ(host_le(rom, 0x10, 8), before);
    EXPECT_EQ(as.write(Gpa(0xf0fff), 0, 1), AccessStatus::Ok);
    EXPECT_EQ(as.stats().rom_writes_dropped, 2u);
    EXPECT_EQ(as.stats().unassigned_writes, 0u);
    EXPECT_EQ(as.stats().invalid, 0u);
}

TEST_F(AsTest, ReadonlyRamDropsWrites) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, ram);
    fill_pattern(ram, 0x44);
    ram.set_readonly(true);
    const uint64_t before = host_le(ram, 0x100, 4);
    EXPECT_EQ(as.write(Gpa(0x100), 0xffffffff, 4), AccessStatus::Ok);
    EXPECT_EQ(host_le(ram, 0x100, 4), before);
    EXPECT_EQ(as.read(Gpa(0x100), 4).value, before);
    EXPECT_EQ(as.stats().rom_writes_dropped, 1u);
    ram.set_readonly(false);
    EXPECT_EQ(as.write(Gpa(0x100), 0xffffffff, 4), AccessStatus::Ok);
    EXPECT_EQ(host_le(ram, 0x100, 4), 0xffffffffu);
    EXPECT_EQ(as.stats().rom_writes_dropped, 1u);
}

TEST_F(AsTest, ReadonlyInheritedFromContainerOrAlias) {
    MemoryRegion& c = sys.create_container("c", 0x1000);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    MemoryRegion& al = sys.create_alias("ro-alias", ram, 0, 0x1000);
    root.add_subregion(0x0000, c);
    c.add_subregion(0, ram);
    root.add_subregion(0x8000, al);
    al.set_readonly(true);
    // Writable directly, readonly through the alias.
    EXPECT_EQ(as.write(Gpa(0x8010), 0x77, 1), AccessStatus::Ok);
    EXPECT_EQ(ram.ram_block()->host()[0x10], 0);
    EXPECT_EQ(as.write(Gpa(0x0010), 0x66, 1), AccessStatus::Ok);
    EXPECT_EQ(ram.ram_block()->host()[0x10], 0x66);
    EXPECT_EQ(as.read(Gpa(0x8010), 1).value, 0x66u);
    c.set_readonly(true);
    EXPECT_EQ(as.write(Gpa(0x0010), 0x55, 1), AccessStatus::Ok);
    EXPECT_EQ(ram.ram_block()->host()[0x10], 0x66);
    EXPECT_EQ(as.stats().rom_writes_dropped, 2u);
}

// ---------------------------------------------------------------------------
// ROM devices

TEST_F(AsTest, RomDeviceInRomdModeReadsMemoryWritesGoToOps) {
    RegDev dev(0x1000);
    MemoryRegion& flash = sys.create_rom_device("flash", 0x1000, dev);
    root.add_subregion(0x20000, flash);
    fill_pattern(flash, 0x21);
    const uint64_t mem = host_le(flash, 0x40, 4);
    ASSERT_NE(mem, dev.le(0x40, 4));

    AccessResult r = as.read(Gpa(0x20040), 4);
    EXPECT_EQ(r.status, AccessStatus::Ok);
    EXPECT_EQ(r.value, mem);
    EXPECT_EQ(dev.calls(), "");

    EXPECT_EQ(as.write(Gpa(0x20080), 0x90, 1), AccessStatus::Ok);
    EXPECT_EQ(dev.calls(), calls({W(0x80, 1, 0x90)}));
    EXPECT_EQ(host_le(flash, 0x80, 1), static_cast<uint8_t>(0x21 + 0x80 * 7));  // memory untouched
    EXPECT_EQ(as.stats().rom_writes_dropped, 0u);
}

TEST_F(AsTest, RomDeviceOutOfRomdModeReadsThroughOps) {
    RegDev dev(0x1000);
    MemoryRegion& flash = sys.create_rom_device("flash", 0x1000, dev);
    root.add_subregion(0x20000, flash);
    fill_pattern(flash, 0x21);
    flash.set_romd(false);
    AccessResult r = as.read(Gpa(0x20040), 4);
    EXPECT_EQ(r.status, AccessStatus::Ok);
    EXPECT_EQ(r.value, dev.le(0x40, 4));
    EXPECT_EQ(dev.calls(), calls({R(0x40, 4)}));
    EXPECT_EQ(as.write(Gpa(0x20044), 0x1234, 2), AccessStatus::Ok);
    EXPECT_EQ(dev.calls(), calls({R(0x40, 4), W(0x44, 2, 0x1234)}));
    // Back in romd mode: memory again.
    flash.set_romd(true);
    EXPECT_EQ(as.read(Gpa(0x20040), 4).value, host_le(flash, 0x40, 4));
    EXPECT_EQ(dev.log.size(), 2u);
}

}  // namespace
}  // namespace kvmrr
