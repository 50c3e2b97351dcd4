#include "core/memory_system.h"

#include <algorithm>
#include <exception>

#include "core/error.h"

#ifdef KVMRR_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace kvmrr {

MemorySystem::MemorySystem() = default;

// Address spaces go first: their views point at regions.
MemorySystem::~MemorySystem() { spaces_.clear(); }

void MemorySystem::validate_name(const std::string& name) const {
    if (name.empty()) throw Error("a memory region needs a name");
}

namespace {

// What AddressSanitizer would have said about memory a region was freed
// from, had it been freed: the pool keeps the slot, so it says so itself.
void poison(void* p, size_t n) {
#ifdef KVMRR_ASAN
    __asan_poison_memory_region(p, n);
#else
    (void)p;
    (void)n;
#endif
}

void unpoison(void* p, size_t n) {
#ifdef KVMRR_ASAN
    __asan_unpoison_memory_region(p, n);
#else
    (void)p;
    (void)n;
#endif
}

}  // namespace

RegionPool::Slot RegionPool::allocate() {
    Slot slot;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        if (used_ == kPerChunk) {
            chunks_.emplace_back(static_cast<std::byte*>(::operator new[](kChunk, std::align_val_t{kAlign})));
            poison(chunks_.back().get(), kChunk);
            used_ = 0;
        }
        std::byte* chunk = chunks_.back().get();
        slot = {chunk + kHot * used_, chunk + kHot * kPerChunk + kCold * used_};
        ++used_;
    }
    unpoison(slot.hot, kHot);
    unpoison(slot.cold, kCold);
    return slot;
}

void RegionPool::release(Slot slot) {
    poison(slot.hot, kHot);
    poison(slot.cold, kCold);
    free_.push_back(slot);
}

MemoryRegion** RegionPool::allocate_kids(unsigned cls) {
    if (kids_free_.size() <= cls) kids_free_.resize(cls + 1);
    if (!kids_free_[cls].empty()) {
        MemoryRegion** kids = kids_free_[cls].back();
        kids_free_[cls].pop_back();
        return kids;
    }
    const size_t n = size_t{1} << cls;
    if (n > kKidsChunk / 4) {
        kid_blocks_.emplace_back(new MemoryRegion*[n]);
        return kid_blocks_.back().get();
    }
    if (kids_used_ + n > kKidsChunk) {
        kid_blocks_.emplace_back(new MemoryRegion*[kKidsChunk]);
        kids_chunk_ = kid_blocks_.back().get();
        kids_used_ = 0;
    }
    MemoryRegion** kids = kids_chunk_ + kids_used_;
    kids_used_ += n;
    return kids;
}

void RegionPool::release_kids(MemoryRegion** kids, unsigned cls) { kids_free_[cls].push_back(kids); }

RegionPool::~RegionPool() {
    // operator delete[] must see the chunks as they were handed out.
    for (auto& c : chunks_) unpoison(c.get(), kChunk);
}

RegionPtr MemorySystem::make_region(MemoryRegion::Kind kind, std::string name, uint64_t size) {
    const RegionPool::Slot slot = pool_.allocate();
    try {
        return RegionPtr(new (slot.hot) MemoryRegion(*this, kind, std::move(name), size, slot.cold),
                         RegionDeleter{&pool_});
    } catch (...) {
        pool_.release(slot);
        throw;
    }
}

MemoryRegion& MemorySystem::adopt(RegionPtr mr) {
    regions_.push_back(std::move(mr));
    return *regions_.back();
}

MemoryRegion& MemorySystem::create_container(std::string name, uint64_t size) {
    validate_name(name);
    AddrRange::make(0, size, "container '" + name + "'");
    return adopt(make_region(MemoryRegion::Kind::Container, std::move(name), size));
}

MemoryRegion& MemorySystem::create_ram(std::string name, uint64_t size) {
    validate_name(name);
    if (size == 0) throw Error("RAM region '" + name + "': zero size");
    AddrRange::make(0, size, "RAM region '" + name + "'");
    auto block = std::make_unique<RamBlock>(next_block_, name, size);
    ++next_block_;  // only once the mapping succeeded
    RegionPtr mr = make_region(MemoryRegion::Kind::Ram, std::move(name), size);
    mr->cold_->block = block.get();
    blocks_.push_back(std::move(block));
    return adopt(std::move(mr));
}

MemoryRegion& MemorySystem::create_rom(std::string name, uint64_t size) {
    MemoryRegion& mr = create_ram(std::move(name), size);
    mr.kind_ = MemoryRegion::Kind::Rom;
    mr.readonly_ = true;
    return mr;
}

