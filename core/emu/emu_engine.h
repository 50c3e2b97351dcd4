// EmuEngine: one Unicorn engine and the guest-physical map it is given,
// shared by EmuVm (which decides the memslots) and EmuVcpu (which runs
// code in it). Internal to core/emu: this is the only header that
// includes unicorn.h, and only core/emu's .cc files include it.
//
// The map follows KVM: a RAM slot is host memory mapped in place
// (uc_mem_map_ptr); a read-only slot is an MMIO area whose reads come from
// the host memory and whose writes go to the vCPU as MMIO exits; every
// page below kEmuPhysLimit that no slot covers is an MMIO area whose reads
// and writes all go to the vCPU, as KVM's unmapped guest-physical
// addresses do. Unicorn cannot fetch instructions from an MMIO area, so a
// read-only slot is host memory mapped in place as well, readable and
// executable but not writable: its writes reach the vCPU's write-protect
// hook (an MMIO exit) and are then discarded by Unicorn, as ROM writes are.
//
// Stores to RAM. Unicorn 2.0.1 sends every guest store to RAM through its
// self-modifying-code check, which allocates and frees a page collection
// for each one (its cpu_physical_memory_is_clean is always true): about
// 20 times QEMU's cost of a store, most of a firmware's memset. While the
// guest runs without paging in a Legacy32 engine (real mode, firmware,
// 32-bit code before paging), RAM is mapped read-only as well, and the
// vCPU's write-protect hook makes each store itself (store_ram): a copy
// into the host memory, and the translations of the code written over
// forgotten, which the engine knows from the blocks noted as run
// (CodeLines). Unicorn then drops the store, as it does for ROM. With
// paging, Unicorn's page walks set accessed and dirty bits through its
// own physical writes, which a read-only mapping would drop, so the
// engine goes back to Unicorn's own stores before the guest turns paging
// on (end_stores_by_hook) and stays there until it is reopened.
//
// Unicorn must not change its map while a guest access is in flight: a
// MemoryRegion unmapped from inside its own callback is freed while QEMU's
// dispatch code still reads it, and a TLB entry made before the change
// would index the new dispatch table with an old section number. So a
// change that arrives while the vCPU is inside uc_emu_start (which is when
// exit handlers run) is only recorded; the vCPU's per-instruction hook
// sees pending_sync(), stops the engine at the next instruction boundary,
// and the change is applied there, outside emulation. (So is a flush of
// Unicorn's translations that forget_written finds due.)
#pragma once

#include <unicorn/unicorn.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "core/emu/code_lines.h"
#include "core/vcpu/vm_backend.h"

