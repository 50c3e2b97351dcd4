// Tests for devices/ide_channel.h through the machine's I/O address space:
// the probe firmware does (SeaBIOS's ata_detect), IDENTIFY as QEMU fills
// it, PIO reads and writes of one and several sectors in LBA28, LBA48 and
// CHS, MULTIPLE mode, the interrupt, software reset, and every way to get
// a command wrong.
#include "devices/ide_channel.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

constexpr uint16_t kBase = 0x1f0, kCtl = 0x3f6;
enum : uint16_t { kData = 0, kError = 1, kFeature = 1, kCount = 2, kLbaLow = 3, kLbaMid = 4, kLbaHigh = 5, kDevice = 6, kStatus = 7, kCommand = 7 };
constexpr uint8_t kReady = IdeChannel::kDrdy | IdeChannel::kSeek;

using Pin = testing::FakeIrqPin;

struct Rig {
    testing::FakeHostInputs host;
    Pin pin;
    IdeChannel ide;
    MemorySystem sys;
    MachineMemory m;

    explicit Rig(uint64_t sectors, std::optional<IdeGeometry> g = std::nullopt) : ide(0, host, sectors, IrqLine(pin, 14), g) {
        host.disk.resize(sectors * 512);
        for (size_t i = 0; i < host.disk.size(); ++i) host.disk[i] = static_cast<uint8_t>(i / 512 * 7 + i % 512);
        MachineLayout l = MachineLayout::default_layout();
        l.devices.push_back({"ide0", AddressSpace::Kind::Io, kBase, 8});
        l.devices.push_back({"ide0-ctl", AddressSpace::Kind::Io, kCtl, 1});
        m = build_machine(sys, l);
        ide.attach(sys, m);
    }
    uint8_t in(uint16_t reg) { return static_cast<uint8_t>(m.io_space->read(PioAddr(kBase + reg), 1).value); }
    void out(uint16_t reg, uint8_t v) { ASSERT_EQ(m.io_space->write(PioAddr(kBase + reg), v, 1), AccessStatus::Ok); }
    uint8_t alt() { return static_cast<uint8_t>(m.io_space->read(PioAddr(kCtl), 1).value); }
    void control(uint8_t v) { ASSERT_EQ(m.io_space->write(PioAddr(kCtl), v, 1), AccessStatus::Ok); }
    uint16_t inw() { return static_cast<uint16_t>(m.io_space->read(PioAddr(kBase), 2).value); }
    void outw(uint16_t v) { ASSERT_EQ(m.io_space->write(PioAddr(kBase), v, 2), AccessStatus::Ok); }
    std::vector<uint8_t> read_words(size_t bytes) {
        std::vector<uint8_t> out;
        for (size_t i = 0; i < bytes; i += 2) {
            const uint16_t w = inw();
            out.push_back(static_cast<uint8_t>(w));
            out.push_back(static_cast<uint8_t>(w >> 8));
        }
        return out;
    }
    void lba28(uint32_t lba, uint8_t count, uint8_t unit = 0) {
        out(kDevice, static_cast<uint8_t>(0xe0 | (unit << 4) | ((lba >> 24) & 0x0f)));
        out(kCount, count);
        out(kLbaLow, static_cast<uint8_t>(lba));
        out(kLbaMid, static_cast<uint8_t>(lba >> 8));
        out(kLbaHigh, static_cast<uint8_t>(lba >> 16));
    }
    // READ SECTORS of one sector at a CHS address of the master.
    void chs_read(uint16_t cylinder, uint8_t head, uint8_t sector) {
        out(kDevice, static_cast<uint8_t>(0xa0 | head));
        out(kCount, 1);
        out(kLbaLow, sector);
        out(kLbaMid, static_cast<uint8_t>(cylinder));
        out(kLbaHigh, static_cast<uint8_t>(cylinder >> 8));
        out(kCommand, 0x20);
    }
    // The master's IDENTIFY data, as words.
    std::vector<unsigned> identify_words() {
        out(kDevice, 0xa0);
        out(kCommand, 0xec);
        const std::vector<uint8_t> id = read_words(512);
        std::vector<unsigned> w(256);
        for (unsigned i = 0; i < 256; ++i) w[i] = static_cast<unsigned>(id[i * 2] | id[i * 2 + 1] << 8);
        return w;
    }
    std::vector<uint8_t> disk(uint64_t first, uint64_t n) {
        return {host.disk.begin() + static_cast<long>(first * 512), host.disk.begin() + static_cast<long>((first + n) * 512)};
    }
};