namespace {

void check_rules(const std::string& name, const AccessRules& rules) {
    auto ok = [](const AccessSizes& s) {
        auto pow2 = [](unsigned v) { return v == 1 || v == 2 || v == 4 || v == 8; };
        return pow2(s.min) && pow2(s.max) && s.min <= s.max;
    };
    if (!ok(rules.valid) || !ok(rules.impl))
        throw Error("region '" + name + "': access sizes must be powers of two in 1..8 with min <= max");
}

}  // namespace

MemoryRegion& MemorySystem::create_rom_device(std::string name, uint64_t size, RegionOps& ops, AccessRules rules) {
    check_rules(name, rules);
    MemoryRegion& mr = create_ram(std::move(name), size);
    mr.kind_ = MemoryRegion::Kind::RomDevice;
    mr.cold_->ops = &ops;
    mr.cold_->rules = rules;
    mr.romd_mode_ = true;
    return mr;
}

MemoryRegion& MemorySystem::create_io(std::string name, uint64_t size, RegionOps& ops, AccessRules rules) {
    validate_name(name);
    check_rules(name, rules);
    AddrRange::make(0, size, "I/O region '" + name + "'");
    RegionPtr mr = make_region(MemoryRegion::Kind::Io, std::move(name), size);
    mr->cold_->ops = &ops;
    mr->cold_->rules = rules;
    return adopt(std::move(mr));
}

MemoryRegion& MemorySystem::create_alias(std::string name, MemoryRegion& target, uint64_t offset, uint64_t size) {
    validate_name(name);
    if (target.cold_->sys != this) throw Error("alias '" + name + "': target '" + target.name() + "' belongs to another machine");
    AddrRange::make(0, size, "alias '" + name + "'");
    RegionPtr mr = make_region(MemoryRegion::Kind::Alias, std::move(name), size);
    mr->alias_ = &target;
    mr->alias_of_leaf_ = target.plain_leaf();
    mr->alias_offset_ = offset;
    target.cold_->alias_users.push_back(mr.get());
    return adopt(std::move(mr));
}

MemoryRegion& MemorySystem::create_reservation(std::string name, uint64_t size) {
    validate_name(name);
    AddrRange::make(0, size, "reservation '" + name + "'");
    return adopt(make_region(MemoryRegion::Kind::Reservation, std::move(name), size));
}

void MemorySystem::destroy(MemoryRegion& mr) {
    auto it = std::find_if(regions_.begin(), regions_.end(), [&](const auto& p) { return p.get() == &mr; });
    if (it == regions_.end()) throw Error("destroy: region '" + mr.name() + "' does not belong to this machine");
    auto busy = [&](const std::string& why) { throw Error("cannot destroy region '" + mr.name() + "': " + why); };
    if (mr.cold_->parent) busy("it is a subregion of '" + mr.cold_->parent->name() + "'");
    if (mr.subregion_count() != 0) busy("it still has " + std::to_string(mr.subregion_count()) + " subregion(s)");
    if (!mr.cold_->alias_users.empty()) busy("alias '" + mr.cold_->alias_users.front()->name() + "' points at it");
    for (const auto& as : spaces_)
        if (&as->root() == &mr) busy("it is the root of address space '" + as->name() + "'");
    if (mr.alias_) {
        auto& users = mr.alias_->cold_->alias_users;
        users.erase(std::find(users.begin(), users.end(), &mr));
    }
    std::unique_ptr<RamBlock> block;
    if (mr.cold_->block) {
        // The block goes with its only region; ids of the others stay.
        auto b = std::find_if(blocks_.begin(), blocks_.end(), [&](const auto& p) { return p.get() == mr.cold_->block; });
        block = std::move(*b);
        blocks_.erase(b);
    }
    RegionPtr dead = std::move(*it);
    regions_.erase(it);
    if (depth_ > 0) {
        // Inside a transaction the views still point at the region until
        // the commit re-renders them (and tells listeners, who look at it),
        // so it is freed only then.
        graveyard_.push_back(Grave{std::move(dead), std::move(block)});
    }
}

template <class AS>
AS& MemorySystem::add_space(AddressSpace::Kind kind, std::string name, MemoryRegion& root) {
    if (root.cold_->sys != this) throw Error("address space '" + name + "': root '" + root.name() + "' belongs to another machine");
    for (const auto& as : spaces_)
        if (as->name() == name) throw Error("address space '" + name + "' exists already");
    auto as = std::unique_ptr<AS>(new AS(*this, kind, std::move(name), root));
    AS& ref = *as;
    spaces_.push_back(std::move(as));
    ref.update_topology();
    return ref;
}

MemoryAddressSpace& MemorySystem::create_memory_space(std::string name, MemoryRegion& root) {
    return add_space<MemoryAddressSpace>(AddressSpace::Kind::Memory, std::move(name), root);
}

