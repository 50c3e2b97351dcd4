// The geometry an IDE hard disk presents, and the CHS translation the BIOS
// is told to use with it, as QEMU's pc chooses them when it starts
// (hw/block/hd-geometry.c): from the disk's size, unless the MS-DOS
// partition table in its first sector says otherwise. IDENTIFY gives the
// geometry (IdeChannel); CMOS gives it and the translation to the BIOS
// (pc_cmos_bytes: 0x12, 0x19, 0x1b-0x23, 0x39).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace kvmrr {

struct IdeGeometry {
    uint16_t cylinders = 0;  // 1..16383
    uint8_t heads = 0;       // 1..16
    uint8_t secs = 0;        // 1..63
    // The BIOS's translation, as CMOS 0x39 keeps it (QEMU's
    // BIOS_ATA_TRANSLATION_* less one): 0 none, 1 LBA, 2 large.
    uint8_t translation = 0;
    bool operator==(const IdeGeometry&) const = default;

    static constexpr uint8_t kNone = 0, kLba = 1, kLarge = 2;
    // Within the bounds above: what a header may say.
    bool valid() const;
    // "cylinders/heads/secs", for messages.
    std::string chs() const;
};

// A disk of `sectors` whose first sector is `sector0` (empty: unknown, or
// a disk too small to have one). With no partition table to go by:
// 16 heads, 63 sectors, 2..16383 cylinders, and LBA translation past 1024
// cylinders. A partition entry that ends with more than 16 heads means a
// translating BIOS wrote it: that geometry, with large translation (LBA
// past 131072 cylinders times heads). One with 16 heads or fewer is taken
// as the drive's own geometry, untranslated.
IdeGeometry ide_geometry_guess(uint64_t sectors, std::span<const uint8_t> sector0);

}  // namespace kvmrr
