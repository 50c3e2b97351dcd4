// Typed addresses and checked ranges.
//
// A guest-physical address, a port number and an offset inside a region are
// all 64-bit integers, and mixing them up is the classic VMM bug. Each gets
// its own type so that the compiler refuses a port where a guest-physical
// address is expected. AddrRange is the one place where "start + size"
// is computed: it refuses a zero size and a range whose end would not fit in
// 64 bits, so code holding an AddrRange never has to think about overflow.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>

namespace kvmrr {

template <class Tag>
struct TypedAddr {
    uint64_t value = 0;

    constexpr TypedAddr() = default;
    constexpr explicit TypedAddr(uint64_t v) : value(v) {}
    constexpr auto operator<=>(const TypedAddr&) const = default;
    constexpr TypedAddr operator+(uint64_t off) const { return TypedAddr(value + off); }
    constexpr uint64_t operator-(TypedAddr o) const { return value - o.value; }
};

struct GpaTag {};
struct PioTag {};
// A guest-physical (memory address space) address.
using Gpa = TypedAddr<GpaTag>;
// An x86 I/O port (I/O address space) address.
using PioAddr = TypedAddr<PioTag>;

// Half-open range [start, start + size) of a 64-bit space, never empty and
// never wrapping. The largest representable end is UINT64_MAX, so the very
// last byte of the 64-bit space is not addressable; kvmrr's address spaces
// are far smaller (52-bit physical, 16-bit I/O), so nothing is lost.
class AddrRange {
public:
    // Throws kvmrr::Error naming `what` when size is zero or start + size
    // overflows.
    static AddrRange make(uint64_t start, uint64_t size, const std::string& what);
    static AddrRange make(uint64_t start, uint64_t size);
    // Returns nullopt instead of throwing.
    static std::optional<AddrRange> try_make(uint64_t start, uint64_t size);
    // From a start and an exclusive end (start < end).
    static AddrRange from_bounds(uint64_t first, uint64_t end_exclusive, const std::string& what = "range") {
        return make(first, end_exclusive - first, what);
    }

    constexpr uint64_t start() const { return start_; }
    constexpr uint64_t size() const { return size_; }
    constexpr uint64_t end() const { return start_ + size_; }  // exclusive, cannot overflow
    constexpr uint64_t last() const { return start_ + size_ - 1; }
    constexpr bool contains(uint64_t a) const { return a >= start_ && a - start_ < size_; }
    // True when [a, a + len) lies entirely inside this range (len > 0).
    constexpr bool contains(uint64_t a, uint64_t len) const {
        return contains(a) && len <= end() - a && len != 0;
    }
    constexpr bool overlaps(const AddrRange& o) const { return start_ < o.end() && o.start_ < end(); }
    std::optional<AddrRange> intersect(const AddrRange& o) const;

    constexpr bool operator==(const AddrRange&) const = default;
    std::string to_string() const;  // "0x1000-0x1fff"

private:
    constexpr AddrRange(uint64_t s, uint64_t n) : start_(s), size_(n) {}
    uint64_t start_;
    uint64_t size_;
};

}  // namespace kvmrr
