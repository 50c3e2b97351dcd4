// Tests for devices/fw_cfg.h, through a machine's I/O and memory spaces.
// Expected bytes come from QEMU's docs/specs/fw_cfg.rst and hw/nvram/fw_cfg.c.
#include "devices/fw_cfg.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/ram_block.h"

namespace kvmrr {
namespace {

constexpr uint64_t kRamSize = 256 * kMiB;
constexpr uint64_t kDesc = 0x1000;
constexpr uint64_t kDeviceWindow = 0xfeb03000;  // "dma-disk" in the default layout
constexpr uint64_t kRom = 0xffff0000;
constexpr uint64_t kUnmapped = 0x20000000;

MachineLayout layout() {
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"fw-cfg", AddressSpace::Kind::Io, 0x510, 2});
    l.devices.push_back({"fw-cfg-dma", AddressSpace::Kind::Io, 0x514, 8});
    return l;
}

struct Rig {
    FwCfg fw;
    int device_writes = 0;
    FunctionOps device_ops{[](uint64_t, unsigned) { return uint64_t{0}; },
                           [this](uint64_t, uint64_t, unsigned) { ++device_writes; }};
    std::vector<std::pair<uint64_t, std::vector<uint8_t>>> observed;
    MemorySystem sys;
    MachineMemory m = build_machine(sys, layout());

    Rig() {
        // A device behind a window, to aim DMA at.
        claim_io_window(sys, m, "dma-disk", 0x1000, device_ops, AccessRules{});
        fw.set_dma_observer([this](uint64_t gpa, std::span<const uint8_t> b) {
            observed.emplace_back(gpa, std::vector<uint8_t>(b.begin(), b.end()));
        });
    }
    void attach() { fw.attach(sys, m); }
    uint8_t* ram() { return m.ram->ram_block()->host(); }
    void select(uint16_t key) { ASSERT_EQ(m.io_space->write(PioAddr(0x510), key, 2), AccessStatus::Ok); }
    uint8_t data() {
        AccessResult r = m.io_space->read(PioAddr(0x511), 1);
        EXPECT_EQ(r.status, AccessStatus::Ok);
        return static_cast<uint8_t>(r.value);
    }
    std::vector<uint8_t> data(size_t n) {
        std::vector<uint8_t> out;
        for (size_t i = 0; i < n; ++i) out.push_back(data());
        return out;
    }
    void put_be(uint64_t gpa, uint64_t v, unsigned bytes) {
        for (unsigned i = 0; i < bytes; ++i) ram()[gpa + i] = static_cast<uint8_t>(v >> (8 * (bytes - 1 - i)));
    }
    uint32_t get_be32(uint64_t gpa) {
        return uint32_t{ram()[gpa]} << 24 | uint32_t{ram()[gpa + 1]} << 16 | uint32_t{ram()[gpa + 2]} << 8 |
               ram()[gpa + 3];
    }
    // Starts a transfer the way SeaBIOS does: the descriptor's address as a
    // big-endian pair of 32-bit port writes.
    void kick(uint64_t desc) {
        ASSERT_EQ(m.io_space->write(PioAddr(0x514), __builtin_bswap32(static_cast<uint32_t>(desc >> 32)), 4),
                  AccessStatus::Ok);
        ASSERT_EQ(m.io_space->write(PioAddr(0x518), __builtin_bswap32(static_cast<uint32_t>(desc)), 4),
                  AccessStatus::Ok);
    }
    // Writes a descriptor at `desc` into RAM and runs it; returns the
    // control word the device wrote back.
    uint32_t dma(uint32_t control, uint32_t length, uint64_t address, uint64_t desc = kDesc) {
        put_be(desc, control, 4);
        put_be(desc + 4, length, 4);
        put_be(desc + 8, address, 8);
        kick(desc);
        return get_be32(desc);
    }
};

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(FwCfg, Identity) {
    FwCfg fw;
    EXPECT_EQ(fw.name(), "fw-cfg");
    EXPECT_EQ(fw.model_version(), 1u);
}

