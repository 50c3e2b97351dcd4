#include "core/flat_view.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <bit>

#include "core/error.h"
#include "core/ram_block.h"

namespace kvmrr {

uint8_t* FlatRange::host() const {
    if (!mr || !mr->ram_block()) return nullptr;
    return mr->ram_block()->host() + mr->ram_offset() + offset_in_region;
}

namespace {

// Appends the part [start, end) of `src`'s mapping to `out`, written field
// by field into place (see fill_paint() for why).
void append_piece(std::vector<FlatRange>& out, const FlatRange& src, uint64_t start, uint64_t end) {
    FlatRange& fr = out.emplace_back();
    fr.range = AddrRange::make(start, end - start);
    fr.mr = src.mr;
    fr.offset_in_region = src.offset_in_region + (start - src.range.start());
    fr.dirty_log_mask = src.dirty_log_mask;
    fr.romd_mode = src.romd_mode;
    fr.readonly = src.readonly;
    fr.nonvolatile = src.nonvolatile;
}

// Fills a paint in place, field by field: a temporary built on the stack
// and then copied made gcc store its small fields one by one and reload
// them 8 or 16 bytes at a time, a store-forwarding stall per paint.
void fill_paint(RenderPaint& p, const MemoryRegion* mr, uint64_t start, uint64_t end, uint64_t region_start,
                uint32_t existing, bool readonly, bool nonvolatile) {
    p.start = start;
    p.end = end;
    p.region_start = region_start;
    p.mr = mr;
    p.existing = existing;
    p.dirty_log_mask = mr ? mr->dirty_log_mask() : 0;
    p.romd_mode = mr && mr->kind() == MemoryRegion::Kind::RomDevice && mr->romd_mode();
    p.readonly = readonly;
    p.nonvolatile = nonvolatile;
}

}  // namespace

FlatViewBuilder::FlatViewBuilder(RenderScratch* scratch) : s_(scratch ? *scratch : own_) {
    s_.paints.clear();
    s_.existing.clear();
    s_.deferred.clear();
    out_.reserve(s_.last_output + s_.last_output / 4 + 16);
}

void FlatViewBuilder::add_existing(const FlatRange& fr) {
    if (rendered_) throw Error("add_existing: " + fr.range.to_string() + " added after a render");
    for (const FlatRange& e : s_.existing)
        if (e.range.start() < fr.range.end() && fr.range.start() < e.range.end())
            throw Error("add_existing: " + fr.range.to_string() + " overlaps a claimed range");
    paint(nullptr, fr.range.start(), fr.range.end(), 0, static_cast<uint32_t>(s_.existing.size()), false, false);
    s_.existing.push_back(fr);
}

void FlatViewBuilder::render(const MemoryRegion& mr, uint64_t base, const AddrRange& clip) {
    rendered_ = true;
    // The root's own address is ignored: render_region adds mr.addr(), so
    // start from base - addr.
    render_region(mr, static_cast<__int128>(base) - static_cast<__int128>(mr.addr()), clip.start(), clip.end(),
                  false, false);
    resolve_deferred_aliases();
}

// `base` is where offset 0 of mr's parent sits, in address-space
// coordinates. With aliases it can lie below 0 or far above 2^64, hence
// 128 bits; the clip is always inside the 64-bit space.
void FlatViewBuilder::render_region(const MemoryRegion& mr, __int128 base, uint64_t clip_start, uint64_t clip_end,
                                    bool readonly, bool nonvolatile) {
    if (!mr.enabled()) return;
    const __int128 start = base + mr.addr();
    const __int128 end = start + mr.size();
    const __int128 lo = std::max<__int128>(start, clip_start);
    const __int128 hi = std::min<__int128>(end, clip_end);
    if (lo >= hi) return;
    const auto cs = static_cast<uint64_t>(lo);
    const auto ce = static_cast<uint64_t>(hi);
    readonly |= mr.readonly();
    nonvolatile |= mr.nonvolatile();

    if (const MemoryRegion* target = mr.alias_target()) {
        // Offset alias_offset of the target shows at `start`.
        const __int128 target_start = start - static_cast<__int128>(mr.alias_offset());
        if (mr.alias_shows_a_leaf()) {
            // Aliases point anywhere in the tree, so reading the target
            // now would stall the traversal on a miss (a quarter of its
            // time at 100,000 regions). The alias's paint takes its place
            // in the order now, empty, and is filled after the traversal.
            const auto idx = static_cast<uint32_t>(s_.paints.size());
            fill_paint(new_paint(), nullptr, 0, 0, 0, 0, false, false);
            s_.deferred.push_back({target_start, target, cs, ce, idx, readonly, nonvolatile});
            return;
        }
        // The target's own addr() is cancelled: render_region adds it back.
        render_region(*target, target_start - target->addr(), cs, ce, readonly, nonvolatile);
        return;
    }
    const std::span<MemoryRegion* const> kids = mr.subregions_ascending();
    // In a tree larger than the cache, the first touch of each child is a
    // miss; asking for all of them up front overlaps those misses.
    for (const MemoryRegion* child : kids) __builtin_prefetch(child);
    for (auto it = kids.rbegin(); it != kids.rend(); ++it) {  // highest priority first
        // A pipeline of prefetches a step apart, so that each miss has a
        // sibling's render to hide behind: the lines of the next child's
        // children (its array was asked for a step ago), and the child
        // array and alias target of the one after (its line was asked for
        // with all of this region's children, above).
        if (it + 1 != kids.rend()) {
            const MemoryRegion& next = **(it + 1);
            for (const MemoryRegion* g : next.subregions_ascending()) __builtin_prefetch(g);
            if (it + 2 != kids.rend()) {
                const MemoryRegion& after = **(it + 2);
                __builtin_prefetch(after.subregions_ascending().data());
                // (An alias of a plain leaf reads its target later.)
                __builtin_prefetch(after.alias_shows_a_leaf() ? nullptr : after.alias_target());
            }
        }
        render_region(**it, start, cs, ce, readonly, nonvolatile);
    }
    // The region fills after its subregions, so they win where they are.
    // Offsets are kept modulo 2^64: any point of the paint minus
    // region_start wraps to the true (in-range) offset.
    if (mr.kind() != MemoryRegion::Kind::Container)
        paint(&mr, cs, ce, static_cast<uint64_t>(start), 0, readonly, nonvolatile);
}

RenderPaint& FlatViewBuilder::new_paint() {
    if (s_.paints.size() >= UINT32_MAX) throw Error("render: more than 2^32 - 1 ranges to paint");
    return s_.paints.emplace_back();
}

void FlatViewBuilder::paint(const MemoryRegion* mr, uint64_t start, uint64_t end, uint64_t region_start,
                            uint32_t existing, bool readonly, bool nonvolatile) {
    fill_paint(new_paint(), mr, start, end, region_start, existing, readonly, nonvolatile);
}

// Does for each deferred alias what render_region would have done for its
// target (a terminal without subregions): clip, inherit, one paint. The
// targets are read in a batch, prefetched a few entries ahead, so their
// misses overlap instead of each stalling the traversal. A target that is
// disabled or clipped away leaves its paint empty; finish() skips those.
void FlatViewBuilder::resolve_deferred_aliases() {
    constexpr size_t kAhead = 8;
    const auto& d = s_.deferred;
    for (size_t i = 0; i < d.size(); ++i) {
        if (i + kAhead < d.size()) __builtin_prefetch(d[i + kAhead].target);
        const RenderScratch::DeferredAlias& a = d[i];
        const MemoryRegion& t = *a.target;
        // render_region's clip, written out again: sharing one helper cost
        // ~5 % of a 10,000-region render under a 4 GiB root (gcc 12).
        if (!t.enabled()) continue;
        const __int128 lo = std::max<__int128>(a.target_start, a.clip_start);
        const __int128 hi = std::min<__int128>(a.target_start + t.size(), a.clip_end);
        if (lo >= hi) continue;
        fill_paint(s_.paints[a.paint], &t, static_cast<uint64_t>(lo), static_cast<uint64_t>(hi),
                   static_cast<uint64_t>(a.target_start), 0, a.readonly || t.readonly(),
                   a.nonvolatile || t.nonvolatile());
    }
    s_.deferred.clear();
}

// Gives [start, end) to `paint`, extending the last range when it is the
// same paint's and touches (a paint is only split where a losing paint
// began, and that split must not show).
void FlatViewBuilder::emit(uint32_t paint, uint64_t start, uint64_t end) {
    if (paint == last_paint_ && out_.back().range.end() == start) {
        FlatRange& last = out_.back();
        last.range = AddrRange::make(last.range.start(), end - last.range.start());
        return;
    }
    last_paint_ = paint;
    const RenderPaint& p = s_.paints[paint];
    if (!p.mr) {
        append_piece(out_, s_.existing[p.existing], start, end);
        return;
    }
    // In place, for the reason given at fill_paint().
    FlatRange& fr = out_.emplace_back();
    fr.range = AddrRange::make(start, end - start);
    fr.mr = const_cast<MemoryRegion*>(p.mr);
    fr.offset_in_region = start - p.region_start;
    fr.dirty_log_mask = p.dirty_log_mask;
    fr.romd_mode = p.romd_mode;
    fr.readonly = p.readonly;
    fr.nonvolatile = p.nonvolatile;
}

namespace {

// Sorts keys by start address. Below a few thousand keys std::sort; above,
// a least-significant-digit radix sort whose passes are streams without a
// data-dependent branch (a comparison sort of random addresses mispredicts
// about every other comparison). Only the bits in which some start differs
// from the first are sorted, in as few digits of at most kDigitBits as
// cover them: page-aligned starts share their low 12 bits and a space's
// starts their top ones, so a 52-bit space takes 4 passes, a 4 GiB one 2.
// Equal starts may come out in any order; the sweep takes all of a
// start's paints at once.
void sort_by_start(std::vector<RenderScratch::Key>& keys, std::vector<RenderScratch::Key>& tmp) {
    using Key = RenderScratch::Key;
    if (keys.size() < 2048) {
        std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) { return a.start < b.start; });
        return;
    }
    constexpr unsigned kDigitBits = 10;
    constexpr unsigned kMaxPasses = (64 + kDigitBits - 1) / kDigitBits;
    const uint64_t first = keys[0].start;
    uint64_t differ = 0;
    for (const Key& k : keys) differ |= k.start ^ first;
    if (differ == 0) return;
    const unsigned low = static_cast<unsigned>(std::countr_zero(differ));
    const unsigned bits = 64 - static_cast<unsigned>(std::countl_zero(differ)) - low;
    const unsigned passes = (bits + kDigitBits - 1) / kDigitBits;
    const unsigned width = (bits + passes - 1) / passes;  // digits of equal width
    const uint64_t mask = (uint64_t{1} << width) - 1;
    const size_t buckets = size_t{1} << width;
    std::array<std::array<uint32_t, size_t{1} << kDigitBits>, kMaxPasses> counts;
    for (unsigned p = 0; p < passes; ++p) std::fill_n(counts[p].begin(), buckets, 0u);
    for (const Key& k : keys) {
        const uint64_t v = k.start >> low;
        for (unsigned p = 0; p < passes; ++p) ++counts[p][(v >> (p * width)) & mask];
    }
    tmp.resize(keys.size());
    Key* from = keys.data();
    Key* to = tmp.data();
    for (unsigned p = 0; p < passes; ++p) {
        uint32_t* c = counts[p].data();
        uint32_t sum = 0;
        for (size_t b = 0; b < buckets; ++b) {
            const uint32_t here = c[b];
            c[b] = sum;
            sum += here;
        }
        const unsigned shift = low + p * width;
        for (size_t i = 0; i < keys.size(); ++i) to[c[(from[i].start >> shift) & mask]++] = from[i];
        std::swap(from, to);
    }
    if (from != keys.data()) std::copy(from, from + keys.size(), keys.data());
}

