// Tests for devices/dma_disk.h, driven through a real machine's memory
// address space with a scripted disk.
#include "devices/dma_disk.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/address_space.h"
#include "core/error.h"
#include "core/flat_view.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/ram_block.h"
#include "devices/bank_switch.h"
#include "devices/device.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

using testing::FakeHostInputs;

constexpr uint64_t kRegs = 0xfeb03000;
constexpr uint64_t kSector = DmaDisk::kSectorSize;

uint8_t disk_byte(uint64_t k) { return static_cast<uint8_t>(k * 37 + 11); }

struct Machine {
    MemorySystem sys;
    MachineMemory m;
    FakeHostInputs host;
    DmaDisk dev{host};
    Machine() : m(build_machine(sys, MachineLayout::default_layout())) {
        host.disk.resize(64 * kSector);
        for (uint64_t k = 0; k < host.disk.size(); ++k) host.disk[k] = disk_byte(k);
        dev.attach(sys, m);
    }
    uint8_t* ram() { return m.ram->ram_block()->host(); }
    AccessStatus set(uint64_t off, uint64_t v, unsigned size) { return m.memory->write(Gpa(kRegs + off), v, size); }
    uint64_t reg(uint64_t off, unsigned size = 4) {
        AccessResult r = m.memory->read(Gpa(kRegs + off), size);
        EXPECT_EQ(r.status, AccessStatus::Ok) << hex(off);
        return r.value;
    }
    // Programs and starts one command; returns STATUS.
    uint64_t command(uint32_t cmd, uint64_t sector, uint64_t addr, uint64_t count) {
        EXPECT_EQ(set(DmaDisk::kRegSector, sector, 8), AccessStatus::Ok);
        EXPECT_EQ(set(DmaDisk::kRegAddr, addr, 8), AccessStatus::Ok);
        EXPECT_EQ(set(DmaDisk::kRegCount, count, 4), AccessStatus::Ok);
        EXPECT_EQ(set(DmaDisk::kRegCmd, cmd, 4), AccessStatus::Ok);
        return reg(DmaDisk::kRegStatus);
    }
};

TEST(DmaDisk, ReadCopiesSectorsIntoGuestRam) {
    Machine t;
    const uint64_t addr = 0x100000;
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 10, addr, 3), DmaDisk::kStatusOk);
    EXPECT_EQ(t.reg(DmaDisk::kRegCompleted), 1u);
    for (uint64_t i = 0; i < 3 * kSector; ++i) ASSERT_EQ(t.ram()[addr + i], disk_byte(10 * kSector + i)) << i;
    EXPECT_EQ(t.ram()[addr - 1], 0);
    EXPECT_EQ(t.ram()[addr + 3 * kSector], 0);
    EXPECT_EQ(t.host.disk.size(), 64 * kSector);  // reads do not touch the disk
}

TEST(DmaDisk, WriteCopiesGuestRamToTheDisk) {
    Machine t;
    const uint64_t addr = 0x200000;
    for (uint64_t i = 0; i < 2 * kSector; ++i)
        ASSERT_EQ(t.m.memory->write(Gpa(addr + i), (i * 5 + 1) & 0xff, 1), AccessStatus::Ok);
    EXPECT_EQ(t.command(DmaDisk::kCmdWrite, 100, addr, 2), DmaDisk::kStatusOk);
    EXPECT_EQ(t.reg(DmaDisk::kRegCompleted), 1u);
    ASSERT_EQ(t.host.disk.size(), 102 * kSector);
    for (uint64_t i = 0; i < 2 * kSector; ++i) ASSERT_EQ(t.host.disk[100 * kSector + i], (i * 5 + 1) & 0xff) << i;
    EXPECT_EQ(t.host.disk[63 * kSector], disk_byte(63 * kSector));  // before: untouched
    EXPECT_EQ(t.host.disk[64 * kSector], 0);                        // the gap the fake disk zero-fills

    // Round trip: read it back elsewhere.
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 100, 0x300000, 2), DmaDisk::kStatusOk);
    for (uint64_t i = 0; i < 2 * kSector; ++i) ASSERT_EQ(t.ram()[0x300000 + i], (i * 5 + 1) & 0xff) << i;
    EXPECT_EQ(t.reg(DmaDisk::kRegCompleted), 2u);
}

