// Tests for devices/rom_shadow.h, driven through a real machine's memory
// address space.
#include "devices/rom_shadow.h"

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

constexpr uint64_t kRegs = 0xfeb04000;
constexpr uint64_t kResetVector = 0xffff0;
constexpr uint64_t kArea = 0xf0000;  // 64 KiB BIOS: all of it shows below 1 MiB
constexpr uint64_t kAreaSize = 0x10000;

uint8_t rom_byte(uint64_t k) { return static_cast<uint8_t>(k * 131 + 7); }

// The little-endian value of `n` ROM bytes from ROM offset `k`.
uint64_t rom_value(uint64_t k, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= uint64_t{rom_byte(k + i)} << (8 * i);
    return v;
}

struct EventLog final : MemoryListener {
    std::vector<std::string> events;
    static std::string describe(const char* what, const MemoryRegionSection& s) {
        std::string d = std::string(what) + " " + s.mr->name() + " " + s.range.to_string() + " @" +
                        hex(s.offset_within_region);
        if (s.readonly) d += " ro";
        if (s.romd_mode) d += " romd";
        return d;
    }
    void region_add(const MemoryRegionSection& s) override { events.push_back(describe("add", s)); }
    void region_del(const MemoryRegionSection& s) override { events.push_back(describe("del", s)); }
    void log_start(const MemoryRegionSection& s, uint8_t, uint8_t) override { events.push_back(describe("log_start", s)); }
    void log_stop(const MemoryRegionSection& s, uint8_t, uint8_t) override { events.push_back(describe("log_stop", s)); }
};

struct Machine {
    MemorySystem sys;
    MachineMemory m;
    RomShadow dev;
    explicit Machine(const MachineLayout& layout = MachineLayout::default_layout()) : m(build_machine(sys, layout)) {
        // The host loads the BIOS before the device copies it into its flash.
        uint8_t* rom = m.rom->ram_block()->host();
        for (uint64_t k = 0; k < m.rom->size(); ++k) rom[k] = rom_byte(k);
        dev.attach(sys, m);
    }
    AccessStatus set_mode(uint64_t mode) { return m.memory->write(Gpa(kRegs + RomShadow::kRegMode), mode, 1); }
    uint64_t reg(uint64_t off, unsigned size) {
        AccessResult r = m.memory->read(Gpa(kRegs + off), size);
        EXPECT_EQ(r.status, AccessStatus::Ok);
        return r.value;
    }
    uint64_t read(uint64_t addr, unsigned size) {
        AccessResult r = m.memory->read(Gpa(addr), size);
        EXPECT_EQ(r.status, AccessStatus::Ok) << hex(addr);
        return r.value;
    }
    const FlatRange& at(uint64_t addr) {
        const FlatRange* fr = m.memory->view()->lookup(addr);
        EXPECT_NE(fr, nullptr) << hex(addr);
        return *fr;
    }
};

TEST(RomShadow, RomModeShowsTheBiosAndDropsWrites) {
    Machine t;
    EXPECT_EQ(t.reg(RomShadow::kRegMode, 1), 0u);
    EXPECT_EQ(t.dev.base(), kArea);
    EXPECT_EQ(t.dev.size(), kAreaSize);
    const FlatRange& fr = t.at(kResetVector);
    EXPECT_EQ(fr.mr, t.m.rom);
    EXPECT_EQ(fr.mr->kind(), MemoryRegion::Kind::Rom);
    EXPECT_EQ(fr.range, AddrRange::make(kArea, kAreaSize));
    EXPECT_EQ(fr.offset_in_region, 0u);
    EXPECT_TRUE(fr.readonly);
    EXPECT_FALSE(fr.romd_mode);

    EXPECT_EQ(t.read(kResetVector, 8), rom_value(0xfff0, 8));
    const uint64_t dropped = t.m.memory->stats().rom_writes_dropped;
    EXPECT_EQ(t.m.memory->write(Gpa(kResetVector), 0x1122334455667788ull, 8), AccessStatus::Ok);
    EXPECT_EQ(t.m.memory->stats().rom_writes_dropped, dropped + 1);
    EXPECT_EQ(t.read(kResetVector, 8), rom_value(0xfff0, 8));
    // Below the area is still RAM.
    EXPECT_EQ(t.at(kArea - 1).mr, t.m.ram);
}

