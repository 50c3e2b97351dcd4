// Tests for devices/framebuffer.h, driven through a real machine's memory
// address space.
#include "devices/framebuffer.h"

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

constexpr uint64_t kVram = 0xe1000000;
constexpr uint64_t kRegs = 0xfeb02000;

// Records what the listener protocol says about topology and logging;
// region_nop is left out (every unchanged range gets one).
struct EventLog final : MemoryListener {
    std::vector<std::string> events;
    static std::string describe(const char* what, const MemoryRegionSection& s) {
        return std::string(what) + " " + s.mr->name() + " " + s.range.to_string();
    }
    void region_add(const MemoryRegionSection& s) override { events.push_back(describe("add", s)); }
    void region_del(const MemoryRegionSection& s) override { events.push_back(describe("del", s)); }
    void log_start(const MemoryRegionSection& s, uint8_t o, uint8_t n) override {
        events.push_back(describe("log_start", s) + " " + std::to_string(o) + "->" + std::to_string(n));
    }
    void log_stop(const MemoryRegionSection& s, uint8_t o, uint8_t n) override {
        events.push_back(describe("log_stop", s) + " " + std::to_string(o) + "->" + std::to_string(n));
    }
};

struct Machine {
    MemorySystem sys;
    MachineMemory m;
    Framebuffer dev;
    Machine() : m(build_machine(sys, MachineLayout::default_layout())) { dev.attach(sys, m); }
    AccessStatus set(uint64_t off, uint64_t v) { return m.memory->write(Gpa(kRegs + off), v, 4); }
    uint64_t reg(uint64_t off) {
        AccessResult r = m.memory->read(Gpa(kRegs + off), 4);
        EXPECT_EQ(r.status, AccessStatus::Ok);
        return r.value;
    }
    const FlatRange* vram_range() { return m.memory->view()->lookup(kVram); }
};

const std::string kRange = "framebuffer 0xe1000000-0xe10fffff";

TEST(Framebuffer, DefaultsAndMapping) {
    Machine t;
    EXPECT_EQ(t.reg(Framebuffer::kRegLog), 0u);
    EXPECT_EQ(t.reg(Framebuffer::kRegWidth), 640u);
    EXPECT_EQ(t.reg(Framebuffer::kRegHeight), 400u);
    EXPECT_EQ(t.reg(Framebuffer::kRegStride), 2560u);
    // The default mode fits the video RAM.
    EXPECT_LE(uint64_t{Framebuffer::kDefaultStride} * Framebuffer::kDefaultHeight, Framebuffer::kVramSize);
    const FlatRange* fr = t.vram_range();
    ASSERT_NE(fr, nullptr);
    EXPECT_EQ(fr->mr, t.dev.vram());
    EXPECT_EQ(fr->mr->kind(), MemoryRegion::Kind::Ram);
    EXPECT_EQ(fr->range, AddrRange::make(kVram, 1024 * 1024));
    EXPECT_EQ(fr->dirty_log_mask, 0);
}

TEST(Framebuffer, GuestStoresLandInVideoRam) {
    Machine t;
    ASSERT_EQ(t.m.memory->write(Gpa(kVram + 2560 * 3 + 8), 0x00ff8040, 4), AccessStatus::Ok);
    ASSERT_EQ(t.m.memory->write(Gpa(kVram + 1024 * 1024 - 1), 0x77, 1), AccessStatus::Ok);
    const uint8_t* host = t.dev.vram()->ram_block()->host();
    EXPECT_EQ(host[2560 * 3 + 8], 0x40);
    EXPECT_EQ(host[2560 * 3 + 9], 0x80);
    EXPECT_EQ(host[2560 * 3 + 10], 0xff);
    EXPECT_EQ(host[2560 * 3 + 11], 0x00);
    EXPECT_EQ(host[1024 * 1024 - 1], 0x77);
    EXPECT_EQ(t.m.memory->read(Gpa(kVram + 2560 * 3 + 8), 4).value, 0x00ff8040u);
}

TEST(Framebuffer, GeometryRegistersArePlainStorage) {
    Machine t;
    ASSERT_EQ(t.set(Framebuffer::kRegWidth, 800), AccessStatus::Ok);
    ASSERT_EQ(t.set(Framebuffer::kRegHeight, 600), AccessStatus::Ok);
    ASSERT_EQ(t.set(Framebuffer::kRegStride, 1600), AccessStatus::Ok);
    EXPECT_EQ(t.reg(Framebuffer::kRegWidth), 800u);
    EXPECT_EQ(t.reg(Framebuffer::kRegHeight), 600u);
    EXPECT_EQ(t.reg(Framebuffer::kRegStride), 1600u);
    EXPECT_EQ(t.dev.width(), 800u);
    EXPECT_EQ(t.dev.height(), 600u);
    EXPECT_EQ(t.dev.stride(), 1600u);
    EXPECT_EQ(t.reg(0x10), 0u);  // nothing there
    ASSERT_EQ(t.set(0x10, 5), AccessStatus::Ok);
    EXPECT_EQ(t.reg(0x10), 0u);
}