TEST(DmaDisk, MaximumTransferIs256Sectors) {
    Machine t;
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 0, 0x400000, 256), DmaDisk::kStatusOk);
    // Past the end of the disk reads as zero.
    EXPECT_EQ(t.ram()[0x400000 + 63 * kSector], disk_byte(63 * kSector));
    EXPECT_EQ(t.ram()[0x400000 + 64 * kSector], 0);
    EXPECT_EQ(t.ram()[0x400000 + 256 * kSector - 1], 0);
}

TEST(DmaDisk, RegistersReadBackInAllWidths) {
    Machine t;
    ASSERT_EQ(t.set(DmaDisk::kRegSector, 0x11223344, 4), AccessStatus::Ok);
    ASSERT_EQ(t.set(DmaDisk::kRegSector + 4, 0x55667788, 4), AccessStatus::Ok);
    EXPECT_EQ(t.reg(DmaDisk::kRegSector, 8), 0x5566778811223344ull);
    ASSERT_EQ(t.set(DmaDisk::kRegAddr, 0x0123456789abcdefull, 8), AccessStatus::Ok);
    EXPECT_EQ(t.reg(DmaDisk::kRegAddr, 4), 0x89abcdefu);
    EXPECT_EQ(t.reg(DmaDisk::kRegAddr + 4, 4), 0x01234567u);
    ASSERT_EQ(t.set(DmaDisk::kRegAddr + 4, 0, 4), AccessStatus::Ok);  // only the high half
    EXPECT_EQ(t.reg(DmaDisk::kRegAddr, 8), 0x89abcdefull);
    ASSERT_EQ(t.set(DmaDisk::kRegCount, 7, 4), AccessStatus::Ok);
    EXPECT_EQ(t.reg(DmaDisk::kRegCount), 7u);
    EXPECT_EQ(t.reg(DmaDisk::kRegCmd), 0u);  // write-only
    EXPECT_EQ(t.reg(DmaDisk::kRegStatus), 0u);
    EXPECT_EQ(t.reg(DmaDisk::kRegCompleted), 0u);
    EXPECT_EQ(t.reg(0x20), 0u);
    EXPECT_EQ(t.reg(0xffc), 0u);
    // Read-only registers ignore writes.
    ASSERT_EQ(t.set(DmaDisk::kRegStatus, 1, 4), AccessStatus::Ok);
    ASSERT_EQ(t.set(DmaDisk::kRegCompleted, 9, 4), AccessStatus::Ok);
    EXPECT_EQ(t.reg(DmaDisk::kRegStatus), 0u);
    EXPECT_EQ(t.reg(DmaDisk::kRegCompleted), 0u);
}

TEST(DmaDisk, AccessSizesAreEnforcedPerRegister) {
    Machine t;
    // 4-byte registers: 4-byte accesses only.
    EXPECT_EQ(t.set(DmaDisk::kRegCount, 1, 8), AccessStatus::Invalid);
    EXPECT_EQ(t.m.memory->read(Gpa(kRegs + DmaDisk::kRegStatus), 8).status, AccessStatus::Invalid);
    EXPECT_EQ(t.set(DmaDisk::kRegCmd, 1, 2), AccessStatus::Invalid);
    EXPECT_EQ(t.set(DmaDisk::kRegCmd, 1, 1), AccessStatus::Invalid);
    // 8-byte registers: 4 or 8, aligned.
    EXPECT_EQ(t.set(DmaDisk::kRegSector, 1, 2), AccessStatus::Invalid);
    EXPECT_EQ(t.set(DmaDisk::kRegSector + 2, 1, 4), AccessStatus::Invalid);
    EXPECT_EQ(t.set(DmaDisk::kRegSector + 4, 1, 8), AccessStatus::Invalid);
    EXPECT_EQ(t.set(DmaDisk::kRegStatus, 1, 8), AccessStatus::Invalid);
    EXPECT_EQ(t.reg(DmaDisk::kRegSector, 8), 0u);
    EXPECT_EQ(t.reg(DmaDisk::kRegAddr, 8), 0u);
    EXPECT_EQ(t.reg(DmaDisk::kRegCount), 0u);
    EXPECT_EQ(t.reg(DmaDisk::kRegCompleted), 0u);  // no command ran
}

