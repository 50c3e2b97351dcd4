// AddressSpace: a root region, its current FlatView, its listeners, and
// dispatch of guest accesses to whatever answers at an address.
//
// Dispatch takes an access of 1, 2, 4 or 8 bytes, splits it where it
// crosses from one flat range to the next, serves RAM and ROM pieces from
// host memory and I/O pieces through the region's ops (fitting the access
// to the region's AccessRules). Accesses that hit no region read as all
// ones and drop writes; accesses a device does not accept are rejected.
// Both are counted in stats() and passed to the fault handler, if any.
// Every store into RAM that dispatch makes is told to the listeners
// (MemoryListener::ram_written): no vCPU made it.
//
// The memory and the I/O space are distinct types (MemoryAddressSpace takes
// a Gpa, IoAddressSpace a PioAddr) over one implementation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/flat_view.h"
#include "core/memory_listener.h"

namespace kvmrr {

class MemoryRegion;
class MemorySystem;

enum class AccessStatus : uint8_t {
    Ok,
    Unassigned,  // no region (or a reservation) at the address
    Invalid,     // the region's AccessRules refuse this size or alignment
};
const char* access_status_name(AccessStatus s);

struct AccessResult {
    uint64_t value = 0;
    AccessStatus status = AccessStatus::Ok;
    // The region that answered: the one at the access's first byte (an
    // access split across ranges has more), a reservation where nothing
    // claimed the address, null where nothing is mapped at all. Callers
    // that name the region (the recorder, replay) take it from here rather
    // than looking the address up again.
    const MemoryRegion* region = nullptr;
};

struct DispatchStats {
    uint64_t reads = 0;
    uint64_t writes = 0;
    uint64_t unassigned_reads = 0;
    uint64_t unassigned_writes = 0;
    uint64_t invalid = 0;
    uint64_t rom_writes_dropped = 0;  // writes to ROM or a readonly range
};

struct FaultReport {
    const AddressSpace* as = nullptr;
    uint64_t addr = 0;  // of the piece that faulted
    unsigned size = 0;
    bool is_write = false;
    uint64_t value = 0;  // written value (writes only)
    AccessStatus status = AccessStatus::Ok;
};

class AddressSpace {
public:
    enum class Kind : uint8_t { Memory, Io };

    AddressSpace(const AddressSpace&) = delete;
    AddressSpace& operator=(const AddressSpace&) = delete;
    virtual ~AddressSpace();

    const std::string& name() const { return name_; }
    Kind kind() const { return kind_; }
    MemoryRegion& root() const { return *root_; }
    MemorySystem& system() const { return *sys_; }
    // The view as of the last commit. Holding the pointer keeps that view
    // (not the regions) alive across later commits.
    const std::shared_ptr<const FlatView>& view() const { return view_; }
    uint64_t render_count() const { return renders_; }
    // Of those, the renders that re-rendered only where the changes were.
    uint64_t partial_render_count() const { return partial_renders_; }

    // Listeners run in ascending priority (forward order), ties in
    // registration order. The new listener is told the current view.
    void add_listener(MemoryListener& l, int priority = 0);
    // Throws if `l` is not registered here.
    void remove_listener(MemoryListener& l);

    const DispatchStats& stats() const { return stats_; }
    void reset_stats() { stats_ = {}; }
    void set_fault_handler(std::function<void(const FaultReport&)> h) { on_fault_ = std::move(h); }

protected:
    AddressSpace(MemorySystem& sys, Kind kind, std::string name, MemoryRegion& root);

    AccessResult read_at(uint64_t addr, unsigned size);
    AccessResult write_at(uint64_t addr, uint64_t value, unsigned size);
    AccessStatus rw_bytes(uint64_t addr, uint8_t* buf, uint64_t len, bool is_write);
    AccessResult access_at(uint64_t addr, std::span<uint8_t> data, bool is_write);

private:
    friend class MemorySystem;
    struct ListenerEntry {
        MemoryListener* l;
        int priority;
        bool nops;  // l->wants_region_nop(), asked once, when it was added
    };

    // Re-renders and tells listeners what changed (called by the commit).
    // With `dirty`, only those intervals are rendered again (see
    // FlatView::rerender); the commit passes them when it knows where all
    // of the transaction's changes lie.
    void update_topology(const std::vector<AddrRange>* dirty = nullptr);
    MemoryRegionSection section(const FlatRange& fr);
    AccessStatus piece(const FlatRange* fr, uint64_t addr, uint8_t* buf, unsigned len, bool is_write);
    AccessStatus io_piece(const FlatRange& fr, uint64_t addr, uint8_t* buf, unsigned len, bool is_write);
    bool rejects_whole(const FlatRange* fr, uint64_t addr, unsigned size, bool is_write) const;
    RegionOps* single_call(const FlatRange* fr, uint64_t addr, unsigned size, bool is_write, uint64_t* off) const;
    void fault(uint64_t addr, unsigned size, bool is_write, const uint8_t* buf, AccessStatus st);

    MemorySystem* sys_;
    Kind kind_;
    std::string name_;
    MemoryRegion* root_;
    std::shared_ptr<const FlatView> view_;
    RenderScratch scratch_;  // kept between renders of this space
    std::vector<FlatView::CopiedRun> copied_;  // the last rerender's untouched runs, for the listener diff
    std::vector<ListenerEntry> listeners_;
    DispatchStats stats_;
    std::function<void(const FaultReport&)> on_fault_;
    uint64_t renders_ = 0;
    uint64_t partial_renders_ = 0;
};

template <class A>
class TypedAddressSpace final : public AddressSpace {
public:
    AccessResult read(A addr, unsigned size) { return read_at(addr.value, size); }
    AccessStatus write(A addr, uint64_t value, unsigned size) { return write_at(addr.value, value, size).status; }
    // One access as a vCPU makes it: `data` holds what is written, or
    // receives what is read. 1, 2, 4 or 8 bytes go through the region's
    // access rules as read() and write() do; any other length byte by
    // byte, as odd MMIO sizes need. The result names the region that
    // answered (value: what a read of up to 8 bytes returned).
    AccessResult access(A addr, std::span<uint8_t> data, bool is_write) { return access_at(addr.value, data, is_write); }
    // Any length, split at range boundaries; for DMA and string I/O.
    AccessStatus read_bytes(A addr, std::span<uint8_t> out) {
        return rw_bytes(addr.value, out.data(), out.size(), false);
    }
    AccessStatus write_bytes(A addr, std::span<const uint8_t> in) {
        return rw_bytes(addr.value, const_cast<uint8_t*>(in.data()), in.size(), true);
    }

private:
    friend class MemorySystem;
    using AddressSpace::AddressSpace;
};

using MemoryAddressSpace = TypedAddressSpace<Gpa>;
using IoAddressSpace = TypedAddressSpace<PioAddr>;

}  // namespace kvmrr
