#include "core/kvm/dirty_log.h"

#include <bit>

namespace kvmrr {

uint64_t DirtyBitmap::count() const {
    uint64_t n = 0;
    for (uint64_t w : words) n += static_cast<uint64_t>(std::popcount(w));
    return n;
}

void DirtyBitmap::for_each_page(const std::function<void(uint64_t)>& fn) const {
    for (size_t i = 0; i < words.size(); ++i) {
        for (uint64_t w = words[i]; w != 0; w &= w - 1) {
            const uint64_t page = i * 64 + static_cast<uint64_t>(std::countr_zero(w));
            if (page < pages) fn(guest_phys + page * kPageSize);
        }
    }
}

std::vector<uint64_t> DirtyBitmap::page_addresses() const {
    std::vector<uint64_t> out;
    out.reserve(count());
    for (size_t i = 0; i < words.size(); ++i) {
        for (uint64_t w = words[i]; w != 0; w &= w - 1) {
            const uint64_t page = i * 64 + static_cast<uint64_t>(std::countr_zero(w));
            if (page < pages) out.push_back(guest_phys + page * kPageSize);
        }
    }
    return out;
}

}  // namespace kvmrr