TEST(IdeChannel, FirmwareProbeFindsTheMasterOnly) {
    Rig r(2048);
    EXPECT_EQ(r.ide.name(), "ide0");
    // Power-on: the ATA signature, ready.
    EXPECT_EQ(r.in(kStatus), kReady);
    EXPECT_EQ(r.in(kCount), 1);
    EXPECT_EQ(r.in(kLbaLow), 1);
    EXPECT_EQ(r.in(kLbaMid), 0);
    EXPECT_EQ(r.in(kLbaHigh), 0);
    // SeaBIOS's register check, master then slave.
    for (uint8_t dh : {uint8_t{0xa0}, uint8_t{0xb0}}) {
        r.out(kDevice, dh);
        r.out(kCount, 0x55);
        r.out(kLbaLow, 0xaa);
        EXPECT_EQ(r.in(kCount), 0x55);
        EXPECT_EQ(r.in(kLbaLow), 0xaa);
        EXPECT_EQ(r.in(kDevice), dh);
    }
    // The absent slave: status and error read 0, commands are ignored.
    EXPECT_EQ(r.in(kStatus), 0);
    EXPECT_EQ(r.alt(), 0);
    r.out(kCommand, 0xec);
    EXPECT_EQ(r.in(kStatus), 0);
    EXPECT_EQ(r.in(kError), 0);
    EXPECT_EQ(r.pin.edges, 0);
    r.out(kDevice, 0xa0);
    EXPECT_EQ(r.in(kStatus), kReady);
}

TEST(IdeChannel, AChannelWithoutDrivesReadsZero) {
    testing::FakeHostInputs host;
    IdeChannel ide(1, host, 0, IrqLine());
    MemorySystem sys;
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"ide1", AddressSpace::Kind::Io, 0x170, 8});
    l.devices.push_back({"ide1-ctl", AddressSpace::Kind::Io, 0x376, 1});
    MachineMemory m = build_machine(sys, l);
    ide.attach(sys, m);
    EXPECT_EQ(ide.name(), "ide1");
    ASSERT_EQ(m.io_space->write(PioAddr(0x172), 0x55, 1), AccessStatus::Ok);
    for (uint16_t reg = 1; reg < 8; ++reg) EXPECT_EQ(m.io_space->read(PioAddr(0x170 + reg), 1).value, 0u) << reg;
    EXPECT_EQ(m.io_space->read(PioAddr(0x376), 1).value, 0u);
    EXPECT_EQ(m.io_space->read(PioAddr(0x170), 1).value, 0u);  // a byte of the data register: no data
    ASSERT_EQ(m.io_space->write(PioAddr(0x177), 0x20, 1), AccessStatus::Ok);
    EXPECT_EQ(m.io_space->read(PioAddr(0x177), 1).value, 0u);
}

