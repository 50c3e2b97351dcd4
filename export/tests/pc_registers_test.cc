// kvmrr's pc board against QEMU's pc, register by register, without a
// guest: the PCI configuration space of every function both have, the
// functions present on bus 0, and the CMOS bytes that are not time, read
// from a fresh pc board and from a fresh QEMU started as qemu-check starts
// it (QemuPcMap::qemu_machine_args). Skipped, with the reason, without
// qemu-system-x86_64. A SeaBIOS boot reads only some of these registers;
// this reads them all.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <tuple>

#include "export/qemu_pc_map.h"
#include "export/qtest_client.h"
#include "vmm/board.h"
#include "vmm/machine.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

class PcRegisters : public ::testing::Test {
protected:
    void SetUp() override {
        if (std::system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0)
            GTEST_SKIP() << "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)";
        MachineConfig c;
        c.board = Board::Pc;
        c.firmware.assign(128u << 10, 0);  // the registers do not depend on it
        c.layout = pc_layout(256u << 20, c.firmware.size());
        machine_ = std::make_unique<Machine>(c, host_);
        header_.board = "pc";
        header_.ram_size = 256u << 20;
        std::vector<std::string> args = QemuPcMap(header_).qemu_machine_args();
        for (const char* a : {"-qtest", "stdio", "-qtest-log", "/dev/null", "-accel", "tcg", "-S"}) args.push_back(a);
        qemu_ = std::make_unique<QtestClient>(QemuCommand{qemu_binary(""), args, std::chrono::milliseconds(10000)});
    }

    uint64_t kvmrr_in(uint16_t port, unsigned size) { return machine_->io_space().read(PioAddr(port), size).value; }
    void kvmrr_out(uint16_t port, uint64_t v, unsigned size) { machine_->io_space().write(PioAddr(port), v, size); }
    uint64_t qemu_in(uint16_t port, unsigned size) {
        char c[64];
        std::snprintf(c, sizeof c, "in%c 0x%x", size == 1 ? 'b' : size == 2 ? 'w' : 'l', port);
        const QtestReply r = qemu_->send(c);
        EXPECT_TRUE(r.ok && r.value) << c << ": " << r.text;
        return r.value.value_or(~uint64_t{0});
    }
    void qemu_out(uint16_t port, uint64_t v, unsigned size) {
        char c[64];
        std::snprintf(c, sizeof c, "out%c 0x%x 0x%" PRIx64, size == 1 ? 'b' : size == 2 ? 'w' : 'l', port, v);
        EXPECT_TRUE(qemu_->send(c).ok) << c;
    }
    // Writes `sel` to `select_port` in both, then reads `data_port` in both.
    std::pair<uint64_t, uint64_t> read_both(uint16_t select_port, uint64_t sel, unsigned sel_size, uint16_t data_port,
                                            unsigned size) {
        kvmrr_out(select_port, sel, sel_size);
        qemu_out(select_port, sel, sel_size);
        return {kvmrr_in(data_port, size), qemu_in(data_port, size)};
    }

    testing::FakeHostInputs host_;
    std::unique_ptr<Machine> machine_;
    TraceHeader header_;
    std::unique_ptr<QtestClient> qemu_;
};

TEST_F(PcRegisters, PciConfigurationSpacesAreQemus) {
    for (uint32_t devfn = 0; devfn < 256; ++devfn) {
        const bool present = devfn == 0x00 || devfn == 0x08 || devfn == 0x09 || devfn == 0x0b;
        for (uint32_t reg = 0; reg < (present ? 256u : 4u); reg += 4) {
            const auto [k, q] = read_both(0xcf8, 0x80000000u | (devfn << 8) | reg, 4, 0xcfc, 4);
            EXPECT_EQ(k, q) << "00:" << (devfn >> 3) << "." << (devfn & 7) << " config 0x" << std::hex << reg;
        }
    }
}

// The PIIX4 PM block at power-on, placed where SeaBIOS places it: its
// status, enable and control registers (PM1a_CNT's SCI_EN: no SMM, so ACPI
// mode from reset on both) and the IDE channels' registers without drives.
TEST_F(PcRegisters, PmBlockAndIdeChannelsAtPowerOnAreQemus) {
    for (const auto& [port, v, size] : {std::tuple<uint16_t, uint64_t, unsigned>{0xcf8, 0x80000b40, 4},
                                        {0xcfc, 0xb001, 4}, {0xcf8, 0x80000b80, 4}, {0xcfc, 0x01, 1}}) {
        kvmrr_out(port, v, size);
        qemu_out(port, v, size);
    }
    for (uint16_t reg : {0xb000, 0xb002, 0xb004}) EXPECT_EQ(kvmrr_in(reg, 2), qemu_in(reg, 2)) << std::hex << reg;
    for (uint16_t port : {0x1f1, 0x1f2, 0x1f3, 0x1f4, 0x1f5, 0x1f6, 0x1f7, 0x3f6, 0x171, 0x172, 0x177, 0x376})
        EXPECT_EQ(kvmrr_in(port, 1), qemu_in(port, 1)) << std::hex << port;
}

TEST_F(PcRegisters, CmosBytesThatAreNotTimeAreQemus) {
    for (uint8_t i = 0x0b; i < 0x80; ++i) {
        if (i == 0x0c || i == 0x32) continue;  // interrupt flags and the century: time (compared by shape)
        const auto [k, q] = read_both(0x70, i, 1, 0x71, 1);
        EXPECT_EQ(k, q) << "cmos[0x" << std::hex << int(i) << "]";
    }
}

}  // namespace
}  // namespace kvmrr
