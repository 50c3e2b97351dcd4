// Tests for devices/ide_bus_master.h and the channel's DMA
// (devices/ide_dma.cc) through the machine's address spaces, as a driver
// uses them: the BAR enabled through PCI configuration, a PRD table in RAM,
// READ and WRITE DMA (and EXT) with the bus master started before or after
// the command, tables longer and shorter than the transfer, a transfer past
// the disk's end, nIEN, and guest memory that is not RAM. The data is
// checked against the disk's own bytes, not against the model.
#include "devices/ide_bus_master.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "core/address.h"
#include "core/address_space.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/pci_bus.h"
#include "devices/piix3_ide.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

constexpr uint16_t kBase = 0x1f0, kCtl = 0x3f6, kBm = 0xc000;
enum : uint16_t { kCount = 2, kLbaLow = 3, kLbaMid = 4, kLbaHigh = 5, kDevice = 6, kStatus = 7, kCommand = 7 };
constexpr uint8_t kReady = IdeChannel::kDrdy | IdeChannel::kSeek;
constexpr uint8_t kReadDma = 0xc8, kWriteDma = 0xca, kReadDmaExt = 0x25;
constexpr uint64_t kTable = 0x1000;
constexpr uint64_t kSectors = 64;

using Pin = testing::FakeIrqPin;

uint8_t disk_byte(uint64_t offset) { return static_cast<uint8_t>(offset / 512 * 13 + offset % 251); }

struct Rig {
    testing::FakeHostInputs host;
    testing::FakeRunControl run;
    Pin pin;
    PciHost pci{run};
    Piix3Ide fn;
    IdeChannel ide{0, host, kSectors, IrqLine(pin, 14)};
    MemorySystem sys;
    MachineMemory m;
    std::vector<std::pair<uint64_t, size_t>> written, read;

    Rig() {
        host.disk.resize(kSectors * 512);
        for (size_t i = 0; i < host.disk.size(); ++i) host.disk[i] = disk_byte(i);
        MachineLayout l = MachineLayout::default_layout();
        l.devices.push_back({"pci-conf", AddressSpace::Kind::Io, 0xcf8, 8});
        l.devices.push_back({"ide0", AddressSpace::Kind::Io, kBase, 8});
        l.devices.push_back({"ide0-ctl", AddressSpace::Kind::Io, kCtl, 1});
        m = build_machine(sys, l);
        pci.add_function(fn);
        pci.attach(sys, m);
        fn.attach(sys, m);
        ide.attach(sys, m);
        fn.connect(0, ide);
        fn.set_dma_observers([this](uint64_t a, std::span<const uint8_t> b) { written.emplace_back(a, b.size()); },
                             [this](uint64_t a, std::span<const uint8_t> b) { read.emplace_back(a, b.size()); });
        // As firmware does: the BAR at kBm, then I/O and bus mastering on.
        cfg_write(Piix3Ide::kBmiba, kBm, 4);
        cfg_write(pci::kCommand, 0x05, 2);
    }
    void cfg_write(uint8_t reg, uint32_t v, unsigned size) {
        ASSERT_EQ(m.io_space->write(PioAddr(0xcf8), 0x80000000u | (uint32_t{fn.devfn()} << 8) | (reg & 0xfcu), 4), AccessStatus::Ok);
        ASSERT_EQ(m.io_space->write(PioAddr(static_cast<uint16_t>(0xcfc + (reg & 3))), v, size), AccessStatus::Ok);
    }
    uint64_t pin_(uint16_t port, unsigned size) { return m.io_space->read(PioAddr(port), size).value; }
    void pout(uint16_t port, uint64_t v, unsigned size) { EXPECT_EQ(m.io_space->write(PioAddr(port), v, size), AccessStatus::Ok); }
    uint8_t in(uint16_t reg) { return static_cast<uint8_t>(pin_(kBase + reg, 1)); }
    void out(uint16_t reg, uint8_t v) { pout(kBase + reg, v, 1); }
    uint8_t bm_status() { return static_cast<uint8_t>(pin_(kBm + 2, 1)); }
    void bm_start(bool to_memory = true) { pout(kBm, to_memory ? 0x09 : 0x01, 1); }
    void bm_stop() { pout(kBm, 0x00, 1); }
    void lba28(uint32_t lba, uint8_t count) {
        out(kDevice, static_cast<uint8_t>(0xe0 | ((lba >> 24) & 0x0f)));
        out(kCount, count);
        out(kLbaLow, static_cast<uint8_t>(lba));
        out(kLbaMid, static_cast<uint8_t>(lba >> 8));
        out(kLbaHigh, static_cast<uint8_t>(lba >> 16));
    }
    uint32_t lba_regs() { return in(kLbaLow) | uint32_t{in(kLbaMid)} << 8 | uint32_t{in(kLbaHigh)} << 16; }
    // PRD entries at kTable: (address, byte count, last).
    void table(const std::vector<std::tuple<uint32_t, uint32_t, bool>>& prds, uint64_t at = kTable) {
        std::vector<uint8_t> raw;
        for (const auto& [addr, count, last] : prds) {
            const uint32_t words[2] = {addr, (count & 0xffff) | (last ? 0x80000000u : 0)};
            const auto* b = reinterpret_cast<const uint8_t*>(words);
            raw.insert(raw.end(), b, b + 8);
        }
        ASSERT_EQ(m.memory->write_bytes(Gpa(at), raw), AccessStatus::Ok);
        pout(kBm + 4, at, 4);
    }
    std::vector<uint8_t> ram(uint64_t at, size_t n) {
        std::vector<uint8_t> v(n);
        EXPECT_EQ(m.memory->read_bytes(Gpa(at), v), AccessStatus::Ok);
        return v;
    }
    void fill(uint64_t at, size_t n, uint8_t seed) {
        std::vector<uint8_t> v(n);
        for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 3);
        ASSERT_EQ(m.memory->write_bytes(Gpa(at), v), AccessStatus::Ok);
    }
};

