// Unit tests for core/address.h: typed addresses and checked AddrRange.
#include "core/address.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "core/error.h"

namespace kvmrr {
namespace {

// ---------------------------------------------------------------------------
// Typed addresses

static_assert(!std::is_same_v<Gpa, PioAddr>, "Gpa and PioAddr must be distinct types");
static_assert(!std::is_convertible_v<Gpa, PioAddr>, "a Gpa must not convert to a port");
static_assert(!std::is_convertible_v<PioAddr, Gpa>, "a port must not convert to a Gpa");
static_assert(!std::is_constructible_v<Gpa, PioAddr>, "no explicit Gpa from a port either");
static_assert(!std::is_constructible_v<PioAddr, Gpa>, "no explicit port from a Gpa either");
static_assert(!std::is_convertible_v<uint64_t, Gpa>, "an integer must not silently become a Gpa");
static_assert(!std::is_convertible_v<uint64_t, PioAddr>, "an integer must not silently become a port");
static_assert(!std::is_assignable_v<Gpa&, PioAddr>, "cannot assign a port to a Gpa");
static_assert(!std::is_assignable_v<PioAddr&, Gpa>, "cannot assign a Gpa to a port");
static_assert(!std::is_assignable_v<Gpa&, uint64_t>, "cannot assign an integer to a Gpa");
static_assert(std::is_constructible_v<Gpa, uint64_t>, "explicit construction from an integer works");
static_assert(std::is_constructible_v<PioAddr, uint64_t>, "explicit construction from an integer works");

template <class A, class B>
concept EqualityComparable = requires(A a, B b) { a == b; };
static_assert(EqualityComparable<Gpa, Gpa>);
static_assert(!EqualityComparable<Gpa, PioAddr>, "comparing a Gpa with a port must not compile");

template <class A, class B>
concept Subtractable = requires(A a, B b) { a - b; };
static_assert(Subtractable<Gpa, Gpa>);
static_assert(!Subtractable<Gpa, PioAddr>, "subtracting a port from a Gpa must not compile");

TEST(TypedAddr, ArithmeticAndOrdering) {
    constexpr Gpa a(0x1000);
    constexpr Gpa b = a + 0x234;
    static_assert(b.value == 0x1234);
    EXPECT_EQ(b.value, 0x1234u);
    EXPECT_EQ(b - a, 0x234u);
    EXPECT_TRUE(a < b);
    EXPECT_FALSE(b < a);
    EXPECT_EQ(Gpa(7), Gpa(7));
    EXPECT_NE(Gpa(7), Gpa(8));
    EXPECT_EQ(Gpa().value, 0u);
    EXPECT_EQ(PioAddr(0x3f8).value, 0x3f8u);
    EXPECT_TRUE(PioAddr(0x60) < PioAddr(0x64));
}

// ---------------------------------------------------------------------------
// AddrRange::make / try_make / from_bounds

TEST(AddrRangeMake, ZeroSizeThrowsWithMessage) {
    try {
        (void)AddrRange::make(0x1000, 0, "ram-block");
        FAIL() << "zero size accepted";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("ram-block"), std::string::npos) << msg;
        EXPECT_NE(msg.find("zero"), std::string::npos) << msg;
    }
}

TEST(AddrRangeMake, ZeroSizeAtZeroThrows) {
    EXPECT_THROW((void)AddrRange::make(0, 0), Error);
    EXPECT_FALSE(AddrRange::try_make(0, 0).has_value());
    EXPECT_FALSE(AddrRange::try_make(0x1234, 0).has_value());
}

TEST(AddrRangeMake, OverflowThrowsWithMessage) {
    try {
        (void)AddrRange::make(UINT64_MAX - 0xfff, 0x1001, "window");
        FAIL() << "overflowing range accepted";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("window"), std::string::npos) << msg;
        EXPECT_NE(msg.find("overflow"), std::string::npos) << msg;
    }
}

TEST(AddrRangeMake, OverflowVariants) {
    EXPECT_THROW((void)AddrRange::make(1, UINT64_MAX), Error);
    EXPECT_THROW((void)AddrRange::make(UINT64_MAX, 1), Error);
    EXPECT_THROW((void)AddrRange::make(0x8000000000000000ull, 0x8000000000000001ull), Error);
    EXPECT_FALSE(AddrRange::try_make(1, UINT64_MAX).has_value());
    EXPECT_FALSE(AddrRange::try_make(UINT64_MAX, 1).has_value());
    EXPECT_FALSE(AddrRange::try_make(UINT64_MAX - 1, 2).has_value());
}

