#include "core/address_space.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/error.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

// Values cross the device boundary as little-endian integers; on a
// little-endian host that is a plain memcpy into the low bytes.
static_assert(std::endian::native == std::endian::little, "kvmrr dispatch assumes a little-endian host");

const char* access_status_name(AccessStatus s) {
    switch (s) {
        case AccessStatus::Ok: return "ok";
        case AccessStatus::Unassigned: return "unassigned";
        case AccessStatus::Invalid: return "invalid";
    }
    return "?";
}

namespace {

bool is_access_size(unsigned size) { return size == 1 || size == 2 || size == 4 || size == 8; }

uint64_t load_le(const uint8_t* p, unsigned n) {
    uint64_t v = 0;
    std::memcpy(&v, p, n);
    return v;
}

void store_le(uint8_t* p, uint64_t v, unsigned n) { std::memcpy(p, &v, n); }

// The low `size` bytes of v (size 1, 2, 4 or 8): what an access of that size carries.
uint64_t low_bytes(uint64_t v, unsigned size) { return size == 8 ? v : v & ((uint64_t{1} << (8 * size)) - 1); }

// Where a range's reads and writes go: host memory, or the region's ops.
bool reads_memory(const FlatRange& fr) {
    using K = MemoryRegion::Kind;
    const K k = fr.mr->kind();
    return k == K::Ram || k == K::Rom || (k == K::RomDevice && fr.romd_mode);
}

bool writes_memory(const FlatRange& fr) {
    using K = MemoryRegion::Kind;
    return fr.mr->kind() == K::Ram || fr.mr->kind() == K::Rom;
}

// The worse of two statuses: an invalid piece outranks an unassigned one.
AccessStatus worse(AccessStatus a, AccessStatus b) { return static_cast<uint8_t>(a) >= static_cast<uint8_t>(b) ? a : b; }

// Feeds one accepted access [off, off + len) to the callbacks in sizes they
// implement. With impl.unaligned the callbacks take any offset, so the
// access is cut (or widened) in place, as QEMU does. Otherwise each call is
// naturally aligned: the access is covered by the largest aligned sizes
// within impl.max, and only a piece narrower than impl.min is widened to
// the aligned unit around it. A widened write carries zeros in the bytes it
// does not cover; reading the unit first would trigger device read side
// effects the guest never asked for.
void call_ops(RegionOps& ops, const AccessSizes& impl, uint64_t off, uint8_t* buf, unsigned len, bool is_write) {
    auto call = [&](uint64_t at, unsigned unit, unsigned skip, unsigned n, uint8_t* p) {
        if (is_write) {
            uint64_t v = 0;
            std::memcpy(reinterpret_cast<uint8_t*>(&v) + skip, p, n);
            ops.write(at, v, unit);
        } else {
            const uint64_t v = ops.read(at, unit);
            std::memcpy(p, reinterpret_cast<const uint8_t*>(&v) + skip, n);
        }
    };
    if (impl.unaligned) {
        const unsigned unit = std::clamp(len, impl.min, impl.max);
        for (unsigned done = 0; done < len; done += unit) call(off + done, unit, 0, std::min(unit, len - done), buf + done);
        return;
    }
    for (unsigned done = 0; done < len;) {
        const uint64_t pos = off + done;
        unsigned n = std::bit_floor(std::min(len - done, impl.max));
        while (n > 1 && (pos & (n - 1))) n >>= 1;
        if (n >= impl.min) {
            call(pos, n, 0, n, buf + done);
        } else {
            const unsigned unit = impl.min;
            const uint64_t base = pos & ~uint64_t{unit - 1};
            const auto skip = static_cast<unsigned>(pos - base);
            n = std::min(unit - skip, len - done);
            call(base, unit, skip, n, buf + done);
        }
        done += n;
    }
}

}  // namespace

AddressSpace::AddressSpace(MemorySystem& sys, Kind kind, std::string name, MemoryRegion& root)
    : sys_(&sys), kind_(kind), name_(std::move(name)), root_(&root), view_(std::make_shared<const FlatView>()) {}

AddressSpace::~AddressSpace() = default;

MemoryRegionSection AddressSpace::section(const FlatRange& fr) {
    MemoryRegionSection s;
    s.as = this;
    s.mr = fr.mr;
    s.range = fr.range;
    s.offset_within_region = fr.offset_in_region;
    s.dirty_log_mask = fr.dirty_log_mask;
    s.readonly = fr.readonly;
    s.nonvolatile = fr.nonvolatile;
    s.romd_mode = fr.romd_mode;
    return s;
}

