// Tests for devices/i440fx.h: PAM and SMRAM as the guest sees them through
// the memory address space, checked against a point-by-point model (what a
// read returns: RAM's byte, the ROM's byte or all ones; where a write
// lands), with the config registers written through PciHost.
#include "devices/i440fx.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/mtree.h"
#include "core/ram_block.h"
#include "devices/pci_bus.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

constexpr uint64_t kRomSize = 256 * kKiB;  // only its last 128 KiB show below 1 MiB
constexpr uint64_t kIsaBios = 128 * kKiB;

uint8_t rom_pattern(uint64_t off) { return static_cast<uint8_t>((off * 7 + 3) ^ (off >> 9)); }
// Never equal to the ROM byte at the same guest address, nor all ones.
uint8_t ram_pattern(uint64_t a) {
    uint8_t v = static_cast<uint8_t>((a * 13 + 0x41) ^ (a >> 11));
    if (v == 0xff) v = 0x7e;
    return v;
}

// The pc board's memory below 1 MiB: RAM, the PCI side ("pci": the
// isa-bios alias of the ROM at 0xe0000 and a reservation over
// 0xa0000-0xdffff, so that it reads all ones there) and the i440FX.
struct Rig {
    testing::FakeRunControl run;
    PciHost host{run};
    MemorySystem sys;
    MachineMemory m;
    MemoryRegion* pci = nullptr;
    std::unique_ptr<I440fx> nb;
    uint8_t* ram = nullptr;
    uint8_t* rom = nullptr;
    std::vector<uint8_t> ram_model;  // RAM below 1 MiB as it should be

    explicit Rig(uint64_t ram_size = 16 * kMiB) {
        MachineLayout l = MachineLayout::default_layout();
        l.ram_size = ram_size;
        l.rom_size = kRomSize;
        l.rom_low_alias = false;  // the isa-bios alias lives in the PCI side instead
        l.devices.push_back({"pci-conf", AddressSpace::Kind::Io, 0xcf8, 8});
        m = build_machine(sys, l);
        {
            Transaction t(sys);
            pci = &sys.create_container("pci", 4 * kGiB);
            MemoryRegion& isa_bios = sys.create_alias("isa-bios", *m.rom, kRomSize - kIsaBios, kIsaBios);
            isa_bios.set_readonly(true);
            pci->add_subregion_overlap(1 * kMiB - kIsaBios, isa_bios, 1);
            pci->add_subregion(0xa0000, sys.create_reservation("pci-legacy", 0x40000));
            m.system->add_subregion_overlap(0, *pci, -1);
            t.commit();
        }
        rom = m.rom->ram_block()->host();
        for (uint64_t i = 0; i < kRomSize; ++i) rom[i] = rom_pattern(i);
        ram = m.ram->ram_block()->host() + m.ram->ram_offset();
        if (ram_size >= 1 * kMiB) {
            ram_model.resize(1 * kMiB);
            for (uint64_t a = 0; a < 1 * kMiB; ++a) ram[a] = ram_model[a] = ram_pattern(a);
        }
        nb = std::make_unique<I440fx>(*pci);
        host.add_function(*nb);
        host.attach(sys, m);
        nb->attach(sys, m);
    }

    void cfg_write(uint8_t reg, uint32_t v, unsigned size) {
        ASSERT_EQ(m.io_space->write(PioAddr(0xcf8), 0x80000000u | (reg & 0xfc), 4), AccessStatus::Ok);
        ASSERT_EQ(m.io_space->write(PioAddr(static_cast<uint16_t>(0xcfc + (reg & 3))), v, size), AccessStatus::Ok);
    }
    uint32_t cfg_read(uint8_t reg, unsigned size) {
        EXPECT_EQ(m.io_space->write(PioAddr(0xcf8), 0x80000000u | (reg & 0xfc), 4), AccessStatus::Ok);
        return static_cast<uint32_t>(m.io_space->read(PioAddr(static_cast<uint16_t>(0xcfc + (reg & 3))), size).value);
    }
    uint8_t mem_read(uint64_t a) { return static_cast<uint8_t>(m.memory->read(Gpa(a), 1).value); }
    void mem_write(uint64_t a, uint8_t v) { m.memory->write(Gpa(a), v, 1); }