// True when `src`'s mapping, taken from `start` (where its offset in the
// region is `offset`), continues `last` seamlessly: the two can be one range.
bool continues(const FlatRange& last, const FlatRange& src, uint64_t start, uint64_t offset) {
    return last.mr == src.mr && last.range.end() == start && last.offset_in_region + last.range.size() == offset &&
           last.dirty_log_mask == src.dirty_log_mask && last.romd_mode == src.romd_mode &&
           last.readonly == src.readonly && last.nonvolatile == src.nonvolatile;
}

bool mergeable(const FlatRange& a, const FlatRange& b) { return continues(a, b, b.range.start(), b.offset_in_region); }

}  // namespace

std::vector<FlatRange> FlatViewBuilder::finish(bool merge) {
    // The sweep: walk the paints by start address, keeping those that
    // cover the current point in a min-heap on precedence. Ends are not
    // events of their own: a paint that ended is dropped when it reaches
    // the top, which is the only place where it could matter, or when the
    // heap is swept (below).
    // Paints are sorted through 16-byte keys rather than moved themselves
    // (40 bytes): a large render's sort then works on less than half the
    // memory. A paint's index is its precedence (they are made in
    // traversal order), so the heap needs nothing else.
    const auto& paints = s_.paints;
    auto& order = s_.order;
    auto& heap = s_.heap;
    heap.clear();
    // Empty paints (deferred aliases whose target showed nothing) are left
    // out; written unconditionally, kept by advancing, without a branch.
    order.resize(paints.size());
    size_t kept_keys = 0;
    for (size_t i = 0; i < paints.size(); ++i) {
        order[kept_keys] = {paints[i].start, static_cast<uint32_t>(i)};
        kept_keys += paints[i].start < paints[i].end;
    }
    order.resize(kept_keys);
    sort_by_start(order, s_.order_tmp);
    // std::push_heap builds a max-heap: compare reversed, on precedence.
    auto later = [](const RenderScratch::Live& a, const RenderScratch::Live& b) { return a.paint > b.paint; };
    constexpr size_t kAhead = 8;
    // Paints that ended stay in the heap until they reach its top. Those
    // the top hides entirely never enter it (below), but those that
    // outlive one winner and end under the next still pile up under a
    // long-lived top (under a 4 GiB root, before either measure, ~640
    // entries for 47 still covering the point), and every pop pays for
    // the height. So when the heap has doubled since it was last swept,
    // the ended ones are dropped: O(1) amortised per push, height
    // ~log(2 x live).
    constexpr size_t kSweepAt = 16;
    size_t sweep_at = kSweepAt;
    size_t next = 0, hidden = 0;
    uint64_t pos = 0;
    while (next < order.size() || !heap.empty()) {
        if (heap.empty()) pos = order[next].start;
        for (; next < order.size() && order[next].start == pos; ++next) {
            // The paints are read in sorted order, i.e. all over the array:
            // ask for the ones a few keys ahead (emit() reads them too).
            if (next + kAhead < order.size()) __builtin_prefetch(&paints[order[next + kAhead].paint]);
            const uint32_t paint = order[next].paint;
            const uint64_t end = paints[paint].end;
            // A paint that loses to the top and ends no later than it can
            // never show: it is dropped here rather than pushed (a
            // 10,000-region render drops a third of its paints so, under a
            // 4 GiB root two thirds).
            if (!heap.empty() && heap.front().paint < paint && end <= heap.front().end) {
                ++hidden;
                continue;
            }
            heap.push_back({paint, end});
            std::push_heap(heap.begin(), heap.end(), later);
        }
        while (!heap.empty() && heap.front().end <= pos) {
            std::pop_heap(heap.begin(), heap.end(), later);
            heap.pop_back();
        }
        if (heap.empty()) continue;
        if (heap.size() >= sweep_at) {
            std::erase_if(heap, [pos](const RenderScratch::Live& l) { return l.end <= pos; });
            std::make_heap(heap.begin(), heap.end(), later);
            sweep_at = std::max(kSweepAt, 2 * heap.size());
            ++s_.heap_sweeps;
        }
        const uint64_t until = next < order.size() ? std::min(heap.front().end, order[next].start) : heap.front().end;
        emit(heap.front().paint, pos, until);
        pos = until;
    }
    s_.last_output = out_.size();
    s_.hidden_paints += hidden;
    if (!merge || out_.empty()) return std::move(out_);
    // Merge in place: `kept` is the last range of the merged prefix.
    size_t kept = 0;
    for (size_t i = 1; i < out_.size(); ++i) {
        FlatRange& last = out_[kept];
        if (mergeable(last, out_[i])) {
            last.range = AddrRange::make(last.range.start(), last.range.size() + out_[i].range.size());
        } else {
            out_[++kept] = out_[i];
        }
    }
    out_.resize(kept + 1);
    return std::move(out_);
}

