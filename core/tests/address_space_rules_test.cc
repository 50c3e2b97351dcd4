// Unit tests for core/address_space.h: how AccessRules fit an access to a
// device (valid and impl sizes, alignment, splitting), the status of a
// split access, read_bytes / write_bytes, the I/O address space, and
// dispatch through the view of the last commit.
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
// Access rules: valid

struct RulesTest : AsTest {
    RegDev dev{0x100};
    MemoryRegion* io = nullptr;
    void place(AccessRules rules) {
        io = &sys.create_io("dev", 0x100, dev, rules);
        root.add_subregion(0x1000, *io);
    }
};

TEST_F(RulesTest, ValidSizeOutsideMinMaxIsInvalid) {
    AccessRules rules;
    rules.valid.min = 2;
    rules.valid.max = 4;
    place(rules);

    AccessResult r1 = as.read(Gpa(0x1000), 1);
    EXPECT_EQ(r1.status, AccessStatus::Invalid);
    EXPECT_EQ(r1.value, 0xffu);
    AccessResult r8 = as.read(Gpa(0x1000), 8);
    EXPECT_EQ(r8.status, AccessStatus::Invalid);
    EXPECT_EQ(r8.value, ~0ull);
    EXPECT_EQ(as.write(Gpa(0x1000), 0x12, 1), AccessStatus::Invalid);
    EXPECT_EQ(as.write(Gpa(0x1000), 0x12, 8), AccessStatus::Invalid);
    EXPECT_EQ(dev.calls(), "") << "rejected accesses must not reach the device";
    EXPECT_EQ(as.stats().invalid, 4u);
    EXPECT_EQ(as.stats().unassigned_reads, 0u);
    EXPECT_EQ(as.stats().unassigned_writes, 0u);
    ASSERT_EQ(faults.size(), 4u);
    EXPECT_EQ(faults[0].status, AccessStatus::Invalid);
    EXPECT_EQ(faults[0].addr, 0x1000u);
    EXPECT_EQ(faults[0].size, 1u);
    EXPECT_FALSE(faults[0].is_write);
    EXPECT_EQ(faults[3].status, AccessStatus::Invalid);
    EXPECT_TRUE(faults[3].is_write);
    EXPECT_EQ(faults[3].size, 8u);

    // In range: accepted.
    AccessResult ok2 = as.read(Gpa(0x1000), 2);
    EXPECT_EQ(ok2.status, AccessStatus::Ok);
    EXPECT_EQ(ok2.value, dev.le(0, 2));
    AccessResult ok4 = as.read(Gpa(0x1004), 4);
    EXPECT_EQ(ok4.status, AccessStatus::Ok);
    EXPECT_EQ(ok4.value, dev.le(4, 4));
    EXPECT_EQ(as.stats().invalid, 4u);
}

TEST_F(RulesTest, MisalignedIsInvalidUnlessUnalignedAllowed) {
    AccessRules rules;  // valid 1..8, unaligned = false
    place(rules);
    AccessResult r = as.read(Gpa(0x1001), 2);
    EXPECT_EQ(r.status, AccessStatus::Invalid);
    EXPECT_EQ(r.value, 0xffffu);
    EXPECT_EQ(as.read(Gpa(0x1002), 4).status, AccessStatus::Invalid);
    EXPECT_EQ(as.read(Gpa(0x1004), 8).status, AccessStatus::Invalid);
    EXPECT_EQ(as.write(Gpa(0x1006), 0xbeef, 4), AccessStatus::Invalid);
    EXPECT_EQ(dev.calls(), "");
    EXPECT_EQ(as.stats().invalid, 4u);
    // Natural alignment is fine.
    EXPECT_EQ(as.read(Gpa(0x1002), 2).status, AccessStatus::Ok);
    EXPECT_EQ(as.read(Gpa(0x1008), 8).status, AccessStatus::Ok);
    EXPECT_EQ(as.read(Gpa(0x1003), 1).status, AccessStatus::Ok);
    EXPECT_EQ(as.stats().invalid, 4u);
}