    // The model: which mode covers `a` given the PAM bytes, and the PCI side.
    static uint8_t pci_byte(uint64_t a) {
        if (a >= 1 * kMiB - kIsaBios) return rom_pattern(kRomSize - kIsaBios + (a - (1 * kMiB - kIsaBios)));
        return 0xff;  // the reservation
    }
    uint8_t mode_at(uint64_t a) const {
        const auto& c = nb->config();
        if (a >= 0xf0000) return (c[0x59] >> 4) & 3;
        const unsigned seg = static_cast<unsigned>((a - 0xc0000) / 0x4000) + 1;
        const uint8_t byte = c[0x59 + (seg + 1) / 2];
        return (seg & 1 ? byte : byte >> 4) & 3;
    }
    uint8_t expected_read(uint64_t a) const { return mode_at(a) & 1 ? ram_model[a] : pci_byte(a); }

    // Reads and writes at `a` and checks both against the model.
    void check_point(uint64_t a) {
        SCOPED_TRACE("address " + hex(a) + " mode " + std::to_string(mode_at(a)));
        EXPECT_EQ(mem_read(a), expected_read(a));
        // A value distinguishable from RAM, the PCI side and all ones.
        uint8_t w = static_cast<uint8_t>(ram_model[a] ^ 0xa5);
        while (w == ram_model[a] || w == pci_byte(a) || w == 0xff) w = static_cast<uint8_t>(w + 0x31);
        mem_write(a, w);
        if (mode_at(a) & 2) ram_model[a] = w;
        EXPECT_EQ(ram[a], ram_model[a]);
        if (a >= 1 * kMiB - kIsaBios) {
            const uint64_t off = kRomSize - kIsaBios + (a - (1 * kMiB - kIsaBios));
            EXPECT_EQ(rom[off], rom_pattern(off));
        }
        EXPECT_EQ(mem_read(a), expected_read(a));
    }
    void check_reads_everywhere(uint64_t step) {
        for (uint64_t a = 0xc0000; a < 1 * kMiB; a += step) ASSERT_EQ(mem_read(a), expected_read(a)) << hex(a);
        for (unsigned i = 0; i < I440fx::kSegments; ++i) {
            const uint64_t s = I440fx::segment_start(i), e = s + I440fx::segment_size(i) - 1;
            ASSERT_EQ(mem_read(s), expected_read(s)) << hex(s);
            ASSERT_EQ(mem_read(e), expected_read(e)) << hex(e);
        }
    }
};

// Sets segment `seg` to `mode` with a byte write of its PAM register,
// leaving the other nibble as it is.
void set_mode(Rig& r, unsigned seg, uint8_t mode) {
    const auto reg = static_cast<uint8_t>(0x59 + (seg + 1) / 2);
    uint8_t v = static_cast<uint8_t>(r.cfg_read(reg, 1));
    if (seg & 1) v = static_cast<uint8_t>((v & 0xf0) | mode);
    else v = static_cast<uint8_t>((v & 0x0f) | mode << 4);
    r.cfg_write(reg, v, 1);
}

TEST(I440fx, IdentityAndResetValues) {
    Rig r;
    EXPECT_EQ(r.cfg_read(0x00, 4), 0x12378086u);
    EXPECT_EQ(r.cfg_read(0x08, 4), 0x06000002u);
    EXPECT_EQ(r.cfg_read(0x0e, 1), 0x00u);
    EXPECT_EQ(r.cfg_read(0x2c, 4), 0x11001af4u);
    EXPECT_EQ(r.cfg_read(0x04, 4), 0x00000000u);
    EXPECT_EQ(r.cfg_read(0x57, 1), 2u);  // 16 MiB in 8 MiB units
    EXPECT_EQ(r.cfg_read(0x72, 1), 0x02u);
    for (uint8_t reg = 0x59; reg <= 0x5f; ++reg) EXPECT_EQ(r.cfg_read(reg, 1), 0u);
    for (unsigned i = 0; i < I440fx::kSegments; ++i) EXPECT_EQ(r.nb->pam_mode(i), 0);
}

TEST(I440fx, RamSizeRegisterSaturates) {
    Rig big(3 * kGiB);
    EXPECT_EQ(big.cfg_read(0x57, 1), 255u);
    EXPECT_THROW(Rig tiny(512 * kKiB), Error);
}

TEST(I440fx, SegmentLayoutIsQemus) {
    EXPECT_EQ(I440fx::segment_start(0), 0xf0000u);
    EXPECT_EQ(I440fx::segment_size(0), 0x10000u);
    EXPECT_EQ(I440fx::segment_start(1), 0xc0000u);
    EXPECT_EQ(I440fx::segment_start(12), 0xec000u);
    Rig r;
    r.cfg_write(0x59, 0x30, 1);
    EXPECT_EQ(r.nb->pam_mode(0), 3);
    r.cfg_write(0x5a, 0x21, 1);  // low nibble c0000, high nibble c4000
    EXPECT_EQ(r.nb->pam_mode(1), 1);
    EXPECT_EQ(r.nb->pam_mode(2), 2);
    r.cfg_write(0x5f, 0x13, 1);  // e8000, ec000
    EXPECT_EQ(r.nb->pam_mode(11), 3);
    EXPECT_EQ(r.nb->pam_mode(12), 1);
}

