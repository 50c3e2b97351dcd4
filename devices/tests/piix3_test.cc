// Tests for devices/piix3.h: its configuration space through PciHost and
// the machine's I/O address space.
#include "devices/piix3.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

#include "devices/tests/pci_function_rig.h"

namespace kvmrr {
namespace {

using Rig = testing::PciFunctionRig<Piix3>;

TEST(Piix3, IdentityAt00_01_0) {
    Rig r;
    EXPECT_EQ(r.fn.devfn(), 0x08);
    EXPECT_EQ(r.fn.name(), "piix3");
    EXPECT_EQ(r.rd(0x00, 4), 0x70008086u);
    EXPECT_EQ(r.rd(0x08, 4), 0x06010000u);  // class 0601, prog-if 0, revision 0
    EXPECT_EQ(r.rd(0x0e, 1), 0x80u);        // multi-function
    EXPECT_EQ(r.rd(0x2c, 4), 0x11001af4u);
    EXPECT_EQ(r.rd(0x3c, 2), 0x0000u);
}

TEST(Piix3, QemuResetValues) {
    Rig r;
    const std::pair<uint8_t, uint8_t> want[] = {
        {0x04, 0x00}, {0x05, 0x00}, {0x06, 0x00}, {0x07, 0x02}, {0x4c, 0x4d}, {0x4d, 0x00}, {0x4e, 0x03},
        {0x4f, 0x00}, {0x60, 0x80}, {0x61, 0x80}, {0x62, 0x80}, {0x63, 0x80}, {0x69, 0x02}, {0x70, 0x80},
        {0x76, 0x0c}, {0x77, 0x0c}, {0x78, 0x02}, {0x79, 0x00}, {0x80, 0x00}, {0x82, 0x00}, {0xa0, 0x08},
        {0xa8, 0x0f}, {0xae, 0x00}, {0xff, 0x00},
    };
    for (const auto& [reg, v] : want) EXPECT_EQ(r.rd(reg, 1), v) << "config " << int(reg);
    for (int n = 0; n < 4; ++n) EXPECT_EQ(r.fn.pirq_route(n), 0x80);
}

TEST(Piix3, PirqRoutesAsSeaBiosWritesThem) {
    Rig r;
    // SeaBIOS's piix_isa_bridge_setup: PIRQA..D -> 10, 10, 11, 11, byte by byte.
    const uint8_t irqs[4] = {10, 10, 11, 11};
    for (int i = 0; i < 4; ++i) r.wr(static_cast<uint8_t>(0x60 + i), irqs[i], 1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.fn.pirq_route(i), irqs[i]);
    EXPECT_EQ(r.rd(0x60, 4), 0x0b0b0a0au);
    EXPECT_EQ(r.fn.pirq_writes(), 4u);
    r.wr(0x60, 0x80098005, 4);  // one dword write covers all four
    EXPECT_EQ(r.fn.pirq_route(0), 0x05);
    EXPECT_EQ(r.fn.pirq_route(1), 0x80);
    EXPECT_EQ(r.fn.pirq_route(2), 0x09);
    EXPECT_EQ(r.fn.pirq_route(3), 0x80);
    EXPECT_EQ(r.fn.pirq_writes(), 5u);
    r.wr(0x64, 0x12345678, 4);  // next to them: not a routing change
    EXPECT_EQ(r.fn.pirq_writes(), 5u);
    EXPECT_EQ(r.fn.pirq_route(-1), 0x80);
    EXPECT_EQ(r.fn.pirq_route(4), 0x80);
}

TEST(Piix3, ReadOnlyHeaderAndDigest) {
    Rig r;
    const uint64_t d0 = r.fn.state_digest();
    r.wr(0x00, 0xffffffff, 4);
    r.wr(0x08, 0xffffffff, 4);
    EXPECT_EQ(r.rd(0x00, 4), 0x70008086u);
    EXPECT_EQ(r.rd(0x08, 4), 0x06010000u);
    EXPECT_EQ(r.fn.state_digest(), d0);
    r.wr(0x61, 0x0b, 1);
    EXPECT_NE(r.fn.state_digest(), d0);
}

}  // namespace
}  // namespace kvmrr
