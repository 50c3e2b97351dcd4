// The dirty analysis' per-page state: sized by the windows shown and the
// pages reached, never by where in the block a window lies; windows that
// overlap or touch share their pages' state, kept across a merge.
#include "replay/dirty_page_state.h"

#include <gtest/gtest.h>

namespace kvmrr {
namespace {

TEST(BlockPages, AWindowFarIntoTheBlockHoldsOnlyItsOwnPages) {
    BlockPages b;
    const uint64_t far = uint64_t{1} << 32;  // the last pages of 16 TiB
    PageSpan& s = b.show(far - 16, 16);
    EXPECT_EQ(s.first, far - 16);
    EXPECT_EQ(s.pages, 16u);
    EXPECT_EQ(b.allocated(), 0u);  // nothing reached yet
    s.grow(16);
    EXPECT_EQ(b.allocated(), 16u);
    EXPECT_EQ(b.reached(), far);
    EXPECT_EQ(&b.at(far - 1), &s);
}

TEST(BlockPages, OverlappingWindowsMergeKeepingTheState) {
    BlockPages b;
    PageSpan& a = b.show(0, 16);
    a.grow(16);
    a.last[15] = 1;
    a.epochs[15] = 1;
    a.gpa[15] = 0x10f000;
    PageSpan& m = b.show(8, 16);  // pages 8 to 23
    EXPECT_EQ(m.first, 0u);
    EXPECT_EQ(m.pages, 24u);
    ASSERT_EQ(m.last.size(), 16u);
    EXPECT_EQ(m.last[15], 1u);
    EXPECT_EQ(m.epochs[15], 1u);
    EXPECT_EQ(m.gpa[15], 0x10f000u);
    EXPECT_EQ(b.spans().size(), 1u);
    EXPECT_EQ(&b.show(4, 4), &m);  // inside: the same span, nothing made
}

TEST(BlockPages, TouchingWindowsAreOneSpanAndDistantOnesAreNot) {
    BlockPages b;
    b.show(16, 16).grow(16);
    b.show(1000, 1).grow(1);
    EXPECT_EQ(b.spans().size(), 2u);
    PageSpan& m = b.show(0, 16);  // touches the first at page 16
    EXPECT_EQ(b.spans().size(), 2u);
    EXPECT_EQ(m.first, 0u);
    EXPECT_EQ(m.pages, 32u);
    EXPECT_EQ(m.last.size(), 32u);  // the state of pages 16 to 31 moved to 16 to 31 of the merged span
    EXPECT_EQ(b.at(1000).first, 1000u);
    EXPECT_EQ(b.allocated(), 33u);
    // A window bridging both merges all three.
    PageSpan& all = b.show(20, 990);
    EXPECT_EQ(b.spans().size(), 1u);
    EXPECT_EQ(all.first, 0u);
    EXPECT_EQ(all.pages, 1010u);
    EXPECT_EQ(all.last.size(), 1001u);
}

}  // namespace
}  // namespace kvmrr