namespace kvmrr::emu {

// Everything below this guest-physical address that no slot covers exits
// as MMIO; above it, an access without a slot ends the run as a fault.
// 64 GiB is far above any kvmrr layout (RAM continues at 4 GiB) and keeps
// the map small.
constexpr uint64_t kEmuPhysLimit = 64ull << 30;
// Unicorn's map is cut at these boundaries (the first MiB, where PAM and
// the legacy windows switch, a cell of its own; finer below 4 GiB, where
// the device windows and bank switching live): unmapping costs Unicorn a TLB
// flush per page and its translations of the range, so a change of the map
// must only ever replace bounded pieces of it, never a whole RAM slot or
// one huge gap. But every piece costs too: each map and unmap re-renders
// Unicorn's whole flat view, and closing the engine removes the pieces one
// by one, so n pieces cost n squared (300 pieces: about a tenth of a
// SeaBIOS boot's work). MMIO gaps above 16 MiB, which the guest's work
// rarely changes, are cut coarser than RAM: a change there replaces at
// most 256 MiB of gap below 4 GiB.
constexpr uint64_t kMapCellLowest = 1ull << 20;  // the first MiB; then one cell to 16 MiB
constexpr uint64_t kMapCellLow = 16ull << 20;    // below 4 GiB
constexpr uint64_t kMapCellHigh = 1ull << 30;
constexpr uint64_t kGapCellLow = 256ull << 20;   // gaps, 16 MiB to 4 GiB
constexpr uint64_t kGapCellHigh = 16ull << 30;   // gaps above 4 GiB

// The engine a guest needs: Legacy32 runs real mode and 32-bit protected
// mode and switches between them as the guest does (CR0.PE and far jumps);
// Long64 runs long mode. A UC_MODE_16 engine is not used: uc_emu_start
// truncates its start address to 16 bits, so it cannot resume 32-bit code.
// Unicorn opens a UC_MODE_32 engine in protected mode, and writing CR0 with
// uc_reg_write leaves its PE flag in place, so open() takes a Legacy32
// engine to real mode by running `mov cr0, eax; hlt` from a scratch page
// before any slot is mapped (see EmuEngine::open).
enum class CpuWidth : uint8_t { Legacy32, Long64 };

// Where accesses that become MMIO exits go (the vCPU). Called from inside
// uc_emu_start, in the vCPU's worker (a fiber in the thread that runs it).
class MmioSink {
public:
    virtual ~MmioSink() = default;
    virtual uint64_t mmio_read(uint64_t gpa, unsigned size) = 0;
    virtual void mmio_write(uint64_t gpa, unsigned size, uint64_t value) = 0;
    // The translations of code in [start, end) were forgotten while the
    // vCPU waited at an exit (EmuEngine::forget_written).
    virtual void code_forgotten(uint64_t start, uint64_t end) = 0;
};

// The dirty bits of one logging slot. Atomic words: the vCPU's write hook
// sets them while get_dirty_log may read and clear them.
struct DirtyBits {
    DirtyBits(uint64_t gpa, uint64_t pages);
    uint64_t gpa;
    uint64_t pages;
    std::unique_ptr<std::atomic<uint64_t>[]> words;
    size_t word_count() const { return (pages + 63) / 64; }
    void mark(uint64_t page) const {
        std::atomic<uint64_t>& w = words[page / 64];
        const uint64_t bit = 1ull << (page % 64);
        // Most writes are to a page already dirty: a load, not a locked or.
        if (!(w.load(std::memory_order_relaxed) & bit)) w.fetch_or(bit, std::memory_order_relaxed);
    }
};

struct EmuSlot {
    MemslotSpec spec;
    std::shared_ptr<DirtyBits> dirty;  // null unless the slot logs
};

class EmuEngine {
public:
    EmuEngine();
    ~EmuEngine();
    EmuEngine(const EmuEngine&) = delete;
    EmuEngine& operator=(const EmuEngine&) = delete;

    uc_engine* uc() const { return uc_; }
    CpuWidth width() const { return width_; }
    // Replaces the engine with a fresh one of width `w` and the same map
    // (also of the same width: a reset to real mode needs a fresh engine).
    // The caller (the vCPU, not emulating) adds its hooks again.
    void reopen(CpuWidth w);

    // The memory side: the slots are now `slots` (ascending by address).
    // Applied when the map is next needed: when the guest next runs (if it
    // runs now, at its next instruction boundary) or settle() is called. A
    // machine's slots come one at a time (each memslot of a commit, each
    // of a teardown), and each application costs Unicorn a rebuild of its
    // whole map per piece, so a burst of changes is applied once.
    void set_slots(std::vector<EmuSlot> slots);
    // Applies what is pending unless a vCPU is emulating: before the
    // engine's memory or descriptor tables are read or written from
    // outside emulation. Throws kvmrr::Error if Unicorn refuses a map.
    void settle();

