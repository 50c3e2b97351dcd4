// MemslotListener: keeps a VM's KVM memslots equal to what a FlatView says.
//
// RAM and ROM ranges, and ROM devices in romd mode, become memslots (ROM
// and readonly ranges with KVM_MEM_READONLY, so guest writes exit to the
// VMM and are dropped there); I/O ranges, reservations and romd devices out
// of romd mode get no slot, so every access to them exits. A range is
// trimmed to whole pages (what KVM can map); the unaligned edges are left
// unmapped and reach the VMM as MMIO, where dispatch serves them from the
// same memory. Dirty logging is on for a slot while its range's dirty-log
// mask is non-zero or global logging is on. Before a logging slot is
// deleted or stops logging, its bitmap is harvested one last time, so no
// dirty page is lost to a topology change. A full slot table is an error
// naming the range that did not fit. RAM written through dispatch rather
// than by the vCPU (DMA: ram_written) is dirty in the next harvest of a
// logging slot as the vCPU's writes are, which the VM's own log would
// miss, and the VM is told of it (VmBackend::memory_written).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/vcpu/dirty_log.h"
#include "core/vcpu/vm_backend.h"
#include "core/memory_listener.h"

namespace kvmrr {

class MemslotListener final : public MemoryListener {
public:
    struct Slot {
        MemslotSpec spec;
        const MemoryRegion* mr = nullptr;
        uint64_t offset_in_region = 0;  // of spec.guest_phys
        DirtyBitmap bitmap;             // reused by every harvest of this slot
        // Pages written through dispatch since the last harvest (empty
        // until the first), as bitmap's words.
        std::vector<uint64_t> vmm_written;
    };

    explicit MemslotListener(VmBackend& vm, DirtySink sink = {});

    enum class Change : uint8_t { Add, Delete, Flags };
    // Told of every slot change after the VM accepted it (the recorder).
    using Observer = std::function<void(Change, const Slot&)>;
    void set_observer(Observer obs) { observer_ = std::move(obs); }
    void set_dirty_sink(DirtySink sink) { sink_ = std::move(sink); }

    // Logging of every slot, whatever the regions ask (the recorder and
    // dirty-page analysis turn this on). Harvests slots that stop logging.
    void set_global_dirty_log(bool on);
    bool global_dirty_log() const { return global_log_; }
    // Whether RAM written through dispatch is dirty (on unless turned off:
    // a replay of a trace recorded before dirty logs held such pages).
    void set_vmm_writes_dirty(bool on) { vmm_writes_dirty_ = on; }
    // Reads (and, with manual protection, clears) the bitmap of every
    // logging slot and passes each to the sink.
    void harvest();

    // Current slots, ascending by guest address.
    std::vector<MemslotSpec> table() const;
    const std::map<uint64_t, Slot>& slots() const { return slots_; }
    uint64_t slot_changes() const { return changes_; }

    void region_add(const MemoryRegionSection& s) override;
    void region_del(const MemoryRegionSection& s) override;
    void log_start(const MemoryRegionSection& s, uint8_t old_mask, uint8_t new_mask) override;
    void log_stop(const MemoryRegionSection& s, uint8_t old_mask, uint8_t new_mask) override;
    void ram_written(uint64_t addr, uint64_t len) override;
    bool wants_region_nop() const override { return false; }  // an unchanged range keeps its slot

private:
    struct Mapping {
        uint64_t gpa;
        uint64_t size;
        uint64_t host;
        uint64_t offset_in_region;
    };
    // The page-aligned part of a section that can be a slot, if any.
    static bool slot_for(const MemoryRegionSection& s, Mapping& out);
    uint32_t flags_for(const MemoryRegionSection& s) const;
    uint32_t free_slot(const MemoryRegionSection& s) const;
    Slot* find(const MemoryRegionSection& s);
    void harvest_slot(Slot& slot);
    void update_flags(Slot& slot, uint32_t flags);

    VmBackend* vm_;
    DirtySink sink_;
    Observer observer_;
    bool global_log_ = false;
    bool vmm_writes_dirty_ = true;
    std::map<uint64_t, Slot> slots_;  // by guest address
    std::vector<bool> used_;          // by slot id
    uint64_t changes_ = 0;
};

}  // namespace kvmrr
