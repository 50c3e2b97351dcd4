// What QEMU's `pc` machine (7.2, i440FX) tells its firmware about itself,
// computed the way QEMU computes it: the RAM split around the PCI hole, the
// e820 table SeaBIOS reads from fw_cfg "etc/e820", and the CMOS bytes
// pc_cmos_init() and its helpers write. Plain functions over numbers, for
// the board to hand to FwCfg and CmosRtc; no device, no window.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "devices/ide_geometry.h"

namespace kvmrr {

// QEMU's e820 types.
constexpr uint32_t kE820Ram = 1;
constexpr uint32_t kE820Reserved = 2;

struct E820Entry {
    uint64_t addr = 0;
    uint64_t size = 0;
    uint32_t type = kE820Ram;
};

// The "etc/e820" file: 20 bytes an entry (addr u64, size u64, type u32,
// little-endian, packed), in the order given.
std::vector<uint8_t> e820_table(const std::vector<E820Entry>& entries);

struct PcRamSplit {
    uint64_t below_4g = 0;
    uint64_t above_4g = 0;
};

// pc_init1() with the default max-ram-below-4g (3.5 GiB) and gigabyte
// alignment (every pc machine type since 2.1): RAM below 3.5 GiB stays
// below 4 GiB; from 3.5 GiB up, 3 GiB stay below and the rest goes above.
PcRamSplit pc_ram_split(uint64_t ram_size);

// The e820 entries QEMU's pc_memory_init() adds under TCG: RAM from 0 up to
// below_4g, and from 4 GiB for above_4g when there is any. (Under KVM QEMU
// also reserves 16 KiB at 0xfeffc000 for the identity map and TSS.)
std::vector<E820Entry> pc_e820_entries(const PcRamSplit& ram);

// The CMOS bytes pc_cmos_init() (and pc_machine_done()'s CPU count, and
// pc_cmos_init_late() with no floppy drive, as with -nodefaults, and at
// most the primary master IDE disk) writes, as (index, value) pairs in
// index order:
//   0x10 floppy types (0), 0x12 hard disk types (0; 0xf0 with the
//        primary master),
//   0x14 equipment: FPU present | PS/2 mouse (0x06),
//   0x15-0x16 base memory in KiB, min(below_4g / 1 KiB, 640),
//   0x17-0x18 and 0x30-0x31 memory from 1 MiB in KiB, at most 65535,
//   0x34-0x35 memory from 16 MiB in 64 KiB units, at most 65535,
//   0x37 the IBM PS/2 century byte, 0x20 (QEMU's RTC writes the century
//        there at start; 20 for any date this century),
//   0x38 third boot device << 4 | !fd_bootchk (QEMU's default fd_bootchk
//        is on, so bit 0 is clear), 0x39 the disks' BIOS translations,
//        two bits each (the primary master's in bits 0-1),
//   0x3d second boot device << 4 | first boot device,
//   0x5b-0x5d memory above 4 GiB in 64 KiB units (24 bits, the rest cut
//        off as QEMU's int does),
//   0x5f CPU count - 1 (0 when more than 255 CPUs),
// and with the primary master, cmos_init_hd()'s drive-type-47 entry:
//   0x19 47, 0x1b-0x1c cylinders, 0x1d heads, 0x1e-0x1f 0xff (no write
//   precompensation), 0x20 control (0xc0, | 0x08 past 8 heads), 0x21-0x22
//   landing zone (the cylinders), 0x23 sectors per track.
// `boot_order` is QEMU's -boot order ("cad" by default): up to three of
// a, b (floppy 1), c (disk 2), d (CD-ROM 3), n (network 4); anything else
// throws kvmrr::Error, as QEMU refuses to start. QEMU writes neither the
// century (0x32, from the host clock, which CmosRtc reads itself) nor the
// shutdown status (0x0f, zero at power-on).
std::vector<std::pair<uint8_t, uint8_t>> pc_cmos_bytes(uint64_t ram_below_4g, uint64_t ram_above_4g,
                                                       unsigned cpus = 1, std::string_view boot_order = "cad",
                                                       std::optional<IdeGeometry> primary_master = std::nullopt);

}  // namespace kvmrr