    // The vCPU side.
    void set_sink(MmioSink* sink) { sink_ = sink; }
    MmioSink* sink() const { return sink_; }
    bool pending_sync() const { return pending_.load(std::memory_order_acquire); }
    // Around every uc_emu_start: applies what is pending (throwing as
    // settle() does), then marks the engine busy so that later changes
    // wait for the next boundary.
    void begin_emulation();
    void end_emulation();
    // Called by the vCPU's write hook for every guest write.
    // Inline for the common case: within one page of the slot of the write
    // before.
    void mark_written(uint64_t gpa, unsigned size) const {
        const DirtyBits* d = last_dirty_;
        if (d && gpa >= d->gpa && gpa + size <= d->gpa + d->pages * 4096 && ((gpa ^ (gpa + size - 1)) >> 12) == 0)
            [[likely]] {
            d->mark((gpa - d->gpa) >> 12);
            return;
        }
        mark_written_elsewhere(gpa, size);
    }
    // Called by the vCPU's block hook for every translated block run: its
    // bytes, [linear, linear + size), or with size 0 (not known) its page
    // and the next. Linear addresses stand for physical ones, as they do
    // for Unicorn 2.0.1 itself (docs/ACCELERATORS.md: its "paddr = vaddr").
    void note_block(uint64_t linear, uint32_t size) {
        if (size) {
            code_.note_block(linear, linear + size);
        } else {
            code_.note_block(linear & ~0xfffull, (linear & ~0xfffull) + 0x2000);
        }
    }

    // Stores by hook (see "Stores to RAM" above).
    bool stores_by_hook() const { return ram_by_hook_; }
    // From the vCPU's instruction hook, which then stops the engine: the
    // guest is about to turn paging on, so Unicorn's own stores from the
    // next uc_emu_start on.
    void end_stores_by_hook() { hook_allowed_ = false; }
    enum class Store : uint8_t {
        Done,     // stored in RAM
        Code,     // stored over translated code: the blocks on the store's
                  // lines (stored_lines_start/end) are forgotten
        Partial,  // starts in RAM but does not end in the same mapping:
                  // Unicorn goes on a byte at a time, each byte a store
        NotRam,   // not RAM (a read-only slot): the caller's to handle
    };
    static uint64_t stored_lines_start(uint64_t gpa) { return gpa & ~uint64_t{63}; }
    static uint64_t stored_lines_end(uint64_t gpa, uint64_t size) { return (gpa + size + 63) & ~uint64_t{63}; }
    // The guest's store of `size` bytes of `value` at `gpa`, from the
    // vCPU's write-protect hook. Inline for the common case: a store to
    // the RAM mapping of the store before, away from code.
    Store store_ram(uint64_t gpa, unsigned size, uint64_t value) {
        if (gpa >= store_in_.start && gpa + size <= store_in_.end) [[likely]] {
            auto* p = reinterpret_cast<uint8_t*>(store_in_.host + (gpa - store_in_.start));
            switch (size) {  // x86: little-endian, as the guest's
                case 1: *p = static_cast<uint8_t>(value); break;
                case 2: std::memcpy(p, &value, 2); break;
                case 4: std::memcpy(p, &value, 4); break;
                default: std::memcpy(p, &value, size < 8 ? size : 8); break;
            }
            return code_.any(gpa, gpa + size) && forget_written(gpa, size) ? Store::Code : Store::Done;
        }
        return store_ram_elsewhere(gpa, size, value);
    }
    // What the emulator writes into guest-physical memory itself (outside
    // emulation): into RAM's host memory, forgetting the code there
    // (forget_written), or through uc_mem_write where that is not one RAM
    // mapping. False where Unicorn refuses.
    bool write_physical(uint64_t gpa, const void* data, size_t n);
    // Guest RAM [gpa, gpa + n) was written behind Unicorn's back (a
    // device's DMA into the slot's host memory; Unicorn 2.0.1's own
    // uc_mem_write does not forget translations either): the translations
    // of code there are forgotten, as for a store over code. Whether any
    // may have been (the caller then stops the vCPU at its next boundary
    // if the block it runs meets the range). From the thread that runs the
    // vCPU, while it waits at an exit, or when it does not run.
    bool forget_written(uint64_t gpa, uint64_t n);