TEST(IdeChannel, IdentifyIsQemusHarddisk) {
    Rig r(2048);
    r.out(kDevice, 0xa0);
    r.out(kCommand, 0xec);
    EXPECT_EQ(r.in(kStatus), kReady | IdeChannel::kDrq);
    const std::vector<uint8_t> id = r.read_words(512);
    EXPECT_EQ(r.in(kStatus), kReady);
    const auto word = [&](unsigned w) { return static_cast<unsigned>(id[w * 2] | id[w * 2 + 1] << 8); };
    const auto text = [&](unsigned w, unsigned n) {
        std::string s;
        for (unsigned i = 0; i < n; ++i) s += static_cast<char>(id[w * 2 + (i ^ 1)]);
        return s;
    };
    EXPECT_EQ(word(0), 0x0040u);
    EXPECT_EQ(word(1), 2u);  // 2048 / (16 * 63) cylinders, at least 2
    EXPECT_EQ(word(3), 16u);
    EXPECT_EQ(word(6), 63u);
    EXPECT_EQ(text(10, 20), "QM00001             ");
    EXPECT_EQ(text(23, 8), "2.5+    ");
    EXPECT_EQ(text(27, 40), "QEMU HARDDISK" + std::string(27, ' '));
    EXPECT_EQ(word(47), 0x8010u);
    EXPECT_EQ(word(59), 0x0110u);  // MULTIPLE on, 16 sectors
    EXPECT_EQ(word(60) | word(61) << 16, 2048u);
    EXPECT_EQ(word(80), 0xf0u);    // SeaBIOS says ATA-7
    EXPECT_NE(word(83) & (1u << 10), 0u);  // LBA48
    EXPECT_EQ(word(100) | word(101) << 16, 2048u);
    EXPECT_EQ(word(102) | word(103), 0u);
    EXPECT_EQ(word(93), 0x6001u);
    EXPECT_EQ(word(86), 0x3400u);
    EXPECT_EQ(word(88), 0x203fu);  // UDMA 5 selected until SET FEATURES says otherwise
    // IDENTIFY PACKET DEVICE is for ATAPI: aborted, with an interrupt.
    r.out(kCommand, 0xa1);
    EXPECT_EQ(r.alt(), IdeChannel::kDrdy | IdeChannel::kErr);
    EXPECT_EQ(r.in(kError), IdeChannel::kAbrt);
    EXPECT_TRUE(r.pin.up);
    r.in(kStatus);
    EXPECT_FALSE(r.pin.up);
}

// A geometry from the partition table (ide_geometry.h): IDENTIFY gives it,
// and CHS addresses go through it.
TEST(IdeChannel, TheGeometryGivenIsTheOneIdentifyAndChsUse) {
    Rig r(4096, IdeGeometry{64, 4, 16, IdeGeometry::kNone});
    const std::vector<unsigned> word = r.identify_words();
    EXPECT_EQ(word[1], 64u);
    EXPECT_EQ(word[3], 4u);
    EXPECT_EQ(word[6], 16u);
    EXPECT_EQ(word[54], 64u);  // the current translation: the drive's own until INITIALIZE DEVICE PARAMETERS
    EXPECT_EQ(word[55], 4u);
    EXPECT_EQ(word[56], 16u);
    // Cylinder 2, head 3, sector 5: (2 * 4 + 3) * 16 + 4 = LBA 180.
    r.chs_read(2, 3, 5);
    EXPECT_EQ(r.read_words(512), r.disk(180, 1));
}

TEST(IdeChannel, ReadSectorsLba28OneAtATimeWithAnInterruptEach) {
    Rig r(64);
    r.lba28(5, 3);
    r.out(kCommand, 0x20);
    std::vector<uint8_t> got;
    for (int s = 0; s < 3; ++s) {
        EXPECT_TRUE(r.pin.up) << s;
        EXPECT_EQ(r.in(kStatus), kReady | IdeChannel::kDrq) << s;
        EXPECT_FALSE(r.pin.up);
        const auto part = r.read_words(512);
        got.insert(got.end(), part.begin(), part.end());
    }
    EXPECT_EQ(got, r.disk(5, 3));
    EXPECT_EQ(r.in(kStatus), kReady);
    EXPECT_EQ(r.pin.edges, 3);
    // The task file now names the sector after the last one read.
    EXPECT_EQ(r.in(kLbaLow), 8);
    EXPECT_EQ(r.in(kCount), 0);
    EXPECT_EQ(r.ide.sectors_read(), 3u);
    // With no transfer under way the data register reads 0.
    EXPECT_EQ(r.inw(), 0);
}

TEST(IdeChannel, DwordAccessesMoveDataToo) {
    Rig r(8);
    r.lba28(1, 1);
    r.out(kCommand, 0x20);
    std::vector<uint8_t> got;
    for (int i = 0; i < 128; ++i) {
        const auto v = static_cast<uint32_t>(r.m.io_space->read(PioAddr(kBase), 4).value);
        for (int b = 0; b < 4; ++b) got.push_back(static_cast<uint8_t>(v >> (8 * b)));
    }
    EXPECT_EQ(got, r.disk(1, 1));
    EXPECT_EQ(r.in(kStatus), kReady);
}