std::vector<uint8_t> disk_bytes(uint64_t sector, size_t n) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = disk_byte(sector * 512 + i);
    return v;
}

TEST(IdeBusMaster, RegistersAsQemusPiixHasThem) {
    Rig r;
    EXPECT_EQ(r.pin_(kBm, 1), 0u);
    EXPECT_EQ(r.pin_(kBm + 1, 1), 0xffu);
    EXPECT_EQ(r.pin_(kBm + 2, 1), 0u);
    EXPECT_EQ(r.pin_(kBm + 3, 1), 0xffu);
    EXPECT_EQ(r.pin_(kBm, 2), 0xffffu);  // only byte accesses reach the registers
    EXPECT_EQ(r.pin_(kBm, 4), 0xffffffffu);
    r.pout(kBm, 0x0909, 2);              // dropped
    EXPECT_EQ(r.pin_(kBm, 1), 0u);
    // Command: start and direction kept, the rest dropped.
    r.pout(kBm, 0xf6, 1);
    EXPECT_EQ(r.pin_(kBm, 1), 0x00u);
    r.pout(kBm, 0xff, 1);
    EXPECT_EQ(r.pin_(kBm, 1), 0x09u);
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kActive);  // started, nothing to do
    r.bm_stop();
    EXPECT_EQ(r.bm_status(), 0u);
    // Status: bits 5-6 the guest's, bit 0 read-only, bits 1-2 cleared by 1s.
    r.pout(kBm + 2, 0xff, 1);
    EXPECT_EQ(r.bm_status(), 0x60u);
    // The table address: 1- to 4-byte accesses, bits 0-1 always 0.
    r.pout(kBm + 4, 0x12345677, 4);
    EXPECT_EQ(r.pin_(kBm + 4, 4), 0x12345674u);
    r.pout(kBm + 5, 0xab, 1);
    EXPECT_EQ(r.pin_(kBm + 4, 4), 0x1234ab74u);
    EXPECT_EQ(r.pin_(kBm + 6, 2), 0x1234u);
    r.pout(kBm + 4, 0xffff, 2);
    EXPECT_EQ(r.pin_(kBm + 4, 4), 0x1234fffcu);
    // Channel 1's block is its own.
    EXPECT_EQ(r.pin_(kBm + 12, 4), 0u);
    r.pout(kBm + 10, 0x20, 1);
    EXPECT_EQ(r.pin_(kBm + 10, 1), 0x20u);
    EXPECT_EQ(r.bm_status(), 0x60u);
}