TEST(RomShadow, RamModeIsAWritableShadowTheGuestFills) {
    Machine t;
    ASSERT_EQ(t.set_mode(RomShadow::kModeRam), AccessStatus::Ok);
    EXPECT_EQ(t.reg(RomShadow::kRegMode, 1), 1u);
    const FlatRange& fr = t.at(kResetVector);
    EXPECT_EQ(fr.mr->name(), "bios-shadow");
    EXPECT_EQ(fr.mr->kind(), MemoryRegion::Kind::Ram);
    EXPECT_EQ(fr.range, AddrRange::make(kArea, kAreaSize));
    EXPECT_FALSE(fr.readonly);
    EXPECT_FALSE(fr.romd_mode);

    // A fresh shadow is empty: the guest copies the BIOS itself, from the
    // ROM's other appearance just below 4 GiB.
    EXPECT_EQ(t.read(kResetVector, 8), 0u);
    for (uint64_t off = 0; off < kAreaSize; off += 8)
        ASSERT_EQ(t.m.memory->write(Gpa(kArea + off), t.read(0xffff0000 + off, 8), 8), AccessStatus::Ok);
    EXPECT_EQ(t.read(kResetVector, 8), rom_value(0xfff0, 8));
    // And can patch it.
    ASSERT_EQ(t.m.memory->write(Gpa(kResetVector), 0xea, 1), AccessStatus::Ok);
    EXPECT_EQ(t.read(kResetVector, 1), 0xeau);

    // Back to ROM: the BIOS shows again; the shadow keeps its content for
    // the next switch to RAM.
    ASSERT_EQ(t.set_mode(RomShadow::kModeRom), AccessStatus::Ok);
    EXPECT_EQ(t.read(kResetVector, 1), rom_byte(0xfff0));
    ASSERT_EQ(t.set_mode(RomShadow::kModeRam), AccessStatus::Ok);
    EXPECT_EQ(t.read(kResetVector, 1), 0xeau);
}

TEST(RomShadow, RomdModeReadsFlashFromMemoryAndTrapsWrites) {
    Machine t;
    ASSERT_EQ(t.set_mode(RomShadow::kModeRomd), AccessStatus::Ok);
    const FlatRange& fr = t.at(kResetVector);
    EXPECT_EQ(fr.mr->name(), "bios-flash");
    EXPECT_EQ(fr.mr->kind(), MemoryRegion::Kind::RomDevice);
    EXPECT_EQ(fr.range, AddrRange::make(kArea, kAreaSize));
    EXPECT_TRUE(fr.romd_mode);
    EXPECT_FALSE(fr.readonly);

    EXPECT_EQ(t.read(kResetVector, 8), rom_value(0xfff0, 8));
    EXPECT_EQ(t.reg(RomShadow::kRegWrites, 4), 0u);
    EXPECT_EQ(t.reg(RomShadow::kRegLastWrite, 8), 0u);
    EXPECT_EQ(t.m.memory->write(Gpa(kResetVector), 0xdeadbeef, 4), AccessStatus::Ok);
    EXPECT_EQ(t.m.memory->write(Gpa(kArea + 0x100), 0x90, 1), AccessStatus::Ok);
    EXPECT_EQ(t.reg(RomShadow::kRegWrites, 4), 2u);
    EXPECT_EQ(t.reg(RomShadow::kRegLastWrite, 8), kArea + 0x100);
    EXPECT_EQ(t.reg(RomShadow::kRegLastWrite, 4), kArea + 0x100);  // low half
    EXPECT_EQ(t.reg(RomShadow::kRegLastWrite + 4, 4), 0u);        // high half
    // The flash has no command set: the content stays.
    EXPECT_EQ(t.read(kResetVector, 8), rom_value(0xfff0, 8));
    EXPECT_EQ(t.read(kArea + 0x100, 1), rom_byte(0x100));
}

TEST(RomShadow, RomdIoModeTrapsReadsTooAndServesTheFlash) {
    Machine t;
    ASSERT_EQ(t.set_mode(RomShadow::kModeRomdIo), AccessStatus::Ok);
    const FlatRange& fr = t.at(kResetVector);
    EXPECT_EQ(fr.mr->name(), "bios-flash");
    EXPECT_EQ(fr.mr->kind(), MemoryRegion::Kind::RomDevice);
    EXPECT_FALSE(fr.romd_mode);
    EXPECT_FALSE(fr.readonly);

    for (unsigned size : {1u, 2u, 4u, 8u}) EXPECT_EQ(t.read(kResetVector, size), rom_value(0xfff0, size)) << size;
    // Real-mode code fetches are not aligned.
    EXPECT_EQ(t.read(kResetVector + 3, 4), rom_value(0xfff3, 4));
    EXPECT_EQ(t.read(kResetVector + 5, 8), rom_value(0xfff5, 8));
    std::vector<uint8_t> buf(16);
    ASSERT_EQ(t.m.memory->read_bytes(Gpa(kArea + 0xffe8), buf), AccessStatus::Ok);
    for (uint64_t i = 0; i < buf.size(); ++i) EXPECT_EQ(buf[i], rom_byte(0xffe8 + i)) << i;

    EXPECT_EQ(t.m.memory->write(Gpa(kArea + 8), 0x55, 8), AccessStatus::Ok);
    EXPECT_EQ(t.reg(RomShadow::kRegWrites, 4), 1u);
    EXPECT_EQ(t.reg(RomShadow::kRegLastWrite, 8), kArea + 8);
    EXPECT_EQ(t.read(kArea + 8, 8), rom_value(8, 8));
}

