// FlatView: a region tree rendered into sorted, non-overlapping ranges.
//
// Rendering walks the tree in priority order and lets each terminal region
// (anything but a container) claim the parts of its clipped range that no
// higher-priority region claimed first; a region's subregions are rendered
// before the region itself fills the gaps they leave. Aliases are re-based
// into their target; readonly and nonvolatile are inherited downward.
// Finally, neighbouring ranges of the same region with contiguous offsets
// and equal attributes are merged.
//
// The traversal does not resolve overlaps itself: each fill is recorded as
// a "paint" (its clipped interval, numbered in traversal order), and
// finish() sweeps the paints in address order with a min-heap on that
// number, so every point goes to the first paint that covers it. That is
// O(n log n) in the number of regions, and it works on flat arrays that are
// read in order, which matters once a tree outgrows the caches (the
// previous ordered-map design chased pointers there; bench/README.md §1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/address.h"
#include "core/memory_region.h"

namespace kvmrr {

struct FlatRange {
    AddrRange range = AddrRange::make(0, 1);  // in address-space coordinates
    MemoryRegion* mr = nullptr;               // terminal region that answers
    uint64_t offset_in_region = 0;            // of range.start() inside mr
    uint8_t dirty_log_mask = 0;
    bool romd_mode = false;
    bool readonly = false;
    bool nonvolatile = false;

    // Everything but the dirty-log mask, as QEMU's flatrange_equal: a change
    // of the mask alone is a log_start/log_stop, not a remove and add.
    bool same_mapping(const FlatRange& o) const {
        return range == o.range && mr == o.mr && offset_in_region == o.offset_in_region &&
               romd_mode == o.romd_mode && readonly == o.readonly && nonvolatile == o.nonvolatile;
    }
    bool operator==(const FlatRange& o) const { return same_mapping(o) && dirty_log_mask == o.dirty_log_mask; }
    // Host address of range.start() for RAM-backed ranges, else nullptr.
    uint8_t* host() const;
};

// One fill recorded by the traversal. Its index in RenderScratch::paints
// is its precedence (traversal order, lower wins). It carries everything
// the output range needs, so the sweep never goes back to the region
// objects.
struct RenderPaint {
    uint64_t start, end;       // clipped, in address-space coordinates
    uint64_t region_start;     // address of the region's offset 0, modulo 2^64
    const MemoryRegion* mr;    // nullptr: a pre-claimed range (see `existing`)
    uint32_t existing;         // index into RenderScratch::existing when mr is null
    uint8_t dirty_log_mask;
    bool romd_mode, readonly, nonvolatile;
};

// Memory a renderer can keep between renders: the paint and heap arrays
// keep their capacity instead of being returned to the system, and
// the size of the last view sizes the next output. An address space keeps
// one, so re-rendering a large tree does not fault in fresh pages every
// time (see bench/README.md).
struct RenderScratch {
    std::vector<RenderPaint> paints;  // in traversal order: a paint's index is its precedence
    std::vector<FlatRange> existing;
    struct Key {
        uint64_t start;
        uint32_t paint;  // index into `paints`
    };
    std::vector<Key> order, order_tmp;  // the paints by start address; room for sorting them
    struct Live {
        uint32_t paint;  // index into `paints`, i.e. its precedence
        uint64_t end;
    };
    std::vector<Live> heap;  // the paints covering the sweep's point, min-heap on precedence
    // Aliases of plain leaves met by the traversal: each holds a paint of
    // its own (in place, so precedence is as if rendered at once) that is
    // filled after the traversal, when the targets are read in a batch.
    struct DeferredAlias {
        __int128 target_start;  // where the target's offset 0 shows
        const MemoryRegion* target;
        uint64_t clip_start, clip_end;
        uint32_t paint;  // index into `paints`
        bool readonly, nonvolatile;
    };
    std::vector<DeferredAlias> deferred;
    size_t last_output = 0;
    size_t heap_sweeps = 0;    // times finish() dropped ended paints from its heap, over all renders
    size_t hidden_paints = 0;  // paints finish() dropped on arrival, hidden by the top, over all renders
};

// Builds a FlatView; exposed so that tests can pre-load claimed ranges and
// watch a render fill only the gaps.
class FlatViewBuilder {
public:
    // Without scratch, the builder allocates for itself.
    explicit FlatViewBuilder(RenderScratch* scratch = nullptr);
    // Claims `fr` as if a higher-priority region had rendered it already.
    // Pre-claimed ranges may not overlap each other and must all be added
    // before the first render(); both mistakes throw.
    void add_existing(const FlatRange& fr);
    // Renders `mr` positioned so that its offset 0 is at address `base`
    // (i.e. mr->addr() is ignored, as for the root), clipped to `clip`.
    void render(const MemoryRegion& mr, uint64_t base, const AddrRange& clip);
    // Sorted, merged ranges; the builder is spent afterwards.
    std::vector<FlatRange> finish(bool merge = true);

private:
    void render_region(const MemoryRegion& mr, __int128 base, uint64_t clip_start, uint64_t clip_end,
                       bool readonly, bool nonvolatile);
    void paint(const MemoryRegion* mr, uint64_t start, uint64_t end, uint64_t region_start, uint32_t existing,
               bool readonly, bool nonvolatile);
    RenderPaint& new_paint();
    void resolve_deferred_aliases();
    void emit(uint32_t paint, uint64_t start, uint64_t end);

