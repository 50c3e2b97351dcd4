// MemorySystem: owns one machine's regions, RAM blocks and address spaces,
// and runs transactions over them.
//
// Everything QEMU keeps in globals (the transaction depth, the list of
// address spaces, the pending-update flag) lives here, so several machines
// can exist in one process. Regions are owned by the system and stay at a
// stable address until destroy().
//
// Transactions nest; changes made inside one are rendered once, at the
// outermost commit, and only for the address spaces whose tree (including
// trees reached through aliases) actually changed.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/address_space.h"
#include "core/memory_region.h"
#include "core/ram_block.h"
#include "core/region_ops.h"

// Built with AddressSanitizer (gcc says so one way, clang another)?
#if defined(__SANITIZE_ADDRESS__)
#define KVMRR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KVMRR_ASAN 1
#endif
#endif

namespace kvmrr {

// Where a MemorySystem's regions live: each region takes a 64-byte slot
// for the MemoryRegion object (what rendering reads) and a slot for its
// Cold part, in large chunks whose first part holds the objects side by
// side and whose second the cold parts; slots are handed out in creation
// order (freed ones are reused). A tree built top-down then renders from a
// few contiguous blocks of 64 bytes a region instead of lines spread over
// the heap (bench/README.md §1). The regions' child arrays come from the
// pool too, for the same reason. Under AddressSanitizer a slot that holds
// no region is poisoned, so a use after destroy() is still reported.
class RegionPool {
public:
    // A region's two parts: the line the renderer reads, and the rest.
    struct Slot {
        void* hot;
        void* cold;
    };
    RegionPool() = default;
    ~RegionPool();
    RegionPool(const RegionPool&) = delete;
    RegionPool& operator=(const RegionPool&) = delete;
    Slot allocate();
    void release(Slot slot);
    // Room for 2^cls pointers (cls >= 1), for a region's child array.
    MemoryRegion** allocate_kids(unsigned cls);
    void release_kids(MemoryRegion** kids, unsigned cls);
#ifdef KVMRR_ASAN
    static constexpr bool kPoisonsFreeSlots = true;
#else
    static constexpr bool kPoisonsFreeSlots = false;
#endif

private:
    static constexpr size_t kAlign = 64;
    static constexpr size_t kHot = kAlign;
    static_assert(sizeof(MemoryRegion) <= kHot, "a region's rendered part must fit one cache line");
    static constexpr size_t kCold = (sizeof(MemoryRegion::Cold) + kAlign - 1) / kAlign * kAlign;
    static constexpr size_t kPerChunk = 512;
    // A chunk holds kPerChunk hot slots, then as many cold ones.
    static constexpr size_t kChunk = kPerChunk * (kHot + kCold);
    struct ChunkFree {
        void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{kAlign}); }
    };
    std::vector<std::unique_ptr<std::byte[], ChunkFree>> chunks_;
    size_t used_ = kPerChunk;  // slots handed out from the last chunk
    std::vector<Slot> free_;
    // Child arrays: carved in creation order from chunks of kKidsChunk
    // pointers, so that the arrays of a tree built top-down lie side by
    // side (a render reads them in about that order) instead of taking a
    // heap block, and a line, each. Freed arrays are kept by size class.
    // Arrays wider than a quarter chunk get blocks of their own.
    static constexpr size_t kKidsChunk = 8192;
    std::vector<std::unique_ptr<MemoryRegion*[]>> kid_blocks_;
    MemoryRegion** kids_chunk_ = nullptr;  // the chunk arrays are carved from
    size_t kids_used_ = kKidsChunk;
    std::vector<std::vector<MemoryRegion**>> kids_free_;  // by size class
};

// Destroys a region and gives its slots back to the pool they came from.
struct RegionDeleter {
    RegionPool* pool;
    void operator()(MemoryRegion* mr) const {
        void* cold = mr->cold_slot();
        mr->~MemoryRegion();
        pool->release({mr, cold});
    }
};
using RegionPtr = std::unique_ptr<MemoryRegion, RegionDeleter>;

class MemorySystem {
public:
    MemorySystem();
    ~MemorySystem();
    MemorySystem(const MemorySystem&) = delete;
    MemorySystem& operator=(const MemorySystem&) = delete;