IoAddressSpace& MemorySystem::create_io_space(std::string name, MemoryRegion& root) {
    return add_space<IoAddressSpace>(AddressSpace::Kind::Io, std::move(name), root);
}

void MemorySystem::begin() { ++depth_; }

void MemorySystem::commit() {
    if (depth_ == 0) throw Error("memory transaction commit without a matching begin");
    if (--depth_ > 0) return;
    if (!pending_) {
        graveyard_.clear();
        return;
    }
    pending_ = false;
    // Only spaces whose root was reached by a change re-render. A listener
    // that throws (a full memslot table, say) does not keep the other
    // spaces stale: every space is brought up to date, then the first error
    // is passed on.
    std::exception_ptr first_error;
    for (const auto& as : spaces_) {
        if (as->root_->cold_->mark_epoch != epoch_) continue;
        try {
            if (extents_unknown_) {
                as->update_topology();
            } else {
                const std::vector<AddrRange> dirty = dirty_of(*as->root_);
                as->update_topology(&dirty);
            }
        } catch (...) {
            if (!first_error) first_error = std::current_exception();
        }
    }
    ++epoch_;  // marks of this transaction are spent
    extents_.clear();
    extents_unknown_ = false;
    graveyard_.clear();
    if (first_error) std::rethrow_exception(first_error);
}

void MemorySystem::note_extent(const MemoryRegion& mr) {
    if (extents_unknown_) return;
    // Each item is an interval in a region's own coordinates (offset 0 at
    // the region's start), in 128 bits: a child may lie past its parent's
    // end, and a sum of offsets past 2^64. Going up the parent chain adds
    // each region's offset in its parent; at every region on the way, each
    // alias that points at it shows the part of the interval inside the
    // alias's window, at the alias's own place, which is followed up from
    // there in turn (alias cycles are refused, so this ends).
    struct Item {
        const MemoryRegion* r;
        __int128 lo, hi;
    };
    std::vector<Item> work{{&mr, 0, mr.size_}};
    while (!work.empty()) {
        Item it = work.back();
        work.pop_back();
        const MemoryRegion* r = it.r;
        for (;; r = r->cold_->parent) {
            for (const MemoryRegion* a : r->cold_->alias_users) {
                const __int128 wlo = a->alias_offset_;
                const __int128 whi = wlo + a->size_;
                const __int128 lo = std::max(it.lo, wlo);
                const __int128 hi = std::min(it.hi, whi);
                if (lo < hi) work.push_back({a, lo - wlo, hi - wlo});
            }
            if (!r->cold_->parent) break;
            it.lo += r->addr_;
            it.hi += r->addr_;
        }
        if (extents_.size() + work.size() >= kMaxExtents) {
            extents_unknown_ = true;
            extents_.clear();
            return;
        }
        // Clipped to the top region, where a view of it ends.
        const __int128 top = r->size_;
        const __int128 lo = std::min(it.lo, top);
        const __int128 hi = std::min(it.hi, top);
        if (lo < hi) extents_.push_back({r, static_cast<uint64_t>(lo), static_cast<uint64_t>(hi)});
    }
}

std::vector<AddrRange> MemorySystem::dirty_of(const MemoryRegion& root) const {
    std::vector<std::pair<uint64_t, uint64_t>> spans;
    for (const Extent& e : extents_)
        if (e.top == &root) spans.emplace_back(e.start, e.end);
    std::sort(spans.begin(), spans.end());
    std::vector<AddrRange> out;
    for (size_t i = 0; i < spans.size();) {
        uint64_t end = spans[i].second;
        size_t j = i + 1;
        for (; j < spans.size() && spans[j].first <= end; ++j) end = std::max(end, spans[j].second);
        out.push_back(AddrRange::from_bounds(spans[i].first, end));
        i = j;
    }
    return out;
}

void MemorySystem::region_changed(MemoryRegion& mr, const MemoryRegion* where) {
    note_extent(where ? *where : mr);
    // Walk up to every root that shows `mr`: through parents, and through
    // each alias that points at a region on the way. The epoch stamp stops
    // the walk at regions already marked in this transaction.
    std::vector<MemoryRegion*> stack{&mr};
    while (!stack.empty()) {
        MemoryRegion* r = stack.back();
        stack.pop_back();
        if (r->cold_->mark_epoch == epoch_) continue;
        r->cold_->mark_epoch = epoch_;
        for (MemoryRegion* a : r->cold_->alias_users) stack.push_back(a);
        if (r->cold_->parent) stack.push_back(r->cold_->parent);
    }
    pending_ = true;
    if (depth_ == 0) {
        ++depth_;
        commit();
    }
}

}  // namespace kvmrr