    RenderScratch own_;  // used when there is no scratch
    RenderScratch& s_;
    bool rendered_ = false;
    uint32_t last_paint_ = UINT32_MAX;  // paint of out_.back(), for extending it
    std::vector<FlatRange> out_;
};

class FlatView {
public:
    // The empty view: one hole over the whole space.
    FlatView() : FlatView(std::vector<FlatRange>{}) {}
    explicit FlatView(std::vector<FlatRange> ranges);

    // Renders the tree at `root` (placed at address 0) clipped to its size.
    static std::shared_ptr<const FlatView> render(const MemoryRegion& root, RenderScratch* scratch = nullptr);
    // The view of `root` re-rendered only inside `dirty` (sorted, disjoint,
    // not touching): the ranges of `old` outside them are kept, cut at
    // their edges (and at the root's end, should it have shrunk), and
    // neighbours merged across the edges.
    // Equal to render(root) when `old` was a view of the same tree (made by
    // render or rerender, so that no two of its neighbours could merge:
    // runs of them are copied as they are) and every change since lies
    // inside `dirty`; a render clipped to a small interval visits only the
    // regions that meet it.
    // With `copied`, it is filled with the runs of `old` that went into the
    // new view as they were, so that a listener diff can skip them.
    struct CopiedRun {
        size_t old_first, new_first, count;  // old[old_first + k] == new[new_first + k]
    };
    static std::shared_ptr<const FlatView> rerender(const FlatView& old, const MemoryRegion& root,
                                                    const std::vector<AddrRange>& dirty,
                                                    RenderScratch* scratch = nullptr,
                                                    std::vector<CopiedRun>* copied = nullptr);

    const std::vector<FlatRange>& ranges() const { return ranges_; }
    size_t size() const { return ranges_.size(); }

    // The range containing `addr`, or nullptr in a hole. Branch-free binary
    // search over a dense array of starts (see dispatch_bench).
    const FlatRange* lookup(uint64_t addr) const {
        size_t i = slot_of(addr);
        const int32_t idx = slot_range_[i];
        return idx < 0 ? nullptr : &ranges_[static_cast<size_t>(idx)];
    }
    // End (exclusive) of the range or hole that contains `addr`.
    uint64_t piece_end(uint64_t addr) const {
        size_t i = slot_of(addr);
        return i + 1 < slot_start_.size() ? slot_start_[i + 1] : UINT64_MAX;
    }
    // Order-sensitive xxHash64 digest of the mapping (names, offsets,
    // attributes), stable across runs: traces store it after each commit.
    uint64_t digest() const;
    bool operator==(const FlatView& o) const { return ranges_ == o.ranges_; }

private:
    size_t slot_of(uint64_t addr) const {
        // Largest i with slot_start_[i] <= addr; slot_start_[0] == 0.
        const uint64_t* base = slot_start_.data();
        size_t n = slot_start_.size();
        while (n > 1) {
            size_t half = n / 2;
            base = (base[half] <= addr) ? base + half : base;
            n -= half;
        }
        return static_cast<size_t>(base - slot_start_.data());
    }

    std::vector<FlatRange> ranges_;
    // Dispatch table: the ranges and the holes between them, so that every
    // address has exactly one slot.
    std::vector<uint64_t> slot_start_;
    std::vector<int32_t> slot_range_;  // index into ranges_, -1 for a hole
};

}  // namespace kvmrr
