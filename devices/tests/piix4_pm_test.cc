// Tests for devices/piix4_pm.h: config space through PciHost, the PM I/O
// space and APM ports through the machine's I/O address space, time from a
// fake GuestClock, the SCI seen by a fake interrupt controller.
#include "devices/piix4_pm.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/pci_bus.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

struct FakeClock final : GuestClock {
    int64_t ns = 0;
    int64_t now_ns() override { return ns; }
};

struct FakeSink final : IrqSink {
    std::vector<std::pair<unsigned, bool>> calls;
    bool level[16] = {};
    void set_irq(unsigned pin, bool l) override {
        calls.emplace_back(pin, l);
        if (pin < 16) level[pin] = l;
    }
};

constexpr uint32_t kFn = 0x80000000u | (1u << 11) | (3u << 8);  // 00:01.3

struct Rig {
    FakeClock clock;
    FakeSink pic;
    testing::FakeRunControl run;
    PciHost host{run};
    Piix4Pm pm{clock, IrqLine(pic, 9), run};
    MemorySystem sys;
    MachineMemory m;

    Rig() {
        MachineLayout l = MachineLayout::default_layout();
        l.devices.push_back({"pci-conf", AddressSpace::Kind::Io, 0xcf8, 8});
        l.devices.push_back({"apm", AddressSpace::Kind::Io, 0xb2, 2});
        m = build_machine(sys, l);
        host.add_function(pm);
        host.attach(sys, m);
        pm.attach(sys, m);
    }
    uint32_t cfg_read(uint8_t reg, unsigned size) {
        EXPECT_EQ(m.io_space->write(PioAddr(0xcf8), kFn | (reg & 0xfc), 4), AccessStatus::Ok);
        return static_cast<uint32_t>(m.io_space->read(PioAddr(static_cast<uint16_t>(0xcfc + (reg & 3))), size).value);
    }
    void cfg_write(uint8_t reg, uint32_t v, unsigned size) {
        EXPECT_EQ(m.io_space->write(PioAddr(0xcf8), kFn | (reg & 0xfc), 4), AccessStatus::Ok);
        EXPECT_EQ(m.io_space->write(PioAddr(static_cast<uint16_t>(0xcfc + (reg & 3))), v, size), AccessStatus::Ok);
    }
    AccessResult in(uint16_t port, unsigned size) { return m.io_space->read(PioAddr(port), size); }
    uint64_t inv(uint16_t port, unsigned size) {
        const AccessResult r = in(port, size);
        EXPECT_EQ(r.status, AccessStatus::Ok) << "port " << port;
        return r.value;
    }
    void out(uint16_t port, uint64_t v, unsigned size) {
        EXPECT_EQ(m.io_space->write(PioAddr(port), v, size), AccessStatus::Ok) << "port " << port;
    }
    // What SeaBIOS's piix4_pm_config_setup does, with its pm_base.
    void seabios_setup(uint16_t base) {
        cfg_write(0x3c, 9, 1);
        cfg_write(0x40, base | 1u, 4);
        cfg_write(0x80, 0x01, 1);
        cfg_write(0x90, (base + 0x100u) | 1u, 4);
        cfg_write(0xd2, 0x09, 1);
    }
};

TEST(Piix4Pm, IdentityAndQemuConfigValues) {
    Rig r;
    EXPECT_EQ(r.pm.devfn(), 0x0b);
    EXPECT_EQ(r.cfg_read(0x00, 4), 0x71138086u);
    EXPECT_EQ(r.cfg_read(0x04, 4), 0x02800000u);  // status: DEVSEL medium, fast back-to-back
    EXPECT_EQ(r.cfg_read(0x08, 4), 0x06800003u);
    EXPECT_EQ(r.cfg_read(0x0e, 1), 0x00u);
    EXPECT_EQ(r.cfg_read(0x2c, 4), 0x11001af4u);
    EXPECT_EQ(r.cfg_read(0x3c, 2), 0x0100u);  // pin A, line unset
    EXPECT_EQ(r.cfg_read(0x40, 4), 0x00000001u);
    EXPECT_EQ(r.cfg_read(0x58, 4), 0x02000000u);  // APMC_EN: SeaBIOS skips SMM setup
    EXPECT_EQ(r.cfg_read(0x80, 1), 0x00u);
    EXPECT_EQ(r.cfg_read(0x90, 4), 0x0000b101u);
    EXPECT_EQ(r.cfg_read(0xd2, 1), 0x09u);
    EXPECT_EQ(r.cfg_read(0x5f, 1), 0x10u);
    EXPECT_EQ(r.cfg_read(0x63, 1), 0x60u);
    EXPECT_EQ(r.cfg_read(0x67, 1), 0x08u);
    EXPECT_FALSE(r.pm.pm_io_enabled());
}