FlatView::FlatView(std::vector<FlatRange> ranges) : ranges_(std::move(ranges)) {
    // At most a hole before every range and one after the last. Written
    // through plain pointers, a hole's slot unconditionally and kept by
    // advancing past it only where there is one: with push_back (a size
    // and capacity check per slot) this loop was most of a one-region
    // commit's time once the listener diff skipped the unchanged runs.
    const size_t n = ranges_.size();
    slot_start_.resize(2 * n + 1);
    slot_range_.resize(2 * n + 1);
    uint64_t* start = slot_start_.data();
    int32_t* range = slot_range_.data();
    const FlatRange* r = ranges_.data();
    size_t k = 0;
    uint64_t cursor = 0;
    for (size_t i = 0; i < n; ++i) {
        const uint64_t s = r[i].range.start();
        if (s < cursor) throw Error("FlatView: ranges overlap or are unsorted at " + r[i].range.to_string());
        start[k] = cursor;
        range[k] = -1;
        k += s > cursor;
        start[k] = s;
        range[k] = static_cast<int32_t>(i);
        ++k;
        cursor = r[i].range.end();
    }
    if (k == 0 || cursor != UINT64_MAX) {
        start[k] = cursor;
        range[k] = -1;
        ++k;
    }
    slot_start_.resize(k);
    slot_range_.resize(k);
}