TEST(AddrRangeMake, LargestRangesAccepted) {
    // end == UINT64_MAX is the largest representable end.
    AddrRange all = AddrRange::make(0, UINT64_MAX);
    EXPECT_EQ(all.start(), 0u);
    EXPECT_EQ(all.size(), UINT64_MAX);
    EXPECT_EQ(all.end(), UINT64_MAX);
    EXPECT_EQ(all.last(), UINT64_MAX - 1);

    AddrRange tail = AddrRange::make(UINT64_MAX - 1, 1);
    EXPECT_EQ(tail.end(), UINT64_MAX);
    EXPECT_EQ(tail.last(), UINT64_MAX - 1);

    auto t = AddrRange::try_make(UINT64_MAX - 0x1000, 0x1000);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->start(), UINT64_MAX - 0x1000);
    EXPECT_EQ(t->end(), UINT64_MAX);
}

TEST(AddrRangeMake, FromBounds) {
    AddrRange r = AddrRange::from_bounds(0x1000, 0x3000);
    EXPECT_EQ(r.start(), 0x1000u);
    EXPECT_EQ(r.size(), 0x2000u);
    EXPECT_EQ(r.end(), 0x3000u);
    EXPECT_EQ(r, AddrRange::make(0x1000, 0x2000));
    EXPECT_THROW((void)AddrRange::from_bounds(0x1000, 0x1000), Error);  // empty
}

TEST(AddrRangeMake, ToString) {
    EXPECT_EQ(AddrRange::make(0x1000, 0x1000).to_string(), "0x1000-0x1fff");
    EXPECT_EQ(AddrRange::make(0, 1).to_string(), "0x0-0x0");
    EXPECT_EQ(AddrRange::make(UINT64_MAX - 0x10, 0x10).to_string(), "0xffffffffffffffef-0xfffffffffffffffe");
}

// ---------------------------------------------------------------------------
// Accessors

TEST(AddrRange, EndAndLast) {
    AddrRange r = AddrRange::make(0x1000, 0x200);
    EXPECT_EQ(r.start(), 0x1000u);
    EXPECT_EQ(r.size(), 0x200u);
    EXPECT_EQ(r.end(), 0x1200u);
    EXPECT_EQ(r.last(), 0x11ffu);

    AddrRange one = AddrRange::make(5, 1);
    EXPECT_EQ(one.end(), 6u);
    EXPECT_EQ(one.last(), 5u);
}

// ---------------------------------------------------------------------------
// contains

TEST(AddrRangeContains, Boundaries) {
    AddrRange r = AddrRange::make(0x1000, 0x1000);
    EXPECT_FALSE(r.contains(0));
    EXPECT_FALSE(r.contains(0xfff));
    EXPECT_TRUE(r.contains(0x1000));
    EXPECT_TRUE(r.contains(0x1800));
    EXPECT_TRUE(r.contains(0x1fff));
    EXPECT_FALSE(r.contains(0x2000));
    EXPECT_FALSE(r.contains(UINT64_MAX));
}

TEST(AddrRangeContains, RangeEndingAtMax) {
    AddrRange r = AddrRange::make(UINT64_MAX - 0x100, 0x100);
    EXPECT_TRUE(r.contains(UINT64_MAX - 0x100));
    EXPECT_TRUE(r.contains(UINT64_MAX - 1));
    EXPECT_FALSE(r.contains(UINT64_MAX));  // the last byte of the space is not addressable
    EXPECT_FALSE(r.contains(UINT64_MAX - 0x101));
    EXPECT_TRUE(r.contains(UINT64_MAX - 8, 8));
    EXPECT_FALSE(r.contains(UINT64_MAX - 8, 9));
    EXPECT_FALSE(r.contains(UINT64_MAX - 1, UINT64_MAX));  // would wrap
    EXPECT_TRUE(r.contains(UINT64_MAX - 0x100, 0x100));
}

TEST(AddrRangeContains, WholeSpace) {
    AddrRange all = AddrRange::make(0, UINT64_MAX);
    EXPECT_TRUE(all.contains(0));
    EXPECT_TRUE(all.contains(UINT64_MAX - 1));
    EXPECT_FALSE(all.contains(UINT64_MAX));
    EXPECT_TRUE(all.contains(0, UINT64_MAX));
    EXPECT_FALSE(all.contains(1, UINT64_MAX));
}

TEST(AddrRangeContains, SubRange) {
    AddrRange r = AddrRange::make(0x1000, 0x1000);
    EXPECT_TRUE(r.contains(0x1000, 0x1000));
    EXPECT_TRUE(r.contains(0x1ff8, 8));
    EXPECT_FALSE(r.contains(0x1ff9, 8));   // one byte past the end
    EXPECT_FALSE(r.contains(0xfff, 2));    // starts before
    EXPECT_FALSE(r.contains(0x1000, 0x1001));
    EXPECT_FALSE(r.contains(0x1000, 0));   // empty is never contained
    EXPECT_FALSE(r.contains(0x1800, UINT64_MAX));  // huge length must not wrap into "true"
    EXPECT_FALSE(r.contains(0x2000, 1));
}

// ---------------------------------------------------------------------------
// overlaps / intersect