TEST(FwCfg, SignatureAndIdThroughTheDataPort) {
    Rig t;
    t.attach();
    // The reset selection is the signature.
    EXPECT_EQ(t.data(4), bytes("QEMU"));
    EXPECT_EQ(t.data(), 0);  // past the end
    EXPECT_EQ(t.fw.offset(), 4u);
    t.select(FwCfg::kSignature);
    EXPECT_EQ(t.data(), 'Q');
    // Port 0x510 reads data too (QEMU's combined port region).
    EXPECT_EQ(t.m.io_space->read(PioAddr(0x510), 1).value, 'E');
    t.select(FwCfg::kId);
    EXPECT_EQ(t.data(5), (std::vector<uint8_t>{0x03, 0, 0, 0, 0}));
    // The write-channel bit is masked off when looking the item up.
    t.select(0x4001);
    EXPECT_EQ(t.data(), 0x03);
    // Data writes are ignored; the offset stays.
    t.select(FwCfg::kSignature);
    ASSERT_EQ(t.m.io_space->write(PioAddr(0x511), 0x55, 1), AccessStatus::Ok);
    EXPECT_EQ(t.data(), 'Q');
}

TEST(FwCfg, InvalidAndAbsentKeysReadZero) {
    Rig t;
    t.attach();
    for (uint16_t key : {uint16_t{0x0040}, uint16_t{0x3fff}, uint16_t{0xffff}, uint16_t{0x8040}}) {
        t.select(key);
        EXPECT_EQ(t.fw.selector(), FwCfg::kInvalid) << key;
        EXPECT_EQ(t.data(3), (std::vector<uint8_t>{0, 0, 0})) << key;
    }
    t.select(FwCfg::kNbCpus);  // valid but never added
    EXPECT_EQ(t.fw.selector(), FwCfg::kNbCpus);
    EXPECT_EQ(t.data(2), (std::vector<uint8_t>{0, 0}));
    t.select(0x0025);  // a file slot with no file
    EXPECT_EQ(t.data(), 0);
}

TEST(FwCfg, NumbersAreLittleEndian) {
    Rig t;
    t.fw.add_u16(FwCfg::kNbCpus, 0x0102);
    t.fw.add_u32(FwCfg::kIrq0Override, 1);
    t.fw.add_u64(FwCfg::kRamSize, 0x0000000110000000ull);
    t.attach();
    t.select(FwCfg::kNbCpus);
    EXPECT_EQ(t.data(3), (std::vector<uint8_t>{0x02, 0x01, 0}));
    t.select(FwCfg::kIrq0Override);
    EXPECT_EQ(t.data(4), (std::vector<uint8_t>{1, 0, 0, 0}));
    t.select(FwCfg::kIrq0Override & ~FwCfg::kArchLocal);  // the generic key 2 is not it
    EXPECT_EQ(t.data(), 0);
    t.select(FwCfg::kRamSize);
    EXPECT_EQ(t.data(8), (std::vector<uint8_t>{0, 0, 0, 0x10, 1, 0, 0, 0}));
}

TEST(FwCfg, AddRejectsMistakes) {
    FwCfg fw;
    EXPECT_THROW(fw.add_u16(FwCfg::kSignature, 1), Error);  // the constructor's
    EXPECT_THROW(fw.add_u16(FwCfg::kId, 1), Error);
    EXPECT_THROW(fw.add_u16(FwCfg::kFileDir, 1), Error);
    EXPECT_THROW(fw.add_u16(0x0020, 1), Error);  // files go through add_file
    EXPECT_THROW(fw.add_u16(0x0040, 1), Error);
    EXPECT_THROW(fw.add_u16(0x4005, 1), Error);  // the write channel
    fw.add_u16(FwCfg::kBootMenu, 0);
    EXPECT_THROW(fw.add_u16(FwCfg::kBootMenu, 0), Error);
    EXPECT_THROW(fw.add_file("", {}), Error);
    EXPECT_THROW(fw.add_file(std::string(56, 'x'), {}), Error);
    fw.add_file(std::string(55, 'x'), {});
    EXPECT_THROW(fw.add_file(std::string(55, 'x'), {}), Error);
    for (int i = 1; i < FwCfg::kFileSlots; ++i) fw.add_file("f" + std::to_string(i), {1});
    EXPECT_THROW(fw.add_file("one-too-many", {}), Error);
}