TEST(DmaDisk, BadCommandsReportAnError) {
    Machine t;
    std::vector<uint8_t> before(t.ram() + 0x100000, t.ram() + 0x100000 + 2 * kSector);
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 0, 0x100000, 0), DmaDisk::kStatusError);
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 0, 0x100000, 257), DmaDisk::kStatusError);
    EXPECT_EQ(t.command(3, 0, 0x100000, 1), DmaDisk::kStatusError);
    EXPECT_EQ(t.command(0, 0, 0x100000, 1), DmaDisk::kStatusError);
    // Disk offset or guest range past the 64-bit end.
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, uint64_t{1} << 55, 0x100000, 1), DmaDisk::kStatusError);
    EXPECT_EQ(t.command(DmaDisk::kCmdWrite, 0, UINT64_MAX - 100, 1), DmaDisk::kStatusError);
    EXPECT_EQ(std::vector<uint8_t>(t.ram() + 0x100000, t.ram() + 0x100000 + 2 * kSector), before);
    EXPECT_EQ(t.host.disk.size(), 64 * kSector);
    // Every command counts as completed, failed or not.
    EXPECT_EQ(t.reg(DmaDisk::kRegCompleted), 6u);
    // A good command clears STATUS.
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 0, 0x100000, 1), DmaDisk::kStatusOk);
    EXPECT_EQ(t.reg(DmaDisk::kRegCompleted), 7u);
}

TEST(DmaDisk, DmaIntoTheHoleFails) {
    Machine t;
    // 256 MiB of RAM: 0x20000000 is in the hole below the MMIO windows.
    const uint64_t unassigned = t.m.memory->stats().unassigned_writes;
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 0, 0x20000000, 1), DmaDisk::kStatusError);
    EXPECT_GT(t.m.memory->stats().unassigned_writes, unassigned);
    EXPECT_EQ(t.reg(DmaDisk::kRegCompleted), 1u);

    // A write from the hole leaves the disk alone.
    const std::vector<uint8_t> disk = t.host.disk;
    EXPECT_EQ(t.command(DmaDisk::kCmdWrite, 2, 0x20000000, 1), DmaDisk::kStatusError);
    EXPECT_EQ(t.host.disk, disk);
}

TEST(DmaDisk, DmaStraddlingTheEndOfRamWritesWhatFitsAndFails) {
    Machine t;
    const uint64_t ram_end = 256 * kMiB;
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 4, ram_end - kSector, 2), DmaDisk::kStatusError);
    for (uint64_t i = 0; i < kSector; ++i) ASSERT_EQ(t.ram()[ram_end - kSector + i], disk_byte(4 * kSector + i)) << i;
}

TEST(DmaDisk, DmaGoesThroughTheAddressSpace) {
    // The target is whatever the memory space maps there: here a bank of
    // the bank-switch device, which no direct RAM-block copy would find.
    Machine t;
    BankSwitch banks;
    banks.attach(t.sys, t.m);
    ASSERT_EQ(t.m.memory->write(Gpa(0xfeb01000), 2, 4), AccessStatus::Ok);
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 1, 0xe0000000 + 0x200, 1), DmaDisk::kStatusOk);
    const uint8_t* bank_ram = t.m.memory->view()->lookup(0xe0000000)->mr->ram_block()->host();
    for (uint64_t i = 0; i < kSector; ++i) ASSERT_EQ(bank_ram[2 * 0x10000 + 0x200 + i], disk_byte(kSector + i)) << i;
    EXPECT_EQ(t.ram()[0x200], 0);

    // ROM takes the DMA like any guest write: dropped, counted, no error
    // from the address space.
    const uint64_t dropped = t.m.memory->stats().rom_writes_dropped;
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 0, 0xffff0000, 1), DmaDisk::kStatusOk);
    EXPECT_GT(t.m.memory->stats().rom_writes_dropped, dropped);
    EXPECT_EQ(t.m.rom->ram_block()->host()[0], 0);
}

