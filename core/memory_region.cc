#include "core/memory_region.h"

#include <new>

#include <algorithm>

#include "core/error.h"
#include "core/memory_system.h"
#include "core/ram_block.h"

namespace kvmrr {

namespace {

std::string quoted(const MemoryRegion& mr) { return "'" + mr.name() + "'"; }

}  // namespace

MemoryRegion::MemoryRegion(MemorySystem& sys, Kind kind, std::string name, uint64_t size, void* cold)
    : size_(size), kind_(kind), cold_(new (cold) Cold(sys, std::move(name), sys.next_serial_++)) {}

// A region with children is destroyed only with its whole system (destroy()
// refuses it), and the pool's blocks go with the system: its child array
// is not handed back.
MemoryRegion::~MemoryRegion() { cold_->~Cold(); }

// The child array lives in the pool's child arrays (see RegionPool), in a
// block of 2^kids_class_ pointers that doubles when full, like a vector's.
void MemoryRegion::insert_kid(size_t pos, MemoryRegion& child) {
    if (kid_count_ == UINT32_MAX) throw Error("region " + quoted(*this) + " has too many subregions");
    RegionPool& pool = cold_->sys->pool_;
    if (!kids_class_ || kid_count_ == (size_t{1} << kids_class_)) {
        const unsigned cls = kids_class_ ? kids_class_ + 1u : 1u;
        MemoryRegion** fresh = pool.allocate_kids(cls);
        if (kids_class_) {
            std::copy(kids_, kids_ + kid_count_, fresh);
            pool.release_kids(kids_, kids_class_);
        }
        kids_ = fresh;
        kids_class_ = static_cast<uint8_t>(cls);
    }
    std::copy_backward(kids_ + pos, kids_ + kid_count_, kids_ + kid_count_ + 1);
    kids_[pos] = &child;
    if (++kid_count_ == 1) refresh_alias_users();
}

// Keeps the array ascending by (priority, insertion order): `child` goes
// after every child of lower or equal priority, which is the end in the
// common case.
void MemoryRegion::insert_kid_by_priority(MemoryRegion& child, int priority) {
    const auto kids = subregions_ascending();
    const auto pos = std::upper_bound(kids.begin(), kids.end(), priority,
                                      [](int p, const MemoryRegion* c) { return p < c->cold_->priority; });
    insert_kid(static_cast<size_t>(pos - kids.begin()), child);
}

void MemoryRegion::erase_kid(size_t pos) {
    std::copy(kids_ + pos + 1, kids_ + kid_count_, kids_ + pos);
    if (--kid_count_ == 0) {
        cold_->sys->pool_.release_kids(kids_, kids_class_);
        kids_ = nullptr;
        kids_class_ = 0;
        refresh_alias_users();
    }
}

void MemoryRegion::refresh_alias_users() {
    for (MemoryRegion* a : cold_->alias_users) a->alias_of_leaf_ = plain_leaf();
}

const char* MemoryRegion::kind_name(Kind k) {
    switch (k) {
        case Kind::Container: return "container";
        case Kind::Ram: return "ram";
        case Kind::Rom: return "rom";
        case Kind::RomDevice: return "romd";
        case Kind::Io: return "i/o";
        case Kind::Alias: return "alias";
        case Kind::Reservation: return "reserved";
    }
    return "?";
}

void MemoryRegion::changed() { cold_->sys->region_changed(*this); }

bool MemoryRegion::reaches(const MemoryRegion& target) const {
    // Depth-first over the edges rendering follows: subregions and alias
    // targets. Trees are small where this runs (adding a child, retargeting
    // an alias), and a region can be reached along several paths only
    // through aliases, so a visited list is enough.
    std::vector<const MemoryRegion*> stack{this};
    std::vector<const MemoryRegion*> seen;
    while (!stack.empty()) {
        const MemoryRegion* r = stack.back();
        stack.pop_back();
        if (r == &target) return true;
        if (std::find(seen.begin(), seen.end(), r) != seen.end()) continue;
        seen.push_back(r);
        if (r->alias_) stack.push_back(r->alias_);
        for (const MemoryRegion* c : r->subregions_ascending()) stack.push_back(c);
    }
    return false;
}

void MemoryRegion::check_no_collision(const MemoryRegion& child, uint64_t offset, uint64_t size) const {
    // Only two regions that were both added without overlap collide; the
    // check is linear in the siblings, which is fine for the few
    // fixed-address children a machine adds this way (overlapping trees use
    // add_subregion_overlap and skip it).
    const AddrRange mine = AddrRange::make(offset, size, "subregion " + quoted(child));
    for (const MemoryRegion* s : subregions_ascending()) {
        if (s == &child || s->cold_->may_overlap) continue;
        const AddrRange theirs = AddrRange::make(s->addr_, s->size_);
        if (mine.overlaps(theirs))
            throw Error("subregion " + quoted(child) + " at " + mine.to_string() + " collides with " + quoted(*s) +
                        " at " + theirs.to_string() + " in " + quoted(*this) +
                        "; use add_subregion_overlap with a priority if the overlap is intended");
    }
}

void MemoryRegion::insert_child(uint64_t offset, MemoryRegion& child, int priority, bool overlap) {
    if (&child == this) throw Error("region " + quoted(*this) + " cannot be its own subregion");
    if (child.cold_->sys != cold_->sys)
        throw Error("region " + quoted(child) + " belongs to another machine than " + quoted(*this));
    if (child.cold_->parent)
        throw Error("region " + quoted(child) + " is already a subregion of " + quoted(*child.cold_->parent));
    AddrRange::make(offset, child.size_, "subregion " + quoted(child) + " of " + quoted(*this));
    if (child.reaches(*this))
        throw Error("adding " + quoted(child) + " to " + quoted(*this) + " would make an alias cycle: " +
                    quoted(child) + " already reaches " + quoted(*this));
    if (!overlap) check_no_collision(child, offset, child.size_);

    child.addr_ = offset;
    child.cold_->priority = priority;
    child.cold_->may_overlap = overlap;
    child.cold_->seq = cold_->sys->next_seq_++;
    child.cold_->parent = this;
    insert_kid_by_priority(child, priority);
    // The trees that show this region change, but only where the child
    // now lies. (Marking from the child would stop at a child marked
    // earlier in the transaction, before this region was reached.)
    cold_->sys->region_changed(*this, &child);
}

void MemoryRegion::add_subregion(uint64_t offset, MemoryRegion& child) { insert_child(offset, child, 0, false); }

void MemoryRegion::add_subregion_overlap(uint64_t offset, MemoryRegion& child, int priority) {
    insert_child(offset, child, priority, true);
}

void MemoryRegion::del_subregion(MemoryRegion& child) {
    const auto kids = subregions_ascending();
    const auto it = std::find(kids.begin(), kids.end(), &child);
    if (it == kids.end())
        throw Error("cannot remove " + quoted(child) + " from " + quoted(*this) + ": it is not a subregion of it" +
                    (child.cold_->parent ? " (its parent is " + quoted(*child.cold_->parent) + ")" : " (it has no parent)"));
    // Mark before detaching, so the trees that contained the child
    // re-render; the transaction defers that render until it is detached.
    Transaction t(*cold_->sys);
    cold_->sys->region_changed(*this, &child);
    erase_kid(static_cast<size_t>(it - kids.begin()));
    child.cold_->parent = nullptr;
    t.commit();
}

void MemoryRegion::set_enabled(bool on) {
    if (enabled_ == on) return;
    enabled_ = on;
    changed();
}

void MemoryRegion::set_readonly(bool on) {
    if (readonly_ == on) return;
    readonly_ = on;
    changed();
}

void MemoryRegion::set_nonvolatile(bool on) {
    if (nonvolatile_ == on) return;
    nonvolatile_ = on;
    changed();
}

void MemoryRegion::set_dirty_log(DirtyLogClient client, bool on) {
    set_dirty_log_mask(on ? (dirty_log_mask_ | client) : (dirty_log_mask_ & ~client));
}

void MemoryRegion::set_dirty_log_mask(uint8_t mask) {
    if (dirty_log_mask_ == mask) return;
    dirty_log_mask_ = mask;
    changed();
}

void MemoryRegion::set_address(uint64_t offset) {
    if (addr_ == offset) return;
    if (cold_->parent) {
        AddrRange::make(offset, size_, "region " + quoted(*this) + " moved in " + quoted(*cold_->parent));
        if (!cold_->may_overlap) cold_->parent->check_no_collision(*this, offset, size_);
    }
    // Moving re-adds the region, as QEMU does: it becomes the most recent
    // among its equal-priority siblings. Old and new place are in the same
    // trees, so one mark covers both; the old place is noted first, for
    // the commit to render it again.
    cold_->sys->note_extent(*this);
    addr_ = offset;
    if (cold_->parent) reinsert_in_parent(cold_->priority);
    changed();
}

void MemoryRegion::set_size(uint64_t size) {
    if (size == size_) return;
    if (size == 0) throw Error("region " + quoted(*this) + ": size cannot be zero");
    if (cold_->block && cold_->ram_offset + size > cold_->block->size())
        throw Error("region " + quoted(*this) + ": size " + hex(size) + " exceeds its RAM block of " +
                    hex(cold_->block->size()) + " bytes");
    if (cold_->parent) {
        AddrRange::make(addr_, size, "region " + quoted(*this) + " resized in " + quoted(*cold_->parent));
        if (!cold_->may_overlap) cold_->parent->check_no_collision(*this, addr_, size);
    } else {
        AddrRange::make(0, size, "region " + quoted(*this));
    }
    cold_->sys->note_extent(*this);  // when shrinking, the part given up
    size_ = size;
    changed();
}

void MemoryRegion::set_priority(int priority) {
    if (priority == cold_->priority) return;
    if (cold_->parent) reinsert_in_parent(priority);
    cold_->priority = priority;
    changed();
}

// Re-inserts this region among its siblings as if newly added at
// `priority` (QEMU's del + add): the most recent among its new equals.
void MemoryRegion::reinsert_in_parent(int priority) {
    MemoryRegion& parent = *cold_->parent;
    const auto sib = parent.subregions_ascending();
    parent.erase_kid(static_cast<size_t>(std::find(sib.begin(), sib.end(), this) - sib.begin()));
    cold_->seq = cold_->sys->next_seq_++;
    parent.insert_kid_by_priority(*this, priority);
}

void MemoryRegion::set_alias_offset(uint64_t offset) {
    if (kind_ != Kind::Alias) throw Error("set_alias_offset: region " + quoted(*this) + " is not an alias");
    if (offset == alias_offset_) return;
    alias_offset_ = offset;
    changed();
}

void MemoryRegion::set_alias_target(MemoryRegion& target) {
    if (kind_ != Kind::Alias) throw Error("set_alias_target: region " + quoted(*this) + " is not an alias");
    if (&target == alias_) return;
    if (target.cold_->sys != cold_->sys) throw Error("alias " + quoted(*this) + ": target " + quoted(target) + " belongs to another machine");
    if (&target == this || target.reaches(*this))
        throw Error("alias " + quoted(*this) + " cannot point at " + quoted(target) +
                    ": that would make an alias cycle (" + quoted(target) + " reaches " + quoted(*this) + ")");
    Transaction t(*cold_->sys);
    changed();  // the trees that show the old target re-render
    auto& users = alias_->cold_->alias_users;
    users.erase(std::find(users.begin(), users.end(), this));
    alias_ = &target;
    alias_of_leaf_ = target.plain_leaf();
    target.cold_->alias_users.push_back(this);
    changed();
    t.commit();
}

void MemoryRegion::set_romd(bool on) {
    if (kind_ != Kind::RomDevice) throw Error("set_romd: region " + quoted(*this) + " is not a ROM device");
    if (romd_mode_ == on) return;
    romd_mode_ = on;
    changed();
}

void MemoryRegion::replace_ops(RegionOps& ops) {
    if (kind_ != Kind::Io && kind_ != Kind::RomDevice)
        throw Error("replace_ops: region " + quoted(*this) + " has no callbacks");
    cold_->ops = &ops;
}

uint64_t MemoryRegion::absolute_addr() const {
    uint64_t a = 0;
    for (const MemoryRegion* r = this; r->cold_->parent; r = r->cold_->parent) a += r->addr_;
    return a;
}

}  // namespace kvmrr