TEST(IdeChannel, ReadMultipleMovesSeveralSectorsABlock) {
    Rig r(64);
    r.out(kCount, 4);
    r.out(kCommand, 0xc6);  // SET MULTIPLE MODE: 4
    EXPECT_EQ(r.in(kStatus), kReady);
    r.lba28(10, 6);
    r.out(kCommand, 0xc4);
    EXPECT_EQ(r.pin.edges, 2);  // the SET MULTIPLE and the first block
    EXPECT_EQ(r.in(kStatus), kReady | IdeChannel::kDrq);
    std::vector<uint8_t> got = r.read_words(4 * 512);
    EXPECT_EQ(r.pin.edges, 3);  // the second block
    const auto rest = r.read_words(2 * 512);
    got.insert(got.end(), rest.begin(), rest.end());
    EXPECT_EQ(got, r.disk(10, 6));
    EXPECT_EQ(r.in(kStatus), kReady);
    // Counts that are not a power of two, or over 16, are refused.
    for (uint8_t n : {uint8_t{3}, uint8_t{32}}) {
        r.out(kCount, n);
        r.out(kCommand, 0xc6);
        EXPECT_EQ(r.in(kStatus), IdeChannel::kDrdy | IdeChannel::kErr) << int(n);
    }
    // 0 turns MULTIPLE off, and READ MULTIPLE is then aborted.
    r.out(kCount, 0);
    r.out(kCommand, 0xc6);
    r.lba28(0, 1);
    r.out(kCommand, 0xc4);
    EXPECT_EQ(r.in(kStatus), IdeChannel::kDrdy | IdeChannel::kErr);
    EXPECT_EQ(r.in(kError), IdeChannel::kAbrt);
}

TEST(IdeChannel, WriteSectorsReachTheDiskAndReadBack) {
    Rig r(64);
    std::vector<uint8_t> data(1024);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13 + 1);
    r.lba28(20, 2);
    r.out(kCommand, 0x30);
    EXPECT_EQ(r.in(kStatus), kReady | IdeChannel::kDrq);
    EXPECT_EQ(r.pin.edges, 0);  // the first sector is asked for without one
    for (size_t i = 0; i < data.size(); i += 2) {
        if (i == 512) {
            EXPECT_EQ(r.pin.edges, 1);  // the first sector written, the second asked for
            EXPECT_EQ(r.in(kStatus), kReady | IdeChannel::kDrq);
        }
        r.outw(static_cast<uint16_t>(data[i] | data[i + 1] << 8));
    }
    EXPECT_EQ(r.pin.edges, 2);
    EXPECT_EQ(r.in(kStatus), kReady);
    EXPECT_EQ(r.disk(20, 2), data);
    EXPECT_EQ(r.ide.sectors_written(), 2u);
    r.lba28(20, 2);
    r.out(kCommand, 0x20);
    auto got = r.read_words(512);
    const auto second = r.read_words(512);
    got.insert(got.end(), second.begin(), second.end());
    EXPECT_EQ(got, data);
}

TEST(IdeChannel, Lba48AndChsAddressTheSameSectors) {
    Rig r(2048);
    // READ SECTORS EXT of sector 0x345, count 0x0001: high bytes first.
    r.out(kDevice, 0x40);
    for (uint8_t v : {uint8_t{0}, uint8_t{1}}) r.out(kCount, v);
    for (uint8_t v : {uint8_t{0}, uint8_t{0x45}}) r.out(kLbaLow, v);
    for (uint8_t v : {uint8_t{0}, uint8_t{0x03}}) r.out(kLbaMid, v);
    for (uint8_t v : {uint8_t{0}, uint8_t{0}}) r.out(kLbaHigh, v);
    r.out(kCommand, 0x24);
    EXPECT_EQ(r.read_words(512), r.disk(0x345, 1));
    // HOB in device control reads the previous (high) bytes back.
    r.control(IdeChannel::kHob);
    EXPECT_EQ(r.in(kLbaLow), 0);
    r.control(0);
    EXPECT_EQ(r.in(kLbaLow), 0x46);
    // CHS: cylinder 1, head 2, sector 3 of 16 heads x 63 sectors.
    r.chs_read(1, 2, 3);
    EXPECT_EQ(r.read_words(512), r.disk(1 * 16 * 63 + 2 * 63 + 2, 1));
    EXPECT_EQ(r.in(kLbaLow), 4);  // the next sector, in CHS
    // READ NATIVE MAX ADDRESS: the last sector.
    r.out(kDevice, 0x40);
    r.out(kCommand, 0xf8);
    EXPECT_EQ(r.in(kLbaLow) | r.in(kLbaMid) << 8, 2047);
}