TEST(AddrRangeOverlaps, AdjacentDoNotOverlap) {
    AddrRange a = AddrRange::make(0x1000, 0x1000);
    AddrRange b = AddrRange::make(0x2000, 0x1000);
    EXPECT_FALSE(a.overlaps(b));
    EXPECT_FALSE(b.overlaps(a));
    EXPECT_FALSE(a.intersect(b).has_value());
    EXPECT_FALSE(b.intersect(a).has_value());
}

TEST(AddrRangeOverlaps, OneByteOverlap) {
    AddrRange a = AddrRange::make(0x1000, 0x1000);
    AddrRange b = AddrRange::make(0x1fff, 0x10);
    EXPECT_TRUE(a.overlaps(b));
    EXPECT_TRUE(b.overlaps(a));
    auto i = a.intersect(b);
    ASSERT_TRUE(i.has_value());
    EXPECT_EQ(*i, AddrRange::make(0x1fff, 1));
    auto j = b.intersect(a);
    ASSERT_TRUE(j.has_value());
    EXPECT_EQ(*j, AddrRange::make(0x1fff, 1));
}

TEST(AddrRangeOverlaps, Containment) {
    AddrRange outer = AddrRange::make(0x1000, 0x10000);
    AddrRange inner = AddrRange::make(0x4000, 0x100);
    EXPECT_TRUE(outer.overlaps(inner));
    EXPECT_TRUE(inner.overlaps(outer));
    EXPECT_EQ(outer.intersect(inner), inner);
    EXPECT_EQ(inner.intersect(outer), inner);
    EXPECT_EQ(outer.intersect(outer), outer);
}

TEST(AddrRangeOverlaps, PartialOverlap) {
    AddrRange a = AddrRange::make(0x1000, 0x2000);  // [0x1000, 0x3000)
    AddrRange b = AddrRange::make(0x2800, 0x1000);  // [0x2800, 0x3800)
    auto i = a.intersect(b);
    ASSERT_TRUE(i.has_value());
    EXPECT_EQ(i->start(), 0x2800u);
    EXPECT_EQ(i->size(), 0x800u);
    EXPECT_EQ(i->end(), 0x3000u);
}

TEST(AddrRangeOverlaps, Disjoint) {
    AddrRange a = AddrRange::make(0, 0x10);
    AddrRange b = AddrRange::make(0x100, 0x10);
    EXPECT_FALSE(a.overlaps(b));
    EXPECT_FALSE(b.overlaps(a));
    EXPECT_FALSE(a.intersect(b).has_value());
}

TEST(AddrRangeOverlaps, RangesEndingAtMax) {
    AddrRange top = AddrRange::make(UINT64_MAX - 0x1000, 0x1000);   // [.., MAX)
    AddrRange all = AddrRange::make(0, UINT64_MAX);
    AddrRange below = AddrRange::make(UINT64_MAX - 0x2000, 0x1000);  // ends where top starts
    AddrRange straddle = AddrRange::make(UINT64_MAX - 0x1800, 0x1000);

    EXPECT_TRUE(top.overlaps(all));
    EXPECT_TRUE(all.overlaps(top));
    EXPECT_EQ(all.intersect(top), top);
    EXPECT_EQ(top.intersect(all), top);

    EXPECT_FALSE(top.overlaps(below));
    EXPECT_FALSE(below.overlaps(top));
    EXPECT_FALSE(top.intersect(below).has_value());

    EXPECT_TRUE(top.overlaps(straddle));
    auto i = straddle.intersect(top);
    ASSERT_TRUE(i.has_value());
    EXPECT_EQ(i->start(), UINT64_MAX - 0x1000);
    EXPECT_EQ(i->size(), 0x800u);

    AddrRange last_byte = AddrRange::make(UINT64_MAX - 1, 1);
    EXPECT_TRUE(all.overlaps(last_byte));
    EXPECT_EQ(all.intersect(last_byte), last_byte);
    EXPECT_EQ(last_byte.intersect(top), last_byte);
}

TEST(AddrRangeOverlaps, FirstByteOfSpace) {
    AddrRange zero = AddrRange::make(0, 1);
    AddrRange next = AddrRange::make(1, 1);
    EXPECT_FALSE(zero.overlaps(next));
    EXPECT_TRUE(zero.overlaps(AddrRange::make(0, UINT64_MAX)));
    EXPECT_EQ(AddrRange::make(0, UINT64_MAX).intersect(zero), zero);
}

TEST(AddrRange, Equality) {
    EXPECT_EQ(AddrRange::make(0x10, 0x20), AddrRange::make(0x10, 0x20));
    EXPECT_NE(AddrRange::make(0x10, 0x20), AddrRange::make(0x10, 0x21));
    EXPECT_NE(AddrRange::make(0x10, 0x20), AddrRange::make(0x11, 0x20));
}

}  // namespace
}  // namespace kvmrr
