#include "core/emu/linear_memory.h"

#include <algorithm>
#include <vector>

#include "core/emu/emu_registers.h"

namespace kvmrr::emu {

namespace {

constexpr uint64_t kPresent = 1, kLarge = 1u << 7;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;

// f(physical address, offset in the range, bytes) for each page's part of
// [linear, linear + n), in order; false at the first page not mapped or
// the first false from f.
template <class F>
bool by_page(uc_engine* uc, CpuWidth w, uint64_t linear, size_t n, F&& f) {
    for (size_t done = 0; done < n;) {
        const uint64_t at = linear + done;
        const size_t chunk = std::min<size_t>(n - done, 0x1000 - (at & 0xfff));
        const std::optional<uint64_t> phys = physical_of(uc, w, at);
        if (!phys || !f(*phys, done, chunk)) return false;
        done += chunk;
    }
    return true;
}

}  // namespace

std::optional<uint64_t> physical_of(uc_engine* uc, CpuWidth w, uint64_t linear) {
    uint64_t cr0 = 0;
    uc_reg_read(uc, UC_X86_REG_CR0, &cr0);
    if (w != CpuWidth::Long64 || !(cr0 & kCr0Pg)) return linear;
    uint64_t table = 0;
    uc_reg_read(uc, UC_X86_REG_CR3, &table);
    table &= kAddrMask;
    // PML4, PDPT, PD, PT: 9 bits of the address each, from bit 39 down.
    for (int level = 3; level >= 0; --level) {
        const unsigned shift = 12 + 9 * static_cast<unsigned>(level);
        uint64_t entry = 0;
        if (uc_mem_read(uc, table + ((linear >> shift) & 0x1ff) * 8, &entry, sizeof entry) != UC_ERR_OK) return std::nullopt;
        if (!(entry & kPresent)) return std::nullopt;
        if (level == 0 || ((level == 1 || level == 2) && (entry & kLarge))) {
            const uint64_t page_mask = (1ull << shift) - 1;
            return ((entry & kAddrMask) & ~page_mask) | (linear & page_mask);
        }
        table = entry & kAddrMask;
    }
    return std::nullopt;
}

bool read_linear(uc_engine* uc, CpuWidth w, uint64_t linear, void* out, size_t n) {
    auto* o = static_cast<uint8_t*>(out);
    return by_page(uc, w, linear, n, [&](uint64_t phys, size_t done, size_t chunk) {
        return uc_mem_read(uc, phys, o + done, chunk) == UC_ERR_OK;
    });
}

bool write_linear(uc_engine* uc, CpuWidth w, uint64_t linear, const void* in, size_t n, const EmuEngine* dirty_to) {
    // Every page found first: a write that cannot land whole lands not at all.
    struct Piece {
        uint64_t phys;
        size_t done, chunk;
    };
    std::vector<Piece> pieces;
    if (!by_page(uc, w, linear, n, [&](uint64_t phys, size_t done, size_t chunk) {
            pieces.push_back({phys, done, chunk});
            return true;
        }))
        return false;
    const auto* i = static_cast<const uint8_t*>(in);
    for (const Piece& p : pieces) {
        if (uc_mem_write(uc, p.phys, i + p.done, p.chunk) != UC_ERR_OK) return false;
        // Written behind Unicorn's hooks: dirty the page as the CPU's own
        // write does on KVM.
        if (dirty_to && dirty_to->logging()) dirty_to->mark_written(p.phys, static_cast<unsigned>(p.chunk));
    }
    return true;
}

}  // namespace kvmrr::emu
