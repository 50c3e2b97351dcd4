// Tests for devices/piix3_ide.h: the IDE function's identity and reset
// values as QEMU's piix3-ide has them, and its bus-master BAR sized and
// moved as firmware does it.
#include "devices/piix3_ide.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "devices/tests/pci_function_rig.h"

namespace kvmrr {
namespace {

using Rig = testing::PciFunctionRig<Piix3Ide>;

TEST(Piix3Ide, IdentityAt00_01_1) {
    Rig r;
    EXPECT_EQ(r.fn.devfn(), 0x09);
    EXPECT_EQ(r.fn.name(), "piix3-ide");
    EXPECT_EQ(r.rd(0x00, 4), 0x70108086u);
    EXPECT_EQ(r.rd(0x08, 4), 0x01018000u);  // class 0101, prog-if 80, revision 0
    EXPECT_EQ(r.rd(0x04, 4), 0x02800000u);  // command 0; status fast back-to-back, DEVSEL medium
    EXPECT_EQ(r.rd(0x0e, 1), 0x00u);        // header type 0
    EXPECT_EQ(r.rd(0x2c, 4), 0x11001af4u);
    for (uint8_t bar : {0x10, 0x14, 0x18, 0x1c, 0x24}) EXPECT_EQ(r.rd(bar, 4), 0u) << int(bar);
    EXPECT_EQ(r.rd(0x20, 4), 0x00000001u);
}

TEST(Piix3Ide, TheBusMasterBarSizesAndMoves) {
    Rig r;
    r.wr(0x20, 0xffffffff, 4);
    EXPECT_EQ(r.rd(0x20, 4), 0xfffffff1u);  // 16 bytes of I/O
    r.wr(0x20, 0xc000, 4);
    EXPECT_EQ(r.rd(0x20, 4), 0x0000c001u);
    // Absent BARs stay 0; IDETIM (0x40-0x43) is the guest's.
    r.wr(0x10, 0xffffffff, 4);
    EXPECT_EQ(r.rd(0x10, 4), 0u);
    const uint64_t d = r.fn.state_digest();
    r.wr(0x40, 0x8000, 2);
    EXPECT_EQ(r.rd(0x40, 2), 0x8000u);
    EXPECT_NE(r.fn.state_digest(), d);
    r.wr(0x04, 0x0001, 2);
    EXPECT_EQ(r.rd(0x04, 2), 0x0001u);
}

}  // namespace
}  // namespace kvmrr
