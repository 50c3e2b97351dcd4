// Tests for devices/port92.h, against QEMU's port92 behaviour.
#include "devices/port92.h"

#include <gtest/gtest.h>

#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

struct Rig {
    testing::FakeRunControl run;
    Port92 dev{run};
    MemorySystem sys;
    MachineMemory m;
    Rig() {
        MachineLayout l = MachineLayout::default_layout();
        l.devices.push_back({"port92", AddressSpace::Kind::Io, 0x92, 1});
        m = build_machine(sys, l);
        dev.attach(sys, m);
    }
    void put(uint8_t v) { ASSERT_EQ(m.io_space->write(PioAddr(0x92), v, 1), AccessStatus::Ok); }
    uint8_t get() { return static_cast<uint8_t>(m.io_space->read(PioAddr(0x92), 1).value); }
};

TEST(Port92, A20BitIsKept) {
    Rig t;
    EXPECT_EQ(t.dev.name(), "port92");
    EXPECT_EQ(t.get(), 0x00);
    EXPECT_FALSE(t.dev.a20());
    const uint64_t d0 = t.dev.state_digest();
    t.put(0x02);
    EXPECT_EQ(t.get(), 0x02);
    EXPECT_TRUE(t.dev.a20());
    EXPECT_NE(t.dev.state_digest(), d0);
    t.put(0x00);
    EXPECT_FALSE(t.dev.a20());
    EXPECT_EQ(t.run.resets, 0);
}

TEST(Port92, FastResetOnARisingBit0) {
    Rig t;
    t.put(0x03);
    EXPECT_EQ(t.run.resets, 1);
    EXPECT_EQ(t.get(), 0x03);
    t.put(0x03);  // still set: no new edge
    EXPECT_EQ(t.run.resets, 1);
    t.put(0x02);
    t.put(0x01);
    EXPECT_EQ(t.run.resets, 2);
}

TEST(Port92, SecondAttachThrows) {
    Rig t;
    EXPECT_THROW(t.dev.attach(t.sys, t.m), Error);
}

}  // namespace
}  // namespace kvmrr