TEST_F(RulesTest, UnalignedAllowedWhenValidSaysSo) {
    AccessRules rules;
    rules.valid.unaligned = true;
    place(rules);
    AccessResult r = as.read(Gpa(0x1001), 4);
    EXPECT_EQ(r.status, AccessStatus::Ok);
    EXPECT_EQ(r.value, dev.le(1, 4));
    EXPECT_EQ(as.write(Gpa(0x1003), 0xa1b2, 2), AccessStatus::Ok);
    EXPECT_EQ(dev.le(3, 2), 0xa1b2u);
    EXPECT_EQ(as.stats().invalid, 0u);
}

// With impl.min 1 there is no reason to widen: an unaligned access that the
// device accepts (valid.unaligned) must reach it as accesses that stay
// inside the bytes the guest addressed. In particular a write must not
// store zeros into the neighbouring registers.
TEST_F(RulesTest, UnalignedWriteDoesNotTouchNeighbouringBytes) {
    AccessRules rules;
    rules.valid.unaligned = true;  // impl: 1..8, aligned
    place(rules);
    EXPECT_EQ(as.write(Gpa(0x1001), 0xa1b2c3d4, 4), AccessStatus::Ok);
    EXPECT_EQ(dev.le(1, 4), 0xa1b2c3d4u);
    EXPECT_EQ(dev.regs[0], 0x80) << "byte 0 was not addressed but changed; calls:\n" << dev.calls();
    EXPECT_EQ(dev.regs[5], 0x85) << "byte 5 was not addressed but changed; calls:\n" << dev.calls();
    EXPECT_EQ(dev.regs[6], 0x86);
    EXPECT_EQ(dev.regs[7], 0x87);

    dev.log.clear();
    EXPECT_EQ(as.write(Gpa(0x1013), 0xeeff, 2), AccessStatus::Ok);
    EXPECT_EQ(dev.le(0x13, 2), 0xeeffu);
    EXPECT_EQ(dev.regs[0x12], 0x92) << dev.calls();
    EXPECT_EQ(dev.regs[0x15], 0x95) << dev.calls();
}

TEST_F(RulesTest, UnalignedReadStaysInsideTheAccess) {
    AccessRules rules;
    rules.valid.unaligned = true;  // impl: 1..8, aligned
    place(rules);
    AccessResult r = as.read(Gpa(0x1001), 4);
    EXPECT_EQ(r.value, dev.le(1, 4));
    for (const std::string& c : dev.log) {
        // Parse "R off=0x.. size=N".
        uint64_t off = std::stoull(c.substr(c.find("off=") + 4), nullptr, 16);
        unsigned size = static_cast<unsigned>(std::stoul(c.substr(c.find("size=") + 5)));
        EXPECT_GE(off, 1u) << c;
        EXPECT_LE(off + size, 5u) << c;
        EXPECT_EQ(off % size, 0u) << "impl.unaligned is false: calls must be aligned: " << c;
    }
}

// impl.unaligned: the callbacks handle unaligned accesses themselves, so the
// access is passed through as one call (QEMU's MemoryRegionOps.impl.unaligned).
TEST_F(RulesTest, ImplUnalignedPassesAccessThrough) {
    AccessRules rules;
    rules.valid.unaligned = true;
    rules.impl.unaligned = true;
    place(rules);
    AccessResult r = as.read(Gpa(0x1001), 4);
    EXPECT_EQ(r.status, AccessStatus::Ok);
    EXPECT_EQ(r.value, dev.le(1, 4));
    EXPECT_EQ(as.write(Gpa(0x1003), 0xa1b2, 2), AccessStatus::Ok);
    EXPECT_EQ(dev.calls(), calls({R(1, 4), W(3, 2, 0xa1b2)}));
}

