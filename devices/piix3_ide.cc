#include "devices/piix3_ide.h"

#include <xxhash.h>

#include <string>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

namespace {

constexpr PciIdentity kIdentity{
    .vendor = 0x8086,
    .device = 0x7010,  // 82371SB PIIX3 IDE
    .revision = 0x00,
    .class_code = 0x0101,  // mass storage, IDE
    .prog_if = 0x80,       // legacy ports on both channels, bus master
    .header_type = 0x00,
};

constexpr uint32_t kIoSpaceEnd = 0x10000;

}  // namespace

Piix3Ide::Piix3Ide() : PciFunction(kDevfn, kIdentity) {
    cfg(pci::kStatus) = 0x80;      // fast back-to-back capable
    cfg(pci::kStatus + 1) = 0x02;  // DEVSEL medium
    cfg(kBmiba) = 0x01;            // an I/O BAR
    set_wmask(kBmiba, static_cast<uint8_t>(~(kBmibaSize - 1) & 0xfc));
    for (uint8_t i = 1; i < 4; ++i) set_wmask(kBmiba + i, 0xff);
}

void Piix3Ide::connect(unsigned n, IdeChannel& channel) {
    bm_[n & 1].connect(channel);
    channel.set_dma_target(&bm_[n & 1]);
}

void Piix3Ide::set_dma_observers(IdeBusMaster::Observer written, IdeBusMaster::Observer read) {
    for (IdeBusMaster& b : bm_) b.set_observers(written, read);
}

void Piix3Ide::attach(MemorySystem& sys, MachineMemory& m) {
    if (sys_) throw Error("piix3-ide: this device is attached to a machine already");
    Transaction t(sys);
    bar_ = &sys.create_container("piix3-ide-bmdma", kBmibaSize);
    for (unsigned n = 0; n < 2; ++n) {
        const std::string ch = std::to_string(n);
        bar_->add_subregion(8 * n, sys.create_io("bmdma" + ch, 4, bm_[n].command_ops(), IdeBusMaster::rules()));
        bar_->add_subregion(8 * n + 4, sys.create_io("bmdma" + ch + "-prd", 4, bm_[n].address_ops(), IdeBusMaster::rules()));
        bm_[n].set_memory(*m.memory);
    }
    bar_->set_enabled(false);
    m.io->add_subregion_overlap(0, *bar_, 0);
    t.commit();
    sys_ = &sys;
    bar_update();
}

uint32_t Piix3Ide::bar_address() const { return cfg32(kBmiba) & ~(kBmibaSize - 1); }

bool Piix3Ide::bus_master_mapped() const {
    return (config()[pci::kCommand] & 1) && bar_address() != 0 && bar_address() < kIoSpaceEnd;
}

void Piix3Ide::config_written(uint8_t offset, unsigned size) {
    if (pci::overlaps(offset, size, pci::kCommand, 2) || pci::overlaps(offset, size, kBmiba, 4)) bar_update();
}

void Piix3Ide::bar_update() {
    if (!sys_) return;
    // Switched off, the block stays where it was.
    const bool on = bus_master_mapped();
    if (on == bar_->enabled() && (!on || bar_address() == bar_->addr())) return;
    Transaction t(*sys_);
    bar_->set_enabled(on);
    if (on) bar_->set_address(bar_address());
    t.commit();
}

uint64_t Piix3Ide::state_digest() const {
    const uint64_t words[3] = {config_digest(0x7010), bm_[0].digest_word(), bm_[1].digest_word()};
    return XXH64(words, sizeof words, 0x7010);
}

}  // namespace kvmrr
