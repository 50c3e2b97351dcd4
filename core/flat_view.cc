#include "core/flat_view.h"

#include <xxhash.h>

#include <algorithm>

#include "core/error.h"
#include "core/ram_block.h"

namespace kvmrr {

uint8_t* FlatRange::host() const {
    if (!mr || !mr->ram_block()) return nullptr;
    return mr->ram_block()->host() + mr->ram_offset() + offset_in_region;
}

FlatViewBuilder::FlatViewBuilder(RenderScratch* scratch)
    : scratch_(scratch), arena_(), claimed_(scratch ? static_cast<std::pmr::memory_resource*>(&scratch->pool) : &arena_) {
    if (scratch_) out_.reserve(scratch_->last_output + scratch_->last_output / 4 + 16);
}

void FlatViewBuilder::add_existing(const FlatRange& fr) {
    // Claim it the same way a fill would, but emit the range itself.
    auto it = claimed_.upper_bound(fr.range.start());
    if (it != claimed_.begin() && std::prev(it)->second > fr.range.start())
        throw Error("add_existing: " + fr.range.to_string() + " overlaps a claimed range");
    if (it != claimed_.end() && it->first < fr.range.end())
        throw Error("add_existing: " + fr.range.to_string() + " overlaps a claimed range");
    claimed_.emplace(fr.range.start(), fr.range.end());
    out_.push_back(fr);
}

void FlatViewBuilder::render(const MemoryRegion& mr, uint64_t base, const AddrRange& clip) {
    // The root's own address is ignored: render_region adds mr.addr(), so
    // start from base - addr.
    render_region(mr, static_cast<__int128>(base) - static_cast<__int128>(mr.addr()), clip.start(), clip.end(),
                  false, false);
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
        // Offset alias_offset of the target shows at `start`; the target's
        // own addr() is cancelled because render_region adds it back.
        const __int128 target_base = start - static_cast<__int128>(mr.alias_offset()) - target->addr();
        render_region(*target, target_base, cs, ce, readonly, nonvolatile);
        return;
    }
    const std::vector<MemoryRegion*>& kids = mr.subregions_ascending();
    // In a tree larger than the cache, the first touch of each child is a
    // miss; asking for all of them up front overlaps those misses.
    for (const MemoryRegion* child : kids) __builtin_prefetch(child);
    for (auto it = kids.rbegin(); it != kids.rend(); ++it)  // highest priority first
        render_region(**it, start, cs, ce, readonly, nonvolatile);
    if (mr.kind() != MemoryRegion::Kind::Container) fill(mr, start, cs, ce, readonly, nonvolatile);
}

// Emits the parts of [start, end) that nobody claimed yet as ranges of
// `mr`, then records all of [start, end) as claimed, merging the claimed
// intervals it touches into one.
void FlatViewBuilder::fill(const MemoryRegion& mr, __int128 region_start, uint64_t start, uint64_t end,
                           bool readonly, bool nonvolatile) {
    auto emit = [&](uint64_t s, uint64_t e) {
        FlatRange fr;
        fr.range = AddrRange::make(s, e - s);
        fr.mr = const_cast<MemoryRegion*>(&mr);
        fr.offset_in_region = static_cast<uint64_t>(static_cast<__int128>(s) - region_start);
        fr.dirty_log_mask = mr.dirty_log_mask();
        fr.romd_mode = mr.kind() == MemoryRegion::Kind::RomDevice && mr.romd_mode();
        fr.readonly = readonly;
        fr.nonvolatile = nonvolatile;
        out_.push_back(fr);
    };

    uint64_t new_start = start, new_end = end;
    auto it = claimed_.upper_bound(start);
    if (it != claimed_.begin() && std::prev(it)->second >= start) --it;  // touches or covers `start`
    uint64_t cur = start;
    while (it != claimed_.end() && it->first <= end) {
        if (it->first > cur) emit(cur, it->first);
        cur = std::max(cur, it->second);
        new_start = std::min(new_start, it->first);
        new_end = std::max(new_end, it->second);
        it = claimed_.erase(it);
    }
    if (cur < end) emit(cur, end);
    claimed_.emplace_hint(it, new_start, new_end);
}

namespace {

bool mergeable(const FlatRange& a, const FlatRange& b) {
    return a.mr == b.mr && a.range.end() == b.range.start() &&
           a.offset_in_region + a.range.size() == b.offset_in_region && a.dirty_log_mask == b.dirty_log_mask &&
           a.romd_mode == b.romd_mode && a.readonly == b.readonly && a.nonvolatile == b.nonvolatile;
}

}  // namespace

std::vector<FlatRange> FlatViewBuilder::finish(bool merge) {
    std::sort(out_.begin(), out_.end(),
              [](const FlatRange& a, const FlatRange& b) { return a.range.start() < b.range.start(); });
    if (scratch_) scratch_->last_output = out_.size();
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
    slot_start_.reserve(ranges_.size() * 2 + 1);
    slot_range_.reserve(ranges_.size() * 2 + 1);
    uint64_t cursor = 0;
    for (size_t i = 0; i < ranges_.size(); ++i) {
        const AddrRange& r = ranges_[i].range;
        if (r.start() < cursor) throw Error("FlatView: ranges overlap or are unsorted at " + r.to_string());
        if (r.start() > cursor) {
            slot_start_.push_back(cursor);
            slot_range_.push_back(-1);
        }
        slot_start_.push_back(r.start());
        slot_range_.push_back(static_cast<int32_t>(i));
        cursor = r.end();
    }
    if (slot_start_.empty() || cursor != UINT64_MAX) {
        slot_start_.push_back(cursor);
        slot_range_.push_back(-1);
    }
}

std::shared_ptr<const FlatView> FlatView::render(const MemoryRegion& root, RenderScratch* scratch) {
    FlatViewBuilder b(scratch);
    b.render(root, 0, AddrRange::make(0, root.size()));
    return std::make_shared<const FlatView>(b.finish());
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