void AddressSpace::add_listener(MemoryListener& l, int priority) {
    for (const auto& e : listeners_)
        if (e.l == &l) throw Error("listener is already registered with address space '" + name_ + "'");
    auto pos = std::upper_bound(listeners_.begin(), listeners_.end(), priority,
                                [](int p, const ListenerEntry& e) { return p < e.priority; });
    listeners_.insert(pos, ListenerEntry{&l, priority, l.wants_region_nop()});
    // A late listener sees the current view as additions, exactly as it
    // would have seen it being built.
    l.begin();
    for (const FlatRange& fr : view_->ranges()) l.region_add(section(fr));
    l.commit();
}

void AddressSpace::remove_listener(MemoryListener& l) {
    auto it = std::find_if(listeners_.begin(), listeners_.end(), [&](const ListenerEntry& e) { return e.l == &l; });
    if (it == listeners_.end()) throw Error("listener is not registered with address space '" + name_ + "'");
    listeners_.erase(it);
    // Symmetric with add_listener: the listener undoes what it was told.
    l.begin();
    const auto& ranges = view_->ranges();
    for (auto r = ranges.rbegin(); r != ranges.rend(); ++r) l.region_del(section(*r));
    l.commit();
}

void AddressSpace::update_topology(const std::vector<AddrRange>* dirty) {
    std::shared_ptr<const FlatView> old = view_;
    copied_.clear();
    if (dirty && renders_ > 0) {
        view_ = FlatView::rerender(*old, *root_, *dirty, &scratch_, &copied_);
        ++partial_renders_;
    } else {
        view_ = FlatView::render(*root_, &scratch_);
    }
    ++renders_;
    if (listeners_.empty()) return;

    const auto& a = old->ranges();
    const auto& b = view_->ranges();
    auto forward = [&](auto&& call) {
        for (auto& e : listeners_) call(*e.l);
    };
    auto reverse = [&](auto&& call) {
        for (auto it = listeners_.rbegin(); it != listeners_.rend(); ++it) call(*it->l);
    };

    bool any_nops = false;
    for (const auto& e : listeners_) any_nops |= e.nops;
    auto nop = [&](const MemoryRegionSection& s) {
        for (auto& e : listeners_)
            if (e.nops) e.l->region_nop(s);
    };

    forward([](MemoryListener& l) { l.begin(); });
    // Two passes over the two sorted views: first everything that goes away
    // (and logging that stops), then everything that appears or stays.
    for (int adding = 0; adding < 2; ++adding) {
        size_t i = 0, j = 0, run = 0;
        while (i < a.size() || j < b.size()) {
            // A run the re-render copied as it was (most of the view, after
            // a small change) holds nothing to remove or add: only
            // region_nop, and only if some listener wants it. Both cursors
            // reach its start together: everything before it, in either
            // view, starts below it.
            while (run < copied_.size() && copied_[run].old_first < i) ++run;
            if (run < copied_.size() && copied_[run].old_first == i && copied_[run].new_first == j) {
                const size_t count = copied_[run++].count;
                if (adding && any_nops)
                    for (size_t k = 0; k < count; ++k) nop(section(b[j + k]));
                i += count;
                j += count;
                continue;
            }
            const FlatRange* o = i < a.size() ? &a[i] : nullptr;
            const FlatRange* n = j < b.size() ? &b[j] : nullptr;
            if (o && (!n || o->range.start() < n->range.start() ||
                      (o->range.start() == n->range.start() && !o->same_mapping(*n)))) {
                if (!adding) {
                    const MemoryRegionSection s = section(*o);
                    reverse([&](MemoryListener& l) { l.region_del(s); });
                }
                ++i;
            } else if (o && n && o->same_mapping(*n)) {
                const MemoryRegionSection s = section(*n);
                const uint8_t om = o->dirty_log_mask, nm = n->dirty_log_mask;
                if (!adding) {
                    if (om & ~nm) reverse([&](MemoryListener& l) { l.log_stop(s, om, nm); });
                } else {
                    if (any_nops) nop(s);
                    if (nm & ~om) forward([&](MemoryListener& l) { l.log_start(s, om, nm); });
                }
                ++i;
                ++j;
            } else {
                if (adding) {
                    const MemoryRegionSection s = section(*n);
                    forward([&](MemoryListener& l) { l.region_add(s); });
                }
                ++j;
            }
        }
    }
    forward([](MemoryListener& l) { l.commit(); });
}