// Every segment in every mode, at its first, middle and last byte.
TEST(I440fx, EverySegmentInEveryModeAgainstTheModel) {
    Rig r;
    for (unsigned seg = 0; seg < I440fx::kSegments; ++seg) {
        const uint64_t s = I440fx::segment_start(seg), n = I440fx::segment_size(seg);
        for (uint8_t mode = 0; mode < 4; ++mode) {
            set_mode(r, seg, mode);
            ASSERT_EQ(r.nb->pam_mode(seg), mode);
            for (uint64_t a : {s, s + n / 2, s + n - 1}) r.check_point(a);
            // Neighbours stay in mode 0.
            if (s > 0xc0000) r.check_point(s - 1);
            if (s + n < 1 * kMiB) r.check_point(s + n);
        }
        set_mode(r, seg, 0);
    }
}

TEST(I440fx, ModesSwitchedBackAndForth) {
    Rig r;
    const uint8_t order[] = {3, 0, 3, 1, 2, 1, 3, 2, 0, 2, 3, 3, 1, 0, 1};
    for (unsigned seg : {0u, 1u, 7u, 12u}) {
        const uint64_t s = I440fx::segment_start(seg), n = I440fx::segment_size(seg);
        for (uint8_t mode : order) {
            set_mode(r, seg, mode);
            for (uint64_t a : {s, s + n / 3, s + n - 1}) r.check_point(a);
        }
    }
}

TEST(I440fx, AllSegmentsChangedByDwordWrites) {
    Rig r;
    // 0x5c-0x5f: segments 5..12 (0xd0000-0xeffff) in one 32-bit write.
    r.cfg_write(0x5c, 0x31201302, 4);
    EXPECT_EQ(r.cfg_read(0x5c, 4), 0x31201302u);
    EXPECT_EQ(r.nb->pam_mode(5), 2);
    EXPECT_EQ(r.nb->pam_mode(6), 0);
    EXPECT_EQ(r.nb->pam_mode(7), 3);
    EXPECT_EQ(r.nb->pam_mode(8), 1);
    EXPECT_EQ(r.nb->pam_mode(9), 0);
    EXPECT_EQ(r.nb->pam_mode(10), 2);
    EXPECT_EQ(r.nb->pam_mode(11), 1);
    EXPECT_EQ(r.nb->pam_mode(12), 3);
    r.check_reads_everywhere(0x100);
    // SeaBIOS's make_bios_writable: dwords at 0x58 and 0x5c.
    const uint32_t lo = r.cfg_read(0x58, 4), hi = r.cfg_read(0x5c, 4);
    r.cfg_write(0x58, (lo & 0xff) | 0x33333000u, 4);
    r.cfg_write(0x5c, hi | 0x33333333u, 4);
    for (unsigned i = 0; i < I440fx::kSegments; ++i) EXPECT_EQ(r.nb->pam_mode(i), 3) << i;
    r.check_reads_everywhere(0x100);
    // And its make_bios_readonly at the end of POST: 0x10 / 0x11, the
    // last segment (ec000) left writable.
    r.cfg_write(0x58, (lo & 0xff) | 0x11111000u, 4);
    r.cfg_write(0x5c, 0x31111111u, 4);
    for (unsigned i = 0; i < 12; ++i) EXPECT_EQ(r.nb->pam_mode(i), 1) << i;
    EXPECT_EQ(r.nb->pam_mode(12), 3);
    r.check_point(0xf1234);
    r.check_point(0xc8000);
    r.check_point(0xec010);
}

TEST(I440fx, RandomPamSettingsAgainstTheModel) {
    Rig r;
    std::mt19937 rng(42);
    for (int round = 0; round < 60; ++round) {
        const unsigned size = 1u << (rng() % 3);
        const auto reg = static_cast<uint8_t>((0x58 + rng() % 8) & ~(size - 1));
        r.cfg_write(reg, static_cast<uint32_t>(rng()), size);
        r.check_reads_everywhere(0x400);
        for (int k = 0; k < 8; ++k) r.check_point(0xc0000 + rng() % 0x40000);
    }
}