TEST(Piix4Pm, OptionsChangeTheMachineReadyBytes) {
    FakeClock clock;
    testing::FakeRunControl run;
    Piix4Pm::Options o;
    o.smm_enabled = true;
    o.lpt_present = true;
    o.com1_present = false;
    o.com2_present = true;
    o.smb_io_base = 0x1100;
    Piix4Pm pm(clock, IrqLine{}, run, o);
    EXPECT_EQ(pm.config()[0x5b], 0x00);
    EXPECT_EQ(pm.config()[0x5f], 0x90);
    EXPECT_EQ(pm.config()[0x67], 0x90);
    EXPECT_EQ(pm.config()[0x90], 0x01);
    EXPECT_EQ(pm.config()[0x91], 0x11);
}

TEST(Piix4Pm, SeaBiosPmBaseAndTimer) {
    Rig r;
    EXPECT_EQ(r.in(0x608, 4).status, AccessStatus::Unassigned);  // not yet enabled
    r.seabios_setup(0x600);
    EXPECT_TRUE(r.pm.pm_io_enabled());
    EXPECT_EQ(r.pm.pm_io_base(), 0x600);
    EXPECT_EQ(r.cfg_read(0x40, 4), 0x00000601u);
    EXPECT_EQ(r.cfg_read(0x3c, 1), 9u);
    r.clock.ns = 1'000'000'000;
    EXPECT_EQ(r.inv(0x608, 4), 0x369e99u);  // 3,579,545 ticks after one second
}