TEST_F(RulesTest, ImplNarrowerWithUnalignedStart) {
    AccessRules rules;
    rules.valid.unaligned = true;
    rules.impl.max = 2;
    place(rules);
    EXPECT_EQ(as.write(Gpa(0x1021), 0x11223344, 4), AccessStatus::Ok);
    EXPECT_EQ(dev.le(0x21, 4), 0x11223344u);
    EXPECT_EQ(dev.regs[0x20], 0xa0) << dev.calls();
    EXPECT_EQ(dev.regs[0x25], 0xa5) << dev.calls();
}

TEST_F(RulesTest, OffsetIsRelativeToRegionStart) {
    AccessRules rules;
    place(rules);
    (void)as.read(Gpa(0x1010), 4);
    (void)as.write(Gpa(0x10f8), 0x55, 8);
    EXPECT_EQ(dev.calls(), calls({R(0x10, 4), W(0xf8, 8, 0x55)}));
}

// ---------------------------------------------------------------------------
// Access rules: impl

TEST_F(RulesTest, ImplNarrowerSplitsReadIntoBytes) {
    AccessRules rules;
    rules.impl.max = 1;
    place(rules);
    AccessResult r = as.read(Gpa(0x1004), 4);
    EXPECT_EQ(r.status, AccessStatus::Ok);
    EXPECT_EQ(r.value, 0x87868584u);  // regs[4..7] = 0x84..0x87, little-endian
    EXPECT_EQ(dev.calls(), calls({R(4, 1), R(5, 1), R(6, 1), R(7, 1)}));
}

TEST_F(RulesTest, ImplNarrowerSplitsWriteIntoBytes) {
    AccessRules rules;
    rules.impl.max = 1;
    place(rules);
    EXPECT_EQ(as.write(Gpa(0x1008), 0xaabbccdd, 4), AccessStatus::Ok);
    EXPECT_EQ(dev.calls(), calls({W(8, 1, 0xdd), W(9, 1, 0xcc), W(10, 1, 0xbb), W(11, 1, 0xaa)}));
    EXPECT_EQ(dev.le(8, 4), 0xaabbccddu);
}

TEST_F(RulesTest, ImplMaxTwoSplitsEightByteAccess) {
    AccessRules rules;
    rules.impl.max = 2;
    place(rules);
    EXPECT_EQ(as.write(Gpa(0x1010), 0x1122334455667788ull, 8), AccessStatus::Ok);
    EXPECT_EQ(dev.calls(), calls({W(0x10, 2, 0x7788), W(0x12, 2, 0x5566), W(0x14, 2, 0x3344), W(0x16, 2, 0x1122)}));
    dev.log.clear();
    AccessResult r = as.read(Gpa(0x1010), 8);
    EXPECT_EQ(r.value, 0x1122334455667788ull);
    EXPECT_EQ(dev.calls(), calls({R(0x10, 2), R(0x12, 2), R(0x14, 2), R(0x16, 2)}));
}

TEST_F(RulesTest, ImplWiderWidensReadToAlignedAccess) {
    AccessRules rules;
    rules.impl.min = 4;
    place(rules);
    dev.regs[0] = 0x11;
    dev.regs[1] = 0x22;
    dev.regs[2] = 0x33;
    dev.regs[3] = 0x44;
    AccessResult r = as.read(Gpa(0x1002), 1);
    EXPECT_EQ(r.status, AccessStatus::Ok);
    EXPECT_EQ(r.value, 0x33u);
    EXPECT_EQ(dev.calls(), calls({R(0, 4)}));
}

TEST_F(RulesTest, ImplWiderWidensTwoByteRead) {
    AccessRules rules;
    rules.impl.min = 4;
    place(rules);
    AccessResult r = as.read(Gpa(0x1006), 2);
    EXPECT_EQ(r.status, AccessStatus::Ok);
    EXPECT_EQ(r.value, 0x8786u);  // bytes 6 and 7 of the 4-byte read at 4
    EXPECT_EQ(dev.calls(), calls({R(4, 4)}));
}