TEST(RomShadow, FlashIsTheRomAsOfAttach) {
    Machine t;
    t.m.rom->ram_block()->host()[0xfff0] = 0x00;  // the host changes the ROM later
    ASSERT_EQ(t.set_mode(RomShadow::kModeRomd), AccessStatus::Ok);
    EXPECT_EQ(t.read(kResetVector, 1), rom_byte(0xfff0));
    ASSERT_EQ(t.set_mode(RomShadow::kModeRom), AccessStatus::Ok);
    EXPECT_EQ(t.read(kResetVector, 1), 0u);
}

TEST(RomShadow, ListenerSeesOneSwapPerSwitch) {
    Machine t;
    EventLog log;
    t.m.memory->add_listener(log);
    log.events.clear();
    const std::string range = " 0xf0000-0xfffff @0x0";
    struct Step {
        uint64_t mode;
        std::vector<std::string> events;
    };
    const std::vector<Step> steps = {
        {1, {"del bios" + range + " ro", "add bios-shadow" + range}},
        {2, {"del bios-shadow" + range, "add bios-flash" + range + " romd"}},
        {3, {"del bios-flash" + range + " romd", "add bios-flash" + range}},
        {2, {"del bios-flash" + range, "add bios-flash" + range + " romd"}},
        {0, {"del bios-flash" + range + " romd", "add bios" + range + " ro"}},
        {3, {"del bios" + range + " ro", "add bios-flash" + range}},
        {1, {"del bios-flash" + range, "add bios-shadow" + range}},
        {0, {"del bios-shadow" + range, "add bios" + range + " ro"}},
    };
    for (const Step& s : steps) {
        const uint64_t renders = t.m.memory->render_count();
        ASSERT_EQ(t.set_mode(s.mode), AccessStatus::Ok);
        EXPECT_EQ(log.events, s.events) << "switch to mode " << s.mode;
        EXPECT_EQ(t.m.memory->render_count(), renders + 1) << "switch to mode " << s.mode;
        log.events.clear();
        // Writing the same mode again changes nothing.
        ASSERT_EQ(t.set_mode(s.mode), AccessStatus::Ok);
        EXPECT_TRUE(log.events.empty()) << "rewrite of mode " << s.mode;
        EXPECT_EQ(t.m.memory->render_count(), renders + 1);
    }
    t.m.memory->remove_listener(log);
}

TEST(RomShadow, UnknownModesAreIgnored) {
    Machine t;
    ASSERT_EQ(t.set_mode(RomShadow::kModeRomd), AccessStatus::Ok);
    const uint64_t renders = t.m.memory->render_count();
    ASSERT_EQ(t.set_mode(4), AccessStatus::Ok);
    ASSERT_EQ(t.set_mode(0xff), AccessStatus::Ok);
    EXPECT_EQ(t.reg(RomShadow::kRegMode, 1), 2u);
    EXPECT_EQ(t.m.memory->render_count(), renders);
    EXPECT_EQ(t.at(kResetVector).mr->name(), "bios-flash");
}

