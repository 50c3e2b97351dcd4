#include "vmm/replay_vm.h"

#include <algorithm>

#include "core/error.h"

namespace kvmrr {

void ReplayVm::set_user_memory_region(const MemslotSpec& s) {
    const std::string what = "replay VM: slot " + std::to_string(s.slot);
    if (s.slot >= max_slots_) throw Error(what + " is past the table of " + std::to_string(max_slots_) + " slots");
    if (s.size == 0) {
        if (!slots_.erase(s.slot)) throw Error(what + " deleted but it does not exist");
        return;
    }
    if (s.guest_phys % 4096 || s.size % 4096) throw Error(what + " is not page aligned");
    if (auto it = slots_.find(s.slot); it != slots_.end()) {
        MemslotSpec a = it->second, b = s;
        a.flags &= ~kMemLogDirtyPages;
        b.flags &= ~kMemLogDirtyPages;
        if (!(a == b)) throw Error(what + " changed in place other than its dirty-logging flag");
    } else {
        for (const auto& [id, o] : slots_)
            if (s.guest_phys < o.guest_phys + o.size && o.guest_phys < s.guest_phys + s.size)
                throw Error(what + " at " + hex(s.guest_phys) + " overlaps slot " + std::to_string(id));
    }
    slots_[s.slot] = s;
}

void ReplayVm::get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) {
    if (!slots_.count(slot)) throw Error("replay VM: dirty log of slot " + std::to_string(slot) + ", which does not exist");
    std::fill(bitmap.begin(), bitmap.end(), 0);
}

}  // namespace kvmrr
