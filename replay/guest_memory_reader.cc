#include "replay/guest_memory_reader.h"

#include <algorithm>
#include <cstring>

#include "core/flat_view.h"
#include "core/memory_region.h"

namespace kvmrr {

namespace {

constexpr uint64_t kPresent = 1, kPageSize = 1u << 7;  // an entry's P and PS bits
constexpr uint64_t kCr0Pg = 1ull << 31, kCr4Pse = 1u << 4, kCr4Pae = 1u << 5, kCr4La57 = 1u << 12;
constexpr uint64_t kEferLma = 1u << 10;
constexpr uint64_t kAddressBits = 0x000ffffffffff000ull;  // bits 51:12 of a 64-bit entry

// The range at `addr` where it is RAM or ROM (a ROM device in ROMD mode
// too), with its host copy; null elsewhere.
const FlatRange* memory_range(const FlatView& view, uint64_t addr) {
    const FlatRange* fr = view.lookup(addr);
    if (!fr || !fr->host()) return nullptr;
    const MemoryRegion::Kind kind = fr->mr->kind();
    const bool memory = kind == MemoryRegion::Kind::Ram || kind == MemoryRegion::Kind::Rom ||
                        (kind == MemoryRegion::Kind::RomDevice && fr->romd_mode);
    return memory ? fr : nullptr;
}

}  // namespace

bool GuestMemoryReader::read_physical(uint64_t addr, void* out, size_t n) const {
    auto* to = static_cast<uint8_t*>(out);
    const FlatView& view = *memory_.view();
    while (n > 0) {
        const FlatRange* fr = memory_range(view, addr);
        if (!fr) return false;
        const uint8_t* host = fr->host();
        const uint64_t in_range = addr - fr->range.start();
        const size_t take = static_cast<size_t>(std::min<uint64_t>(n, fr->range.last() - addr + 1));
        std::memcpy(to, host + in_range, take);
        to += take;
        n -= take;
        if (n > 0 && addr + take == 0) return false;  // past the top of the space
        addr += take;
    }
    return true;
}

std::optional<uint64_t> GuestMemoryReader::physical_of(const kvm_sregs& s, uint64_t linear) const {
    if (!(s.cr0 & kCr0Pg)) return linear;
    auto entry64 = [&](uint64_t at) -> std::optional<uint64_t> {
        uint64_t e = 0;
        if (!read_physical(at, &e, sizeof e) || !(e & kPresent)) return std::nullopt;
        return e;
    };
    if (s.efer & kEferLma) {
        if (s.cr4 & kCr4La57) return std::nullopt;
        uint64_t table = s.cr3 & kAddressBits;
        // PML4, PDPT (1 GiB pages), page directory (2 MiB pages), page table.
        for (int level = 3; level >= 0; --level) {
            const unsigned shift = 12 + 9 * static_cast<unsigned>(level);
            const std::optional<uint64_t> e = entry64(table + ((linear >> shift) & 0x1ff) * 8);
            if (!e) return std::nullopt;
            if (level == 0 || ((level == 1 || level == 2) && (*e & kPageSize))) {
                const uint64_t mask = (1ull << shift) - 1;
                return (*e & kAddressBits & ~mask) | (linear & mask);
            }
            table = *e & kAddressBits;
        }
        return std::nullopt;
    }
    const auto lin = static_cast<uint32_t>(linear);
    if (s.cr4 & kCr4Pae) {
        // Four PDPTEs at CR3 (32-byte aligned), then 2 MiB or 4 KiB pages.
        const std::optional<uint64_t> pdpte = entry64((s.cr3 & 0xffffffe0u) + (lin >> 30) * 8);
        if (!pdpte) return std::nullopt;
        const std::optional<uint64_t> pde = entry64((*pdpte & kAddressBits) + ((lin >> 21) & 0x1ff) * 8);
        if (!pde) return std::nullopt;
        if (*pde & kPageSize) return (*pde & kAddressBits & ~0x1fffffull) | (lin & 0x1fffff);
        const std::optional<uint64_t> pte = entry64((*pde & kAddressBits) + ((lin >> 12) & 0x1ff) * 8);
        if (!pte) return std::nullopt;
        return (*pte & kAddressBits) | (lin & 0xfff);
    }
    auto entry32 = [&](uint64_t at) -> std::optional<uint32_t> {
        uint32_t e = 0;
        if (!read_physical(at, &e, sizeof e) || !(e & kPresent)) return std::nullopt;
        return e;
    };
    const std::optional<uint32_t> pde = entry32((s.cr3 & 0xfffff000u) + (lin >> 22) * 4);
    if (!pde) return std::nullopt;
    if ((s.cr4 & kCr4Pse) && (*pde & kPageSize)) {
        // A 4 MiB page: bits 31:22 of the address, 39:32 from bits 20:13.
        const uint64_t high = (static_cast<uint64_t>(*pde) >> 13 & 0xff) << 32;
        return high | (*pde & 0xffc00000u) | (lin & 0x3fffff);
    }
    const std::optional<uint32_t> pte = entry32((*pde & 0xfffff000u) + ((lin >> 12) & 0x3ff) * 4);
    if (!pte) return std::nullopt;
    return (*pte & 0xfffff000u) | (lin & 0xfff);
}

bool GuestMemoryReader::read_linear(const kvm_sregs& s, uint64_t linear, void* out, size_t n) const {
    auto* to = static_cast<uint8_t*>(out);
    while (n > 0) {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(n, 0x1000 - (linear & 0xfff)));
        const std::optional<uint64_t> phys = physical_of(s, linear);
        if (!phys || !read_physical(*phys, to, take)) return false;
        to += take;
        n -= take;
        linear += take;
    }
    return true;
}

}  // namespace kvmrr