TEST(IdeChannel, ASectorPastTheEndAbortsTheCommandThere) {
    Rig r(16);
    r.lba28(15, 2);  // the second sector is past the end
    r.out(kCommand, 0x20);
    EXPECT_EQ(r.read_words(512), r.disk(15, 1));
    EXPECT_EQ(r.in(kStatus), IdeChannel::kDrdy | IdeChannel::kErr);
    EXPECT_EQ(r.in(kError), IdeChannel::kAbrt);
    EXPECT_EQ(r.ide.sectors_read(), 1u);
    EXPECT_EQ(r.inw(), 0);
    r.lba28(16, 1);
    r.out(kCommand, 0x20);
    EXPECT_EQ(r.in(kError), IdeChannel::kAbrt);
    EXPECT_EQ(r.ide.sectors_read(), 1u);
    const std::vector<uint8_t> before = r.host.disk;
    r.lba28(0x0fffffff, 1);
    r.out(kCommand, 0x30);
    for (int i = 0; i < 256; ++i) r.outw(0xdead);
    EXPECT_EQ(r.in(kStatus), IdeChannel::kDrdy | IdeChannel::kErr);
    EXPECT_EQ(r.host.disk, before);
    // CHS sector 0 of cylinder 0, head 0: no such sector.
    r.out(kDevice, 0xa0);
    r.out(kCount, 1);
    r.out(kLbaLow, 0);
    r.out(kLbaMid, 0);
    r.out(kLbaHigh, 0);
    r.out(kCommand, 0x20);
    EXPECT_EQ(r.in(kError), IdeChannel::kAbrt);
    // Unknown commands and unknown SET FEATURES are aborted; the drive
    // takes the next command.
    r.out(kCommand, 0x00);
    EXPECT_EQ(r.in(kError), IdeChannel::kAbrt);
    r.out(kFeature, 0x77);
    r.out(kCommand, 0xef);
    EXPECT_EQ(r.in(kError), IdeChannel::kAbrt);
    r.out(kFeature, 0x03);
    r.out(kCount, 0x0c);  // PIO mode 4
    r.out(kCommand, 0xef);
    EXPECT_EQ(r.in(kStatus), kReady);
    // SET FEATURES changes IDENTIFY's data once it exists (QEMU builds
    // it at the first IDENTIFY: before, a change is lost).
    r.out(kFeature, 0x03);
    r.out(kCount, 0x42);  // UDMA mode 2
    r.out(kCommand, 0xef);
    const auto word88 = [&] {
        r.out(kCommand, 0xec);
        const std::vector<uint8_t> id = r.read_words(512);
        return id[88 * 2] | id[88 * 2 + 1] << 8;
    };
    EXPECT_EQ(word88(), 0x203f);
    r.out(kCommand, 0xef);
    EXPECT_EQ(word88(), 0x043f);
    r.out(kFeature, 0x03);
    r.out(kCount, 0x7f);  // no such transfer mode
    r.out(kCommand, 0xef);
    EXPECT_EQ(r.in(kError), IdeChannel::kAbrt);
    EXPECT_EQ(word88(), 0x043f);
    r.lba28(0, 1);
    r.out(kCommand, 0x20);
    EXPECT_EQ(r.read_words(512), r.disk(0, 1));
}

