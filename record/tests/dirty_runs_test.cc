#include "record/dirty_runs.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"

namespace kvmrr {
namespace {

DirtyBitmap random_bitmap(uint64_t pages, double density, std::mt19937_64& rng) {
    DirtyBitmap b{4, 0x100000, pages, {}};
    b.words.resize((pages + 63) / 64);
    std::bernoulli_distribution dirty(density);
    for (uint64_t p = 0; p < pages; ++p)
        if (dirty(rng)) b.words[p / 64] |= uint64_t{1} << (p % 64);
    return b;
}

std::vector<uint64_t> set_bits(const DirtyBitmap& b) {
    std::vector<uint64_t> out;
    for (uint64_t p = 0; p < b.pages; ++p)
        if (p / 64 < b.words.size() && (b.words[p / 64] >> (p % 64)) & 1) out.push_back(p);
    return out;
}

uint64_t count_runs(const std::vector<uint64_t>& pages) {
    uint64_t runs = 0;
    for (size_t i = 0; i < pages.size(); ++i)
        if (i == 0 || pages[i] != pages[i - 1] + 1) ++runs;
    return runs;
}

TEST(DirtyRunsTest, RandomBitmapsRoundTrip) {
    std::mt19937_64 rng(7);
    for (uint64_t pages : {1, 2, 63, 64, 65, 127, 128, 1000, 4096, 100003}) {
        for (double density : {0.0, 0.01, 0.1, 0.5, 1.0}) {
            for (int rep = 0; rep < 3; ++rep) {
                const DirtyBitmap b = random_bitmap(pages, density, rng);
                const DirtyEvent e = make_dirty_event(b, 9);
                const std::vector<uint64_t> want = set_bits(b);
                EXPECT_EQ(e.epoch, 9u);
                EXPECT_EQ(e.slot, 4u);
                EXPECT_EQ(e.guest_phys, 0x100000u);
                EXPECT_EQ(e.pages, pages);
                EXPECT_EQ(e.dirty_pages, want.size());
                EXPECT_EQ(e.dirty_pages, b.count());
                ASSERT_EQ(dirty_pages(e), want) << pages << " pages at " << density;
                EXPECT_EQ(dirty_runs(e).size(), count_runs(want));
                EXPECT_EQ(dirty_runs_problem(e), std::nullopt);
                // At most two 10-byte varints a run; no bytes for no runs.
                EXPECT_LE(e.runs.size(), 20 * count_runs(want));
                if (density == 1.0) {
                    EXPECT_EQ(dirty_runs(e), (std::vector<DirtyRun>{{0, pages}}));
                }
            }
        }
    }
}

// Long clean and dirty stretches (hundreds of pages, crossing many words,
// starting and ending anywhere in a word): what the encoder skips a word
// or four words at a time.
TEST(DirtyRunsTest, ClusteredBitmapsRoundTrip) {
    std::mt19937_64 rng(11);
    for (int rep = 0; rep < 300; ++rep) {
        const uint64_t pages = std::uniform_int_distribution<uint64_t>(1, 20000)(rng);
        DirtyBitmap b{1, 0, pages, std::vector<uint64_t>((pages + 63) / 64)};
        bool dirty = rep % 2 == 1;
        for (uint64_t p = 0; p < pages;) {
            const uint64_t len = std::uniform_int_distribution<uint64_t>(1, rep % 3 == 0 ? 70 : 1500)(rng);
            for (uint64_t q = p; q < std::min(pages, p + len); ++q)
                if (dirty) b.words[q / 64] |= uint64_t{1} << (q % 64);
            p += len;
            dirty = !dirty;
        }
        // Bits past the slot's end in the last word do not count.
        if (pages % 64) b.words.back() |= ~uint64_t{0} << (pages % 64);
        const DirtyEvent e = make_dirty_event(b, 1);
        const std::vector<uint64_t> want = set_bits(b);
        ASSERT_EQ(dirty_pages(e), want) << "rep " << rep << ", " << pages << " pages";
        EXPECT_EQ(dirty_runs(e).size(), count_runs(want));
    }
}

TEST(DirtyRunsTest, SizeFollowsTheRunsNotTheSlot) {
    const uint64_t gib_pages = (1ull << 30) / kPageSize;
    DirtyBitmap b{0, 0, gib_pages, std::vector<uint64_t>(gib_pages / 64)};
    b.words[0] = 1;                          // page 0
    b.words[1000] = uint64_t{1} << 5;        // page 64005
    b.words.back() = uint64_t{1} << 63;      // the last page
    const DirtyEvent e = make_dirty_event(b, 1);
    EXPECT_LT(e.runs.size(), 16u);
    EXPECT_EQ(dirty_pages(e), (std::vector<uint64_t>{0, 64005, gib_pages - 1}));

    // All of it dirty: one run.
    std::fill(b.words.begin(), b.words.end(), ~uint64_t{0});
    const DirtyEvent all = make_dirty_event(b, 1);
    EXPECT_LE(all.runs.size(), 4u);
    EXPECT_EQ(all.dirty_pages, gib_pages);

    // Nothing dirty: nothing stored.
    std::fill(b.words.begin(), b.words.end(), 0);
    EXPECT_TRUE(make_dirty_event(b, 1).runs.empty());
}

TEST(DirtyRunsTest, IgnoresBitsPastTheSlotAndMissingWords) {
    DirtyBitmap b{0, 0, 70, {~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}}};
    EXPECT_EQ(dirty_runs(make_dirty_event(b, 0)), (std::vector<DirtyRun>{{0, 70}}));
    DirtyBitmap short_words{0, 0, 1000, {uint64_t{1} << 63}};  // the rest is clean
    EXPECT_EQ(dirty_pages(make_dirty_event(short_words, 0)), (std::vector<uint64_t>{63}));
    DirtyBitmap ends_dirty{0, 0, 1000, {0, ~uint64_t{0}}};  // a run up to the last word given
    EXPECT_EQ(dirty_runs(make_dirty_event(ends_dirty, 0)), (std::vector<DirtyRun>{{64, 64}}));
}

TEST(DirtyRunsTest, EncodingIsGapLengthVarints) {
    DirtyBitmap b{0, 0, 400, {0b1110, 0, 0, 0, 0, 0, uint64_t{1} << 2}};  // pages 1..3 and 386
    const DirtyEvent e = make_dirty_event(b, 0);
    // (gap 1, len 3), (gap 386 - 4 = 382 = 0xfe 0x02, len 1)
    EXPECT_EQ(e.runs, (std::vector<uint8_t>{1, 3, 0xfe, 0x02, 1}));
}

TEST(DirtyRunsTest, MalformedRunsAreRejected) {
    auto rejected = [](std::vector<uint8_t> runs, uint64_t pages, uint64_t dirty, const char* why) {
        DirtyEvent e{0, 0, 0, pages, dirty, std::move(runs)};
        ASSERT_TRUE(dirty_runs_problem(e)) << why;
        EXPECT_NE(dirty_runs_problem(e)->find(why), std::string::npos) << *dirty_runs_problem(e);
        EXPECT_THROW(dirty_pages(e), Error);
        EXPECT_THROW(dirty_runs(e), Error);
    };
    rejected({0x80}, 10, 0, "cut short");
    rejected({1}, 10, 0, "gap but no length");
    rejected({1, 0}, 10, 0, "empty");
    rejected({0, 11}, 10, 11, "past the slot");
    rejected({9, 2}, 10, 2, "past the slot");
    rejected({0, 1, 0, 1}, 10, 2, "touches the previous one");
    rejected({0, 2}, 10, 3, "hold 2 dirty pages, the event says 3");
    rejected({0x81, 0x00, 1}, 10, 1, "shortest form");
    rejected({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 1}, ~0ull, 1, "64 bits");
    rejected({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ~0ull, 1, "64 bits");
    // Huge numbers that would overflow a naive sum are bounds errors, not wraparound.
    rejected({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
              0xff, 0xff, 0x01},
             100, 0, "past the slot");
    // The largest valid values are fine.
    DirtyEvent big{0, 0, 0, ~0ull, ~0ull, {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}};
    EXPECT_EQ(dirty_runs_problem(big), std::nullopt);
    EXPECT_EQ(dirty_runs(big), (std::vector<DirtyRun>{{0, ~0ull}}));
}

// A replay's report says which pages differ, not which byte of the encoding.
TEST(DirtyRunsTest, ADifferenceNamesThePagesDirtyOnOneSideOnly) {
    auto runs_of = [](std::vector<uint64_t> words) { return make_dirty_event(DirtyBitmap{0, 0, 640, std::move(words)}, 0).runs; };
    // Pages 1-3, 64-127 and 386; against 2-3, 64-65, 70-127, 386 and 400.
    const auto a = runs_of({0b1110, ~uint64_t{0}, 0, 0, 0, 0, uint64_t{1} << 2});
    const auto b = runs_of({0b1100, ~uint64_t{0} & ~uint64_t{0b111100}, 0, 0, 0, 0, uint64_t{1} << 2 | uint64_t{1} << 16});
    EXPECT_EQ(dirty_runs_difference(a, b),
              "pages of the slot dirty only in the recording: 0x1 0x42-0x45, only in the replay: 0x190");
    EXPECT_EQ(dirty_runs_difference(b, a),
              "pages of the slot dirty only in the recording: 0x190, only in the replay: 0x1 0x42-0x45");
    EXPECT_EQ(dirty_runs_difference(a, {}),
              "pages of the slot dirty only in the recording: 0x1-0x3 0x40-0x7f 0x182, only in the replay: none");
    // Every other page against none: the first six ranges, then "...".
    const auto many = runs_of({0x5555555555555555ull});
    EXPECT_EQ(dirty_runs_difference({}, many),
              "pages of the slot dirty only in the recording: none, only in the replay: 0x0 0x2 0x4 0x6 0x8 0xa ...");
    // A malformed side: nothing to say.
    EXPECT_EQ(dirty_runs_difference(a, {0x80}), std::nullopt);
    EXPECT_EQ(dirty_runs_difference({1, 0}, a), std::nullopt);
}

}  // namespace
}  // namespace kvmrr
