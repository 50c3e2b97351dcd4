// Tests for devices/bank_switch.h, driven through a real machine's memory
// address space.
#include "devices/bank_switch.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/address_space.h"
#include "core/error.h"
#include "core/flat_view.h"
#include "core/machine_layout.h"
#include "core/memory_listener.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/ram_block.h"
#include "devices/device.h"

namespace kvmrr {
namespace {

constexpr uint64_t kWindow = 0xe0000000;
constexpr uint64_t kRegs = 0xfeb01000;
constexpr uint64_t kBank = BankSwitch::kBankSize;

// Records add/del/log events as text; begin, commit and nop are not
// interesting here.
struct EventLog final : MemoryListener {
    std::vector<std::string> events;
    static std::string describe(const char* what, const MemoryRegionSection& s) {
        return std::string(what) + " " + s.mr->name() + " " + s.range.to_string() + " @" + hex(s.offset_within_region);
    }
    void region_add(const MemoryRegionSection& s) override { events.push_back(describe("add", s)); }
    void region_del(const MemoryRegionSection& s) override { events.push_back(describe("del", s)); }
    void log_start(const MemoryRegionSection& s, uint8_t, uint8_t) override { events.push_back(describe("log_start", s)); }
    void log_stop(const MemoryRegionSection& s, uint8_t, uint8_t) override { events.push_back(describe("log_stop", s)); }
};

struct Machine {
    MemorySystem sys;
    MachineMemory m;
    BankSwitch dev;
    explicit Machine(unsigned banks = 4) : m(build_machine(sys, MachineLayout::default_layout())), dev(banks) {
        dev.attach(sys, m);
    }
    AccessStatus select(uint64_t bank) { return m.memory->write(Gpa(kRegs + BankSwitch::kRegBank), bank, 4); }
    uint64_t reg(uint64_t off) {
        AccessResult r = m.memory->read(Gpa(kRegs + off), 4);
        EXPECT_EQ(r.status, AccessStatus::Ok);
        return r.value;
    }
    const FlatRange* window_range() { return m.memory->view()->lookup(kWindow); }
};

TEST(BankSwitch, StartsOnBankZero) {
    Machine t;
    EXPECT_EQ(t.reg(BankSwitch::kRegBank), 0u);
    EXPECT_EQ(t.reg(BankSwitch::kRegErrors), 0u);
    EXPECT_EQ(t.reg(BankSwitch::kRegCount), 4u);
    const FlatRange* fr = t.window_range();
    ASSERT_NE(fr, nullptr);
    EXPECT_EQ(fr->mr->name(), "banks");
    EXPECT_EQ(fr->mr->kind(), MemoryRegion::Kind::Ram);
    EXPECT_EQ(fr->range, AddrRange::make(kWindow, kBank));
    EXPECT_EQ(fr->offset_in_region, 0u);
    // The banks themselves are not mapped anywhere else.
    size_t banks_ranges = 0;
    for (const FlatRange& r : t.m.memory->view()->ranges()) banks_ranges += r.mr->name() == "banks";
    EXPECT_EQ(banks_ranges, 1u);
    // Past the window (64 KiB) the rest of the MMIO hole is unassigned.
    EXPECT_EQ(t.m.memory->view()->lookup(kWindow + kBank), nullptr);
}

TEST(BankSwitch, EachBankKeepsItsOwnData) {
    Machine t;
    const uint64_t offsets[] = {0, 0x8000, kBank - 8};
    for (uint64_t i = 0; i < 4; ++i) {
        ASSERT_EQ(t.select(i), AccessStatus::Ok);
        for (uint64_t off : offsets)
            ASSERT_EQ(t.m.memory->write(Gpa(kWindow + off), 0x0101010101010101ull * (i + 1) + off, 8), AccessStatus::Ok);
    }
    // Read back in a different order than written.
    for (uint64_t i : {2u, 0u, 3u, 1u}) {
        ASSERT_EQ(t.select(i), AccessStatus::Ok);
        EXPECT_EQ(t.reg(BankSwitch::kRegBank), i);
        for (uint64_t off : offsets) {
            AccessResult r = t.m.memory->read(Gpa(kWindow + off), 8);
            EXPECT_EQ(r.status, AccessStatus::Ok);
            EXPECT_EQ(r.value, 0x0101010101010101ull * (i + 1) + off) << "bank " << i << " offset " << off;
        }
    }
    // And the data sits in the banks' RAM block at bank * 64 KiB.
    const uint8_t* host = t.window_range()->mr->ram_block()->host();
    EXPECT_EQ(host[0], 0x01);
    EXPECT_EQ(host[kBank], 0x02);
    EXPECT_EQ(host[2 * kBank + 0x8000], 0x03);
    EXPECT_EQ(host[3 * kBank], 0x04);
}

TEST(BankSwitch, FlatViewFollowsTheSelectedBank) {
    Machine t;
    for (uint64_t i : {1u, 3u, 0u, 2u}) {
        ASSERT_EQ(t.select(i), AccessStatus::Ok);
        const FlatRange* fr = t.window_range();
        ASSERT_NE(fr, nullptr);
        EXPECT_EQ(fr->mr->name(), "banks");
        EXPECT_EQ(fr->range, AddrRange::make(kWindow, kBank));
        EXPECT_EQ(fr->offset_in_region, i * kBank);
        EXPECT_FALSE(fr->readonly);
    }
}

TEST(BankSwitch, ListenerSeesDelAndAddPerSwitchAndNothingForTheSameBank) {
    Machine t;
    EventLog log;
    t.m.memory->add_listener(log);
    log.events.clear();  // the replay of the current view

    ASSERT_EQ(t.select(2), AccessStatus::Ok);
    EXPECT_EQ(log.events, (std::vector<std::string>{"del banks 0xe0000000-0xe000ffff @0x0",
                                                    "add banks 0xe0000000-0xe000ffff @0x20000"}));
    log.events.clear();

    const uint64_t renders = t.m.memory->render_count();
    ASSERT_EQ(t.select(2), AccessStatus::Ok);
    EXPECT_TRUE(log.events.empty());
    EXPECT_EQ(t.m.memory->render_count(), renders);

    ASSERT_EQ(t.select(3), AccessStatus::Ok);
    EXPECT_EQ(log.events, (std::vector<std::string>{"del banks 0xe0000000-0xe000ffff @0x20000",
                                                    "add banks 0xe0000000-0xe000ffff @0x30000"}));
    EXPECT_EQ(t.m.memory->render_count(), renders + 1);
    t.m.memory->remove_listener(log);
}

TEST(BankSwitch, OutOfRangeBankIsIgnoredAndCounted) {
    Machine t;
    ASSERT_EQ(t.select(1), AccessStatus::Ok);
    const uint64_t renders = t.m.memory->render_count();
    EXPECT_EQ(t.select(4), AccessStatus::Ok);
    EXPECT_EQ(t.select(0xffffffff), AccessStatus::Ok);
    EXPECT_EQ(t.reg(BankSwitch::kRegBank), 1u);
    EXPECT_EQ(t.reg(BankSwitch::kRegErrors), 2u);
    EXPECT_EQ(t.window_range()->offset_in_region, kBank);
    EXPECT_EQ(t.m.memory->render_count(), renders);
}

TEST(BankSwitch, ReadOnlyRegistersIgnoreWrites) {
    Machine t(8);
    ASSERT_EQ(t.select(9), AccessStatus::Ok);
    EXPECT_EQ(t.m.memory->write(Gpa(kRegs + BankSwitch::kRegErrors), 0, 4), AccessStatus::Ok);
    EXPECT_EQ(t.m.memory->write(Gpa(kRegs + BankSwitch::kRegCount), 2, 4), AccessStatus::Ok);
    EXPECT_EQ(t.reg(BankSwitch::kRegErrors), 1u);
    EXPECT_EQ(t.reg(BankSwitch::kRegCount), 8u);
    EXPECT_EQ(t.reg(0xffc), 0u);  // nothing there
    // Bank 7 exists with 8 banks.
    ASSERT_EQ(t.select(7), AccessStatus::Ok);
    EXPECT_EQ(t.window_range()->offset_in_region, 7 * kBank);
}

TEST(BankSwitch, RegistersTakeOnlyAlignedFourByteAccesses) {
    Machine t;
    EXPECT_EQ(t.m.memory->write(Gpa(kRegs), 1, 1), AccessStatus::Invalid);
    EXPECT_EQ(t.m.memory->write(Gpa(kRegs), 1, 8), AccessStatus::Invalid);
    EXPECT_EQ(t.m.memory->write(Gpa(kRegs + 2), 1, 4), AccessStatus::Invalid);
    EXPECT_EQ(t.m.memory->read(Gpa(kRegs), 2).status, AccessStatus::Invalid);
    EXPECT_EQ(t.reg(BankSwitch::kRegBank), 0u);
    EXPECT_EQ(t.window_range()->offset_in_region, 0u);
}

TEST(BankSwitch, DigestTracksGuestVisibleState) {
    Machine a, b;
    EXPECT_EQ(a.dev.state_digest(), b.dev.state_digest());

    const uint64_t d0 = a.dev.state_digest();
    ASSERT_EQ(a.select(1), AccessStatus::Ok);
    const uint64_t d1 = a.dev.state_digest();
    EXPECT_NE(d1, d0);
    ASSERT_EQ(a.m.memory->write(Gpa(kWindow + 0x10), 0x5a, 1), AccessStatus::Ok);
    const uint64_t d2 = a.dev.state_digest();
    EXPECT_NE(d2, d1);
    ASSERT_EQ(a.select(7), AccessStatus::Ok);  // out of range: ERRORS changes
    EXPECT_NE(a.dev.state_digest(), d2);

    ASSERT_EQ(b.select(1), AccessStatus::Ok);
    ASSERT_EQ(b.m.memory->write(Gpa(kWindow + 0x10), 0x5a, 1), AccessStatus::Ok);
    ASSERT_EQ(b.select(7), AccessStatus::Ok);
    EXPECT_EQ(a.dev.state_digest(), b.dev.state_digest());

    // Data in a bank that is not selected still counts.
    ASSERT_EQ(b.select(3), AccessStatus::Ok);
    ASSERT_EQ(a.select(3), AccessStatus::Ok);
    ASSERT_EQ(b.select(0), AccessStatus::Ok);
    ASSERT_EQ(b.m.memory->write(Gpa(kWindow), 1, 1), AccessStatus::Ok);
    ASSERT_EQ(b.select(3), AccessStatus::Ok);
    EXPECT_NE(a.dev.state_digest(), b.dev.state_digest());
}

TEST(BankSwitch, IdentityAndErrors) {
    BankSwitch dev;
    EXPECT_EQ(dev.name(), "bank-switch");
    EXPECT_EQ(dev.model_version(), 1u);
    EXPECT_THROW(BankSwitch(0), Error);

    MemorySystem sys;
    MachineLayout layout = MachineLayout::default_layout();
    std::erase_if(layout.devices, [](const DeviceWindow& w) { return w.name == "bank-switch"; });
    MachineMemory m = build_machine(sys, layout);
    const size_t regions = sys.region_count();
    try {
        dev.attach(sys, m);
        ADD_FAILURE() << "attach without a bank-switch window did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'bank-switch'"), std::string::npos) << e.what();
    }
    // Nothing was created or claimed.
    EXPECT_EQ(sys.region_count(), regions);
    EXPECT_EQ(m.windows.count("bank-window"), 1u);

    Machine t;
    EXPECT_THROW(t.dev.attach(t.sys, t.m), Error);
}

}  // namespace
}  // namespace kvmrr