TEST(IdeChannel, WritesWhileBusyAreDroppedAndSoftResetEndsAnything) {
    Rig r(64);
    r.lba28(2, 2);
    r.out(kCommand, 0x20);
    r.read_words(100);
    // Mid-transfer: task-file writes and other commands are ignored, and
    // writing data against the transfer's direction moves nothing.
    r.out(kLbaLow, 0x77);
    r.out(kCommand, 0xec);
    r.outw(0x1234);
    EXPECT_EQ(r.in(kLbaLow), 3);  // READ SECTORS moves on a sector at a time
    EXPECT_EQ(r.in(kStatus), kReady | IdeChannel::kDrq);
    const std::vector<uint8_t> sector2 = r.disk(2, 1);
    EXPECT_EQ(r.read_words(412), std::vector<uint8_t>(sector2.begin() + 100, sector2.end()));
    // A dword where one word is left: nothing moves, 0 is read.
    r.read_words(510);
    EXPECT_EQ(r.m.io_space->read(PioAddr(kBase), 4).value, 0u);
    EXPECT_EQ(r.in(kStatus), kReady | IdeChannel::kDrq);
    // SRST resets both drives and runs their diagnostic at once: the
    // power-on registers, the signature, diagnostic code 1, the interrupt
    // (held back here by nIEN); SRST reads back clear.
    const int edges = r.pin.edges;
    r.control(IdeChannel::kSrst | IdeChannel::kNien);
    EXPECT_EQ(r.alt(), kReady);
    EXPECT_EQ(r.in(kCount), 1);
    EXPECT_EQ(r.in(kLbaLow), 1);
    EXPECT_EQ(r.in(kError), 1);
    EXPECT_EQ(r.in(kDevice), 0xa0);
    EXPECT_EQ(r.inw(), 0);  // no transfer left
    EXPECT_EQ(r.pin.edges, edges);
    // The same write again is a new reset; without nIEN it interrupts.
    r.out(kCount, 9);
    r.control(IdeChannel::kSrst);
    EXPECT_EQ(r.in(kCount), 1);
    EXPECT_EQ(r.pin.edges, edges + 1);
    // nIEN holds a command's interrupt back; a command lowers the line.
    r.control(IdeChannel::kNien);
    r.out(kCommand, 0xe7);  // FLUSH CACHE
    EXPECT_FALSE(r.pin.up);
    r.control(0);
    r.out(kCommand, 0xe7);
    EXPECT_TRUE(r.pin.up);
    EXPECT_EQ(r.pin.edges, edges + 2);
    // A DMA command waits for bus-master DMA that never comes: DRQ with
    // nothing to move, until a reset.
    r.lba28(0, 1);
    r.out(kCommand, 0xc8);
    EXPECT_EQ(r.in(kStatus), kReady | IdeChannel::kDrq);
    EXPECT_EQ(r.inw(), 0);
    r.out(kCommand, 0xec);
    EXPECT_EQ(r.in(kStatus), kReady | IdeChannel::kDrq);
    r.control(IdeChannel::kSrst);
    EXPECT_EQ(r.in(kStatus), kReady);
    // Commands QEMU's table has no hard-disk entry for, and SMART.
    for (uint8_t c : {uint8_t{0x00}, uint8_t{0x08}, uint8_t{0xa0}, uint8_t{0xa1}, uint8_t{0xb0}, uint8_t{0xff}}) {
        r.out(kCommand, c);
        EXPECT_EQ(r.in(kStatus), IdeChannel::kDrdy | IdeChannel::kErr) << int(c);
        EXPECT_EQ(r.in(kError), IdeChannel::kAbrt) << int(c);
    }
    // A command that succeeds clears the error; standby ends without DSC.
    r.out(kCommand, 0xe0);
    EXPECT_EQ(r.in(kStatus), IdeChannel::kDrdy);
    EXPECT_EQ(r.in(kError), 0);
}