TEST_F(RulesTest, ImplWiderWidensWriteWithShiftedValue) {
    AccessRules rules;
    rules.impl.min = 4;
    place(rules);
    EXPECT_EQ(as.write(Gpa(0x1002), 0xab, 1), AccessStatus::Ok);
    EXPECT_EQ(dev.calls(), calls({W(0, 4, 0x00ab0000)}));
}

// ---------------------------------------------------------------------------
// Access sizes

TEST_F(AsTest, SizesOtherThan1248AreInvalid) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    RegDev dev(0x100);
    AccessRules rules;
    rules.valid.unaligned = true;
    MemoryRegion& io = sys.create_io("dev", 0x100, dev, rules);
    root.add_subregion(0, ram);
    root.add_subregion(0x1000, io);
    uint64_t n = 0;
    for (unsigned size : {0u, 3u, 5u, 6u, 7u, 9u, 16u}) {
        EXPECT_EQ(as.read(Gpa(0x10), size).status, AccessStatus::Invalid) << size;
        EXPECT_EQ(as.write(Gpa(0x10), ~0ull, size), AccessStatus::Invalid) << size;
        EXPECT_EQ(as.read(Gpa(0x1010), size).status, AccessStatus::Invalid) << size;
        EXPECT_EQ(as.write(Gpa(0x1010), ~0ull, size), AccessStatus::Invalid) << size;
        EXPECT_EQ(as.read(Gpa(0x50000), size).status, AccessStatus::Invalid) << size;
        n += 5;
    }
    EXPECT_EQ(as.stats().invalid, n);
    EXPECT_EQ(dev.calls(), "");
    for (uint64_t i = 0; i < 0x1000; ++i) ASSERT_EQ(ram.ram_block()->host()[i], 0) << i;
}

TEST_F(AsTest, AccessesAtTheTopOfTheSpace) {
    // Beyond the root: unassigned, and nothing wraps around to address 0.
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, ram);
    AccessResult r = as.read(Gpa(UINT64_MAX - 3), 8);
    EXPECT_EQ(r.status, AccessStatus::Unassigned);
    EXPECT_EQ(r.value, ~0ull);
    EXPECT_EQ(as.write(Gpa(UINT64_MAX - 1), 0x1122334455667788ull, 8), AccessStatus::Unassigned);
    EXPECT_EQ(as.read(Gpa(UINT64_MAX - 1), 1).status, AccessStatus::Unassigned);
    for (uint64_t i = 0; i < 0x10; ++i) EXPECT_EQ(ram.ram_block()->host()[i], 0) << i;
}

// ---------------------------------------------------------------------------
// Overall status of a split access

TEST_F(AsTest, StatusOfSplitAccesses) {
    // [0, 0x1000) RAM, [0x1000, 0x1100) a device that only accepts 8-byte
    // accesses, then a hole.
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    RegDev strict_dev(0x100);
    AccessRules strict;
    strict.valid.min = 8;
    MemoryRegion& io = sys.create_io("strict", 0x100, strict_dev, strict);
    root.add_subregion(0x0000, ram);
    root.add_subregion(0x1000, io);
    ram.ram_block()->host()[0xffc] = 0x01;

    // Ok piece + invalid piece (4 bytes < valid.min 8): Invalid.
    AccessResult ri = as.read(Gpa(0xffc), 8);
    EXPECT_EQ(ri.status, AccessStatus::Invalid);
    EXPECT_EQ(ri.value, 0xffffffff00000001ull);
    EXPECT_EQ(as.write(Gpa(0xffc), 0x0102030405060708ull, 8), AccessStatus::Invalid);
    EXPECT_EQ(host_le(ram, 0xffc, 4), 0x05060708u);  // the RAM piece is still written

    // Invalid piece + unassigned piece: Invalid wins.
    AccessResult rih = as.read(Gpa(0x10fc), 8);
    EXPECT_EQ(rih.status, AccessStatus::Invalid);
    EXPECT_EQ(rih.value, ~0ull);
    EXPECT_EQ(as.write(Gpa(0x10fc), 0, 8), AccessStatus::Invalid);
    EXPECT_EQ(strict_dev.calls(), "");

    EXPECT_EQ(as.stats().invalid, 4u);
    EXPECT_EQ(as.stats().unassigned_reads, 1u);
    EXPECT_EQ(as.stats().unassigned_writes, 1u);

    // Entirely inside the device, 8 bytes, aligned: Ok.
    AccessResult ok = as.read(Gpa(0x10f8), 8);
    EXPECT_EQ(ok.status, AccessStatus::Ok);
    EXPECT_EQ(ok.value, strict_dev.le(0xf8, 8));
}

