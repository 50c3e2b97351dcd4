// Tests for devices/post_port.h: QEMU's pc port 0x80 reads 0xff and drops
// writes; the model keeps the last code for the board.
#include "devices/post_port.h"

#include <gtest/gtest.h>

#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {
namespace {

TEST(PostPort, WritesAreKeptReadsAreFF) {
    PostPort dev;
    MemorySystem sys;
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"post", AddressSpace::Kind::Io, 0x80, 1});
    MachineMemory m = build_machine(sys, l);
    dev.attach(sys, m);
    EXPECT_EQ(dev.name(), "post");
    EXPECT_EQ(m.io_space->read(PioAddr(0x80), 1).value, 0xffu);
    const uint64_t d0 = dev.state_digest();
    ASSERT_EQ(m.io_space->write(PioAddr(0x80), 0x12, 1), AccessStatus::Ok);
    ASSERT_EQ(m.io_space->write(PioAddr(0x80), 0x34, 1), AccessStatus::Ok);
    EXPECT_EQ(dev.last_code(), 0x34);
    EXPECT_EQ(dev.codes_written(), 2u);
    EXPECT_EQ(m.io_space->read(PioAddr(0x80), 1).value, 0xffu);
    EXPECT_NE(dev.state_digest(), d0);
    EXPECT_THROW(dev.attach(sys, m), Error);
}

}  // namespace
}  // namespace kvmrr