TEST(Framebuffer, LogRegisterStartsAndStopsVgaLoggingOnly) {
    Machine t;
    EventLog log;
    t.m.memory->add_listener(log);
    log.events.clear();

    const uint64_t renders = t.m.memory->render_count();
    ASSERT_EQ(t.set(Framebuffer::kRegLog, 1), AccessStatus::Ok);
    EXPECT_EQ(log.events, (std::vector<std::string>{"log_start " + kRange + " 0->1"}));
    EXPECT_EQ(t.reg(Framebuffer::kRegLog), 1u);
    EXPECT_EQ(t.vram_range()->dirty_log_mask, kDirtyLogVga);
    EXPECT_EQ(t.vram_range()->range, AddrRange::make(kVram, 1024 * 1024));
    EXPECT_EQ(t.m.memory->render_count(), renders + 1);
    log.events.clear();

    // Already on: nothing changes, nothing is rendered.
    ASSERT_EQ(t.set(Framebuffer::kRegLog, 1), AccessStatus::Ok);
    EXPECT_TRUE(log.events.empty());
    EXPECT_EQ(t.m.memory->render_count(), renders + 1);

    // Values other than 0 and 1 are ignored.
    ASSERT_EQ(t.set(Framebuffer::kRegLog, 2), AccessStatus::Ok);
    EXPECT_TRUE(log.events.empty());
    EXPECT_EQ(t.reg(Framebuffer::kRegLog), 1u);

    ASSERT_EQ(t.set(Framebuffer::kRegLog, 0), AccessStatus::Ok);
    EXPECT_EQ(log.events, (std::vector<std::string>{"log_stop " + kRange + " 1->0"}));
    EXPECT_EQ(t.reg(Framebuffer::kRegLog), 0u);
    EXPECT_EQ(t.vram_range()->dirty_log_mask, 0);
    EXPECT_EQ(t.m.memory->render_count(), renders + 2);
    t.m.memory->remove_listener(log);
}

TEST(Framebuffer, LogLeavesOtherDirtyLogClientsAlone) {
    Machine t;
    t.dev.vram()->set_dirty_log(kDirtyLogMigration, true);  // as a migration would
    EventLog log;
    t.m.memory->add_listener(log);
    log.events.clear();
    ASSERT_EQ(t.set(Framebuffer::kRegLog, 1), AccessStatus::Ok);
    EXPECT_EQ(log.events, (std::vector<std::string>{"log_start " + kRange + " 2->3"}));
    EXPECT_EQ(t.vram_range()->dirty_log_mask, kDirtyLogVga | kDirtyLogMigration);
    log.events.clear();
    ASSERT_EQ(t.set(Framebuffer::kRegLog, 0), AccessStatus::Ok);
    EXPECT_EQ(log.events, (std::vector<std::string>{"log_stop " + kRange + " 3->2"}));
    EXPECT_EQ(t.vram_range()->dirty_log_mask, kDirtyLogMigration);
    t.m.memory->remove_listener(log);
}

TEST(Framebuffer, RegistersTakeOnlyAlignedFourByteAccesses) {
    Machine t;
    EXPECT_EQ(t.m.memory->write(Gpa(kRegs), 1, 1), AccessStatus::Invalid);
    EXPECT_EQ(t.m.memory->write(Gpa(kRegs), 1, 8), AccessStatus::Invalid);
    EXPECT_EQ(t.m.memory->write(Gpa(kRegs + 1), 1, 4), AccessStatus::Invalid);
    EXPECT_EQ(t.reg(Framebuffer::kRegLog), 0u);
    EXPECT_EQ(t.vram_range()->dirty_log_mask, 0);
}

TEST(Framebuffer, DigestTracksGuestVisibleState) {
    Machine a, b;
    EXPECT_EQ(a.dev.state_digest(), b.dev.state_digest());
    const uint64_t d0 = a.dev.state_digest();
    ASSERT_EQ(a.set(Framebuffer::kRegLog, 1), AccessStatus::Ok);
    const uint64_t d1 = a.dev.state_digest();
    EXPECT_NE(d1, d0);
    ASSERT_EQ(a.set(Framebuffer::kRegWidth, 320), AccessStatus::Ok);
    const uint64_t d2 = a.dev.state_digest();
    EXPECT_NE(d2, d1);
    ASSERT_EQ(a.m.memory->write(Gpa(kVram + 0x1234), 0xab, 1), AccessStatus::Ok);
    EXPECT_NE(a.dev.state_digest(), d2);

    ASSERT_EQ(b.set(Framebuffer::kRegLog, 1), AccessStatus::Ok);
    ASSERT_EQ(b.set(Framebuffer::kRegWidth, 320), AccessStatus::Ok);
    ASSERT_EQ(b.m.memory->write(Gpa(kVram + 0x1234), 0xab, 1), AccessStatus::Ok);
    EXPECT_EQ(a.dev.state_digest(), b.dev.state_digest());
}

TEST(Framebuffer, IdentityAndErrors) {
    Framebuffer dev;
    EXPECT_EQ(dev.name(), "framebuffer");
    EXPECT_EQ(dev.model_version(), 1u);
    EXPECT_EQ(dev.vram(), nullptr);

    MemorySystem sys;
    MachineLayout layout = MachineLayout::default_layout();
    std::erase_if(layout.devices, [](const DeviceWindow& w) { return w.name == "framebuffer-ctl"; });
    MachineMemory m = build_machine(sys, layout);
    const size_t regions = sys.region_count();
    try {
        dev.attach(sys, m);
        ADD_FAILURE() << "attach without a framebuffer-ctl window did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'framebuffer-ctl'"), std::string::npos) << e.what();
    }
    EXPECT_EQ(sys.region_count(), regions);
    EXPECT_EQ(m.windows.count("framebuffer"), 1u);

    // A window too small for 1 MiB of video RAM.
    MemorySystem sys2;
    MachineMemory m2 = build_machine(sys2, MachineLayout::parse("mmio framebuffer 0xe1000000 64K\n", "test"));
    try {
        dev.attach(sys2, m2);
        ADD_FAILURE() << "attach into a 64 KiB framebuffer window did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("0x100000"), std::string::npos) << e.what();
    }

    Machine t;
    EXPECT_THROW(t.dev.attach(t.sys, t.m), Error);
}

}  // namespace
}  // namespace kvmrr
