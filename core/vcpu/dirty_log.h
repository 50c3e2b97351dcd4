// Dirty-log bitmaps and their translation to guest-physical pages.
//
// KVM reports dirty pages per memslot as a bitmap relative to the slot's
// first page. kvmrr keeps that form (it is compact and is what the trace
// stores) together with the slot's guest address, and converts to page
// addresses only on demand; the conversion walks set bits with
// count-trailing-zeros, so its cost follows the number of dirty pages, not
// the slot size.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kvmrr {

constexpr uint64_t kPageSize = 4096;

// The pages of a slot (its first page at slot_gpa, slot_bytes long) that
// bytes [gpa, gpa + len) touch, as indexes from the slot's first page,
// both ends included; empty where the bytes miss the slot.
struct SlotPages {
    uint64_t first = 1, last = 0;
    bool empty() const { return first > last; }
};
inline SlotPages slot_pages_touched(uint64_t slot_gpa, uint64_t slot_bytes, uint64_t gpa, uint64_t len) {
    const uint64_t slot_end = slot_gpa + slot_bytes, end = gpa + len;
    if (len == 0 || end <= slot_gpa || gpa >= slot_end) return {};
    return {(std::max(gpa, slot_gpa) - slot_gpa) / kPageSize, (std::min(end, slot_end) - 1 - slot_gpa) / kPageSize};
}

struct DirtyBitmap {
    uint32_t slot = 0;
    uint64_t guest_phys = 0;  // of the slot's first page
    uint64_t pages = 0;       // pages in the slot
    std::vector<uint64_t> words;

    uint64_t count() const;
    bool any() const;  // a dirty page at all (cheaper than count() != 0)
    // Guest-physical addresses of the dirty pages, ascending.
    std::vector<uint64_t> page_addresses() const;
    // The same into `out` (replacing what it held), reusing its memory: a
    // harvest loop that keeps `out` allocates and faults in nothing new.
    void page_addresses(std::vector<uint64_t>& out) const;
    void for_each_page(const std::function<void(uint64_t gpa)>& fn) const;
};

// How the accelerator tells which pages the guest dirtied: per-slot bitmaps
// (KVM_GET_DIRTY_LOG), or per-vCPU rings of dirty pages
// (KVM_CAP_DIRTY_LOG_RING). Both reach the rest of kvmrr as bitmaps, so
// the recorder writes the same events either way.
enum class DirtyLogMode : uint8_t { Bitmap, Ring };
const char* dirty_log_mode_name(DirtyLogMode m);
DirtyLogMode parse_dirty_log_mode(const std::string& text);  // "bitmap" or "ring"; throws otherwise

// 0: the largest ring the host allows. A small ring fills quickly where
// KVM pushes a page every time its instruction emulator writes it (no
// write protection in between), which is most writes on some hosts.
constexpr uint32_t kDefaultDirtyRingEntries = 0;

// Where harvested bitmaps go (the recorder, an analysis, a test).
using DirtySink = std::function<void(const DirtyBitmap&)>;

}  // namespace kvmrr
