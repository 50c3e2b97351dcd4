#include "devices/rom_shadow.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/ram_block.h"

namespace kvmrr {

namespace {

constexpr uint64_t kRegsSize = 0x1000;
// Above the bios-low alias (priority 1), which is above RAM (0).
constexpr int kShadowPriority = 2;

uint8_t* host_of(const MemoryRegion& mr) { return mr.ram_block()->host() + mr.ram_offset(); }

}  // namespace

RomShadow::RomShadow() : control_ops_(*this), flash_ops_(*this) {}

void RomShadow::attach(MemorySystem& sys, MachineMemory& m) {
    if (shadow_) throw Error("rom-shadow: already attached");
    // Everything is checked before any region is created, so that a failed
    // attach leaves the machine as it was.
    auto win = m.windows.find("rom-shadow");
    if (win == m.windows.end())
        throw Error("rom-shadow: device window 'rom-shadow' is not in the machine layout (or was claimed already)");
    if (win->second->size() < kRegsSize)
        throw Error("rom-shadow: device window 'rom-shadow' is " + hex(win->second->size()) + " bytes, needs " +
                    hex(kRegsSize));
    // The area is wherever the layout put the BIOS's low alias; taking it
    // from the tree rather than recomputing the formula keeps the two from
    // drifting apart.
    MemoryRegion* low = nullptr;
    for (MemoryRegion* r : m.system->subregions())
        if (r->kind() == MemoryRegion::Kind::Alias && r->name() == "bios-low" && r->alias_target() == m.rom) low = r;
    if (!low)
        throw Error("rom-shadow: the machine has no 'bios-low' alias of the BIOS below 1 MiB (rom-low-alias is off); "
                    "there is nothing to shadow");
    base_ = low->addr();
    size_ = low->size();

    shadow_ = &sys.create_ram("bios-shadow", size_);
    // Reads may be unaligned (real-mode code fetches anything); the core cuts
    // them into aligned pieces of at most 8 bytes for the ops.
    const AccessRules flash_rules{.valid = {1, 8, true}, .impl = {1, 8, false}};
    flash_ = &sys.create_rom_device("bios-flash", size_, flash_ops_, flash_rules);
    std::memcpy(host_of(*flash_), host_of(*m.rom) + low->alias_offset(), size_);
    {
        Transaction t(sys);
        shadow_->set_enabled(false);
        flash_->set_enabled(false);
        m.system->add_subregion_overlap(base_, *shadow_, kShadowPriority);
        m.system->add_subregion_overlap(base_, *flash_, kShadowPriority);
        t.commit();
    }
    // A transaction of its own, like every claim: claim_window swaps the
    // reservation for the region and destroys the reservation.
    const AccessRules control_rules{.valid = {1, 8, false}, .impl = {1, 8, false}};
    claim_window(m, "rom-shadow", sys.create_io("rom-shadow", kRegsSize, control_ops_, control_rules));
}

void RomShadow::set_mode(uint8_t mode) {
    if (mode > kModeRomdIo || mode == mode_) return;
    mode_ = static_cast<Mode>(mode);
    // One transaction: a switch is one render and one listener pass, never
    // an intermediate view with both (or neither) regions shown.
    Transaction t(shadow_->system());
    shadow_->set_enabled(mode_ == kModeRam);
    flash_->set_enabled(mode_ == kModeRomd || mode_ == kModeRomdIo);
    if (mode_ == kModeRomd || mode_ == kModeRomdIo) flash_->set_romd(mode_ == kModeRomd);
    t.commit();
}

uint8_t RomShadow::reg_byte(uint64_t offset) const {
    if (offset == kRegMode) return mode_;
    if (offset >= kRegWrites && offset < kRegWrites + 4) return static_cast<uint8_t>(writes_ >> (8 * (offset - kRegWrites)));
    if (offset >= kRegLastWrite && offset < kRegLastWrite + 8)
        return static_cast<uint8_t>(last_write_ >> (8 * (offset - kRegLastWrite)));
    return 0;
}

uint64_t RomShadow::ControlOps::read(uint64_t offset, unsigned size) {
    uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) v |= uint64_t{d_.reg_byte(offset + i)} << (8 * i);
    return v;
}

void RomShadow::ControlOps::write(uint64_t offset, uint64_t value, unsigned /*size*/) {
    // Accesses are naturally aligned, so only one starting at 0 covers MODE.
    if (offset == kRegMode) d_.set_mode(static_cast<uint8_t>(value));
}

uint64_t RomShadow::FlashOps::read(uint64_t offset, unsigned size) {
    uint64_t v = 0;
    if (offset < d_.size_) std::memcpy(&v, host_of(*d_.flash_) + offset, std::min<uint64_t>(size, d_.size_ - offset));
    return v;
}

void RomShadow::FlashOps::write(uint64_t offset, uint64_t /*value*/, unsigned /*size*/) {
    ++d_.writes_;
    d_.last_write_ = d_.base_ + offset;
}

uint64_t RomShadow::register_digest() const {
    // The flash changes only through the device's write callbacks; the
    // shadow RAM is the guest's to write.
    const uint64_t regs[3] = {mode_, writes_, last_write_};
    const uint64_t h = XXH64(regs, sizeof regs, 0);
    return flash_ ? XXH64(host_of(*flash_), size_, h) : h;
}

uint64_t RomShadow::state_digest() const {
    const uint64_t regs[3] = {mode_, writes_, last_write_};
    uint64_t h = XXH64(regs, sizeof regs, 0);
    if (shadow_) {
        h = XXH64(host_of(*shadow_), size_, h);
        h = XXH64(host_of(*flash_), size_, h);
    }
    return h;
}

}  // namespace kvmrr
