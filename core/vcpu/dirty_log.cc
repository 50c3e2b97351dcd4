#include "core/vcpu/dirty_log.h"

#include <algorithm>
#include <bit>

#include "core/error.h"

namespace kvmrr {

const char* dirty_log_mode_name(DirtyLogMode m) { return m == DirtyLogMode::Ring ? "ring" : "bitmap"; }

DirtyLogMode parse_dirty_log_mode(const std::string& text) {
    if (text == "bitmap") return DirtyLogMode::Bitmap;
    if (text == "ring") return DirtyLogMode::Ring;
    throw Error("unknown dirty-log mode '" + text + "' (choose bitmap or ring)");
}

uint64_t DirtyBitmap::count() const {
    // Without -mpopcnt (kvmrr builds for the x86-64 baseline) popcount is a
    // libgcc call; most words of a large slot are zero, so skip them.
    uint64_t n = 0;
    for (uint64_t w : words)
        if (w != 0) n += static_cast<uint64_t>(std::popcount(w));
    return n;
}

bool DirtyBitmap::any() const {
    // OR everything, no early exit: the loop vectorises, and the usual
    // case it decides (a clean slot) reads every word anyway.
    uint64_t acc = 0;
    for (uint64_t w : words) acc |= w;
    return acc != 0;
}

namespace {

// Visits the set bits below `pages` with count-trailing-zeros, so the cost
// follows the number of dirty pages.
template <class F>
void walk(const DirtyBitmap& b, F&& fn) {
    for (size_t i = 0; i < b.words.size(); ++i) {
        for (uint64_t w = b.words[i]; w != 0; w &= w - 1) {
            const uint64_t page = i * 64 + static_cast<uint64_t>(std::countr_zero(w));
            if (page < b.pages) fn(b.guest_phys + page * kPageSize);
        }
    }
}

}  // namespace

void DirtyBitmap::for_each_page(const std::function<void(uint64_t)>& fn) const { walk(*this, fn); }

std::vector<uint64_t> DirtyBitmap::page_addresses() const {
    std::vector<uint64_t> out;
    page_addresses(out);
    return out;
}

void DirtyBitmap::page_addresses(std::vector<uint64_t>& out) const {
    out.resize(count());
    uint64_t* p = out.data();
    walk(*this, [&](uint64_t gpa) { *p++ = gpa; });
    out.resize(static_cast<size_t>(p - out.data()));  // bits past `pages` were not visited
}

}  // namespace kvmrr