TEST(IdeChannel, InitializeDeviceParametersSetsTheChsTranslation) {
    Rig r(2048);
    // 8 heads, 31 sectors a track, before the first IDENTIFY: its geometry
    // words follow.
    r.out(kDevice, 0xa7);
    r.out(kCount, 31);
    r.out(kCommand, 0x91);
    EXPECT_EQ(r.in(kStatus), kReady);
    r.out(kDevice, 0xa0);
    r.out(kCommand, 0xec);
    const std::vector<uint8_t> id = r.read_words(512);
    const auto word = [&](unsigned w) { return static_cast<unsigned>(id[w * 2] | id[w * 2 + 1] << 8); };
    EXPECT_EQ(word(3), 8u);
    EXPECT_EQ(word(6), 31u);
    EXPECT_EQ(word(4), 31u * 512);
    EXPECT_EQ(word(57) | word(58) << 16, 2u * 8 * 31);
    // CHS 0/1/2 is sector 31 + 1 now.
    const auto chs_read = [&](uint8_t head, uint8_t sector) {
        r.out(kDevice, static_cast<uint8_t>(0xa0 | head));
        r.out(kCount, 1);
        r.out(kLbaLow, sector);
        r.out(kLbaMid, 0);
        r.out(kLbaHigh, 0);
        r.out(kCommand, 0x20);
        return r.read_words(512);
    };
    EXPECT_EQ(chs_read(1, 2), r.disk(32, 1));
    // A reset keeps it, unless SET FEATURES 0xcc asked it to restore the
    // drive's own (16 heads, 63 sectors).
    r.control(IdeChannel::kSrst);
    EXPECT_EQ(chs_read(1, 2), r.disk(32, 1));
    r.out(kFeature, 0xcc);
    r.out(kCommand, 0xef);
    r.control(IdeChannel::kSrst);
    EXPECT_EQ(chs_read(1, 2), r.disk(64, 1));
    // No sectors a track: QEMU divides by zero; here the command ends and
    // the task file keeps its address.
    r.out(kDevice, 0xa0);
    r.out(kCount, 0);
    r.out(kCommand, 0x91);
    r.out(kDevice, 0xe0);  // LBA: the translation plays no part
    r.out(kCount, 1);
    r.out(kLbaLow, 3);
    r.out(kCommand, 0x20);
    EXPECT_EQ(r.read_words(512), r.disk(3, 1));
    r.out(kDevice, 0xa0);
    r.out(kCount, 1);
    r.out(kLbaLow, 1);
    r.out(kCommand, 0xf8);  // READ NATIVE MAX in CHS
    EXPECT_EQ(r.in(kStatus), kReady);
    EXPECT_EQ(r.in(kLbaLow), 1);
}

TEST(IdeChannel, StateDigestFollowsTheRegisters) {
    Rig r(64);
    const uint64_t d0 = r.ide.state_digest();
    r.out(kCount, 9);
    EXPECT_NE(r.ide.state_digest(), d0);
    Rig same(64);
    same.out(kCount, 9);
    EXPECT_EQ(same.ide.state_digest(), r.ide.state_digest());
}

TEST(IdeChannel, BadConstructionAndAttach) {
    testing::FakeHostInputs host;
    EXPECT_THROW(IdeChannel(2, host, 0, IrqLine()), Error);
    EXPECT_THROW(IdeChannel(0, host, IdeChannel::kMaxSectors + 1, IrqLine()), Error);
    EXPECT_THROW(IdeChannel(0, host, 100, IrqLine(), IdeGeometry{0, 16, 63, 0}), Error);
    EXPECT_THROW(IdeChannel(0, host, 100, IrqLine(), IdeGeometry{10, 17, 63, 0}), Error);
    EXPECT_THROW(IdeChannel(0, host, 100, IrqLine(), IdeGeometry{10, 16, 64, 0}), Error);
    EXPECT_THROW(IdeChannel(0, host, 100, IrqLine(), IdeGeometry{10, 16, 63, 3}), Error);
    IdeChannel ide(0, host, 1, IrqLine());
    MemorySystem sys;
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"ide0", AddressSpace::Kind::Io, kBase, 8});
    MachineMemory m = build_machine(sys, l);
    EXPECT_THROW(ide.attach(sys, m), Error);  // no "ide0-ctl"
    // Nothing was claimed: the window is still the layout's.
    EXPECT_EQ(m.io_space->read(PioAddr(kBase + 7), 1).status, AccessStatus::Unassigned);
}

}  // namespace
}  // namespace kvmrr