TEST(I440fx, ModeTwoReadsPciSideWithWiderAccesses) {
    Rig r;
    set_mode(r, 0, 2);
    const AccessResult rd = r.m.memory->read(Gpa(0xf0000), 4);
    uint32_t want = 0;
    for (unsigned i = 0; i < 4; ++i) want |= uint32_t{Rig::pci_byte(0xf0000 + i)} << (8 * i);
    EXPECT_EQ(rd.value, want);
    r.m.memory->write(Gpa(0xf0002), 0x11223344, 4);
    EXPECT_EQ(r.ram[0xf0002], 0x44);
    EXPECT_EQ(r.ram[0xf0005], 0x11);
    EXPECT_EQ(r.m.memory->read(Gpa(0xf0000), 4).value, want);  // still the ROM
}

TEST(I440fx, SmramOpenClosedLocked) {
    Rig r;
    auto vga = [&] { return r.m.memory->read(Gpa(0xa0000), 1); };
    r.ram[0xa0000] = 0x5c;
    // Closed (reset): the PCI side, here nothing: all ones, writes dropped.
    EXPECT_EQ(vga().value, 0xffu);
    EXPECT_EQ(vga().status, AccessStatus::Unassigned);
    r.m.memory->write(Gpa(0xa0000), 0x11, 1);
    EXPECT_EQ(r.ram[0xa0000], 0x5c);
    // Open (SeaBIOS writes 0x02 | 0x48): RAM.
    r.cfg_write(0x72, 0x4a, 1);
    EXPECT_EQ(vga().value, 0x5cu);
    r.m.memory->write(Gpa(0xbffff), 0x22, 1);
    EXPECT_EQ(r.ram[0xbffff], 0x22);
    // Closed again, with SMRAM enabled for SMM (0x02 | 0x08).
    r.cfg_write(0x72, 0x0a, 1);
    EXPECT_EQ(vga().value, 0xffu);
    EXPECT_EQ(r.m.memory->read(Gpa(0xbffff), 1).value, 0xffu);
    // Below and above the window: plain RAM.
    EXPECT_EQ(r.mem_read(0x9ffff), r.ram[0x9ffff]);
    // Open and lock in one write: the lock wins, SMRAM stays closed.
    r.cfg_write(0x72, 0x5a, 1);
    EXPECT_EQ(r.cfg_read(0x72, 1), 0x1au);
    EXPECT_EQ(vga().value, 0xffu);
    // Locked: D_OPEN can no longer be set, nor the lock cleared.
    r.cfg_write(0x72, 0x4a, 1);
    EXPECT_EQ(r.cfg_read(0x72, 1), 0x1au);
    EXPECT_EQ(vga().value, 0xffu);
    r.cfg_write(0x72, 0x3a, 1);  // D_CLS still follows the guest
    EXPECT_EQ(r.cfg_read(0x72, 1), 0x3au);
}

TEST(I440fx, SmramOpenIsIndependentOfPam) {
    Rig r;
    r.cfg_write(0x70, 0x004a0000, 4);  // 0x72 = 0x4a through a dword
    r.ram[0xb0000] = 0x66;
    EXPECT_EQ(r.mem_read(0xb0000), 0x66);
    r.cfg_write(0x58, 0x33333000, 4);  // PAM changes do not close it
    EXPECT_EQ(r.mem_read(0xb0000), 0x66);
    r.cfg_write(0x72, 0x02, 1);
    EXPECT_EQ(r.mem_read(0xb0000), 0xff);
}

TEST(I440fx, RegionsAreNamedAsInQemu) {
    Rig r;
    const std::string tree = dump_mtree(r.sys, false);
    for (const char* name : {"pam-pci", "pam-rom", "pam-ram", "smram-region"})
        EXPECT_NE(tree.find(name), std::string::npos) << name;
    unsigned pam = 0;
    for (MemoryRegion* sub : r.m.system->subregions())
        if (sub->name().rfind("pam-", 0) == 0) {
            ++pam;
            EXPECT_EQ(sub->priority(), 1);
        }
    EXPECT_EQ(pam, 4 * I440fx::kSegments);
}

TEST(I440fx, OneRenderPerConfigWrite) {
    Rig r;
    const uint64_t before = r.m.memory->render_count();
    r.cfg_write(0x5c, 0x33333333, 4);
    EXPECT_EQ(r.m.memory->render_count(), before + 1);
    r.cfg_write(0x5c, 0x33333333, 4);  // no change, no render
    EXPECT_EQ(r.m.memory->render_count(), before + 1);
}

TEST(I440fx, DigestAndSecondAttach) {
    Rig r;
    const uint64_t d0 = r.nb->state_digest();
    r.cfg_write(0x5a, 0x11, 1);
    EXPECT_NE(r.nb->state_digest(), d0);
    EXPECT_THROW(r.nb->attach(r.sys, r.m), Error);
}

}  // namespace
}  // namespace kvmrr
