// Tests for devices/debug_exit.h, through the machine's I/O address space.
#include "devices/debug_exit.h"

#include <gtest/gtest.h>

#include <cstdint>
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

constexpr PioAddr kPort{0xf4};

// A default machine with the device attached; the device outlives the
// memory system whose region calls it.
struct Rig {
    testing::FakeRunControl run;
    DebugExit dev{run};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());

    Rig() { dev.attach(sys, m); }
};

TEST(DebugExit, Identity) {
    testing::FakeRunControl run;
    DebugExit dev(run);
    EXPECT_EQ(dev.name(), "debug-exit");
    EXPECT_EQ(dev.model_version(), 1u);
}

TEST(DebugExit, WriteRequestsExitWithTheByte) {
    Rig r;
    EXPECT_FALSE(r.dev.last_status().has_value());
    EXPECT_EQ(r.m.io_space->write(kPort, 0x2a, 1), AccessStatus::Ok);
    EXPECT_EQ(r.run.exits, (std::vector<int>{0x2a}));
    EXPECT_EQ(r.dev.last_status(), 0x2a);
    // Every write is a request; the run loop decides what a second one means.
    EXPECT_EQ(r.m.io_space->write(kPort, 0x00, 1), AccessStatus::Ok);
    EXPECT_EQ(r.m.io_space->write(kPort, 0xff, 1), AccessStatus::Ok);
    EXPECT_EQ(r.run.exits, (std::vector<int>{0x2a, 0x00, 0xff}));
    EXPECT_EQ(r.dev.last_status(), 0xff);
}

TEST(DebugExit, ReadsAnswerAllOnesAndRequestNothing) {
    Rig r;
    const AccessResult res = r.m.io_space->read(kPort, 1);
    EXPECT_EQ(res.status, AccessStatus::Ok);
    EXPECT_EQ(res.value, 0xffu);
    EXPECT_TRUE(r.run.exits.empty());
    EXPECT_EQ(r.m.io_space->stats().unassigned_reads, 0u);  // the device answered, not the hole
}

// The device accepts only byte accesses, but its range is one byte long:
// a wider access crosses the end of the range, and the core splits such
// an access at the boundary (as QEMU does) instead of refusing it whole.
// The device gets its byte; the byte beyond is unassigned.
TEST(DebugExit, WideAccessesAreSplitAtTheRangeEnd) {
    Rig r;
    EXPECT_EQ(r.m.io_space->write(kPort, 0x0107, 2), AccessStatus::Unassigned);
    EXPECT_EQ(r.run.exits, (std::vector<int>{0x07}));
    const AccessResult res = r.m.io_space->read(kPort, 2);
    EXPECT_EQ(res.status, AccessStatus::Unassigned);
    EXPECT_EQ(res.value, 0xffffu);
    EXPECT_EQ(r.run.exits.size(), 1u);
}

TEST(DebugExit, TakesOnlyItsByteOfALargerWindow) {
    // A layout may give the window more ports; the device still answers
    // only the first, and the rest of the window is a hole.
    testing::FakeRunControl run;
    DebugExit dev(run);
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::parse("pio debug-exit 0xf4 4\n", "test"));
    dev.attach(sys, m);
    EXPECT_EQ(m.io_space->write(kPort, 0x0203, 2), AccessStatus::Unassigned);
    EXPECT_EQ(run.exits, (std::vector<int>{3}));
    EXPECT_EQ(m.io_space->write(PioAddr(0xf5), 9, 1), AccessStatus::Unassigned);
    EXPECT_EQ(run.exits.size(), 1u);
}

TEST(DebugExit, NeighbouringPortsAreNotTheDevice) {
    Rig r;
    EXPECT_EQ(r.m.io_space->write(PioAddr(0xf5), 1, 1), AccessStatus::Unassigned);
    EXPECT_EQ(r.m.io_space->write(PioAddr(0xf3), 1, 1), AccessStatus::Unassigned);
    EXPECT_TRUE(r.run.exits.empty());
}

TEST(DebugExit, ClaimsItsWindow) {
    Rig r;
    EXPECT_EQ(r.m.windows.count("debug-exit"), 0u);
    const size_t regions = r.sys.region_count();
    testing::FakeRunControl run;
    DebugExit second(run);
    EXPECT_THROW(second.attach(r.sys, r.m), Error);
    EXPECT_THROW(r.dev.attach(r.sys, r.m), Error);
    EXPECT_EQ(r.sys.region_count(), regions);
    EXPECT_EQ(r.m.io_space->write(kPort, 7, 1), AccessStatus::Ok);
    EXPECT_EQ(r.run.exits, (std::vector<int>{7}));
    EXPECT_TRUE(run.exits.empty());
}

TEST(DebugExit, AttachFailsWithoutTheWindow) {
    testing::FakeRunControl run;
    DebugExit dev(run);
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::parse("no-devices\n", "test"));
    try {
        dev.attach(sys, m);
        ADD_FAILURE() << "attach without a window did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("debug-exit"), std::string::npos) << e.what();
    }
}

TEST(DebugExit, DigestRecordsTheLastWrite) {
    Rig a;
    Rig b;
    const uint64_t fresh = a.dev.state_digest();
    EXPECT_EQ(fresh, b.dev.state_digest());

    a.m.io_space->write(kPort, 0, 1);
    const uint64_t wrote0 = a.dev.state_digest();
    EXPECT_NE(wrote0, fresh);  // writing 0 is not the same as never writing

    a.m.io_space->write(kPort, 3, 1);
    const uint64_t wrote3 = a.dev.state_digest();
    EXPECT_NE(wrote3, wrote0);
    EXPECT_NE(wrote3, fresh);

    a.m.io_space->read(kPort, 1);
    EXPECT_EQ(a.dev.state_digest(), wrote3);  // reads change nothing

    b.m.io_space->write(kPort, 0, 1);
    b.m.io_space->write(kPort, 3, 1);
    EXPECT_EQ(b.dev.state_digest(), wrote3);
}

}  // namespace
}  // namespace kvmrr
