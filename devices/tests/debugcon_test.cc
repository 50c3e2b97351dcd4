// Tests for devices/debugcon.h, through the machine's I/O space.
#include "devices/debugcon.h"

#include <gtest/gtest.h>

#include <string>

#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {
namespace {

struct Rig {
    std::string out;
    DebugCon dev{[this](uint8_t b) { out.push_back(static_cast<char>(b)); }};
    MemorySystem sys;
    MachineMemory m;
    Rig() {
        MachineLayout l = MachineLayout::default_layout();
        l.devices.push_back({"debugcon", AddressSpace::Kind::Io, 0x402, 1});
        m = build_machine(sys, l);
        dev.attach(sys, m);
    }
};

TEST(DebugCon, BytesGoOutAndReadsReturnE9) {
    Rig t;
    EXPECT_EQ(t.dev.name(), "debugcon");
    EXPECT_EQ(t.m.io_space->read(PioAddr(0x402), 1).value, 0xe9u);
    const uint64_t d0 = t.dev.state_digest();
    for (char c : std::string("SeaBIOS\n")) ASSERT_EQ(t.m.io_space->write(PioAddr(0x402), uint8_t(c), 1), AccessStatus::Ok);
    EXPECT_EQ(t.out, "SeaBIOS\n");
    EXPECT_EQ(t.dev.bytes_written(), 8u);
    EXPECT_NE(t.dev.state_digest(), d0);
    EXPECT_EQ(t.m.io_space->read(PioAddr(0x402), 1).value, 0xe9u);  // still, after writes
}

TEST(DebugCon, DigestDependsOnTheBytes) {
    Rig a, b;
    a.m.io_space->write(PioAddr(0x402), 'a', 1);
    b.m.io_space->write(PioAddr(0x402), 'b', 1);
    EXPECT_NE(a.dev.state_digest(), b.dev.state_digest());
}

TEST(DebugCon, NoSinkAndSecondAttach) {
    DebugCon quiet{{}};
    MemorySystem sys;
    MachineLayout l = MachineLayout::default_layout();
    MachineMemory m0 = build_machine(sys, l);
    EXPECT_THROW(quiet.attach(sys, m0), Error);  // no window
    Rig t;
    EXPECT_THROW(t.dev.attach(t.sys, t.m), Error);
}

}  // namespace
}  // namespace kvmrr