TEST_F(AsTest, StatusRamPlusHoleIsUnassigned) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, ram);
    EXPECT_EQ(as.read(Gpa(0xffc), 8).status, AccessStatus::Unassigned);
    EXPECT_EQ(as.read(Gpa(0xff8), 8).status, AccessStatus::Ok);
}

// ---------------------------------------------------------------------------
// read_bytes / write_bytes

struct BytesTest : AsTest {
    // [0x000, 0x100) ram, [0x100, 0x110) dev, hole, [0x200, 0x300) ram2,
    // hole, [0x400, 0x410) strict (valid.min 4)
    MemoryRegion* ram = nullptr;
    MemoryRegion* ram2 = nullptr;
    RegDev dev{0x10};
    RegDev strict_dev{0x10};
    void SetUp() override {
        AsTest::SetUp();
        ram = &sys.create_ram("ram", 0x100);
        ram2 = &sys.create_ram("ram2", 0x100);
        AccessRules rules;
        rules.valid.unaligned = true;
        rules.impl.max = 1;
        MemoryRegion& io = sys.create_io("dev", 0x10, dev, rules);
        AccessRules strict;
        strict.valid.min = 4;
        MemoryRegion& sio = sys.create_io("strict", 0x10, strict_dev, strict);
        Transaction t(sys);
        root.add_subregion(0x000, *ram);
        root.add_subregion(0x100, io);
        root.add_subregion(0x200, *ram2);
        root.add_subregion(0x400, sio);
    }
};

TEST_F(BytesTest, WriteBytesAcrossRamIoHoleRam) {
    std::vector<uint8_t> buf(0x210 - 0xf8);  // [0xf8, 0x210)
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i + 1);
    AccessStatus st = as.write_bytes(Gpa(0xf8), buf);
    EXPECT_EQ(st, AccessStatus::Unassigned);
    for (uint64_t a = 0xf8; a < 0x100; ++a) EXPECT_EQ(ram->ram_block()->host()[a], buf[a - 0xf8]) << a;
    for (uint64_t a = 0x100; a < 0x110; ++a) EXPECT_EQ(dev.regs[a - 0x100], buf[a - 0xf8]) << a;
    for (uint64_t a = 0x200; a < 0x210; ++a) EXPECT_EQ(ram2->ram_block()->host()[a - 0x200], buf[a - 0xf8]) << a;
    EXPECT_EQ(ram2->ram_block()->host()[0x10], 0);
    EXPECT_EQ(ram->ram_block()->host()[0xf7], 0);
    // impl.max 1: the device saw exactly 16 one-byte writes, in order.
    ASSERT_EQ(dev.log.size(), 16u);
    for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(dev.log[i], W(i, 1, buf[8 + i])) << i;
    EXPECT_GE(as.stats().unassigned_writes, 1u);
    ASSERT_FALSE(faults.empty());
    EXPECT_EQ(faults[0].addr, 0x110u);
    EXPECT_TRUE(faults[0].is_write);
}

