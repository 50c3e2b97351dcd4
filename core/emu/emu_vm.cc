#include "core/emu/emu_vm.h"

#include <algorithm>

#include "core/emu/emu_engine.h"
#include "core/error.h"
#include "core/vcpu/dirty_log.h"

namespace kvmrr {

namespace {

std::string describe(const MemslotSpec& s) {
    return "slot " + std::to_string(s.slot) + " (guest " + hex(s.guest_phys) + ", size " + hex(s.size) + ")";
}

}  // namespace

EmuVm::EmuVm() : engine_(std::make_unique<emu::EmuEngine>()) {}

EmuVm::~EmuVm() = default;

void EmuVm::set_user_memory_region(const MemslotSpec& s) {
    const std::string what = "emulator: set memory region " + describe(s);
    if (s.slot >= kMaxMemslots) throw Error(what + ": slot id out of range (max " + std::to_string(kMaxMemslots) + ")");
    if (s.flags & ~(kMemLogDirtyPages | kMemReadonly)) throw Error(what + ": unknown flags " + hex(s.flags));
    if (s.size == 0) {
        if (!slots_.erase(s.slot)) throw Error(what + ": deleting a slot that does not exist");
        publish();
        return;
    }
    if ((s.guest_phys | s.size | s.host_addr) % kPageSize)
        throw Error(what + ": guest address, size and host address must be multiples of 4 KiB");
    if (s.guest_phys + s.size < s.guest_phys) throw Error(what + ": range wraps");
    if (auto it = slots_.find(s.slot); it != slots_.end()) {
        // As KVM: only the dirty-logging flag may change in place.
        MemslotSpec a = it->second.spec, b = s;
        a.flags &= ~kMemLogDirtyPages;
        b.flags &= ~kMemLogDirtyPages;
        if (!(a == b)) throw Error(what + ": a slot may change in place only its dirty-logging flag");
    } else {
        for (const auto& [id, o] : slots_)
            if (s.guest_phys < o.spec.guest_phys + o.spec.size && o.spec.guest_phys < s.guest_phys + s.size)
                throw Error(what + ": overlaps " + describe(o.spec));
    }
    Slot& slot = slots_[s.slot];
    const bool was_logging = slot.dirty != nullptr;
    slot.spec = s;
    if (!(s.flags & kMemLogDirtyPages)) {
        slot.dirty.reset();
    } else if (!was_logging) {
        slot.dirty = std::make_shared<emu::DirtyBits>(s.guest_phys, s.size / kPageSize);
    }
    publish();
}

void EmuVm::publish() {
    std::vector<emu::EmuSlot> v;
    v.reserve(slots_.size());
    for (const auto& [id, s] : slots_) v.push_back({s.spec, s.dirty});
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.spec.guest_phys < b.spec.guest_phys; });
    engine_->set_slots(std::move(v));
}

void EmuVm::get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) {
    auto it = slots_.find(slot);
    if (it == slots_.end() || !it->second.dirty)
        throw Error("emulator: get dirty log of slot " + std::to_string(slot) + ": the slot does not exist or does not log");
    emu::DirtyBits& d = *it->second.dirty;
    for (size_t i = 0; i < bitmap.size(); ++i)
        bitmap[i] = i < d.word_count() ? d.words[i].exchange(0, std::memory_order_relaxed) : 0;
}

void EmuVm::memory_written(uint64_t gpa, uint64_t len) {
    if (engine_->forget_written(gpa, len) && engine_->sink()) engine_->sink()->code_forgotten(gpa, gpa + len);
}

void EmuVm::clear_dirty_log(uint32_t slot, uint64_t, uint32_t, std::span<const uint64_t>) {
    throw Error("emulator: clear dirty log of slot " + std::to_string(slot) +
                ": manual dirty-log protection is not enabled (get_dirty_log already clears)");
}

}  // namespace kvmrr
