// Tests for devices/pci_bus.h: configuration mechanism #1 through the
// machine's I/O address space.
#include "devices/pci_bus.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/i440fx.h"
#include "devices/piix3.h"
#include "devices/piix4_pm.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

// A function whose bytes 0x40..0xff hold their own offset, so every data
// access shows which bytes it reached; it logs the writes it hears of.
class PatternFunction final : public PciFunction {
public:
    explicit PatternFunction(uint8_t devfn) : PciFunction(devfn, PciIdentity{.vendor = 0x1234, .device = 0x5678}) {
        for (unsigned i = 0x40; i < 256; ++i) cfg(static_cast<uint8_t>(i)) = static_cast<uint8_t>(i);
    }
    struct Write {
        uint8_t offset;
        unsigned size;
    };
    std::vector<Write> writes;

private:
    void config_written(uint8_t offset, unsigned size) override { writes.push_back({offset, size}); }
};

constexpr uint32_t addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg) {
    return 0x80000000u | (bus << 16) | (dev << 11) | (fn << 8) | reg;
}

MachineLayout layout() {
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"pci-conf", AddressSpace::Kind::Io, 0xcf8, 8});
    return l;
}

struct Rig {
    testing::FakeRunControl run;
    PciHost host{run};
    PatternFunction f0{pci::devfn(0, 0)};
    PatternFunction f1{pci::devfn(3, 2)};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, layout());

    Rig() {
        host.add_function(f0);
        host.add_function(f1);
        host.attach(sys, m);
    }
    uint64_t in(uint16_t port, unsigned size) {
        const AccessResult r = m.io_space->read(PioAddr(port), size);
        EXPECT_EQ(r.status, AccessStatus::Ok) << "port " << port << " size " << size;
        return r.value;
    }
    void out(uint16_t port, uint64_t v, unsigned size) {
        EXPECT_EQ(m.io_space->write(PioAddr(port), v, size), AccessStatus::Ok) << "port " << port << " size " << size;
    }
    uint32_t cfg_read(uint32_t a, unsigned size) {
        out(0xcf8, a & ~3u, 4);
        return static_cast<uint32_t>(in(static_cast<uint16_t>(0xcfc + (a & 3)), size));
    }
};

TEST(PciHost, ConfigAddressRoundTrip) {
    Rig r;
    EXPECT_EQ(r.in(0xcf8, 4), 0u);
    for (uint32_t v : {0x80000000u, 0x12345678u, 0xffffffffu, 0x8000fffcu, 0u}) {
        r.out(0xcf8, v, 4);
        EXPECT_EQ(r.in(0xcf8, 4), v);  // every bit reads back, as in QEMU
        EXPECT_EQ(r.host.config_address(), v);
    }
}

TEST(PciHost, NarrowAccessesToConfigAddress) {
    Rig r;
    r.out(0xcf8, 0x8000a4b8, 4);
    // Byte and word writes do not touch CONFIG_ADDRESS.
    r.out(0xcf8, 0x11, 1);
    r.out(0xcfa, 0x22, 1);
    r.out(0xcfb, 0x33, 1);
    r.out(0xcf8, 0x4444, 2);
    r.out(0xcfa, 0x5555, 2);
    EXPECT_EQ(r.in(0xcf8, 4), 0x8000a4b8u);
    // QEMU's pci-conf-idx answers narrow reads with the register's low
    // bytes, whatever the offset.
    EXPECT_EQ(r.in(0xcf8, 1), 0xb8u);
    EXPECT_EQ(r.in(0xcfa, 1), 0xb8u);
    EXPECT_EQ(r.in(0xcfb, 1), 0xb8u);
    EXPECT_EQ(r.in(0xcf8, 2), 0xa4b8u);
    EXPECT_EQ(r.in(0xcfa, 2), 0xa4b8u);
    EXPECT_EQ(r.run.resets, 0);
}

TEST(PciHost, UnalignedAccessesAreRefused) {
    Rig r;
    EXPECT_EQ(r.m.io_space->read(PioAddr(0xcf9), 4).status, AccessStatus::Invalid);
    EXPECT_EQ(r.m.io_space->read(PioAddr(0xcfd), 2).status, AccessStatus::Invalid);
    EXPECT_EQ(r.m.io_space->write(PioAddr(0xcfa), 0, 4), AccessStatus::Invalid);
    EXPECT_EQ(r.m.io_space->read(PioAddr(0xcf8), 8).status, AccessStatus::Invalid);
}

