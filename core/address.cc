#include "core/address.h"

#include <algorithm>

#include "core/error.h"

namespace kvmrr {

std::optional<AddrRange> AddrRange::try_make(uint64_t start, uint64_t size) {
    if (size == 0 || size > UINT64_MAX - start) return std::nullopt;
    return AddrRange(start, size);
}

AddrRange AddrRange::make(uint64_t start, uint64_t size, const std::string& what) {
    if (size == 0) throw Error(what + ": zero size at " + hex(start));
    if (size > UINT64_MAX - start)
        throw Error(what + ": address " + hex(start) + " + size " + hex(size) + " overflows 64 bits");
    return AddrRange(start, size);
}

std::optional<AddrRange> AddrRange::intersect(const AddrRange& o) const {
    uint64_t s = std::max(start_, o.start_);
    uint64_t e = std::min(end(), o.end());
    if (s >= e) return std::nullopt;
    return AddrRange(s, e - s);
}

AddrRange AddrRange::make(uint64_t start, uint64_t size) {
    if (size == 0 || size > UINT64_MAX - start) return make(start, size, "range");  // throws
    return AddrRange(start, size);
}

std::string AddrRange::to_string() const { return hex(start_) + "-" + hex(last()); }

}  // namespace kvmrr