TEST(IdeBusMaster, TheBlockIsWhereTheBarSaysWhileIoIsOn) {
    Rig r;
    r.pout(kBm + 4, 0x1000, 4);
    EXPECT_EQ(r.pin_(kBm + 4, 4), 0x1000u);
    r.cfg_write(pci::kCommand, 0x04, 2);  // I/O off
    EXPECT_EQ(r.pin_(kBm + 4, 4), 0xffffffffu);
    r.cfg_write(Piix3Ide::kBmiba, 0xd000, 4);
    r.cfg_write(pci::kCommand, 0x05, 2);
    EXPECT_EQ(r.pin_(0xd004, 4), 0x1000u);
    EXPECT_EQ(r.pin_(kBm + 4, 4), 0xffffffffu);
    // At 0, or past the I/O space, the BAR decodes nothing.
    r.cfg_write(Piix3Ide::kBmiba, 0x0, 4);
    EXPECT_FALSE(r.fn.bus_master_mapped());
    EXPECT_EQ(r.pin_(0xd004, 4), 0xffffffffu);
    r.cfg_write(Piix3Ide::kBmiba, 0x10000, 4);
    EXPECT_FALSE(r.fn.bus_master_mapped());
    r.cfg_write(Piix3Ide::kBmiba, 0xfff0, 4);
    EXPECT_TRUE(r.fn.bus_master_mapped());
    EXPECT_EQ(r.pin_(0xfff4, 4), 0x1000u);
}

TEST(IdeBusMaster, ReadDmaFillsThePrdBuffersWithTheDisksSectors) {
    Rig r;
    r.table({{0x10000, 512, false}, {0x20000, 1024, true}});
    r.fill(0x10000, 0x1000, 1);
    const std::vector<uint8_t> after_entry = r.ram(0x10200, 16);
    r.lba28(5, 3);
    r.out(kCommand, kReadDma);
    EXPECT_EQ(r.in(kStatus), kReady | IdeChannel::kDrq);  // waits for the bus master
    EXPECT_EQ(r.pin.edges, 0);
    r.bm_start();
    EXPECT_EQ(r.ram(0x10000, 512), disk_bytes(5, 512));
    EXPECT_EQ(r.ram(0x20000, 1024), disk_bytes(6, 1024));
    EXPECT_EQ(r.ram(0x10200, 16), after_entry) << "nothing past the entry";
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kInterrupt);
    EXPECT_TRUE(r.pin.up);
    EXPECT_EQ(r.in(kStatus), kReady);
    EXPECT_FALSE(r.pin.up);
    EXPECT_EQ(r.lba_regs(), 8u);
    EXPECT_EQ(r.in(kCount), 0u);
    EXPECT_EQ(r.ide.sectors_read(), 3u);
    // Both entries were read from guest memory, and three writes went in.
    EXPECT_EQ(r.read, (std::vector<std::pair<uint64_t, size_t>>{{kTable, 8}, {kTable + 8, 8}}));
    size_t bytes = 0;
    for (const auto& w : r.written) bytes += w.second;
    EXPECT_EQ(bytes, 1536u);
    // The interrupt bit stays until the guest clears it.
    r.pout(kBm + 2, IdeBusMaster::kInterrupt, 1);
    EXPECT_EQ(r.bm_status(), 0u);
}

TEST(IdeBusMaster, ACommandAfterTheStartRunsAtOnceAndExtCommandsTakeLba48) {
    Rig r;
    r.table({{0x30000, 1024, true}});
    r.bm_start();
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kActive);
    // READ DMA EXT of 2 sectors at 40.
    r.out(kDevice, 0x40);
    r.out(kCount, 0);
    r.out(kCount, 2);
    for (uint16_t reg : {kLbaLow, kLbaMid, kLbaHigh}) r.out(reg, 0);
    r.out(kLbaLow, 40);
    r.out(kLbaMid, 0);
    r.out(kLbaHigh, 0);
    r.out(kCommand, kReadDmaExt);
    EXPECT_EQ(r.in(kStatus), kReady);
    EXPECT_EQ(r.ram(0x30000, 1024), disk_bytes(40, 1024));
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kInterrupt);
    EXPECT_EQ(r.in(kLbaLow), 42u);
}

TEST(IdeBusMaster, WriteDmaTakesTheBuffersToTheDisk) {
    Rig r;
    r.fill(0x40000, 512, 7);
    r.fill(0x50000, 512, 99);
    r.table({{0x40000, 512, false}, {0x50000, 512, true}});
    r.lba28(10, 2);
    r.out(kCommand, kWriteDma);
    r.bm_start(false);
    EXPECT_EQ(r.in(kStatus), kReady);
    EXPECT_EQ(std::vector<uint8_t>(r.host.disk.begin() + 10 * 512, r.host.disk.begin() + 11 * 512), r.ram(0x40000, 512));
    EXPECT_EQ(std::vector<uint8_t>(r.host.disk.begin() + 11 * 512, r.host.disk.begin() + 12 * 512), r.ram(0x50000, 512));
    EXPECT_EQ(std::vector<uint8_t>(r.host.disk.begin() + 12 * 512, r.host.disk.begin() + 13 * 512), disk_bytes(12, 512));
    EXPECT_EQ(r.ide.sectors_written(), 2u);
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kInterrupt);
}