void AddressSpace::fault(uint64_t addr, unsigned size, bool is_write, const uint8_t* buf, AccessStatus st) {
    if (st == AccessStatus::Invalid) {
        ++stats_.invalid;
    } else if (is_write) {
        ++stats_.unassigned_writes;
    } else {
        ++stats_.unassigned_reads;
    }
    if (!on_fault_) return;
    FaultReport r;
    r.as = this;
    r.addr = addr;
    r.size = size;
    r.is_write = is_write;
    r.value = is_write ? load_le(buf, std::min(size, 8u)) : 0;
    r.status = st;
    on_fault_(r);
}

// One piece of an access that lies inside a single I/O or ROM-device
// range: cut into the largest accesses the device accepts (`valid`), each
// fed to the callbacks by call_ops.
AccessStatus AddressSpace::io_piece(const FlatRange& fr, uint64_t addr, uint8_t* buf, unsigned len, bool is_write) {
    MemoryRegion& mr = *fr.mr;
    RegionOps* ops = mr.ops();
    const AccessRules& rules = mr.rules();
    uint64_t off = fr.offset_in_region + (addr - fr.range.start());
    while (len > 0) {
        unsigned s = std::bit_floor(std::min(len, rules.valid.max));
        if (!rules.valid.unaligned)
            while (s > 1 && (off & (s - 1))) s >>= 1;
        if (s < rules.valid.min) {
            // Nothing the device accepts fits here: reject the rest.
            if (!is_write) std::memset(buf, 0xff, len);
            fault(addr, len, is_write, buf, AccessStatus::Invalid);
            return AccessStatus::Invalid;
        }
        call_ops(*ops, rules.impl, off, buf, s, is_write);
        off += s;
        addr += s;
        buf += s;
        len -= s;
    }
    return AccessStatus::Ok;
}

AccessStatus AddressSpace::piece(const FlatRange* fr, uint64_t addr, uint8_t* buf, unsigned len, bool is_write) {
    if (!fr || fr->mr->kind() == MemoryRegion::Kind::Reservation) {
        if (!is_write) std::memset(buf, 0xff, len);
        fault(addr, len, is_write, buf, AccessStatus::Unassigned);
        return AccessStatus::Unassigned;
    }
    if (!is_write && reads_memory(*fr)) {
        std::memcpy(buf, fr->host() + (addr - fr->range.start()), len);
        return AccessStatus::Ok;
    }
    if (is_write && writes_memory(*fr)) {
        if (fr->readonly) {
            ++stats_.rom_writes_dropped;
        } else {
            std::memcpy(fr->host() + (addr - fr->range.start()), buf, len);
            for (const ListenerEntry& e : listeners_) e.l->ram_written(addr, len);
        }
        return AccessStatus::Ok;
    }
    return io_piece(*fr, addr, buf, len, is_write);
}

AccessStatus AddressSpace::rw_bytes(uint64_t addr, uint8_t* buf, uint64_t len, bool is_write) {
    // A device called for one piece may change the topology and replace
    // view_; the rest of this access still walks the view it started with,
    // which this reference keeps alive (QEMU holds its FlatView the same way).
    const std::shared_ptr<const FlatView> hold = view_;
    const FlatView& v = *hold;
    AccessStatus st = AccessStatus::Ok;
    while (len > 0) {
        const FlatRange* fr = v.lookup(addr);
        const uint64_t room = v.piece_end(addr) - addr;  // 0 only at the unaddressable last byte
        if (room == 0) {
            st = worse(st, piece(nullptr, addr, buf, static_cast<unsigned>(std::min<uint64_t>(len, 8)), is_write));
            break;
        }
        // Pieces are cut to 1 GiB so that their length fits an unsigned.
        const auto n = static_cast<unsigned>(std::min({len, room, uint64_t{1} << 30}));
        st = worse(st, piece(fr, addr, buf, n, is_write));
        addr += n;
        buf += n;
        len -= n;
    }
    return st;
}

