#include "core/vcpu/dirty_log.h"

#include <gtest/gtest.h>

namespace kvmrr {
namespace {

TEST(DirtyLogTest, BitsBecomeGuestPhysicalPages) {
    DirtyBitmap b;
    b.guest_phys = 0x100000;
    b.pages = 130;
    b.words = {0b1011, 0, 1ull << 1 | 1ull << 63};  // bit 63 of word 2 is page 191: past the slot
    EXPECT_EQ(b.page_addresses(), (std::vector<uint64_t>{0x100000, 0x101000, 0x103000, 0x100000 + 129 * 4096}));
    EXPECT_EQ(b.count(), 5u);  // count() is the raw popcount
    std::vector<uint64_t> seen;
    b.for_each_page([&](uint64_t a) { seen.push_back(a); });
    EXPECT_EQ(seen, b.page_addresses());
}

TEST(DirtyLogTest, EmptyAndFull) {
    DirtyBitmap b;
    b.pages = 128;
    b.words = {0, 0};
    EXPECT_TRUE(b.page_addresses().empty());
    b.words = {~0ull, ~0ull};
    auto all = b.page_addresses();
    ASSERT_EQ(all.size(), 128u);
    for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], i * 4096);
    EXPECT_TRUE(b.any());
    b.words = {0, 0};
    EXPECT_FALSE(b.any());
}

TEST(DirtyLogTest, PageAddressesIntoAKeptVectorReplaceItsContents) {
    DirtyBitmap b;
    b.guest_phys = 0x100000;
    b.pages = 130;
    b.words = {0b1011, 0, 1ull << 1 | 1ull << 63};  // the last bit is past the slot
    std::vector<uint64_t> out(1000, 7);
    b.page_addresses(out);
    EXPECT_EQ(out, (std::vector<uint64_t>{0x100000, 0x101000, 0x103000, 0x100000 + 129 * 4096}));
    b.words = {0, 0, 0};
    b.page_addresses(out);
    EXPECT_TRUE(out.empty());
}

TEST(DirtyLogTest, SlotPagesTouchedByAnAccess) {
    const uint64_t slot = 0x100000, bytes = 4 * kPageSize;
    auto span = [&](uint64_t gpa, uint64_t len) {
        const SlotPages p = slot_pages_touched(slot, bytes, gpa, len);
        return p.empty() ? std::vector<uint64_t>{} : std::vector<uint64_t>{p.first, p.last};
    };
    EXPECT_EQ(span(0x100000, 1), (std::vector<uint64_t>{0, 0}));
    EXPECT_EQ(span(0x100fff, 2), (std::vector<uint64_t>{0, 1}));        // across a page
    EXPECT_EQ(span(0x0ff000, 0x2000), (std::vector<uint64_t>{0, 0}));   // from below the slot
    EXPECT_EQ(span(0x103ffc, 0x100), (std::vector<uint64_t>{3, 3}));    // past its end
    EXPECT_EQ(span(0x0ff000, 0x10000), (std::vector<uint64_t>{0, 3}));  // over all of it
    EXPECT_TRUE(span(0x0ff000, 0x1000).empty());                        // ends where it starts
    EXPECT_TRUE(span(0x104000, 8).empty());                             // starts where it ends
    EXPECT_TRUE(span(0x101000, 0).empty());
}

}  // namespace
}  // namespace kvmrr
