#include "devices/guest_ram.h"

#include "core/flat_view.h"
#include "core/memory_region.h"

namespace kvmrr {

bool is_guest_ram(const MemoryAddressSpace& memory, uint64_t addr, uint64_t len) {
    if (len == 0) return true;
    if (len - 1 > UINT64_MAX - addr) return false;
    const uint64_t last = addr + (len - 1);
    const FlatView& view = *memory.view();
    for (uint64_t a = addr;;) {
        const FlatRange* fr = view.lookup(a);
        if (!fr || fr->mr->kind() != MemoryRegion::Kind::Ram || fr->readonly) return false;
        if (fr->range.last() >= last) return true;
        a = fr->range.last() + 1;
    }
}

}  // namespace kvmrr