TEST(FwCfg, FileDirectoryIsSortedByNameWithBigEndianFields) {
    Rig t;
    t.fw.add_file("etc/e820", std::vector<uint8_t>(20, 0x11));
    t.fw.add_file("bootorder", {});
    t.fw.add_file("etc/boot-fail-wait", {0xff, 0xff, 0xff, 0xff});
    t.attach();
    EXPECT_EQ(t.fw.file_key("bootorder"), 0x20);
    EXPECT_EQ(t.fw.file_key("etc/boot-fail-wait"), 0x21);
    EXPECT_EQ(t.fw.file_key("etc/e820"), 0x22);
    EXPECT_EQ(t.fw.file_key("nope"), FwCfg::kInvalid);

    t.select(FwCfg::kFileDir);
    EXPECT_EQ(t.data(4), (std::vector<uint8_t>{0, 0, 0, 3}));
    struct Want {
        uint32_t size;
        uint16_t select;
        std::string name;
    };
    for (const Want& w : {Want{0, 0x20, "bootorder"}, Want{4, 0x21, "etc/boot-fail-wait"}, Want{20, 0x22, "etc/e820"}}) {
        const std::vector<uint8_t> e = t.data(64);
        EXPECT_EQ(e[0] << 24 | e[1] << 16 | e[2] << 8 | e[3], static_cast<int>(w.size)) << w.name;
        EXPECT_EQ(e[4] << 8 | e[5], w.select) << w.name;
        EXPECT_EQ(e[6], 0);
        EXPECT_EQ(e[7], 0);
        std::vector<uint8_t> name(56, 0);
        std::memcpy(name.data(), w.name.data(), w.name.size());
        EXPECT_EQ(std::vector<uint8_t>(e.begin() + 8, e.end()), name) << w.name;
    }
    // Unused slots read as zero, then the item ends (4 + 32 * 64 bytes).
    EXPECT_EQ(t.data(64), std::vector<uint8_t>(64, 0));
    t.select(FwCfg::kFileDir);
    t.data(4 + 32 * 64 - 1);
    EXPECT_EQ(t.fw.offset(), 4u + 32 * 64 - 1);
    t.data(2);
    EXPECT_EQ(t.fw.offset(), 4u + 32 * 64);  // stops at the end

    // Selecting by file key reads the file; past its end reads zero.
    t.select(0x21);
    EXPECT_EQ(t.data(6), (std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff, 0, 0}));
}

TEST(FwCfg, DmaSignatureRegisterReadsQemuCfg) {
    Rig t;
    t.attach();
    EXPECT_EQ(t.m.io_space->read(PioAddr(0x514), 4).value, 0x554d4551u);  // "QEMU" in memory order
    EXPECT_EQ(t.m.io_space->read(PioAddr(0x518), 4).value, 0x47464320u);  // " CFG"
    EXPECT_EQ(t.m.io_space->read(PioAddr(0x519), 1).value, uint64_t{'C'});
}

TEST(FwCfg, DmaSelectAndReadIntoRam) {
    Rig t;
    t.fw.add_file("etc/e820", {1, 2, 3, 4, 5, 6});
    t.attach();
    std::memset(t.ram() + 0x2000, 0xaa, 16);
    EXPECT_EQ(t.dma(0x0020u << 16 | FwCfg::kDmaSelect | FwCfg::kDmaRead, 4, 0x2000), 0u);
    EXPECT_EQ(std::vector<uint8_t>(t.ram() + 0x2000, t.ram() + 0x2005), (std::vector<uint8_t>{1, 2, 3, 4, 0xaa}));
    EXPECT_EQ(t.fw.selector(), 0x20);
    EXPECT_EQ(t.fw.offset(), 4u);
    EXPECT_EQ(t.fw.dma_address(), 0u);  // cleared for the next transfer
    // A read without SELECT continues; past the end it fills zeros.
    EXPECT_EQ(t.dma(FwCfg::kDmaRead, 5, 0x2010), 0u);
    EXPECT_EQ(std::vector<uint8_t>(t.ram() + 0x2010, t.ram() + 0x2016), (std::vector<uint8_t>{5, 6, 0, 0, 0, 0}));
    EXPECT_EQ(t.fw.offset(), 6u);
    // The port and the DMA share the offset.
    t.select(0x20);
    EXPECT_EQ(t.data(), 1);
    EXPECT_EQ(t.dma(FwCfg::kDmaRead, 1, 0x2020), 0u);
    EXPECT_EQ(t.ram()[0x2020], 2);
}