TEST(IdeBusMaster, ALongerTableLeavesTheBusMasterActive) {
    Rig r;
    r.table({{0x10000, 0, true}});  // 0 is 64 KiB
    r.lba28(0, 1);
    r.out(kCommand, kReadDma);
    r.bm_start();
    EXPECT_EQ(r.ram(0x10000, 512), disk_bytes(0, 512));
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kActive | IdeBusMaster::kInterrupt);
    EXPECT_EQ(r.in(kStatus), kReady);
    r.bm_stop();
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kInterrupt);
}

TEST(IdeBusMaster, AShorterTableMovesNothingAndRaisesNoInterrupt) {
    Rig r;
    r.fill(0x10000, 1024, 5);
    const std::vector<uint8_t> before = r.ram(0x10000, 1024);
    r.table({{0x10000, 510, false}, {0x10200, 512, true}});  // bit 0 of a count is ignored: 1022 bytes
    r.lba28(0, 2);
    r.out(kCommand, kReadDma);
    r.bm_start();
    EXPECT_EQ(r.ram(0x10000, 1024), before);
    EXPECT_EQ(r.bm_status(), 0u);
    EXPECT_EQ(r.pin.edges, 0);
    EXPECT_EQ(r.in(kStatus), kReady);  // the command is over, without DRQ
    EXPECT_EQ(r.ide.sectors_read(), 0u);
}

TEST(IdeBusMaster, ATransferPastTheDisksEndIsAborted) {
    Rig r;
    r.table({{0x10000, 0, true}});
    r.lba28(kSectors - 1, 2);
    r.out(kCommand, kReadDma);
    r.bm_start();
    EXPECT_EQ(r.in(kStatus), IdeChannel::kDrdy | IdeChannel::kErr);
    EXPECT_EQ(r.in(1), IdeChannel::kAbrt);
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kInterrupt);
    EXPECT_EQ(r.pin.edges, 1);
    EXPECT_EQ(r.ide.sectors_read(), 0u);
}

TEST(IdeBusMaster, NienHoldsBackTheInterruptAndItsBit) {
    Rig r;
    r.table({{0x10000, 512, true}});
    r.pout(kCtl, IdeChannel::kNien, 1);
    r.lba28(3, 1);
    r.out(kCommand, kReadDma);
    r.bm_start();
    EXPECT_EQ(r.ram(0x10000, 512), disk_bytes(3, 512));
    EXPECT_EQ(r.bm_status(), 0u);
    EXPECT_EQ(r.pin.edges, 0);
}

TEST(IdeBusMaster, StartingAgainReadsTheTableFromItsStart) {
    Rig r;
    r.table({{0x10000, 512, true}});
    r.lba28(1, 1);
    r.out(kCommand, kReadDma);
    r.bm_start();
    EXPECT_EQ(r.ram(0x10000, 512), disk_bytes(1, 512));
    r.bm_stop();
    r.lba28(2, 1);
    r.out(kCommand, kReadDma);
    EXPECT_EQ(r.in(kStatus), kReady | IdeChannel::kDrq);
    r.bm_start();
    EXPECT_EQ(r.ram(0x10000, 512), disk_bytes(2, 512));
    EXPECT_EQ(r.in(kStatus), kReady);
}

TEST(IdeBusMaster, MemoryThatIsNotRamNeitherTakesNorGivesData) {
    Rig r;
    // Buffers in the ROM and past RAM: dropped; the command still ends.
    r.table({{0xffff0000u, 512, false}, {0x20000000, 512, false}, {0x10000, 512, true}});
    const std::vector<uint8_t> rom = r.ram(0xffff0000u, 512);
    r.lba28(0, 3);
    r.out(kCommand, kReadDma);
    r.bm_start();
    EXPECT_EQ(r.in(kStatus), kReady);
    EXPECT_EQ(r.ram(0xffff0000u, 512), rom);
    EXPECT_EQ(r.ram(0x10000, 512), disk_bytes(2, 512));
    // A WRITE DMA from there stores zeros.
    r.table({{0x20000000, 512, true}});
    r.bm_stop();
    r.lba28(20, 1);
    r.out(kCommand, kWriteDma);
    r.bm_start(false);
    EXPECT_EQ(std::vector<uint8_t>(r.host.disk.begin() + 20 * 512, r.host.disk.begin() + 21 * 512), std::vector<uint8_t>(512, 0));
    // A table outside RAM reads as zeros: 64 KiB entries at address 0, to
    // the 4 KiB limit; one sector lands at 0.
    r.bm_stop();
    r.pout(kBm + 4, 0x20000000, 4);
    r.lba28(4, 1);
    r.out(kCommand, kReadDma);
    r.bm_start();
    EXPECT_EQ(r.ram(0, 512), disk_bytes(4, 512));
    EXPECT_EQ(r.bm_status() & IdeBusMaster::kActive, IdeBusMaster::kActive);  // 32 MiB described
}

