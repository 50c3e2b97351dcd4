// MemoryListener: how the rest of the VMM learns about topology changes.
//
// After every commit that changed an address space's flat view, its
// listeners see begin(), then the difference between the old and the new
// view as region_del (first pass, listeners in reverse order) and
// region_add / region_nop (second pass, forward order), with log_stop /
// log_start where only the dirty-log mask of a range changed, then commit().
// Removals come first so that a KVM memslot can be deleted before an
// overlapping one takes its place. A listener added late is told the
// current view as additions, so it needs no special start-up path.
// region_nop goes only to listeners that want it (wants_region_nop()).
// Listeners also hear of RAM written other than by a vCPU (ram_written).
#pragma once

#include <cstdint>

#include "core/address.h"

namespace kvmrr {

class AddressSpace;
class MemoryRegion;

// A piece of a region as mapped into an address space (one flat range).
struct MemoryRegionSection {
    AddressSpace* as = nullptr;
    MemoryRegion* mr = nullptr;
    AddrRange range = AddrRange::make(0, 1);  // address-space coordinates
    uint64_t offset_within_region = 0;
    uint8_t dirty_log_mask = 0;
    bool readonly = false;
    bool nonvolatile = false;
    bool romd_mode = false;
};

class MemoryListener {
public:
    virtual ~MemoryListener() = default;
    virtual void begin() {}
    virtual void commit() {}
    virtual void region_add(const MemoryRegionSection&) {}
    virtual void region_del(const MemoryRegionSection&) {}
    virtual void region_nop(const MemoryRegionSection&) {}
    // A listener that has no use for region_nop says so here (asked once,
    // when it is added to an address space): a commit that changed a few
    // ranges of a large view then tells it about those alone instead of
    // walking every range it left as it was. While any listener of an
    // address space wants them, all of its ranges are walked (and only
    // those that want them are called).
    virtual bool wants_region_nop() const { return true; }
    virtual void log_start(const MemoryRegionSection&, uint8_t /*old_mask*/, uint8_t /*new_mask*/) {}
    virtual void log_stop(const MemoryRegionSection&, uint8_t /*old_mask*/, uint8_t /*new_mask*/) {}
    // Bytes of RAM written through the address space's dispatch, [addr,
    // addr + len) in its coordinates: a device's DMA, string I/O, an access
    // the VMM served from RAM at an exit. No vCPU made these stores, so
    // KVM's dirty log never sees them and an emulator's translated code
    // does not notice them (QEMU's address_space_write marks such pages
    // dirty and invalidates their translated blocks for the same reason).
    virtual void ram_written(uint64_t /*addr*/, uint64_t /*len*/) {}
};

}  // namespace kvmrr