TEST(FwCfg, DmaSkipMovesTheOffsetOnly) {
    Rig t;
    t.fw.add_file("f", {10, 11, 12, 13});
    t.attach();
    t.select(0x20);
    std::memset(t.ram() + 0x3000, 0x77, 8);
    t.observed.clear();
    EXPECT_EQ(t.dma(FwCfg::kDmaSkip, 2, 0x3000), 0u);
    EXPECT_EQ(t.ram()[0x3000], 0x77);
    EXPECT_EQ(t.data(), 12);
    EXPECT_EQ(t.dma(FwCfg::kDmaSkip, 100, 0x3000), 0u);  // past the end: stops there
    EXPECT_EQ(t.fw.offset(), 4u);
    ASSERT_EQ(t.observed.size(), 2u);  // only the control words
    // No operation bit: nothing moves, success.
    t.select(0x20);
    EXPECT_EQ(t.dma(0, 3, 0x3000), 0u);
    EXPECT_EQ(t.fw.offset(), 0u);
}

TEST(FwCfg, EightByteAddressWriteStartsATransfer) {
    Rig t;
    t.attach();
    t.put_be(kDesc, FwCfg::kDmaSelect | FwCfg::kDmaRead, 4);  // key 0: the signature
    t.put_be(kDesc + 4, 4, 4);
    t.put_be(kDesc + 8, 0x4000, 8);
    ASSERT_EQ(t.m.io_space->write(PioAddr(0x514), __builtin_bswap64(kDesc), 8), AccessStatus::Ok);
    EXPECT_EQ(t.get_be32(kDesc), 0u);
    EXPECT_EQ(std::vector<uint8_t>(t.ram() + 0x4000, t.ram() + 0x4004), bytes("QEMU"));
    // The high half alone starts nothing.
    ASSERT_EQ(t.m.io_space->write(PioAddr(0x514), __builtin_bswap32(1), 4), AccessStatus::Ok);
    EXPECT_EQ(t.fw.dma_address(), 1ull << 32);
}

TEST(FwCfg, ObserverSeesEveryGuestWrite) {
    Rig t;
    t.fw.add_file("f", {9, 8, 7});
    t.attach();
    t.observed.clear();
    EXPECT_EQ(t.dma(0x20u << 16 | FwCfg::kDmaSelect | FwCfg::kDmaRead, 5, 0x5000), 0u);
    ASSERT_EQ(t.observed.size(), 3u);
    EXPECT_EQ(t.observed[0].first, 0x5000u);
    EXPECT_EQ(t.observed[0].second, (std::vector<uint8_t>{9, 8, 7}));
    EXPECT_EQ(t.observed[1].first, 0x5003u);
    EXPECT_EQ(t.observed[1].second, (std::vector<uint8_t>{0, 0}));
    EXPECT_EQ(t.observed[2].first, kDesc);
    EXPECT_EQ(t.observed[2].second, (std::vector<uint8_t>{0, 0, 0, 0}));
}

// A read that must fail: the error bit comes back, the offset stays, and
// nothing but the control word is written.
void expect_refused(Rig& t, uint32_t length, uint64_t address) {
    SCOPED_TRACE(address);
    t.select(0x20);
    t.observed.clear();
    const std::vector<uint8_t> before(t.ram() + 0x100000, t.ram() + 0x100000 + 64);
    EXPECT_EQ(t.dma(FwCfg::kDmaRead, length, address), FwCfg::kDmaError);
    EXPECT_EQ(t.fw.offset(), 0u);
    EXPECT_EQ(std::vector<uint8_t>(t.ram() + 0x100000, t.ram() + 0x100000 + 64), before);
    ASSERT_EQ(t.observed.size(), 1u);
    EXPECT_EQ(t.observed[0].first, kDesc);
}

TEST(FwCfg, DmaOutsideRamSetsTheErrorBit) {
    Rig t;
    t.fw.add_file("f", std::vector<uint8_t>(64, 0x5a));
    t.attach();
    const uint64_t rom_word = t.m.memory->read(Gpa(kRom), 8).value;
    expect_refused(t, 16, kDeviceWindow);
    EXPECT_EQ(t.device_writes, 0);
    expect_refused(t, 16, kRom);
    EXPECT_EQ(t.m.memory->read(Gpa(kRom), 8).value, rom_word);
    expect_refused(t, 16, kUnmapped);
    // Partly RAM: the RAM part is not written either.
    t.ram()[kRamSize - 2] = 0x33;
    expect_refused(t, 4, kRamSize - 2);
    EXPECT_EQ(t.ram()[kRamSize - 2], 0x33);
    // Wrapping the 64-bit space.
    expect_refused(t, 0x1000, 0xffffffffffffff00ull);
    // Over the descriptor itself.
    expect_refused(t, 8, kDesc + 12);
    expect_refused(t, 0x20, kDesc - 0x10);
    EXPECT_EQ(t.fw.state_digest(), t.fw.state_digest());
}