    MemoryRegion& create_container(std::string name, uint64_t size);
    // Allocates a new RamBlock of `size` bytes. Throws on zero size.
    MemoryRegion& create_ram(std::string name, uint64_t size);
    // A ROM: RAM-backed, readonly to the guest; the host fills it through
    // ram_block()->host().
    MemoryRegion& create_rom(std::string name, uint64_t size);
    // A ROM device: RAM-backed reads in romd mode (the default), `ops`
    // for writes always and for reads when romd mode is off.
    MemoryRegion& create_rom_device(std::string name, uint64_t size, RegionOps& ops, AccessRules rules = {});
    MemoryRegion& create_io(std::string name, uint64_t size, RegionOps& ops, AccessRules rules = {});
    MemoryRegion& create_alias(std::string name, MemoryRegion& target, uint64_t offset, uint64_t size);
    MemoryRegion& create_reservation(std::string name, uint64_t size);
    // Frees a region that has no parent, no subregions, is no alias's
    // target and no address space's root; throws otherwise. Inside a
    // transaction the memory is released at the outermost commit, after the
    // views that still show the region have been re-rendered.
    void destroy(MemoryRegion& mr);

    MemoryAddressSpace& create_memory_space(std::string name, MemoryRegion& root);
    IoAddressSpace& create_io_space(std::string name, MemoryRegion& root);
    const std::vector<std::unique_ptr<AddressSpace>>& address_spaces() const { return spaces_; }
    const std::vector<std::unique_ptr<RamBlock>>& ram_blocks() const { return blocks_; }
    size_t region_count() const { return regions_.size(); }

    void begin();
    // Throws if there is no open transaction.
    void commit();
    int transaction_depth() const { return depth_; }

    // Called by regions: records that `mr` changed in a way that can change
    // the rendering of every tree that contains it, directly or by alias,
    // and that what changed lies within `where` (by default `mr` itself;
    // a parent that gains or loses a child passes the child).
    void region_changed(MemoryRegion& mr, const MemoryRegion* where = nullptr);
    // Called by regions about to change their extent (move, resize): notes
    // where `mr` is now, which the commit must re-render too.
    void note_extent(const MemoryRegion& mr);

private:
    RegionPtr make_region(MemoryRegion::Kind kind, std::string name, uint64_t size);
    MemoryRegion& adopt(RegionPtr mr);
    void validate_name(const std::string& name) const;
    template <class AS>
    AS& add_space(AddressSpace::Kind kind, std::string name, MemoryRegion& root);

    RegionPool pool_;  // first: it must outlive every region below
    std::vector<RegionPtr> regions_;
    std::vector<std::unique_ptr<RamBlock>> blocks_;
    std::vector<std::unique_ptr<AddressSpace>> spaces_;
    struct Grave {
        RegionPtr region;
        std::unique_ptr<RamBlock> block;
    };
    std::vector<Grave> graveyard_;  // destroyed inside a transaction, freed at commit
    int depth_ = 0;
    uint64_t epoch_ = 1;      // stamp for change propagation (regions start at 0)
    uint64_t next_seq_ = 1;   // insertion order of subregions
    uint64_t next_serial_ = 1;  // MemoryRegion::serial() of the next region made
    uint32_t next_block_ = 0; // RAM block ids: creation order, never reused
    bool pending_ = false;
    // Where this transaction's changes lie, so that a commit re-renders
    // only those intervals of a view (FlatView::rerender): the extent of
    // each changed region in the coordinates of the top of its parent
    // chain, before and after the change, and the same for every place an
    // alias shows it (an alias of the region or of one of its ancestors,
    // and so on). When the list grows long, `extents_unknown_` asks for
    // full renders instead.
    struct Extent {
        const MemoryRegion* top;
        uint64_t start, end;
    };
    std::vector<Extent> extents_;
    bool extents_unknown_ = false;
    static constexpr size_t kMaxExtents = 64;
    std::vector<AddrRange> dirty_of(const MemoryRegion& root) const;
    friend class MemoryRegion;
};

// RAII transaction: begin() on construction; commit() ends it, and may
// throw (a listener refusing the new view: KVM out of memslots, say). A
// scope left without commit(), by an exception, still closes the
// transaction on destruction (the tree must not stay half-open), but a
// second error from that commit is not thrown over the first one; a
// destructor never throws.
class Transaction {
public:
    explicit Transaction(MemorySystem& sys) : sys_(sys) { sys_.begin(); }
    ~Transaction() {
        if (done_) return;
        try {
            sys_.commit();
        } catch (...) {
        }
    }
    void commit() {
        done_ = true;
        sys_.commit();
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

private:
    MemorySystem& sys_;
    bool done_ = false;
};

}  // namespace kvmrr