// A whole guest access that lands inside one device range must be one the
// device accepts (`valid`); only the pieces of an access split at a range
// boundary, or of a byte-string access, are cut to fit.
bool AddressSpace::rejects_whole(const FlatRange* fr, uint64_t addr, unsigned size, bool is_write) const {
    if (!fr || size > fr->range.end() - addr || !fr->mr->ops()) return false;
    if (is_write ? writes_memory(*fr) : reads_memory(*fr)) return false;
    const AccessSizes& v = fr->mr->rules().valid;
    const uint64_t off = fr->offset_in_region + (addr - fr->range.start());
    return size < v.min || size > v.max || (!v.unaligned && off % size != 0);
}

// The usual device access: inside one I/O range, of a size and alignment
// the device both accepts and implements, so it is exactly one callback
// with nothing to split, widen or reject. Returns the region's ops and the
// offset for it, or null when the general path must decide. Nothing of the
// view is used after the callback, which may change the topology.
RegionOps* AddressSpace::single_call(const FlatRange* fr, uint64_t addr, unsigned size, bool is_write,
                                     uint64_t* off) const {
    if (!fr || size > fr->range.end() - addr) return nullptr;
    MemoryRegion& mr = *fr->mr;
    RegionOps* ops = mr.ops();
    if (!ops || mr.kind() == MemoryRegion::Kind::Reservation || (is_write ? writes_memory(*fr) : reads_memory(*fr)))
        return nullptr;
    const AccessRules& r = mr.rules();
    *off = fr->offset_in_region + (addr - fr->range.start());
    const bool aligned = (*off & (size - 1)) == 0;
    if (size < r.valid.min || size > r.valid.max || (!r.valid.unaligned && !aligned)) return nullptr;
    if (size < r.impl.min || size > r.impl.max || (!r.impl.unaligned && !aligned)) return nullptr;
    return ops;
}

AccessResult AddressSpace::read_at(uint64_t addr, unsigned size) {
    ++stats_.reads;
    const FlatRange* fr = is_access_size(size) ? view_->lookup(addr) : nullptr;
    const MemoryRegion* mr = fr ? fr->mr : nullptr;
    if (fr && size <= fr->range.end() - addr && reads_memory(*fr))  // the usual case: one RAM range
        return {load_le(fr->host() + (addr - fr->range.start()), size), AccessStatus::Ok, mr};
    uint64_t off = 0;
    if (RegionOps* ops = single_call(fr, addr, size, false, &off))  // one device callback, nothing to split
        return {low_bytes(ops->read(off, size), size), AccessStatus::Ok, mr};
    uint8_t buf[8];
    std::memset(buf, 0xff, sizeof buf);
    if (!is_access_size(size) || rejects_whole(fr, addr, size, false)) {
        fault(addr, size, false, buf, AccessStatus::Invalid);
        return {is_access_size(size) ? load_le(buf, size) : ~uint64_t{0}, AccessStatus::Invalid, mr};
    }
    const AccessStatus st = rw_bytes(addr, buf, size, false);
    return {load_le(buf, size), st, mr};
}

AccessResult AddressSpace::write_at(uint64_t addr, uint64_t value, unsigned size) {
    ++stats_.writes;
    const FlatRange* fr = is_access_size(size) ? view_->lookup(addr) : nullptr;
    const MemoryRegion* mr = fr ? fr->mr : nullptr;
    uint64_t off = 0;
    if (RegionOps* ops = single_call(fr, addr, size, true, &off)) {
        ops->write(off, low_bytes(value, size), size);
        return {0, AccessStatus::Ok, mr};
    }
    uint8_t buf[8];
    store_le(buf, value, 8);
    if (!is_access_size(size) || rejects_whole(fr, addr, size, true)) {
        fault(addr, size, true, buf, AccessStatus::Invalid);
        return {0, AccessStatus::Invalid, mr};
    }
    return {0, rw_bytes(addr, buf, size, true), mr};
}

AccessResult AddressSpace::access_at(uint64_t addr, std::span<uint8_t> data, bool is_write) {
    const auto n = static_cast<unsigned>(data.size());
    if (data.size() <= 8 && is_access_size(n)) {
        if (is_write) return write_at(addr, load_le(data.data(), n), n);
        const AccessResult r = read_at(addr, n);
        store_le(data.data(), r.value, n);
        return r;
    }
    const FlatRange* fr = view_->lookup(addr);
    const MemoryRegion* mr = fr ? fr->mr : nullptr;
    return {0, rw_bytes(addr, data.data(), data.size(), is_write), mr};
}

}  // namespace kvmrr