TEST(IdeBusMaster, ATableWithoutAnEndStopsAfterFourKilobytes) {
    Rig r;
    // 512 entries of 2 bytes (1 KiB) and no end: short of 3 sectors.
    std::vector<std::tuple<uint32_t, uint32_t, bool>> prds;
    for (uint32_t i = 0; i < 513; ++i) prds.emplace_back(0x10000 + 2 * i, 2, false);
    r.table(prds);
    r.lba28(0, 3);
    r.out(kCommand, kReadDma);
    r.bm_start();
    EXPECT_EQ(r.read.size(), 512u);
    EXPECT_EQ(r.bm_status(), 0u);
    EXPECT_EQ(r.ide.sectors_read(), 0u);
    // One sector fits in 1 KiB: it goes in two bytes at a time.
    r.bm_stop();
    r.lba28(6, 1);
    r.out(kCommand, kReadDma);
    r.bm_start();
    EXPECT_EQ(r.ram(0x10000, 512), disk_bytes(6, 512));
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kActive | IdeBusMaster::kInterrupt);
}

// The interrupt bit follows the channel's line, whatever the command.
TEST(IdeBusMaster, APioCommandsInterruptSetsTheInterruptBitToo) {
    Rig r;
    r.out(kCommand, 0xe7);  // FLUSH CACHE
    EXPECT_TRUE(r.pin.up);
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kInterrupt);
    r.pout(kBm + 2, IdeBusMaster::kInterrupt, 1);
    r.pout(kCtl, IdeChannel::kNien, 1);
    r.out(kCommand, 0xe7);
    EXPECT_EQ(r.bm_status(), 0u);
}

// DATA SET MANAGEMENT's TRIM: its ranges come by DMA; nothing is
// discarded (QEMU's default), a range past the end aborts, and a count of
// 0 ends the command before the table is read.
TEST(IdeBusMaster, TrimTakesItsRangesByDmaAndDiscardsNothing) {
    Rig r;
    const std::vector<uint8_t> disk = r.host.disk;
    auto ranges = [&](std::vector<std::pair<uint64_t, uint16_t>> list) {
        std::vector<uint8_t> block(512, 0);
        for (size_t i = 0; i < list.size(); ++i) {
            const uint64_t e = list[i].first | uint64_t{list[i].second} << 48;
            std::memcpy(block.data() + 8 * i, &e, 8);
        }
        ASSERT_EQ(r.m.memory->write_bytes(Gpa(0x10000), block), AccessStatus::Ok);
    };
    auto trim = [&](uint8_t blocks) {
        r.bm_stop();
        r.pout(kBm + 2, IdeBusMaster::kInterrupt, 1);
        r.out(1, 0x01);  // feature: TRIM
        r.lba28(0, blocks);
        r.out(kCommand, 0x06);
        r.bm_start(false);
    };
    r.table({{0x10000, 512, true}});
    ranges({{3, 4}, {0, 0}, {kSectors - 2, 2}});
    trim(1);
    EXPECT_EQ(r.in(kStatus), kReady);
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kInterrupt);
    EXPECT_EQ(r.host.disk, disk);
    EXPECT_EQ(r.in(kLbaLow), 1u);  // the task file moves on by the blocks taken
    // A range that reaches past the end.
    ranges({{3, 4}, {kSectors - 2, 3}});
    trim(1);
    EXPECT_EQ(r.in(kStatus), IdeChannel::kDrdy | IdeChannel::kErr);
    EXPECT_EQ(r.in(1), IdeChannel::kAbrt);
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kInterrupt);
    // No blocks: done before the table is read.
    r.read.clear();
    trim(0);
    EXPECT_EQ(r.in(kStatus), kReady);
    EXPECT_TRUE(r.read.empty());
    EXPECT_EQ(r.bm_status(), IdeBusMaster::kInterrupt);
    EXPECT_EQ(r.host.disk, disk);
}

TEST(IdeBusMaster, TheStateDigestSeesTheRegisters) {
    Rig r;
    const uint64_t d = r.fn.state_digest();
    r.pout(kBm + 4, 0x2000, 4);
    EXPECT_NE(r.fn.state_digest(), d);
}

}  // namespace
}  // namespace kvmrr