TEST(FwCfg, HugeLengthsAreRefusedWithoutTouchingMemory) {
    Rig t;
    t.fw.add_file("f", std::vector<uint8_t>(64, 0x5a));
    t.attach();
    expect_refused(t, 0xffffffffu, 0x100000);  // 4 GiB: runs past RAM
    // Inside RAM, but a zero fill of more than 1 MiB past the item.
    expect_refused(t, 64 + FwCfg::kMaxZeroFill + 1, 0x100000);
    // Exactly the limit is fine.
    t.select(0x20);
    EXPECT_EQ(t.dma(FwCfg::kDmaRead, 64 + FwCfg::kMaxZeroFill, 0x100000), 0u);
    EXPECT_EQ(t.ram()[0x100000 + 63], 0x5a);
    EXPECT_EQ(t.ram()[0x100000 + 64], 0);
}

TEST(FwCfg, BadDescriptorAddress) {
    Rig t;
    t.attach();
    t.observed.clear();
    const uint64_t rom_word = t.m.memory->read(Gpa(kRom), 8).value;
    // In ROM, in a device, unmapped, wrapping: no control word can go back.
    for (uint64_t desc : {kRom, kDeviceWindow, kUnmapped, ~uint64_t{0} - 3}) {
        t.kick(desc);
        EXPECT_EQ(t.fw.dma_address(), 0u);
    }
    EXPECT_TRUE(t.observed.empty());
    EXPECT_EQ(t.device_writes, 0);
    EXPECT_EQ(t.m.memory->read(Gpa(kRom), 8).value, rom_word);
    // Straddling the end of RAM: the error goes into the control word,
    // which is still in RAM.
    t.put_be(kRamSize - 8, FwCfg::kDmaRead, 4);
    t.kick(kRamSize - 8);
    EXPECT_EQ(t.get_be32(kRamSize - 8), FwCfg::kDmaError);
    ASSERT_EQ(t.observed.size(), 1u);
    EXPECT_EQ(t.observed[0].first, kRamSize - 8);
}

TEST(FwCfg, DmaWriteFailsAsEveryItemIsReadOnly) {
    Rig t;
    t.fw.add_file("f", {1, 2, 3, 4});
    t.attach();
    t.select(0x20);
    EXPECT_EQ(t.dma(FwCfg::kDmaWrite, 2, 0x6000), FwCfg::kDmaError);
    EXPECT_EQ(t.fw.offset(), 2u);  // QEMU steps over the bytes it refused
    EXPECT_EQ(t.data(), 3);
}

TEST(FwCfg, DigestCoversRegistersAndContent) {
    Rig t;
    t.attach();
    const uint64_t d0 = t.fw.state_digest();
    t.data();
    const uint64_t d1 = t.fw.state_digest();
    EXPECT_NE(d1, d0);
    t.select(FwCfg::kId);
    const uint64_t d2 = t.fw.state_digest();
    EXPECT_NE(d2, d1);
    ASSERT_EQ(t.m.io_space->write(PioAddr(0x514), 1, 4), AccessStatus::Ok);
    const uint64_t d3 = t.fw.state_digest();
    EXPECT_NE(d3, d2);
    t.fw.add_file("x", {1});
    EXPECT_NE(t.fw.state_digest(), d3);

    FwCfg a, b;
    a.add_file("x", {1});
    b.add_file("x", {2});
    EXPECT_NE(a.state_digest(), b.state_digest());
}

TEST(FwCfg, AttachNeedsBothWindows) {
    MemorySystem sys;
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"fw-cfg", AddressSpace::Kind::Io, 0x510, 2});
    MachineMemory m = build_machine(sys, l);
    FwCfg fw;
    EXPECT_THROW(fw.attach(sys, m), Error);
    EXPECT_TRUE(m.windows.count("fw-cfg"));  // nothing claimed
    Rig t;
    t.attach();
    EXPECT_THROW(t.attach(), Error);
}

}  // namespace
}  // namespace kvmrr