std::shared_ptr<const FlatView> FlatView::render(const MemoryRegion& root, RenderScratch* scratch) {
    FlatViewBuilder b(scratch);
    b.render(root, 0, AddrRange::make(0, root.size()));
    return std::make_shared<const FlatView>(b.finish());
}

std::shared_ptr<const FlatView> FlatView::rerender(const FlatView& old, const MemoryRegion& root,
                                                   const std::vector<AddrRange>& dirty, RenderScratch* scratch,
                                                   std::vector<CopiedRun>* copied) {
    if (copied) copied->clear();
    for (size_t i = 1; i < dirty.size(); ++i)
        if (dirty[i].start() <= dirty[i - 1].end())
            throw Error("rerender: dirty intervals unsorted, overlapping or touching at " + dirty[i].to_string());
    // The root may have shrunk since `old`: nothing of the view lies past
    // its end any more, dirty or not.
    const uint64_t limit = root.size();
    const size_t last_output = scratch ? scratch->last_output : 0;
    FlatViewBuilder b(scratch);
    // Renders of disjoint clips cannot overlap, so their order is free.
    for (const AddrRange& d : dirty)
        if (d.start() < limit) b.render(root, 0, AddrRange::from_bounds(d.start(), std::min(d.end(), limit)));
    const std::vector<FlatRange> fresh = b.finish(false);
    if (scratch) scratch->last_output = last_output;  // sizes the next full render

    // The old ranges minus the dirty intervals, merged by address with the
    // fresh ones (both sorted, and disjoint from each other).
    std::vector<FlatRange> out;
    out.reserve(old.ranges_.size() + fresh.size() + dirty.size());
    // Appends [start, end) of `src`'s mapping, extending the last range
    // when the two merge.
    auto append = [&](const FlatRange& src, uint64_t start, uint64_t end) {
        const uint64_t offset = src.offset_in_region + (start - src.range.start());
        if (!out.empty() && continues(out.back(), src, start, offset)) {
            FlatRange& last = out.back();
            last.range = AddrRange::make(last.range.start(), end - last.range.start());
            // A copied run that ended here no longer ends with a copy.
            if (copied && !copied->empty() && copied->back().new_first + copied->back().count == out.size() &&
                --copied->back().count == 0)
                copied->pop_back();
            return;
        }
        append_piece(out, src, start, end);
    };
    auto append_whole = [&](const FlatRange& fr) { append(fr, fr.range.start(), fr.range.end()); };
    const std::vector<FlatRange>& rs = old.ranges_;
    size_t d = 0, f = 0;
    for (size_t i = 0; i < rs.size(); ++i) {
        const FlatRange& r = rs[i];
        if (r.range.start() >= limit) break;
        const uint64_t end = std::min(r.range.end(), limit);
        uint64_t pos = r.range.start();
        while (d < dirty.size() && dirty[d].end() <= pos) ++d;
        // Most of a one-change commit's view lies between its dirty
        // intervals. A range there goes in whole, merging with what
        // precedes it if it can; so do the ones after it up to the next
        // dirty interval, but as one copy: neighbours in a rendered view
        // never merge (render and rerender merge all they can), and
        // nothing fresh lies between them.
        const uint64_t clean_until = std::min(d < dirty.size() ? dirty[d].start() : UINT64_MAX, limit);
        if (r.range.end() <= clean_until) {
            while (f < fresh.size() && fresh[f].range.start() < pos) append_whole(fresh[f++]);
            append_whole(r);
            // The block is rs[i + 1, stop).
            const auto first = rs.begin() + static_cast<ptrdiff_t>(i) + 1;
            const auto stop = std::partition_point(first, rs.end(), [&](const FlatRange& x) {
                return x.range.end() <= clean_until;
            });
            if (copied && first != stop)
                copied->push_back({i + 1, out.size(), static_cast<size_t>(stop - first)});
            out.insert(out.end(), first, stop);
            i = static_cast<size_t>(stop - rs.begin()) - 1;
            continue;
        }
        for (size_t k = d; pos < end; ++k) {
            const uint64_t stop = k < dirty.size() ? std::min(dirty[k].start(), end) : end;
            if (pos < stop) {
                while (f < fresh.size() && fresh[f].range.start() < pos) append_whole(fresh[f++]);
                append(r, pos, stop);
            }
            if (k >= dirty.size()) break;
            pos = std::max(pos, dirty[k].end());
        }
    }
    while (f < fresh.size()) append_whole(fresh[f++]);
    return std::make_shared<const FlatView>(std::move(out));
}

uint64_t FlatView::digest() const {
    XXH64_state_t* st = XXH64_createState();
    XXH64_reset(st, 0);
    for (const FlatRange& fr : ranges_) {
        const uint64_t words[4] = {fr.range.start(), fr.range.size(), fr.offset_in_region,
                                   static_cast<uint64_t>(fr.dirty_log_mask) | (uint64_t{fr.romd_mode} << 8) |
                                       (uint64_t{fr.readonly} << 9) | (uint64_t{fr.nonvolatile} << 10) |
                                       (static_cast<uint64_t>(fr.mr->kind()) << 16)};
        XXH64_update(st, words, sizeof words);
        XXH64_update(st, fr.mr->name().data(), fr.mr->name().size() + 1);  // with the NUL, as a separator
    }
    const uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
    return h;
}

}  // namespace kvmrr