TEST(PciHost, DataAccessesOfEverySizeAtEveryOffset) {
    Rig r;
    for (unsigned reg = 0x40; reg < 0x100; reg += 4) {
        r.out(0xcf8, addr(0, 0, 0, reg), 4);
        EXPECT_EQ(r.in(0xcfc, 4), reg | (reg + 1) << 8 | (reg + 2) << 16 | (reg + 3) << 24);
        EXPECT_EQ(r.in(0xcfc, 2), reg | (reg + 1) << 8);
        EXPECT_EQ(r.in(0xcfe, 2), (reg + 2) | (reg + 3) << 8);
        for (unsigned b = 0; b < 4; ++b) EXPECT_EQ(r.in(static_cast<uint16_t>(0xcfc + b), 1), reg + b);
    }
    // Writes land at (addr & 0xfc) + port offset.
    r.out(0xcf8, addr(0, 0, 0, 0x80), 4);
    r.out(0xcfd, 0xaa, 1);
    r.out(0xcfe, 0xccbb, 2);
    EXPECT_EQ(r.in(0xcfc, 4), 0xccbbaa80u);
    r.out(0xcfc, 0x04030201, 4);
    EXPECT_EQ(r.f0.config()[0x80], 0x01);
    EXPECT_EQ(r.f0.config()[0x83], 0x04);
    ASSERT_EQ(r.f0.writes.size(), 3u);
    EXPECT_EQ(r.f0.writes[0].offset, 0x81);
    EXPECT_EQ(r.f0.writes[0].size, 1u);
    EXPECT_EQ(r.f0.writes[1].offset, 0x82);
    EXPECT_EQ(r.f0.writes[1].size, 2u);
    EXPECT_EQ(r.f0.writes[2].offset, 0x80);
    EXPECT_EQ(r.f0.writes[2].size, 4u);
}

TEST(PciHost, LowBitsOfConfigAddressDoNotAddress) {
    Rig r;
    r.out(0xcf8, addr(0, 0, 0, 0x40) | 3, 4);
    EXPECT_EQ(r.in(0xcfc, 1), 0x40u);
    EXPECT_EQ(r.in(0xcfd, 1), 0x41u);
}

TEST(PciHost, SecondFunctionIsReachedByDeviceAndFunction) {
    Rig r;
    EXPECT_EQ(r.cfg_read(addr(0, 3, 2, 0), 4), 0x56781234u);
    EXPECT_EQ(r.cfg_read(addr(0, 3, 1, 0), 4), 0xffffffffu);
    EXPECT_EQ(r.cfg_read(addr(0, 2, 2, 0), 4), 0xffffffffu);
}

TEST(PciHost, DisabledAbsentAndOtherBusReadAllOnesAndDropWrites) {
    Rig r;
    // Bit 31 clear: reads all ones, writes dropped.
    r.out(0xcf8, addr(0, 0, 0, 0x40) & 0x7fffffff, 4);
    EXPECT_EQ(r.in(0xcfc, 4), 0xffffffffu);
    EXPECT_EQ(r.in(0xcfe, 2), 0xffffu);
    EXPECT_EQ(r.in(0xcff, 1), 0xffu);
    r.out(0xcfc, 0, 4);
    // Absent function.
    r.out(0xcf8, addr(0, 7, 0, 0x40), 4);
    EXPECT_EQ(r.in(0xcfc, 4), 0xffffffffu);
    EXPECT_EQ(r.in(0xcfd, 1), 0xffu);
    r.out(0xcfc, 0, 4);
    // Bus 1 (and 255), even where bus 0 has a function at the same devfn.
    for (unsigned bus : {1u, 255u}) {
        r.out(0xcf8, addr(bus, 0, 0, 0x40), 4);
        EXPECT_EQ(r.in(0xcfc, 4), 0xffffffffu);
        EXPECT_EQ(r.in(0xcfc, 2), 0xffffu);
        r.out(0xcfc, 0, 4);
    }
    EXPECT_TRUE(r.f0.writes.empty());
    EXPECT_EQ(r.cfg_read(addr(0, 0, 0, 0x40), 4), 0x43424140u);
}

TEST(PciHost, HeaderMasksFollowQemu) {
    Rig r;
    r.out(0xcf8, addr(0, 0, 0, 0), 4);
    r.out(0xcfc, 0xffffffff, 4);  // vendor/device are read-only
    EXPECT_EQ(r.in(0xcfc, 4), 0x56781234u);
    r.out(0xcf8, addr(0, 0, 0, 4), 4);
    r.out(0xcfc, 0x0000ffff, 4);  // command: I/O, memory, master, SERR, INTx disable
    EXPECT_EQ(r.in(0xcfc, 2), 0x0507u);
    r.out(0xcf8, addr(0, 0, 0, 0x0c), 4);
    r.out(0xcfc, 0xffffffff, 4);  // cache line size only; latency, header, BIST fixed
    EXPECT_EQ(r.in(0xcfc, 4), 0x000000ffu);
    r.out(0xcf8, addr(0, 0, 0, 0x2c), 4);
    EXPECT_EQ(r.in(0xcfc, 4), 0x11001af4u);  // QEMU's subsystem
    r.out(0xcf8, addr(0, 0, 0, 0x3c), 4);
    r.out(0xcfc, 0xffffffff, 4);  // interrupt line only
    EXPECT_EQ(r.in(0xcfc, 4), 0x000000ffu);
}