    bool logging() const { return !applied_dirty_.empty(); }
    // The host memory behind guest-physical [gpa, gpa + n) when one RAM or
    // ROM mapping (with `ram_only`, one RAM mapping) holds all of it, else
    // null. For the vCPU's worker, while the map cannot change.
    const uint8_t* host_bytes(uint64_t gpa, size_t n, bool ram_only = false) const {
        if (gpa >= code_in_.start && gpa + n <= code_in_.end && (code_in_.ram || !ram_only)) [[likely]]
            return reinterpret_cast<const uint8_t*>(code_in_.host + (gpa - code_in_.start));
        return host_bytes_elsewhere(gpa, n, ram_only);
    }

    struct Area;     // user data of one MMIO area's callbacks
    struct Mapping;  // one range as Unicorn has it

private:
    void open(CpuWidth w);
    void enter_real_mode();
    void sync_locked();
    void forget_translations(uint64_t start, uint64_t end);
    // Whether stores to RAM should go by hook now; reads CR0.
    bool want_stores_by_hook();
    // Maps every RAM mapping read-only (by_hook) or writable.
    void protect_ram(bool by_hook);
    // The RAM or ROM mapping that holds all of [gpa, gpa + n), or null.
    const Mapping* hosted(uint64_t gpa, size_t n) const;
    void mark_written_elsewhere(uint64_t gpa, unsigned size) const;
    const uint8_t* host_bytes_elsewhere(uint64_t gpa, size_t n, bool ram_only) const;
    Store store_ram_elsewhere(uint64_t gpa, unsigned size, uint64_t value);

    uc_engine* uc_ = nullptr;
    CpuWidth width_ = CpuWidth::Long64;
    MmioSink* sink_ = nullptr;

    // For changes made from another thread than the one running the vCPU.
    std::mutex mu_;
    bool emulating_ = false;
    std::atomic<bool> pending_{false};
    std::vector<EmuSlot> desired_;
    std::vector<std::unique_ptr<Mapping>> applied_;
    std::vector<const Mapping*> hosted_;  // the RAM and ROM ones, by address
    // The last finds of host_bytes (any mapping) and of the stores (RAM
    // only), for the inline paths; emptied with the map.
    struct HostRange {
        uint64_t start = 1, end = 0;  // empty
        uint64_t host = 0;
        bool ram = false;
    };
    mutable HostRange code_in_;
    HostRange store_in_;
    bool ram_by_hook_ = false;   // RAM is mapped read-only: stores by hook
    bool hook_allowed_ = true;   // until paging is seen; reset by reopen
    // Read by mark_written while emulating; changed only in sync_locked,
    // which never runs while emulating.
    std::vector<std::shared_ptr<DirtyBits>> applied_dirty_;
    mutable const DirtyBits* last_dirty_ = nullptr;  // mark_written's last find, reset with them

    // Unicorn keeps translated code across map changes, so code that ran
    // from a mapping must be forgotten with it; but a full flush costs
    // Unicorn a memset of its whole code buffer (tens of milliseconds), and
    // most changes (PAM segments, bank switches, a map built before
    // anything ran) are nowhere near code. Written by the vCPU's hook while
    // emulating, read and cleared in sync_locked, which never runs then.
    bool ran_since_flush_ = false;
    CodeLines code_;
    // Translations forgotten by forget_written since the last full flush
    // (begin_emulation flushes after kForgetsPerFlush: some hundreds of
    // MiB of Unicorn's 1 GiB buffer when each forgotten block is large).
    static constexpr unsigned kForgetsPerFlush = 2048;
    unsigned forgets_since_flush_ = 0;
};

// uc_err as words, for error messages.
std::string uc_error_text(uc_err e);

}  // namespace kvmrr::emu