TEST_F(BytesTest, ReadBytesAcrossRamIoHoleRam) {
    fill_pattern(*ram, 0x05);
    fill_pattern(*ram2, 0x60);
    std::vector<uint8_t> out(0x210 - 0xf8, 0);
    AccessStatus st = as.read_bytes(Gpa(0xf8), out);
    EXPECT_EQ(st, AccessStatus::Unassigned);
    for (uint64_t a = 0xf8; a < 0x100; ++a) EXPECT_EQ(out[a - 0xf8], ram->ram_block()->host()[a]) << a;
    for (uint64_t a = 0x100; a < 0x110; ++a) EXPECT_EQ(out[a - 0xf8], dev.regs[a - 0x100]) << a;
    for (uint64_t a = 0x110; a < 0x200; ++a) EXPECT_EQ(out[a - 0xf8], 0xff) << a;
    for (uint64_t a = 0x200; a < 0x210; ++a) EXPECT_EQ(out[a - 0xf8], ram2->ram_block()->host()[a - 0x200]) << a;
    ASSERT_EQ(dev.log.size(), 16u);
    for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(dev.log[i], R(i, 1)) << i;
    EXPECT_GE(as.stats().unassigned_reads, 1u);
    ASSERT_FALSE(faults.empty());
    EXPECT_EQ(faults[0].addr, 0x110u);
    EXPECT_FALSE(faults[0].is_write);
}

TEST_F(BytesTest, ReadBytesWithinRamIsOk) {
    fill_pattern(*ram, 0x09);
    std::vector<uint8_t> out(0x80);
    EXPECT_EQ(as.read_bytes(Gpa(0x41), out), AccessStatus::Ok);
    EXPECT_EQ(std::memcmp(out.data(), ram->ram_block()->host() + 0x41, out.size()), 0);
    EXPECT_TRUE(faults.empty());
}

TEST_F(BytesTest, RamPlusIoIsOk) {
    std::vector<uint8_t> out(0x18);
    EXPECT_EQ(as.read_bytes(Gpa(0xf8), out), AccessStatus::Ok);
    EXPECT_EQ(out[0x8], dev.regs[0]);
    EXPECT_EQ(out[0x17], dev.regs[0xf]);
}

TEST_F(BytesTest, InvalidPieceMakesWholeStatusInvalid) {
    // [0x3ff] hole, [0x400] one byte of the strict device (valid.min 4).
    std::vector<uint8_t> out(2, 0);
    AccessStatus st = as.read_bytes(Gpa(0x3ff), out);
    EXPECT_EQ(st, AccessStatus::Invalid);
    EXPECT_EQ(out[0], 0xff);
    EXPECT_EQ(out[1], 0xff);
    EXPECT_EQ(strict_dev.calls(), "");
    EXPECT_EQ(as.stats().unassigned_reads, 1u);
    EXPECT_EQ(as.stats().invalid, 1u);
    // RAM + hole + invalid piece: still invalid.
    std::vector<uint8_t> big(0x400 - 0x2f0 + 1);
    EXPECT_EQ(as.read_bytes(Gpa(0x2f0), big), AccessStatus::Invalid);
}

TEST_F(BytesTest, WriteBytesToRomDropped) {
    MemoryRegion& rom = sys.create_rom("rom", 0x100);
    root.add_subregion(0x800, rom);
    fill_pattern(rom, 0x70);
    std::vector<uint8_t> before(rom.ram_block()->host(), rom.ram_block()->host() + 0x100);
    std::vector<uint8_t> in(0x40, 0xee);
    EXPECT_EQ(as.write_bytes(Gpa(0x820), in), AccessStatus::Ok);
    EXPECT_EQ(std::memcmp(before.data(), rom.ram_block()->host(), 0x100), 0);
    EXPECT_GE(as.stats().rom_writes_dropped, 1u);
}

// ---------------------------------------------------------------------------
// I/O address space

