// I440fx: the i440FX host bridge function (00:00.0, 8086:1237, class
// 0x0600, revision 0x02) with its Programmable Attribute Map and SMRAM
// control, as QEMU's pc machine has them.
//
// PAM0-PAM6 (config 0x59-0x5f) give 13 segments below 1 MiB a mode each:
// 0xf0000-0xfffff (PAM0 bits 5:4), then 0xc0000-0xeffff in 16 KiB pieces
// (low nibble, then high nibble of 0x5a, 0x5b, ... 0x5f). Bit 0 of a mode
// enables reads from RAM, bit 1 writes to RAM. Like QEMU's pam.c, each
// segment has four regions laid over system memory at priority 1, exactly
// one enabled, all switched in one transaction per config write:
//   0 "pam-pci"  alias of the PCI side: reads and writes go there
//   1 "pam-rom"  read-only alias of RAM: reads RAM, writes are dropped
//                (QEMU's choice; the PCI side behind is ROM or nothing)
//   2 "pam-pci"  reads the PCI side, writes RAM. QEMU 7.2 aliases RAM here
//                ("XXX: should distinguish read/write cases"); this is an
//                I/O region that reads through a private address space
//                over the PCI side ("pam-pci-reads") and writes the RAM
//                block directly. SeaBIOS never uses this mode.
//   3 "pam-ram"  alias of RAM
// SMRAM (config 0x72, 0x02 at reset): "smram-region", an alias of the PCI
// side over 0xa0000-0xbffff at priority 1, enabled unless D_OPEN is set,
// so RAM shows there only while SMRAM is open (QEMU's rule). Unlike QEMU,
// D_LCK is honoured as the datasheet says: once set, D_OPEN is cleared and
// the register is read-only (but for D_CLS) until the machine resets.
// The SMM-only view of SMRAM (QEMU's "smram"/"smram-low") is not built:
// this machine has no SMM. Config 0x57 holds the RAM size in 8 MiB units
// (at most 255), as QEMU sets it for old coreboot; all of 0x40-0xff is
// plain read/write as in QEMU.
//
// The board passes `pci`, the PCI side of the legacy area in guest-physical
// coordinates (QEMU's "pci" address space: at least 1 MiB, with the
// "isa-bios" alias of the firmware ROM at 0xe0000-0xfffff and whatever it
// wants at 0xa0000-0xdffff). A hole in `pci` lets what lies below the
// alias show (RAM), as in QEMU; a reservation there reads all ones. attach
// takes system memory and RAM from MachineMemory (RAM must be the region
// "ram-below-4g" shows at 0, at least 1 MiB). No window is claimed; the
// function is reached through PciHost. Must outlive the MemorySystem.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "core/address_space.h"
#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/pci_bus.h"

namespace kvmrr {

class I440fx final : public Device, public PciFunction {
public:
    static constexpr uint8_t kDevfn = pci::devfn(0, 0);
    static constexpr uint8_t kPam0 = 0x59;
    static constexpr unsigned kPamBytes = 7;
    static constexpr unsigned kSegments = 13;
    static constexpr uint8_t kRamSize = 0x57;
    static constexpr uint8_t kSmram = 0x72;
    static constexpr uint8_t kSmramDOpen = 0x40;
    static constexpr uint8_t kSmramDCls = 0x20;
    static constexpr uint8_t kSmramDLck = 0x10;
    static constexpr uint8_t kSmramGSmrame = 0x08;
    static constexpr uint8_t kSmramCBaseSeg = 0x02;  // 0xa0000
    static constexpr uint64_t kSmramBase = 0xa0000;
    static constexpr uint64_t kSmramSize = 0x20000;

    // Segment i's place: 0 is 0xf0000 (64 KiB), 1..12 are 0xc0000 + 16 KiB steps.
    static constexpr uint64_t segment_start(unsigned i) { return i == 0 ? 0xf0000 : 0xc0000 + (i - 1) * 0x4000ull; }
    static constexpr uint64_t segment_size(unsigned i) { return i == 0 ? 0x10000 : 0x4000; }

    explicit I440fx(MemoryRegion& pci);
    I440fx(const I440fx&) = delete;
    I440fx& operator=(const I440fx&) = delete;

    std::string_view name() const override { return "i440fx"; }
    uint32_t model_version() const override { return 1; }
    // Lays the PAM and SMRAM regions over m.system; throws kvmrr::Error on a
    // second attach, RAM under 1 MiB, or a PCI side under 1 MiB.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    // The mode segment i has now (0..3).
    uint8_t pam_mode(unsigned i) const;

private:
    // Mode 2 of one segment: reads from the PCI side, writes to RAM.
    class WriteRamReadPci final : public RegionOps {
    public:
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;
        I440fx* owner = nullptr;
        uint64_t start = 0;
    };
    struct Segment {
        std::array<MemoryRegion*, 4> by_mode{};
        uint8_t mode = 0;
        WriteRamReadPci ops;
    };

    void config_written(uint8_t offset, unsigned size) override;
    void update_mappings();

    MemoryRegion& pci_;
    MemorySystem* sys_ = nullptr;
    MemoryRegion* ram_ = nullptr;
    MemoryAddressSpace* pci_reads_ = nullptr;
    MemoryRegion* smram_region_ = nullptr;
    std::array<Segment, kSegments> segs_{};
    // SMRAM as last accepted, to undo writes once D_LCK is set.
    uint8_t smram_ = kSmramCBaseSeg;
};

}  // namespace kvmrr
