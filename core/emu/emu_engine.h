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
// Unicorn must not change its map while a guest access is in flight: a
// MemoryRegion unmapped from inside its own callback is freed while QEMU's
// dispatch code still reads it, and a TLB entry made before the change
// would index the new dispatch table with an old section number. So a
// change that arrives while the vCPU is inside uc_emu_start (which is when
// exit handlers run) is only recorded; the vCPU's per-instruction hook
// sees pending_sync(), stops the engine at the next instruction boundary,
// and the change is applied there, outside emulation.
#pragma once

#include <unicorn/unicorn.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "core/vcpu/vm_backend.h"

namespace kvmrr::emu {

// Everything below this guest-physical address that no slot covers exits
// as MMIO; above it, an access without a slot ends the run as a fault.
// 64 GiB is far above any kvmrr layout (RAM continues at 4 GiB) and keeps
// the map small.
constexpr uint64_t kEmuPhysLimit = 64ull << 30;
// Unicorn's map is cut at these boundaries (finest in the first 16 MiB,
// where PAM and the legacy windows switch, finer below 4 GiB, where the
// device windows and bank switching live): unmapping costs Unicorn a TLB
// flush per page and its translations of the range, so a change of the map
// must only ever replace bounded pieces of it, never a whole RAM slot or
// one huge gap. But every piece costs too: each map and unmap re-renders
// Unicorn's whole flat view, and closing the engine removes the pieces one
// by one, so n pieces cost n squared (300 pieces: about a tenth of a
// SeaBIOS boot's work). MMIO gaps above 16 MiB, which the guest's work
// rarely changes, are cut coarser than RAM: a change there replaces at
// most 256 MiB of gap below 4 GiB.
constexpr uint64_t kMapCellLowest = 1ull << 20;  // below 16 MiB
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
};

// The dirty bits of one logging slot. Atomic words: the vCPU's write hook
// sets them while get_dirty_log may read and clear them.
struct DirtyBits {
    DirtyBits(uint64_t gpa, uint64_t pages);
    uint64_t gpa;
    uint64_t pages;
    std::unique_ptr<std::atomic<uint64_t>[]> words;
    size_t word_count() const { return (pages + 63) / 64; }
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
    void mark_written(uint64_t gpa, unsigned size) const;
    // Called by the vCPU's instruction hook for every instruction: the
    // pages that may hold translated code (see flush_if_translated).
    void note_executed(uint64_t linear) {
        const uint64_t page = linear >> 12;
        if (page == last_exec_page_) return;
        last_exec_page_ = page;
        exec_pages_.insert(page);
    }
    bool logging() const { return !applied_dirty_.empty(); }
    // The host memory behind guest-physical [gpa, gpa + n) when one RAM or
    // ROM mapping (with `ram_only`, one RAM mapping) holds all of it, else
    // null. For the vCPU's worker, while the map cannot change.
    const uint8_t* host_bytes(uint64_t gpa, size_t n, bool ram_only = false) const;

    struct Area;     // user data of one MMIO area's callbacks
    struct Mapping;  // one range as Unicorn has it

private:
    void open(CpuWidth w);
    void enter_real_mode();
    void sync_locked();
    void forget_translations(uint64_t start, uint64_t end);

    uc_engine* uc_ = nullptr;
    CpuWidth width_ = CpuWidth::Long64;
    MmioSink* sink_ = nullptr;

    // For changes made from another thread than the one running the vCPU.
    std::mutex mu_;
    bool emulating_ = false;
    std::atomic<bool> pending_{false};
    std::vector<EmuSlot> desired_;
    std::vector<std::unique_ptr<Mapping>> applied_;
    mutable const Mapping* last_host_ = nullptr;  // host_bytes' last find, reset with the map
    // Read by mark_written while emulating; changed only in sync_locked,
    // which never runs while emulating.
    std::vector<std::shared_ptr<DirtyBits>> applied_dirty_;

    // Unicorn keeps translated code across map changes, so code that ran
    // from a mapping must be forgotten with it; but a full flush costs
    // Unicorn a memset of its whole code buffer (tens of milliseconds), and
    // most changes (PAM segments, bank switches, a map built before
    // anything ran) are nowhere near code. Written by the vCPU's hook while
    // emulating, read and cleared in sync_locked, which never runs then.
    bool ran_since_flush_ = false;
    uint64_t last_exec_page_ = ~0ull;
    std::unordered_set<uint64_t> exec_pages_;
};

// uc_err as words, for error messages.
std::string uc_error_text(uc_err e);

}  // namespace kvmrr::emu