TEST(PciHost, ResetControlRegister) {
    Rig r;
    EXPECT_EQ(r.in(0xcf9, 1), 0u);
    r.out(0xcf9, 0x02, 1);  // choose a hard reset
    EXPECT_EQ(r.run.resets, 0);
    EXPECT_EQ(r.in(0xcf9, 1), 0x02u);
    r.out(0xcf9, 0x06, 1);  // and do it
    EXPECT_EQ(r.run.resets, 1);
    EXPECT_EQ(r.in(0xcf9, 1), 0x02u);  // the reset write is not stored
    r.out(0xcf9, 0x04, 1);  // soft reset: a reset too
    EXPECT_EQ(r.run.resets, 2);
    r.out(0xcf9, 0xf9, 1);  // only bit 1 is kept
    EXPECT_EQ(r.in(0xcf9, 1), 0x00u);
    EXPECT_EQ(r.run.resets, 2);
    // CONFIG_ADDRESS is unaffected, and a 32-bit write there is no RCR write.
    r.out(0xcf8, 0x80000600, 4);
    EXPECT_EQ(r.run.resets, 2);
    EXPECT_EQ(r.in(0xcf9, 1), 0x00u);
    EXPECT_EQ(r.in(0xcf8, 4), 0x80000600u);
}

TEST(PciHost, DuplicateFunctionAndSecondAttachThrow) {
    Rig r;
    PatternFunction again{pci::devfn(0, 0)};
    EXPECT_THROW(r.host.add_function(again), Error);
    EXPECT_THROW(r.host.attach(r.sys, r.m), Error);
}

TEST(PciHost, MissingWindowThrows) {
    testing::FakeRunControl run;
    PciHost host{run};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    EXPECT_THROW(host.attach(sys, m), Error);
}

TEST(PciHost, DigestFollowsRegisters) {
    Rig r;
    const uint64_t d0 = r.host.state_digest();
    r.out(0xcf8, 0x80000000, 4);
    const uint64_t d1 = r.host.state_digest();
    EXPECT_NE(d0, d1);
    r.out(0xcf9, 0x02, 1);
    EXPECT_NE(r.host.state_digest(), d1);
}

// The pc board's functions, enumerated the way SeaBIOS's pci_probe_devices
// walks bus 0: vendor at 0, class at 0x0a, functions 1-7 only when function
// 0 says multi-function.
TEST(PciHost, SeaBiosEnumeratesThePcFunctions) {
    testing::FakeRunControl run;
    struct Clock final : GuestClock {
        int64_t now_ns() override { return 0; }
    } clock;
    PciHost host{run};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, layout());
    MemoryRegion& pci_side = sys.create_container("pci", 4 * kGiB);
    I440fx nb{pci_side};
    Piix3 isa;
    Piix4Pm pm{clock, IrqLine{}, run};
    host.add_function(nb);
    host.add_function(isa);
    host.add_function(pm);
    host.attach(sys, m);
    auto rd = [&](unsigned devfn, unsigned reg, unsigned size) {
        EXPECT_EQ(m.io_space->write(PioAddr(0xcf8), 0x80000000u | devfn << 8 | (reg & 0xfc), 4), AccessStatus::Ok);
        return static_cast<uint32_t>(m.io_space->read(PioAddr(static_cast<uint16_t>(0xcfc + (reg & 3))), size).value);
    };
    struct Found {
        unsigned devfn;
        uint32_t id;
        uint16_t cls;
        uint8_t rev, header;
        bool operator==(const Found&) const = default;
    };
    std::vector<Found> found;
    for (unsigned devfn = 0; devfn < 256; ++devfn) {
        const uint32_t id = rd(devfn, 0, 4);
        if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0) {
            if ((devfn & 7) == 0) devfn += 7;
            continue;
        }
        const auto header = static_cast<uint8_t>(rd(devfn, 0x0e, 1));
        found.push_back({devfn, id, static_cast<uint16_t>(rd(devfn, 0x0a, 2)), static_cast<uint8_t>(rd(devfn, 0x08, 1)),
                         header});
        if ((devfn & 7) == 0 && !(header & 0x80)) devfn += 7;
    }
    const std::vector<Found> want = {
        {0x00, 0x12378086, 0x0600, 0x02, 0x00},
        {0x08, 0x70008086, 0x0601, 0x00, 0x80},
        {0x0b, 0x71138086, 0x0680, 0x03, 0x00},
    };
    EXPECT_EQ(found, want);
    // qemu_detect(): the host bridge's subsystem says QEMU.
    EXPECT_EQ(rd(0x00, 0x2c, 2), 0x1af4u);
    EXPECT_EQ(rd(0x00, 0x2e, 2), 0x1100u);
}

}  // namespace
}  // namespace kvmrr
