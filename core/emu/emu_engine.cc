#include "core/emu/emu_engine.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "core/emu/emu_registers.h"
#include "core/error.h"
#include "core/vcpu/dirty_log.h"

namespace kvmrr::emu {

namespace {

enum class Kind : uint8_t { Ram, Rom, Gap };

}  // namespace

struct EmuEngine::Area {
    EmuEngine* engine;
    uint64_t base;
};

struct EmuEngine::Mapping {
    uint64_t start = 0;
    uint64_t size = 0;
    Kind kind = Kind::Gap;
    uint64_t host = 0;
    std::unique_ptr<Area> area;  // the callbacks' user data for a Gap
    bool same_place(const Mapping& o) const {
        return start == o.start && size == o.size && kind == o.kind && host == o.host;
    }
};

namespace {

uint64_t area_read(uc_engine*, uint64_t offset, unsigned size, void* user) {
    auto* a = static_cast<EmuEngine::Area*>(user);
    MmioSink* sink = a->engine->sink();
    return sink ? sink->mmio_read(a->base + offset, size) : ~0ull;
}

void area_write(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* user) {
    auto* a = static_cast<EmuEngine::Area*>(user);
    if (MmioSink* sink = a->engine->sink()) sink->mmio_write(a->base + offset, size, value);
}

}  // namespace

std::string uc_error_text(uc_err e) { return std::string(uc_strerror(e)) + " (uc_err " + std::to_string(e) + ")"; }

DirtyBits::DirtyBits(uint64_t g, uint64_t p) : gpa(g), pages(p), words(new std::atomic<uint64_t>[(p + 63) / 64]) {
    for (size_t i = 0; i < word_count(); ++i) words[i].store(0, std::memory_order_relaxed);
}

EmuEngine::EmuEngine() { open(CpuWidth::Long64); }

EmuEngine::~EmuEngine() {
    if (uc_) uc_close(uc_);
}

void EmuEngine::open(CpuWidth w) {
    const uc_err e = uc_open(UC_ARCH_X86, w == CpuWidth::Legacy32 ? UC_MODE_32 : UC_MODE_64, &uc_);
    if (e != UC_ERR_OK) throw Error("cannot open a Unicorn x86 engine: " + uc_error_text(e));
    width_ = w;
    if (w == CpuWidth::Legacy32) enter_real_mode();
    // uc_emu_start's `until` is ignored with exits on, and none are set
    // but while the vCPU steps through a fetch fault. Without them,
    // Unicorn ends every uc_emu_start by forgetting the translation at
    // until - 1, which it looks up through the guest's page tables: where
    // that address is not mapped (kvmrr runs to ~0), the lookup's page
    // fault overwrites CR2 (and the error code) under the guest.
    const uc_err x = uc_ctl_exits_enable(uc_);
    if (x != UC_ERR_OK) throw Error("emulator: cannot turn Unicorn's exits on: " + uc_error_text(x));
    reset_fpu(uc_);
}

// A UC_MODE_32 engine starts in protected mode (hflags PE, 32-bit CS and SS)
// and uc_reg_write(CR0) only stores the value; only the guest's own
// `mov cr0` updates the mode flags. So run that instruction once from a
// scratch page at 0, before any slot is mapped (open() runs on an empty
// map), then forget the page and its translation. Loading the selectors
// afterwards (write_sregs) makes CS and SS 16-bit real-mode segments.
void EmuEngine::enter_real_mode() {
    static constexpr uint8_t kStub[] = {0x0f, 0x22, 0xc0, 0xf4};  // mov cr0, eax; hlt
    const uint32_t cr0 = 0x60000010;                             // x86 reset value, PE clear
    uc_err e = uc_mem_map(uc_, 0, 4096, UC_PROT_ALL);
    if (e == UC_ERR_OK) e = uc_mem_write(uc_, 0, kStub, sizeof kStub);
    if (e == UC_ERR_OK) e = uc_reg_write(uc_, UC_X86_REG_EAX, &cr0);
    if (e == UC_ERR_OK) e = uc_emu_start(uc_, 0, sizeof kStub, 0, 0);
    // The stub's one translation goes with its page (cheaper than a flush).
    if (e == UC_ERR_OK) e = uc_ctl_remove_cache(uc_, 0, 4096);
    if (e == UC_ERR_OK) e = uc_mem_unmap(uc_, 0, 4096);
    uint32_t got = 0;
    uc_reg_read(uc_, UC_X86_REG_CR0, &got);
    if (e != UC_ERR_OK || got != cr0) throw Error("emulator: cannot take the engine to real mode: " + uc_error_text(e));
    const uint32_t zero = 0;
    uc_reg_write(uc_, UC_X86_REG_EAX, &zero);
}

void EmuEngine::reopen(CpuWidth w) {
    std::lock_guard lk(mu_);
    if (emulating_) throw Error("emulator: cannot change the CPU mode while the guest runs");
    uc_close(uc_);
    uc_ = nullptr;
    applied_.clear();
    hosted_.clear();
    code_in_ = store_in_ = {};
    applied_dirty_.clear();
    last_dirty_ = nullptr;
    ran_since_flush_ = false;
    code_.clear();
    forgets_since_flush_ = 0;
    ram_by_hook_ = false;
    hook_allowed_ = true;
    open(w);
    pending_.store(true, std::memory_order_release);
}

void EmuEngine::set_slots(std::vector<EmuSlot> slots) {
    std::lock_guard lk(mu_);
    desired_ = std::move(slots);
    pending_.store(true, std::memory_order_release);
}

void EmuEngine::settle() {
    if (!pending_.load(std::memory_order_acquire)) return;
    std::lock_guard lk(mu_);
    if (!emulating_ && pending_.load(std::memory_order_acquire)) sync_locked();
}

void EmuEngine::begin_emulation() {
    std::lock_guard lk(mu_);
    if (pending_.load(std::memory_order_acquire)) {
        sync_locked();
    } else if (ram_by_hook_ && !want_stores_by_hook()) {
        protect_ram(false);
    }
    // Each translation forgotten for a store over code (forget_written)
    // stays in Unicorn's code buffer until a flush. A guest that keeps
    // rewriting code it runs fills the buffer, and Unicorn 2.0.1, flushing
    // it by itself then, crashes soon after (a segfault in
    // page_collection_lock or tb_set_jmp_target). So kvmrr flushes first,
    // here between two runs of the engine: forget_written asks for this
    // stop as a map change does.
    if (forgets_since_flush_ >= kForgetsPerFlush) {
        uc_ctl_flush_tlb(uc_);  // Unicorn 2.0.1's name for UC_CTL_TB_FLUSH
        code_.clear();
        forgets_since_flush_ = 0;
    }
    emulating_ = true;
    ran_since_flush_ = true;
}

// Forgets Unicorn's translations of code in [start, end), a RAM or ROM
// mapping about to go, if it may hold some: code ran since the last flush,
// and one of the pages it ran from, or the page after it (a translated
// block may run on into the next page), meets the range. Then the range's
// blocks are invalidated as QEMU does for self-modifying code (unlinked
// from the blocks that jump to them, dropped from the lookup caches).
// That takes the range as physical addresses through the CPU's current
// translation, and the hook notes linear addresses: both are physical ones
// in real mode and in protected mode without paging. Otherwise (long mode,
// paging on now) everything is flushed. Not covered: a guest that turns
// paging on and off again between two map changes.
void EmuEngine::forget_translations(uint64_t start, uint64_t end) {
    if (!ran_since_flush_) return;
    bool physical = width_ == CpuWidth::Legacy32;
    if (physical) {
        uint64_t cr0 = 0;
        uc_reg_read(uc_, UC_X86_REG_CR0, &cr0);
        physical = (cr0 & kCr0Pg) == 0;
    }
    if (physical) {
        if (code_.any(start, end)) uc_ctl_remove_cache(uc_, start, end);
        return;
    }
    uc_ctl_flush_tlb(uc_);  // Unicorn 2.0.1's name for UC_CTL_TB_FLUSH
    ran_since_flush_ = false;
    code_.clear();
}

bool EmuEngine::want_stores_by_hook() {
    if (width_ != CpuWidth::Legacy32 || !hook_allowed_) return false;
    uint64_t cr0 = 0;
    uc_reg_read(uc_, UC_X86_REG_CR0, &cr0);
    if (cr0 & kCr0Pg) hook_allowed_ = false;
    return hook_allowed_;
}

void EmuEngine::protect_ram(bool by_hook) {
    ram_by_hook_ = by_hook;
    for (const auto& m : applied_) {
        if (m->kind != Kind::Ram) continue;
        const uc_err e = uc_mem_protect(uc_, m->start, m->size, by_hook ? UC_PROT_READ | UC_PROT_EXEC : UC_PROT_ALL);
        if (e != UC_ERR_OK) throw Error("emulator: protecting guest " + hex(m->start) + "+" + hex(m->size) + ": " + uc_error_text(e));
    }
}

const EmuEngine::Mapping* EmuEngine::hosted(uint64_t gpa, size_t n) const {
    // The last mapping starting at or below gpa.
    auto it = std::upper_bound(hosted_.begin(), hosted_.end(), gpa, [](uint64_t a, const Mapping* m) { return a < m->start; });
    if (it == hosted_.begin()) return nullptr;
    const Mapping* m = *(it - 1);
    return gpa + n <= m->start + m->size ? m : nullptr;
}

EmuEngine::Store EmuEngine::store_ram_elsewhere(uint64_t gpa, unsigned size, uint64_t value) {
    const Mapping* m = hosted(gpa, size);
    if (!m) {
        const Mapping* first = hosted(gpa, 1);
        return first && first->kind == Kind::Ram ? Store::Partial : Store::NotRam;
    }
    if (m->kind != Kind::Ram) return Store::NotRam;
    store_in_ = {m->start, m->start + m->size, m->host, true};
    return store_ram(gpa, size, value);
}

bool EmuEngine::write_physical(uint64_t gpa, const void* data, size_t n) {
    if (n) {
        const Mapping* m = hosted(gpa, n);
        if (m && m->kind == Kind::Ram) {
            std::memcpy(reinterpret_cast<void*>(m->host + (gpa - m->start)), data, n);
            forget_written(gpa, n);
            return true;
        }
    }
    return uc_mem_write(uc_, gpa, data, n) == UC_ERR_OK;
}

// Only where blocks were noted: Unicorn takes the start of each range as
// a linear address through the guest's page tables, and a page they do
// not map would leave a page fault pending in the CPU (and CR2 changed)
// for the guest to take when it goes on. A page that code ran from is one
// they mapped. (Above 4 GiB, once code ran anywhere there, every page
// written counts: CodeLines keeps no lines there.)
bool EmuEngine::forget_written(uint64_t gpa, uint64_t n) {
    if (!ran_since_flush_ || n == 0 || gpa + n < gpa) return false;
    const uint64_t end = gpa + n;
    if (!code_.any(gpa, end)) return false;
    // Every block on the written lines, not only on its bytes: the lines
    // are then free of code, and the stores after this one there (a copy
    // or a fill goes on over the line) cost nothing more.
    const uint64_t start = stored_lines_start(gpa), stop = stored_lines_end(gpa, n);
    // A page at a time: Unicorn takes the rest of a range as contiguous
    // behind its start, which two mappings are not.
    CodeLines::each_page(start, stop, [&](uint64_t at, uint64_t to) {
        if (code_.any(at, to)) {
            uc_ctl_remove_cache(uc_, at, to);
            if (++forgets_since_flush_ == kForgetsPerFlush) pending_.store(true, std::memory_order_release);
        }
        return false;
    });
    code_.forget(start, stop);
    return true;
}

void EmuEngine::end_emulation() {
    std::lock_guard lk(mu_);
    emulating_ = false;
}

void EmuEngine::mark_written_elsewhere(uint64_t gpa, unsigned size) const {
    // Slots never overlap: one that holds the whole access is the only one.
    for (const auto& s : applied_dirty_) {
        const SlotPages touched = slot_pages_touched(s->gpa, s->pages * kPageSize, gpa, size);
        if (touched.empty()) continue;
        if (gpa >= s->gpa && gpa + size <= s->gpa + s->pages * kPageSize) last_dirty_ = s.get();
        for (uint64_t p = touched.first; p <= touched.last; ++p) s->mark(p);
    }
}

const uint8_t* EmuEngine::host_bytes_elsewhere(uint64_t gpa, size_t n, bool ram_only) const {
    const Mapping* m = hosted(gpa, n);
    if (!m) return nullptr;
    code_in_ = {m->start, m->start + m->size, m->host, m->kind == Kind::Ram};
    if (ram_only && m->kind != Kind::Ram) return nullptr;
    return reinterpret_cast<const uint8_t*>(m->host + (gpa - m->start));
}

void EmuEngine::sync_locked() {
    pending_.store(false, std::memory_order_release);
    code_in_ = store_in_ = {};
    hosted_.clear();
    // What stays is protected anew if the mode changes, after the
    // removals; what is added gets the mode's protection.
    const bool by_hook = want_stores_by_hook();
    // What the map should be: the slots, and MMIO gaps between them up to
    // kEmuPhysLimit, cut into cells (see kMapCellLow).
    std::vector<Mapping> want;
    auto add = [&](uint64_t start, uint64_t end, Kind kind, uint64_t host) {
        for (uint64_t at = start; at < end;) {
            const bool gap = kind == Kind::Gap;
            const uint64_t cell = at < kMapCellLowest  ? kMapCellLowest
                                  : at < kMapCellLow  ? kMapCellLow
                                  : at < (4ull << 30) ? (gap ? kGapCellLow : kMapCellLow)
                                                      : (gap ? kGapCellHigh : kMapCellHigh);
            const uint64_t piece_end = std::min(end, (at / cell + 1) * cell);
            want.push_back({at, piece_end - at, kind, kind == Kind::Gap ? 0 : host + (at - start), nullptr});
            at = piece_end;
        }
    };
    uint64_t cursor = 0;
    for (const EmuSlot& s : desired_) {
        if (cursor < s.spec.guest_phys) add(cursor, std::min(s.spec.guest_phys, kEmuPhysLimit), Kind::Gap, 0);
        const Kind k = (s.spec.flags & kMemReadonly) ? Kind::Rom : Kind::Ram;
        add(s.spec.guest_phys, s.spec.guest_phys + s.spec.size, k, s.spec.host_addr);
        cursor = std::max(cursor, s.spec.guest_phys + s.spec.size);
    }
    if (cursor < kEmuPhysLimit) add(cursor, kEmuPhysLimit, Kind::Gap, 0);

    // Removals first, so that an addition never overlaps what is going.
    // Both sides ordered by place, so that each lookup is a binary search
    // (the map has hundreds of pieces).
    auto before = [](const Mapping& a, const Mapping& b) {
        return std::tie(a.start, a.size, a.kind, a.host) < std::tie(b.start, b.size, b.kind, b.host);
    };
    std::sort(want.begin(), want.end(), before);
    for (auto it = applied_.begin(); it != applied_.end();) {
        if (std::binary_search(want.begin(), want.end(), **it, before)) {
            ++it;
            continue;
        }
        // PAM shadowing swaps ROM for RAM under running code: its
        // translations must not outlive the map they were made from.
        if ((*it)->kind != Kind::Gap) forget_translations((*it)->start, (*it)->start + (*it)->size);
        const uc_err e = uc_mem_unmap(uc_, (*it)->start, (*it)->size);
        if (e != UC_ERR_OK) throw Error("emulator: unmapping " + hex((*it)->start) + "+" + hex((*it)->size) + ": " + uc_error_text(e));
        it = applied_.erase(it);
    }
    if (by_hook != ram_by_hook_) protect_ram(by_hook);
    std::vector<const Mapping*> have;
    for (const auto& a : applied_) have.push_back(a.get());
    std::sort(have.begin(), have.end(), [&](const Mapping* a, const Mapping* b) { return before(*a, *b); });
    for (Mapping& m : want) {
        const auto at = std::lower_bound(have.begin(), have.end(), &m, [&](const Mapping* a, const Mapping* b) { return before(*a, *b); });
        if (at != have.end() && (*at)->same_place(m)) continue;
        auto owned = std::make_unique<Mapping>(std::move(m));
        Mapping& a = *owned;
        uc_err e;
        if (a.kind == Kind::Ram) {
            e = uc_mem_map_ptr(uc_, a.start, a.size, UC_PROT_ALL, reinterpret_cast<void*>(a.host));
            // Read-only for Unicorn, so that stores reach the write-protect hook.
            if (e == UC_ERR_OK && ram_by_hook_) e = uc_mem_protect(uc_, a.start, a.size, UC_PROT_READ | UC_PROT_EXEC);
        } else if (a.kind == Kind::Rom) {
            // Host memory in place, so that code runs from it (firmware).
            // uc_mem_map_ptr alone keeps the region writable for QEMU;
            // uc_mem_protect marks it read-only, so that a write, after the
            // vCPU's write-protect hook has made its MMIO exit, is dropped.
            constexpr uint32_t kRx = UC_PROT_READ | UC_PROT_EXEC;
            e = uc_mem_map_ptr(uc_, a.start, a.size, kRx, reinterpret_cast<void*>(a.host));
            if (e == UC_ERR_OK) e = uc_mem_protect(uc_, a.start, a.size, kRx);
        } else {
            a.area = std::make_unique<Area>(Area{this, a.start});
            e = uc_mmio_map(uc_, a.start, a.size, area_read, a.area.get(), area_write, a.area.get());
        }
        if (e != UC_ERR_OK)
            throw Error("emulator: mapping guest " + hex(a.start) + "+" + hex(a.size) + ": " + uc_error_text(e));
        applied_.push_back(std::move(owned));
    }
    for (const auto& m : applied_)
        if (m->kind != Kind::Gap) hosted_.push_back(m.get());
    std::sort(hosted_.begin(), hosted_.end(), [](const Mapping* a, const Mapping* b) { return a->start < b->start; });
    // A write to a read-only slot never lands (it exits as MMIO, as on KVM),
    // so it must not mark the slot's page dirty either.
    applied_dirty_.clear();
    last_dirty_ = nullptr;
    for (const EmuSlot& s : desired_)
        if (s.dirty && !(s.spec.flags & kMemReadonly)) applied_dirty_.push_back(s.dirty);
}

}  // namespace kvmrr::emu