TEST(IoSpace, PortDispatch) {
    MemorySystem sys;
    MemoryRegion& io_root = sys.create_container("io-root", 0x10000);
    IoAddressSpace& io = sys.create_io_space("io", io_root);
    RegDev uart(8);
    AccessRules rules;
    rules.valid.max = 1;
    rules.impl.max = 1;
    MemoryRegion& com1 = sys.create_io("com1", 8, uart, rules);
    io_root.add_subregion(0x3f8, com1);

    AccessResult r = io.read(PioAddr(0x3fd), 1);
    EXPECT_EQ(r.status, AccessStatus::Ok);
    EXPECT_EQ(r.value, 0x85u);
    EXPECT_EQ(io.write(PioAddr(0x3f8), 0x41, 1), AccessStatus::Ok);
    EXPECT_EQ(uart.calls(), calls({R(5, 1), W(0, 1, 0x41)}));
    EXPECT_EQ(io.read(PioAddr(0x3f8), 2).status, AccessStatus::Invalid);  // valid.max 1

    AccessResult u = io.read(PioAddr(0x80), 1);
    EXPECT_EQ(u.status, AccessStatus::Unassigned);
    EXPECT_EQ(u.value, 0xffu);
    EXPECT_EQ(io.read(PioAddr(0xcf8), 4).value, 0xffffffffu);
    EXPECT_EQ(io.stats().unassigned_reads, 2u);
    EXPECT_EQ(io.kind(), AddressSpace::Kind::Io);
    EXPECT_EQ(io.name(), "io");
    EXPECT_EQ(&io.root(), &io_root);
}

TEST(IoSpace, SeparateFromMemorySpace) {
    MemorySystem sys;
    MemoryRegion& mem_root = sys.create_container("mem-root", 0x100000);
    MemoryRegion& io_root = sys.create_container("io-root", 0x10000);
    MemoryAddressSpace& mem = sys.create_memory_space("memory", mem_root);
    IoAddressSpace& io = sys.create_io_space("ports", io_root);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    mem_root.add_subregion(0, ram);
    EXPECT_EQ(mem.write(Gpa(0x60), 0x12, 1), AccessStatus::Ok);
    EXPECT_EQ(io.read(PioAddr(0x60), 1).status, AccessStatus::Unassigned);
    EXPECT_EQ(io.write(PioAddr(0x61), 0x34, 1), AccessStatus::Unassigned);
    EXPECT_EQ(ram.ram_block()->host()[0x61], 0);
    EXPECT_EQ(mem.stats().unassigned_reads, 0u);
    EXPECT_EQ(io.stats().unassigned_reads, 1u);
    EXPECT_EQ(io.stats().unassigned_writes, 1u);
    EXPECT_EQ(mem.kind(), AddressSpace::Kind::Memory);
}

// ---------------------------------------------------------------------------
// Dispatch uses the view of the last commit

TEST_F(AsTest, DispatchSeesTopologyOnlyAfterCommit) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, ram);
    ram.ram_block()->host()[0x10] = 0x5a;
    EXPECT_EQ(as.read(Gpa(0x10), 1).value, 0x5au);
    std::shared_ptr<const FlatView> old = as.view();
    sys.begin();
    ram.set_address(0x8000);
    // Still the old view inside the transaction.
    EXPECT_EQ(as.read(Gpa(0x10), 1).value, 0x5au);
    EXPECT_EQ(as.read(Gpa(0x8010), 1).status, AccessStatus::Unassigned);
    sys.commit();
    EXPECT_EQ(as.read(Gpa(0x10), 1).status, AccessStatus::Unassigned);
    EXPECT_EQ(as.read(Gpa(0x8010), 1).value, 0x5au);
    // The old view object stays valid while held.
    ASSERT_EQ(old->size(), 1u);
    EXPECT_EQ(old->ranges()[0].range.start(), 0u);
    EXPECT_NE(as.view().get(), old.get());
    EXPECT_EQ(as.view()->ranges()[0].range.start(), 0x8000u);
}

TEST(AccessStatusName, Distinct) {
    std::string ok = access_status_name(AccessStatus::Ok);
    std::string un = access_status_name(AccessStatus::Unassigned);
    std::string in = access_status_name(AccessStatus::Invalid);
    EXPECT_FALSE(ok.empty());
    EXPECT_NE(ok, un);
    EXPECT_NE(un, in);
    EXPECT_NE(ok, in);
}

}  // namespace
}  // namespace kvmrr
