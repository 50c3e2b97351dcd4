#include "devices/i440fx.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/ram_block.h"

namespace kvmrr {

namespace {

constexpr PciIdentity kIdentity{
    .vendor = 0x8086,
    .device = 0x1237,  // 82441FX PMC
    .revision = 0x02,
    .class_code = 0x0600,  // bridge, host
    .prog_if = 0x00,
    .header_type = 0x00,
};

constexpr uint64_t kLegacyEnd = 1 * kMiB;
constexpr uint8_t kModeMask = 0x03;

}  // namespace

I440fx::I440fx(MemoryRegion& pci) : PciFunction(kDevfn, kIdentity), pci_(pci) {
    cfg(kSmram) = kSmramCBaseSeg;
    for (unsigned i = 0; i < kSegments; ++i) {
        segs_[i].ops.owner = this;
        segs_[i].ops.start = segment_start(i);
    }
}

uint8_t I440fx::pam_mode(unsigned i) const {
    if (i >= kSegments) return 0;
    // QEMU's pam_update: segment i sits in PAM byte ceil(i / 2), odd
    // segments in the low nibble, even ones (0 included) in the high.
    const uint8_t byte = config()[kPam0 + (i + 1) / 2];
    return (i & 1 ? byte : byte >> 4) & kModeMask;
}

void I440fx::attach(MemorySystem& sys, MachineMemory& m) {
    if (sys_) throw Error("i440fx: this device is attached to a machine already");
    if (!m.system || !m.ram) throw Error("i440fx: the machine has no system memory or RAM");
    if (m.ram->size() < kLegacyEnd)
        throw Error("i440fx: RAM is " + hex(m.ram->size()) + " bytes; PAM and SMRAM need at least 1 MiB");
    if (pci_.size() < kLegacyEnd)
        throw Error("i440fx: the PCI side '" + pci_.name() + "' is " + hex(pci_.size()) + " bytes, under 1 MiB");
    sys_ = &sys;
    ram_ = m.ram;
    const uint64_t ram_units = std::min<uint64_t>(m.ram->size() / (8 * kMiB), 255);
    cfg(kRamSize) = static_cast<uint8_t>(ram_units);
    {
        Transaction t(sys);
        for (unsigned i = 0; i < kSegments; ++i) {
            Segment& s = segs_[i];
            const uint64_t start = segment_start(i), size = segment_size(i);
            s.by_mode[0] = &sys.create_alias("pam-pci", pci_, start, size);
            s.by_mode[1] = &sys.create_alias("pam-rom", *ram_, start, size);
            s.by_mode[1]->set_readonly(true);
            AccessRules rules;
            rules.valid = {1, 8, true};
            rules.impl = {1, 8, true};
            s.by_mode[2] = &sys.create_io("pam-pci", size, s.ops, rules);
            s.by_mode[3] = &sys.create_alias("pam-ram", *ram_, start, size);
            s.mode = pam_mode(i);
            for (unsigned k = 0; k < 4; ++k) {
                s.by_mode[k]->set_enabled(k == s.mode);
                m.system->add_subregion_overlap(start, *s.by_mode[k], 1);
            }
        }
        // Shows the PCI side (VGA) over the SMRAM area unless it is open.
        smram_region_ = &sys.create_alias("smram-region", pci_, kSmramBase, kSmramSize);
        smram_region_->set_enabled(!(smram_ & kSmramDOpen));
        m.system->add_subregion_overlap(kSmramBase, *smram_region_, 1);
        t.commit();
    }
    pci_reads_ = &sys.create_memory_space("pam-pci-reads", pci_);
}

void I440fx::config_written(uint8_t offset, unsigned size) {
    if (pci::overlaps(offset, size, kSmram, 1)) {
        uint8_t v = config()[kSmram];
        if (smram_ & kSmramDLck) {
            // Locked: only D_CLS still follows the guest.
            v = static_cast<uint8_t>((smram_ & ~kSmramDCls) | (v & kSmramDCls));
        } else if (v & kSmramDLck) {
            v &= static_cast<uint8_t>(~kSmramDOpen);
        }
        cfg(kSmram) = v;
        smram_ = v;
    }
    if (pci::overlaps(offset, size, kPam0, kPamBytes) || pci::overlaps(offset, size, kSmram, 1)) update_mappings();
}

void I440fx::update_mappings() {
    if (!sys_) return;  // not attached: the registers alone change
    Transaction t(*sys_);
    for (unsigned i = 0; i < kSegments; ++i) {
        Segment& s = segs_[i];
        const uint8_t mode = pam_mode(i);
        if (mode == s.mode) continue;
        s.by_mode[s.mode]->set_enabled(false);
        s.by_mode[mode]->set_enabled(true);
        s.mode = mode;
    }
    const bool show_pci = !(smram_ & kSmramDOpen);
    if (smram_region_->enabled() != show_pci) smram_region_->set_enabled(show_pci);
    t.commit();
}

uint64_t I440fx::WriteRamReadPci::read(uint64_t offset, unsigned size) {
    uint8_t buf[8];
    std::memset(buf, 0xff, sizeof buf);
    // The PCI side answers as the bus would: ROM bytes, a device, or all
    // ones where nothing claims the address.
    owner->pci_reads_->read_bytes(Gpa(start + offset), std::span<uint8_t>(buf, size));
    uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) v |= uint64_t{buf[i]} << (8 * i);
    return v;
}

void I440fx::WriteRamReadPci::write(uint64_t offset, uint64_t value, unsigned size) {
    const MemoryRegion& ram = *owner->ram_;
    uint8_t* host = ram.ram_block()->host() + ram.ram_offset();
    for (unsigned i = 0; i < size; ++i) host[start + offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

uint64_t I440fx::state_digest() const { return config_digest(0x1237); }

}  // namespace kvmrr