TEST(RomShadow, RegisterWidths) {
    Machine t;
    // A wider write that covers byte 0 sets MODE from that byte.
    ASSERT_EQ(t.m.memory->write(Gpa(kRegs), 0x0302, 4), AccessStatus::Ok);
    EXPECT_EQ(t.reg(RomShadow::kRegMode, 1), 2u);
    EXPECT_EQ(t.reg(RomShadow::kRegMode, 8), 2u);  // bytes 1..7 read 0
    // Writes elsewhere change nothing; read-only registers stay.
    ASSERT_EQ(t.m.memory->write(Gpa(kArea), 1, 1), AccessStatus::Ok);
    ASSERT_EQ(t.m.memory->write(Gpa(kRegs + 1), 0, 1), AccessStatus::Ok);
    ASSERT_EQ(t.m.memory->write(Gpa(kRegs + RomShadow::kRegWrites), 0, 4), AccessStatus::Ok);
    ASSERT_EQ(t.m.memory->write(Gpa(kRegs + RomShadow::kRegLastWrite), 0, 8), AccessStatus::Ok);
    EXPECT_EQ(t.reg(RomShadow::kRegMode, 1), 2u);
    EXPECT_EQ(t.reg(RomShadow::kRegWrites, 4), 1u);
    EXPECT_EQ(t.reg(RomShadow::kRegWrites, 1), 1u);
    EXPECT_EQ(t.reg(RomShadow::kRegLastWrite, 8), kArea);
    EXPECT_EQ(t.reg(0x20, 8), 0u);
    // Unaligned register accesses are refused.
    EXPECT_EQ(t.m.memory->read(Gpa(kRegs + RomShadow::kRegLastWrite + 2), 4).status, AccessStatus::Invalid);
}

TEST(RomShadow, LargerBiosShowsItsLast128KiB) {
    MachineLayout l = MachineLayout::default_layout();
    l.rom_size = 256 * kKiB;
    Machine t(l);
    EXPECT_EQ(t.dev.base(), 0xe0000u);
    EXPECT_EQ(t.dev.size(), 0x20000u);
    EXPECT_EQ(t.read(kResetVector, 8), rom_value(0x3fff0, 8));
    ASSERT_EQ(t.set_mode(RomShadow::kModeRomdIo), AccessStatus::Ok);
    EXPECT_EQ(t.at(0xe0000).range, AddrRange::make(0xe0000, 0x20000));
    EXPECT_EQ(t.read(kResetVector, 8), rom_value(0x3fff0, 8));
    EXPECT_EQ(t.read(0xe0000, 8), rom_value(0x20000, 8));
}

TEST(RomShadow, DigestTracksGuestVisibleState) {
    Machine a, b;
    EXPECT_EQ(a.dev.state_digest(), b.dev.state_digest());
    const uint64_t d0 = a.dev.state_digest();
    ASSERT_EQ(a.set_mode(RomShadow::kModeRam), AccessStatus::Ok);
    const uint64_t d1 = a.dev.state_digest();
    EXPECT_NE(d1, d0);
    ASSERT_EQ(a.m.memory->write(Gpa(kArea), 0x42, 1), AccessStatus::Ok);
    const uint64_t d2 = a.dev.state_digest();
    EXPECT_NE(d2, d1);
    ASSERT_EQ(a.set_mode(RomShadow::kModeRomd), AccessStatus::Ok);
    const uint64_t d3 = a.dev.state_digest();
    EXPECT_NE(d3, d2);
    ASSERT_EQ(a.m.memory->write(Gpa(kArea), 0x42, 1), AccessStatus::Ok);  // counted by the flash
    EXPECT_NE(a.dev.state_digest(), d3);

    ASSERT_EQ(b.set_mode(RomShadow::kModeRam), AccessStatus::Ok);
    ASSERT_EQ(b.m.memory->write(Gpa(kArea), 0x42, 1), AccessStatus::Ok);
    ASSERT_EQ(b.set_mode(RomShadow::kModeRomd), AccessStatus::Ok);
    ASSERT_EQ(b.m.memory->write(Gpa(kArea), 0x42, 1), AccessStatus::Ok);
    EXPECT_EQ(a.dev.state_digest(), b.dev.state_digest());
}

TEST(RomShadow, IdentityAndErrors) {
    RomShadow dev;
    EXPECT_EQ(dev.name(), "rom-shadow");
    EXPECT_EQ(dev.model_version(), 1u);

    MemorySystem sys;
    MachineLayout l = MachineLayout::default_layout();
    l.rom_low_alias = false;
    MachineMemory m = build_machine(sys, l);
    const size_t regions = sys.region_count();
    try {
        dev.attach(sys, m);
        ADD_FAILURE() << "attach without a bios-low alias did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("bios-low"), std::string::npos) << e.what();
    }
    EXPECT_EQ(sys.region_count(), regions);
    EXPECT_EQ(m.windows.count("rom-shadow"), 1u);

    MemorySystem sys2;
    MachineLayout l2 = MachineLayout::default_layout();
    l2.devices.clear();
    MachineMemory m2 = build_machine(sys2, l2);
    EXPECT_THROW(dev.attach(sys2, m2), Error);

    Machine t;
    EXPECT_THROW(t.dev.attach(t.sys, t.m), Error);
}

}  // namespace
}  // namespace kvmrr