TEST(DmaDisk, DmaIntoItsOwnRegistersFailsWithoutNesting) {
    Machine t;
    // Sector 0 starts with bytes that, landing on SECTOR..CMD, would
    // program and start another command if the registers took them.
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 0, kRegs, 1), DmaDisk::kStatusError);
    EXPECT_EQ(t.reg(DmaDisk::kRegCompleted), 1u);
    EXPECT_EQ(t.reg(DmaDisk::kRegSector, 8), 0u);
    EXPECT_EQ(t.reg(DmaDisk::kRegAddr, 8), kRegs);
    EXPECT_EQ(t.reg(DmaDisk::kRegCount), 1u);
    // The registers work again afterwards.
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 0, 0x1000, 1), DmaDisk::kStatusOk);
    EXPECT_EQ(t.ram()[0x1000], disk_byte(0));
    // Reading them into the disk is harmless.
    EXPECT_EQ(t.command(DmaDisk::kCmdWrite, 5, kRegs, 1), DmaDisk::kStatusOk);
    EXPECT_EQ(t.host.disk[5 * kSector + DmaDisk::kRegSector], 5);  // as programmed
    EXPECT_EQ(t.host.disk[5 * kSector + DmaDisk::kRegCount], 1);
    EXPECT_EQ(t.host.disk[5 * kSector + DmaDisk::kRegCompleted], 2);
}

// A device write in the middle of an access (here BANK, reached by the
// DMA) re-renders and replaces the view; the rest of the access must not
// use a freed view (AddressSanitizer catches it if it does).
TEST(DmaDisk, DmaThatChangesTheTopologyMidTransfer) {
    Machine t;
    BankSwitch banks;
    banks.attach(t.sys, t.m);
    // 10 sectors from 0xfeb00e00: 0x200 bytes of the (unclaimed) entropy
    // window, the 4 KiB of bank-switch registers, 0x200 bytes of the
    // framebuffer-ctl window. The byte that lands on BANK selects bank 1.
    t.host.disk.assign(10 * kSector, 0);
    t.host.disk[0x200] = 1;
    EXPECT_EQ(t.command(DmaDisk::kCmdRead, 0, 0xfeb00e00, 10), DmaDisk::kStatusError);  // the holes
    EXPECT_EQ(banks.current_bank(), 1u);
    EXPECT_EQ(t.m.memory->view()->lookup(0xe0000000)->offset_in_region, 0x10000u);
}

TEST(DmaDisk, DigestTracksGuestVisibleState) {
    Machine a, b;
    EXPECT_EQ(a.dev.state_digest(), b.dev.state_digest());
    const uint64_t d0 = a.dev.state_digest();
    ASSERT_EQ(a.set(DmaDisk::kRegSector, 3, 8), AccessStatus::Ok);
    const uint64_t d1 = a.dev.state_digest();
    EXPECT_NE(d1, d0);
    a.command(DmaDisk::kCmdRead, 3, 0x100000, 1);
    const uint64_t d2 = a.dev.state_digest();
    EXPECT_NE(d2, d1);
    a.command(DmaDisk::kCmdRead, 3, 0x100000, 0);  // STATUS becomes 1
    EXPECT_NE(a.dev.state_digest(), d2);

    ASSERT_EQ(b.set(DmaDisk::kRegSector, 3, 8), AccessStatus::Ok);
    b.command(DmaDisk::kCmdRead, 3, 0x100000, 1);
    b.command(DmaDisk::kCmdRead, 3, 0x100000, 0);
    EXPECT_EQ(a.dev.state_digest(), b.dev.state_digest());
}

TEST(DmaDisk, IdentityAndErrors) {
    FakeHostInputs host;
    DmaDisk dev(host);
    EXPECT_EQ(dev.name(), "dma-disk");
    EXPECT_EQ(dev.model_version(), 1u);

    MemorySystem sys;
    MachineLayout l = MachineLayout::default_layout();
    l.devices.clear();
    MachineMemory m = build_machine(sys, l);
    const size_t regions = sys.region_count();
    try {
        dev.attach(sys, m);
        ADD_FAILURE() << "attach without a dma-disk window did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'dma-disk'"), std::string::npos) << e.what();
    }
    EXPECT_EQ(sys.region_count(), regions);

    Machine t;
    EXPECT_THROW(t.dev.attach(t.sys, t.m), Error);
}

}  // namespace
}  // namespace kvmrr
