#include "core/vcpu/memslot_listener.h"

#include <algorithm>

#include "core/error.h"
#include "core/memory_region.h"
#include "core/ram_block.h"

namespace kvmrr {

MemslotListener::MemslotListener(VmBackend& vm, DirtySink sink)
    : vm_(&vm), sink_(std::move(sink)), used_(vm.max_memslots(), false) {}

bool MemslotListener::slot_for(const MemoryRegionSection& s, Mapping& out) {
    using K = MemoryRegion::Kind;
    const K k = s.mr->kind();
    if (!(k == K::Ram || k == K::Rom || (k == K::RomDevice && s.romd_mode))) return false;
    const uint64_t start = (s.range.start() + kPageSize - 1) & ~(kPageSize - 1);
    const uint64_t end = s.range.end() & ~(kPageSize - 1);
    if (start >= end || start < s.range.start()) return false;
    const uint64_t offset = s.offset_within_region + (start - s.range.start());
    const auto host = reinterpret_cast<uint64_t>(s.mr->ram_block()->host()) + s.mr->ram_offset() + offset;
    if (host % kPageSize != 0) return false;  // guest and host pages do not line up: leave it to MMIO
    out = Mapping{start, end - start, host, offset};
    return true;
}

uint32_t MemslotListener::flags_for(const MemoryRegionSection& s) const {
    using K = MemoryRegion::Kind;
    uint32_t f = 0;
    if (s.readonly || s.mr->kind() == K::RomDevice) f |= kMemReadonly;
    // A read-only slot never logs: the guest's writes to it exit as MMIO
    // and never reach its pages, so its bitmap would always be empty, and
    // reading it is one more ioctl on every harvest for nothing.
    if ((s.dirty_log_mask != 0 || global_log_) && !(f & kMemReadonly)) f |= kMemLogDirtyPages;
    return f;
}

uint32_t MemslotListener::free_slot(const MemoryRegionSection& s) const {
    for (uint32_t i = 0; i < used_.size(); ++i)
        if (!used_[i]) return i;
    throw Error("KVM memslot table full: all " + std::to_string(used_.size()) + " slots are in use, cannot map " +
                s.range.to_string() + " of region '" + s.mr->name() + "'");
}

MemslotListener::Slot* MemslotListener::find(const MemoryRegionSection& s) {
    Mapping m;
    if (!slot_for(s, m)) return nullptr;
    auto it = slots_.find(m.gpa);
    if (it == slots_.end() || it->second.spec.size != m.size)
        throw Error("memslot listener out of step: no slot for " + s.range.to_string() + " of region '" +
                    s.mr->name() + "'");
    return &it->second;
}

void MemslotListener::region_add(const MemoryRegionSection& s) {
    Mapping m;
    if (!slot_for(s, m)) return;
    Slot slot;
    slot.spec = MemslotSpec{free_slot(s), flags_for(s), m.gpa, m.size, m.host};
    slot.mr = s.mr;
    slot.offset_in_region = m.offset_in_region;
    slot.bitmap.slot = slot.spec.slot;
    slot.bitmap.guest_phys = m.gpa;
    slot.bitmap.pages = m.size / kPageSize;
    vm_->set_user_memory_region(slot.spec);
    used_[slot.spec.slot] = true;
    ++changes_;
    const Slot& added = slots_.emplace(m.gpa, std::move(slot)).first->second;
    if (observer_) observer_(Change::Add, added);
}

void MemslotListener::region_del(const MemoryRegionSection& s) {
    Slot* slot = find(s);
    if (!slot) return;
    if (slot->spec.flags & kMemLogDirtyPages) harvest_slot(*slot);  // last chance to see its dirty pages
    MemslotSpec del = slot->spec;
    del.size = 0;
    del.flags = 0;
    vm_->set_user_memory_region(del);
    used_[del.slot] = false;
    ++changes_;
    if (observer_) observer_(Change::Delete, *slot);
    slots_.erase(slot->spec.guest_phys);
}

void MemslotListener::update_flags(Slot& slot, uint32_t flags) {
    if (flags == slot.spec.flags) return;
    if ((slot.spec.flags & kMemLogDirtyPages) && !(flags & kMemLogDirtyPages)) harvest_slot(slot);
    slot.spec.flags = flags;
    vm_->set_user_memory_region(slot.spec);
    ++changes_;
    if (observer_) observer_(Change::Flags, slot);
}

void MemslotListener::log_start(const MemoryRegionSection& s, uint8_t, uint8_t) {
    if (Slot* slot = find(s)) update_flags(*slot, flags_for(s));
}

void MemslotListener::log_stop(const MemoryRegionSection& s, uint8_t, uint8_t) {
    if (Slot* slot = find(s)) update_flags(*slot, flags_for(s));
}

void MemslotListener::set_global_dirty_log(bool on) {
    if (on == global_log_) return;
    global_log_ = on;
    for (auto& [gpa, slot] : slots_) {
        uint32_t f = slot.spec.flags & ~kMemLogDirtyPages;
        // A region that asked for logging itself keeps it.
        const bool own = slot.mr->dirty_log_mask() != 0;
        if ((on || own) && !(f & kMemReadonly)) f |= kMemLogDirtyPages;  // as flags_for
        update_flags(slot, f);
    }
}

void MemslotListener::ram_written(uint64_t addr, uint64_t len) {
    if (len == 0) return;
    vm_->memory_written(addr, len);
    if (!vmm_writes_dirty_) return;
    const uint64_t end = addr + len;
    // Slots never overlap: from the last one starting at or below addr.
    auto it = slots_.upper_bound(addr);
    if (it != slots_.begin()) --it;
    for (; it != slots_.end() && it->first < end; ++it) {
        Slot& slot = it->second;
        const SlotPages touched = slot_pages_touched(slot.spec.guest_phys, slot.spec.size, addr, len);
        if (!(slot.spec.flags & kMemLogDirtyPages) || touched.empty()) continue;
        std::vector<uint64_t>& w = slot.vmm_written;
        if (w.empty()) w.assign((slot.spec.size / kPageSize + 63) / 64, 0);
        for (uint64_t p = touched.first; p <= touched.last; ++p) w[p / 64] |= uint64_t{1} << (p % 64);
    }
}

void MemslotListener::harvest_slot(Slot& slot) {
    DirtyBitmap& bm = slot.bitmap;
    // get_dirty_log writes every word: no clearing of a whole slot's
    // bitmap before each harvest (32 KiB a GiB), only sizing it once.
    const size_t words = (bm.pages + 63) / 64;
    if (bm.words.size() != words) bm.words.assign(words, 0);
    vm_->get_dirty_log(slot.spec.slot, bm.words);
    if (vm_->manual_dirty_log_protect() && bm.any())
        vm_->clear_dirty_log(slot.spec.slot, 0, static_cast<uint32_t>(bm.pages), bm.words);
    // After the clear: only the VM's own bits need protecting again.
    if (!slot.vmm_written.empty()) {
        for (size_t i = 0; i < words && i < slot.vmm_written.size(); ++i) bm.words[i] |= slot.vmm_written[i];
        std::fill(slot.vmm_written.begin(), slot.vmm_written.end(), 0);
    }
    if (sink_) sink_(bm);
}

void MemslotListener::harvest() {
    for (auto& [gpa, slot] : slots_)
        if (slot.spec.flags & kMemLogDirtyPages) harvest_slot(slot);
    // Checked here, on a harvest someone asked for, and not in
    // harvest_slot: that also runs while slots are torn down.
    if (const std::string why = vm_->dirty_log_lost(); !why.empty()) throw Error(why);
}

std::vector<MemslotSpec> MemslotListener::table() const {
    std::vector<MemslotSpec> out;
    out.reserve(slots_.size());
    for (const auto& [gpa, slot] : slots_) out.push_back(slot.spec);
    return out;
}

}  // namespace kvmrr