TEST(Piix4Pm, TimerCountsAt3579545HzAndWrapsAt24Bits) {
    Rig r;
    r.seabios_setup(0x600);
    const std::pair<int64_t, uint32_t> points[] = {
        {0, 0x0},
        {279, 0x0},              // under one tick
        {1'000'000'000, 0x369e99},
        {5'000'000'000, 0x1118fd},  // 17,897,725 ticks, past one wrap
        {4'687'000'000, 0x6f},      // just past the first wrap (0x100006f)
        {123'456'789'012, 0x57269b},
    };
    for (const auto& [ns, want] : points) {
        r.clock.ns = ns;
        EXPECT_EQ(r.inv(0x608, 4), want) << ns;
    }
    // 32-bit reads only; writes ignored.
    EXPECT_EQ(r.in(0x608, 2).status, AccessStatus::Invalid);
    EXPECT_EQ(r.in(0x609, 1).status, AccessStatus::Invalid);
    r.out(0x608, 0, 4);
    EXPECT_EQ(r.inv(0x608, 4), 0x57269bu);
}

TEST(Piix4Pm, MovingAndDisablingThePmSpace) {
    Rig r;
    r.clock.ns = 1'000'000'000;
    r.cfg_write(0x40, 0xb001, 4);
    EXPECT_EQ(r.in(0xb008, 4).status, AccessStatus::Unassigned);  // PMREGMISC still off
    r.cfg_write(0x80, 0x01, 1);
    EXPECT_EQ(r.inv(0xb008, 4), 0x369e99u);
    // "Moving pm_base to 0x600" while enabled.
    r.cfg_write(0x40, 0x0601, 4);
    EXPECT_EQ(r.in(0xb008, 4).status, AccessStatus::Unassigned);
    EXPECT_EQ(r.inv(0x608, 4), 0x369e99u);
    // Low bits of PMBA do not place it (64-byte granularity).
    r.cfg_write(0x40, 0x063f, 2);
    EXPECT_EQ(r.pm.pm_io_base(), 0x600);
    EXPECT_EQ(r.inv(0x608, 4), 0x369e99u);
    r.cfg_write(0x41, 0x07, 1);  // a byte write moves it too
    EXPECT_EQ(r.pm.pm_io_base(), 0x700);
    EXPECT_EQ(r.inv(0x708, 4), 0x369e99u);
    r.cfg_write(0x80, 0x00, 1);
    EXPECT_EQ(r.in(0x708, 4).status, AccessStatus::Unassigned);
    EXPECT_FALSE(r.pm.pm_io_enabled());
    // Holes in the 64-byte space read as nothing (QEMU maps three registers).
    r.cfg_write(0x80, 0x01, 1);
    EXPECT_EQ(r.in(0x70c, 4).status, AccessStatus::Unassigned);
    EXPECT_EQ(r.in(0x706, 2).status, AccessStatus::Unassigned);
}

TEST(Piix4Pm, TimerStatusIsSetLazilyAndClearedByWritingOne) {
    Rig r;
    r.seabios_setup(0x600);
    // Since reset the overflow time is 0: the first read sees TMR_STS.
    EXPECT_EQ(r.inv(0x600, 2), 0x0001u);
    r.clock.ns = 1'000'000'000;  // 3,579,545 ticks: next toggle of bit 23 at 0x800000
    r.out(0x600, 0x0001, 2);
    EXPECT_EQ(r.inv(0x600, 2), 0x0000u);
    r.clock.ns = 2'343'484'437;  // 0x7fffff ticks
    EXPECT_EQ(r.inv(0x600, 2), 0x0000u);
    r.clock.ns = 2'343'484'438;  // 0x800000 ticks
    EXPECT_EQ(r.inv(0x600, 2), 0x0001u);
    EXPECT_EQ(r.inv(0x600, 1), 0x01u);
    EXPECT_EQ(r.inv(0x601, 1), 0x00u);
    // Writing zero clears nothing; writing other bits leaves TMR_STS.
    r.out(0x600, 0xfffe, 2);
    EXPECT_EQ(r.inv(0x600, 2), 0x0001u);
    r.out(0x600, 0x01, 1);
    EXPECT_EQ(r.inv(0x600, 2), 0x0000u);
}

TEST(Piix4Pm, EnableRegister) {
    Rig r;
    r.seabios_setup(0x600);
    r.out(0x602, 0x0520, 2);
    EXPECT_EQ(r.inv(0x602, 2), 0x0520u);
    EXPECT_EQ(r.inv(0x603, 1), 0x05u);
    r.out(0x603, 0x01, 1);  // a byte write is widened with zeros, as in QEMU
    EXPECT_EQ(r.inv(0x602, 2), 0x0100u);
    EXPECT_EQ(r.in(0x600, 4).status, AccessStatus::Invalid);  // PM1 registers are 16-bit
}

TEST(Piix4Pm, SciFollowsEnabledStatus) {
    Rig r;
    r.seabios_setup(0x600);
    EXPECT_FALSE(r.pm.sci_level());
    r.out(0x602, 0x0001, 2);  // TMR_EN with TMR_STS pending since reset
    EXPECT_TRUE(r.pm.sci_level());
    EXPECT_TRUE(r.pic.level[9]);
    r.clock.ns = 1'000'000'000;
    r.out(0x600, 0x0001, 2);  // acknowledge
    EXPECT_FALSE(r.pm.sci_level());
    EXPECT_FALSE(r.pic.level[9]);
    // The next toggle of bit 23 is a deadline; the SCI rises when it is run.
    EXPECT_EQ(r.pm.next_deadline_ns(), 2'343'484'438);
    r.pm.run_timers(2'343'484'437);
    EXPECT_FALSE(r.pic.level[9]);
    r.pm.run_timers(2'343'484'438);
    EXPECT_TRUE(r.pic.level[9]);
    EXPECT_EQ(r.pm.next_deadline_ns(), TimerDevice::kNever);  // status pending
    // Disabling the enable lowers the line, the status stays.
    r.clock.ns = 2'400'000'000;
    r.out(0x602, 0x0000, 2);
    EXPECT_FALSE(r.pic.level[9]);
    EXPECT_EQ(r.inv(0x600, 2), 0x0001u);
    EXPECT_EQ(r.pm.next_deadline_ns(), TimerDevice::kNever);  // TMR_EN off
    for (const auto& [pin, level] : r.pic.calls) EXPECT_EQ(pin, 9u);
    EXPECT_EQ(r.pic.calls.size(), 4u);  // only changes are signalled
}

TEST(Piix4Pm, ApmEnablesSciAndSleepPowersOff) {
    Rig r;
    r.seabios_setup(0x600);
    // No SMM: in ACPI mode from reset, as QEMU's pc with smm=off.
    EXPECT_EQ(r.inv(0x604, 2), 0x0001u);
    r.out(0xb2, 0xf0, 1);  // ACPI disable through the SMI command port
    EXPECT_EQ(r.inv(0x604, 2), 0x0000u);
    r.out(0xb2, 0xf1, 1);  // and enable
    EXPECT_EQ(r.inv(0x604, 2), 0x0001u);
    EXPECT_EQ(r.inv(0xb2, 1), 0xf1u);
    r.out(0xb2, 0xf0, 1);
    EXPECT_EQ(r.inv(0x604, 2), 0x0000u);
    r.out(0xb3, 0x5a, 1);
    EXPECT_EQ(r.inv(0xb3, 1), 0x5au);
    r.out(0x604, 0x0001, 2);
    // S3 (SLP_TYP 1): no suspend here, no exit; SLP_EN reads as 0.
    r.out(0x604, 0x2401, 2);
    EXPECT_TRUE(r.run.exits.empty());
    EXPECT_EQ(r.inv(0x604, 2), 0x0401u);
    // S5 (SLP_TYP 0): power off.
    r.out(0x604, 0x2001, 2);
    EXPECT_EQ(r.run.exits, std::vector<int>{0});
    EXPECT_EQ(r.run.resets, 0);
}

TEST(Piix4Pm, DigestAndErrors) {
    Rig r;
    const uint64_t d0 = r.pm.state_digest();
    r.out(0xb3, 0x01, 1);
    const uint64_t d1 = r.pm.state_digest();
    EXPECT_NE(d1, d0);
    r.cfg_write(0x80, 0x01, 1);
    EXPECT_NE(r.pm.state_digest(), d1);
    EXPECT_THROW(r.pm.attach(r.sys, r.m), Error);

    FakeClock clock;
    testing::FakeRunControl run;
    Piix4Pm pm(clock, IrqLine{}, run);
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    EXPECT_THROW(pm.attach(sys, m), Error);  // no "apm" window
}

}  // namespace
}  // namespace kvmrr
