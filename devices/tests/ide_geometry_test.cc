// Tests for devices/ide_geometry.h: QEMU's pc geometry guess for each kind
// of first sector (hw/block/hd-geometry.c's three outcomes, and every
// partition entry it passes over).
#include "devices/ide_geometry.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace kvmrr {
namespace {

using Sector = std::array<uint8_t, 512>;

Sector with_signature() {
    Sector s{};
    s[510] = 0x55;
    s[511] = 0xaa;
    return s;
}

void set_partition(Sector& s, unsigned i, uint8_t end_head, uint8_t end_sector, uint32_t nr_sects) {
    uint8_t* p = s.data() + 0x1be + 16 * i;
    p[5] = end_head;
    p[6] = end_sector;
    for (unsigned b = 0; b < 4; ++b) p[12 + b] = static_cast<uint8_t>(nr_sects >> (8 * b));
}

TEST(IdeGeometry, WithoutAPartitionTableTheSizeDecides) {
    EXPECT_EQ(ide_geometry_guess(2048, {}), (IdeGeometry{2, 16, 63, IdeGeometry::kNone}));  // at least 2 cylinders
    EXPECT_EQ(ide_geometry_guess(1024 * 1008, {}), (IdeGeometry{1024, 16, 63, IdeGeometry::kNone}));
    EXPECT_EQ(ide_geometry_guess(1025 * 1008, {}), (IdeGeometry{1025, 16, 63, IdeGeometry::kLba}));
    EXPECT_EQ(ide_geometry_guess(uint64_t{1} << 40, {}), (IdeGeometry{16383, 16, 63, IdeGeometry::kLba}));
    Sector s{};  // no 0x55 0xaa
    set_partition(s, 0, 15, 32, 1000);
    EXPECT_EQ(ide_geometry_guess(34500, s), (IdeGeometry{34, 16, 63, IdeGeometry::kNone}));
}

TEST(IdeGeometry, APartitionWithSixteenHeadsOrFewerIsTheDrivesGeometry) {
    Sector s = with_signature();
    set_partition(s, 0, 15, 0xc0 | 32, 4000);  // cylinder bits above the sector number are ignored
    EXPECT_EQ(ide_geometry_guess(8192, s), (IdeGeometry{16, 16, 32, IdeGeometry::kNone}));
}

TEST(IdeGeometry, APartitionWithMoreHeadsMeansATranslatingBios) {
    // A FAT boot sector's code where the table would be (SYSLINUX on
    // tools/make-linux-disk.sh's disk): the second entry ends at head 116.
    Sector s = with_signature();
    set_partition(s, 1, 116, 59, 1953460034);
    EXPECT_EQ(ide_geometry_guess(34500, s), (IdeGeometry{34, 16, 63, IdeGeometry::kLarge}));
    // 255 heads, 63 sectors, as partitioners write now: large up to 131072
    // cylinders times heads, LBA past that (8192 cylinders of 16 heads).
    set_partition(s, 1, 254, 63, 100000);
    EXPECT_EQ(ide_geometry_guess(8192 * 1008, s), (IdeGeometry{8192, 16, 63, IdeGeometry::kLarge}));
    EXPECT_EQ(ide_geometry_guess(8193 * 1008, s), (IdeGeometry{8193, 16, 63, IdeGeometry::kLba}));
}

TEST(IdeGeometry, EntriesThatSayNothingArePassedOver) {
    Sector s = with_signature();
    set_partition(s, 0, 15, 32, 0);      // no size
    set_partition(s, 1, 0, 32, 1000);    // end head 0
    set_partition(s, 2, 15, 0xc0, 1000); // sector 0
    set_partition(s, 3, 3, 2, 1000);     // 4 heads of 2 sectors: 20000 cylinders for this disk
    EXPECT_EQ(ide_geometry_guess(160000, s), (IdeGeometry{158, 16, 63, IdeGeometry::kNone}));
    set_partition(s, 3, 7, 20, 1000);    // the first that fits decides
    EXPECT_EQ(ide_geometry_guess(160000, s), (IdeGeometry{1000, 8, 20, IdeGeometry::kNone}));
    // Too small to hold a sector: as if there were none.
    EXPECT_EQ(ide_geometry_guess(160000, std::span<const uint8_t>(s.data(), 511)),
              (IdeGeometry{158, 16, 63, IdeGeometry::kNone}));
}

TEST(IdeGeometry, ValidIsWhatADiskCanHave) {
    EXPECT_TRUE((IdeGeometry{1, 1, 1, 0}).valid());
    EXPECT_TRUE((IdeGeometry{16383, 16, 63, 2}).valid());
    EXPECT_FALSE((IdeGeometry{}).valid());
    EXPECT_FALSE((IdeGeometry{16384, 16, 63, 0}).valid());
    EXPECT_FALSE((IdeGeometry{100, 0, 63, 0}).valid());
    EXPECT_FALSE((IdeGeometry{100, 16, 0, 0}).valid());
    EXPECT_FALSE((IdeGeometry{100, 16, 63, 3}).valid());
}

}  // namespace
}  // namespace kvmrr
