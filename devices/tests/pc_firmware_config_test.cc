// Tests for devices/pc_firmware_config.h: values worked out by hand from
// QEMU 7.2's pc_init1(), pc_memory_init() and pc_cmos_init().
#include "devices/pc_firmware_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "core/error.h"

namespace kvmrr {
namespace {

constexpr uint64_t MiB = 1024 * 1024;
constexpr uint64_t GiB = 1024 * MiB;

std::map<int, int> as_map(const std::vector<std::pair<uint8_t, uint8_t>>& v) {
    std::map<int, int> m;
    for (auto [i, b] : v) {
        EXPECT_FALSE(m.count(i)) << "index " << int(i) << " twice";
        m[i] = b;
    }
    return m;
}

TEST(PcFirmwareConfig, RamSplitAsI440fx) {
    EXPECT_EQ(pc_ram_split(256 * MiB).below_4g, 256 * MiB);
    EXPECT_EQ(pc_ram_split(256 * MiB).above_4g, 0u);
    EXPECT_EQ(pc_ram_split(0xdff00000).below_4g, 0xdff00000u);  // just under 3.5 GiB: all low
    EXPECT_EQ(pc_ram_split(0xe0000000).below_4g, 3 * GiB);      // from 3.5 GiB: gigabyte aligned
    EXPECT_EQ(pc_ram_split(0xe0000000).above_4g, 512 * MiB);
    EXPECT_EQ(pc_ram_split(5 * GiB).below_4g, 3 * GiB);
    EXPECT_EQ(pc_ram_split(5 * GiB).above_4g, 2 * GiB);
}

TEST(PcFirmwareConfig, E820TableLayout) {
    const auto t = e820_table(pc_e820_entries(pc_ram_split(5 * GiB)));
    const std::vector<uint8_t> want = {
        0, 0, 0, 0, 0, 0, 0, 0,    0, 0, 0, 0xc0, 0, 0, 0, 0,  1, 0, 0, 0,  // 0, 3 GiB, RAM
        0, 0, 0, 0, 1, 0, 0, 0,    0, 0, 0, 0x80, 0, 0, 0, 0,  1, 0, 0, 0,  // 4 GiB, 2 GiB, RAM
    };
    EXPECT_EQ(t, want);
    EXPECT_EQ(e820_table({{0xfeffc000, 0x4000, kE820Reserved}}),
              (std::vector<uint8_t>{0x00, 0xc0, 0xff, 0xfe, 0, 0, 0, 0, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0}));
    EXPECT_EQ(pc_e820_entries(pc_ram_split(256 * MiB)).size(), 1u);
}

TEST(PcFirmwareConfig, CmosBytesFor256MiB) {
    auto m = as_map(pc_cmos_bytes(256 * MiB, 0));
    const std::map<int, int> want = {
        {0x10, 0x00}, {0x12, 0x00}, {0x14, 0x06},
        {0x15, 0x80}, {0x16, 0x02},                             // 640 KiB
        {0x17, 0xff}, {0x18, 0xff}, {0x30, 0xff}, {0x31, 0xff},  // 255 MiB in KiB, capped at 65535
        {0x34, 0x00}, {0x35, 0x0f},                             // 240 MiB / 64 KiB = 3840
        {0x37, 0x20},                                           // the PS/2 century byte
        {0x38, 0x30}, {0x39, 0x00}, {0x3d, 0x12},               // "cad": c=2, a=1, d=3
        {0x5b, 0x00}, {0x5c, 0x00}, {0x5d, 0x00}, {0x5f, 0x00},
    };
    EXPECT_EQ(m, want);
}

// pc_cmos_init_late() with the primary master: cmos_init_hd()'s type-47
// entry at 0x19/0x1b and the translation in 0x39's low bits; the rest as
// without a disk, and the pairs still in index order.
TEST(PcFirmwareConfig, CmosBytesWithAnIdeDisk) {
    const auto bytes = pc_cmos_bytes(256 * MiB, 0, 1, "cad", IdeGeometry{0x1234, 16, 63, IdeGeometry::kLarge});
    EXPECT_TRUE(std::is_sorted(bytes.begin(), bytes.end()));
    auto m = as_map(bytes);
    std::map<int, int> want = as_map(pc_cmos_bytes(256 * MiB, 0));
    want[0x12] = 0xf0;
    want[0x19] = 47;
    want[0x1b] = 0x34;
    want[0x1c] = 0x12;
    want[0x1d] = 16;
    want[0x1e] = 0xff;
    want[0x1f] = 0xff;
    want[0x20] = 0xc8;  // more than 8 heads
    want[0x21] = 0x34;
    want[0x22] = 0x12;
    want[0x23] = 63;
    want[0x39] = 0x02;
    EXPECT_EQ(m, want);
    m = as_map(pc_cmos_bytes(256 * MiB, 0, 1, "cad", IdeGeometry{100, 8, 32, IdeGeometry::kNone}));
    EXPECT_EQ(m[0x20], 0xc0);
    EXPECT_EQ(m[0x39], 0x00);
    EXPECT_EQ(m[0x23], 32);
}

TEST(PcFirmwareConfig, CmosBytesFor5GiB) {
    const PcRamSplit r = pc_ram_split(5 * GiB);
    auto m = as_map(pc_cmos_bytes(r.below_4g, r.above_4g, 2));
    EXPECT_EQ(m[0x15], 0x80);
    EXPECT_EQ(m[0x16], 0x02);
    EXPECT_EQ(m[0x17], 0xff);
    EXPECT_EQ(m[0x31], 0xff);
    EXPECT_EQ(m[0x34], 0x00);  // (3 GiB - 16 MiB) / 64 KiB = 48896 = 0xbf00
    EXPECT_EQ(m[0x35], 0xbf);
    EXPECT_EQ(m[0x5b], 0x00);  // 2 GiB / 64 KiB = 32768 = 0x008000
    EXPECT_EQ(m[0x5c], 0x80);
    EXPECT_EQ(m[0x5d], 0x00);
    EXPECT_EQ(m[0x5f], 0x01);  // two CPUs
}

TEST(PcFirmwareConfig, CmosSmallAndOddSizes) {
    auto m = as_map(pc_cmos_bytes(512 * 1024, 0));
    EXPECT_EQ(m[0x15] | m[0x16] << 8, 512);
    EXPECT_EQ(m[0x17] | m[0x18] << 8, 0);
    EXPECT_EQ(m[0x34] | m[0x35] << 8, 0);
    m = as_map(pc_cmos_bytes(32 * MiB, 0));
    EXPECT_EQ(m[0x17] | m[0x18] << 8, 31 * 1024);
    EXPECT_EQ(m[0x34] | m[0x35] << 8, 256);
    // Above 4 GiB QEMU keeps 24 bits of 64 KiB units: 1 TiB wraps to 0.
    m = as_map(pc_cmos_bytes(3 * GiB, 1024 * GiB + 64 * 1024));
    EXPECT_EQ(m[0x5b], 1);
    EXPECT_EQ(m[0x5c], 0);
    EXPECT_EQ(m[0x5d], 0);
    EXPECT_EQ(as_map(pc_cmos_bytes(GiB, 0, 255))[0x5f], 0xfe);
    EXPECT_EQ(as_map(pc_cmos_bytes(GiB, 0, 256))[0x5f], 0);  // does not fit: FW_CFG_NB_CPUS tells
    EXPECT_EQ(as_map(pc_cmos_bytes(GiB, 0, 300))[0x5f], 0);
}

TEST(PcFirmwareConfig, CmosBootOrder) {
    auto m = as_map(pc_cmos_bytes(GiB, 0, 1, "n"));
    EXPECT_EQ(m[0x3d], 0x04);
    EXPECT_EQ(m[0x38], 0x00);
    m = as_map(pc_cmos_bytes(GiB, 0, 1, "dcb"));
    EXPECT_EQ(m[0x3d], 0x23);
    EXPECT_EQ(m[0x38], 0x10);
    EXPECT_THROW(pc_cmos_bytes(GiB, 0, 1, "cadn"), Error);
    EXPECT_THROW(pc_cmos_bytes(GiB, 0, 1, "x"), Error);
}

}  // namespace
}  // namespace kvmrr
