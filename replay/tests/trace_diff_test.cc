#include "replay/trace_diff.h"

#include <gtest/gtest.h>

#include "replay/tests/replay_test_util.h"

namespace kvmrr {
namespace {

using testing::ScriptedRecording;
using testing::temp_trace;

// The RTC and entropy are read with host inputs `clock` and `entropy0`;
// `bank` is selected; the UART prints `text`.
void record(const std::string& path, int64_t clock, uint8_t entropy0, uint64_t bank, const std::string& text) {
    ScriptedRecording s(path);
    s.host.clock_ns = clock;
    s.host.next_entropy = entropy0;
    for (char c : text) s.out(0x3f8, static_cast<uint8_t>(c));
    s.out(0x70, 0x00);
    s.in(0x71);
    s.read(0xfeb00000, 4);
    s.write(0xfeb01000, bank, 4);
    s.out(0xf4, 0);
    s.finish();
}

struct TraceDiffTest : ::testing::Test {
    std::string a = temp_trace("diff-a"), b = temp_trace("diff-b");
    void TearDown() override {
        std::filesystem::remove(a);
        std::filesystem::remove(b);
    }
    TraceDiff diff() {
        TraceReader ra = TraceReader::open(a), rb = TraceReader::open(b);
        return diff_traces(ra, rb);
    }
};

TEST_F(TraceDiffTest, SameRunsMatch) {
    record(a, 1000000000, 7, 1, "ok");
    record(b, 1000000000, 7, 1, "ok");
    const TraceDiff d = diff();
    EXPECT_TRUE(d.same()) << d.format("A", "B");
    EXPECT_GT(d.events_a, 10u);
    EXPECT_EQ(d.format("A", "B"), "traces match: " + std::to_string(d.events_a) + " events\n");
}

TEST_F(TraceDiffTest, DifferentClockAndEntropyAreOnlyInputs) {
    record(a, 1000000000, 7, 1, "ok");
    record(b, 1000000000 + 5 * 1000000000ll, 9, 1, "ok");  // 5 s later, other entropy
    const TraceDiff d = diff();
    EXPECT_FALSE(d.same());
    EXPECT_TRUE(d.only_inputs()) << d.format("A", "B");
    EXPECT_TRUE(d.first_is_input);
    // The RTC read comes first, its clock input right after it.
    EXPECT_NE(d.first_a.find("pio in 0x71"), std::string::npos) << d.first_a;
    EXPECT_NE(d.first_cause.find("clock"), std::string::npos) << d.first_cause;
    EXPECT_EQ(d.by_kind.at("clock"), 1u);
    EXPECT_EQ(d.by_kind.at("entropy"), 1u);
    const std::string text = d.format("A", "B");
    EXPECT_NE(text.find("only non-deterministic inputs differ"), std::string::npos) << text;
}

TEST_F(TraceDiffTest, GuestBehaviourDifferenceIsNamedWithCounts) {
    record(a, 1000000000, 7, 1, "ok");
    record(b, 1000000000, 7, 2, "oK");
    const TraceDiff d = diff();
    EXPECT_FALSE(d.only_inputs());
    ASSERT_TRUE(d.first_seq);
    EXPECT_NE(d.first_difference.find("value: expected 0x6b, actual 0x4b"), std::string::npos) << d.first_difference;
    EXPECT_EQ(d.by_kind.at("pio"), 1u);
    EXPECT_GE(d.by_kind.at("memslot"), 1u);  // the other bank
    EXPECT_EQ(d.by_kind.at("topology"), 1u);
}

TEST_F(TraceDiffTest, LengthDifferenceIsMissingOrExtra) {
    record(a, 1000000000, 7, 1, "ok");
    record(b, 1000000000, 7, 1, "ok!");
    const TraceDiff d = diff();
    EXPECT_EQ(d.events_b, d.events_a + 1);
    EXPECT_EQ(d.by_kind.count("extra in B"), 1u);
}

TEST_F(TraceDiffTest, HeaderDifferenceIsReported) {
    record(a, 1000000000, 7, 1, "ok");
    {
        ScriptedRecording s(b, [](TraceHeader& h) { h.ram_size *= 2; });
        s.out(0xf4, 0);
        s.finish();
    }
    const TraceDiff d = diff();
    ASSERT_FALSE(d.header.empty());
    EXPECT_NE(d.header[0].find("RAM size"), std::string::npos);
}

}  // namespace
}  // namespace kvmrr
