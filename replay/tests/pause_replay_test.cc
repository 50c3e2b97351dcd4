// Guest replay of a recording whose run loop stopped its guest between
// exits (--ticks-between-exits): on the emulator it stops the replayed
// guest at each pause's instruction count and asks the board there, so a
// tick the recording delivered where the guest spun comes at the same
// instruction. A pause moved by one instruction, or one without a count,
// is a divergence; a recording made on KVM (no counts), one from before
// format 12, and a replay asked to run on KVM are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "record/trace_error.h"
#include "replay/guest_replay.h"
#include "replay/tests/replay_test_util.h"
#include "replay/tests/spinning_guest.h"

namespace kvmrr {
namespace {

using testing::Decoded;

class PauseReplay : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NO_FATAL_FAILURE(testing::record_spinning_guest(recorded));
        trace = testing::decode(recorded);
        for (size_t i = 0; i < trace.events.size(); ++i)
            if (const auto* p = std::get_if<PauseEvent>(&trace.events[i].body)) {
                ASSERT_TRUE(p->counted);
                if (!first_pause) first_pause = i;
                ++pauses;
            }
        ASSERT_TRUE(first_pause);
    }
    void TearDown() override {
        std::filesystem::remove(recorded);
        std::filesystem::remove(edited);
    }
    ReplayReport replay(const std::string& path, Accel accel = Accel::Auto,
                        std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
        TraceReader r = TraceReader::open(path);
        ReplayOptions o;
        o.accel = accel;
        o.timeout = timeout;
        return replay_guest(r, o);
    }
    // What guest replay of `path` says when it refuses it ("" if it ran).
    std::string refusal(const std::string& path, Accel accel = Accel::Auto) {
        try {
            replay(path, accel);
        } catch (const TraceError& e) {
            return e.what();
        }
        ADD_FAILURE() << "replayed";
        return "";
    }
    PauseEvent& first() { return std::get<PauseEvent>(trace.events[*first_pause].body); }
    // The edited trace diverges at its first pause, long before the
    // replay's time limit.
    void expect_prompt_divergence_at_first_pause() {
        testing::encode(trace, edited);
        const auto t0 = std::chrono::steady_clock::now();
        const ReplayReport rep = replay(edited, Accel::Auto, std::chrono::seconds(30));
        EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
        ASSERT_TRUE(rep.divergence) << rep.summary();
        EXPECT_EQ(rep.divergence->seq, *first_pause) << rep.divergence->describe();
    }

    std::string recorded = testing::temp_trace("pause"), edited = testing::temp_trace("pause-edited");
    Decoded trace;
    std::optional<size_t> first_pause;
    size_t pauses = 0;
};

TEST_F(PauseReplay, TheGuestStopsWhereTheRecordingsLoopStoppedIt) {
    const ReplayReport rep = replay(recorded);
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << (rep.divergence ? rep.divergence->describe() : "");
    EXPECT_EQ(rep.accel, "emu");
    // The ticks the pauses delivered are among the interrupts compared.
    size_t between = 0;
    for (size_t i = 1; i < trace.events.size(); ++i)
        if (std::holds_alternative<InterruptEvent>(trace.events[i].body) &&
            std::any_of(trace.events.begin() + static_cast<std::ptrdiff_t>(i > 3 ? i - 3 : 0),
                        trace.events.begin() + static_cast<std::ptrdiff_t>(i),
                        [](const TraceEvent& e) { return std::holds_alternative<PauseEvent>(e.body); }))
            ++between;
    EXPECT_GE(between, 1u);
}

// The replay follows the trace: its guest stops one instruction later, and
// the tick delivered there arrives at another rip than the recording's.
TEST_F(PauseReplay, APauseOneInstructionLaterDeliversItsTickElsewhere) {
    ++first().instructions;
    testing::encode(trace, edited);
    const ReplayReport rep = replay(edited);
    ASSERT_TRUE(rep.divergence) << rep.summary();
    const size_t tick = *first_pause + 2;  // the pause, its reading, the interrupt
    ASSERT_TRUE(std::holds_alternative<InterruptEvent>(trace.events[tick].body));
    EXPECT_EQ(rep.divergence->seq, tick) << rep.divergence->describe();
    EXPECT_NE(rep.divergence->describe().find("rip: expected"), std::string::npos) << rep.divergence->describe();
}

// No count, no place to stop; a count the guest passed before it came
// (a lying trace), no stop either: the guest would spin on without its
// tick, but the replay ends at once (well within its time limit) and the
// pause is what it lacks.
TEST_F(PauseReplay, APauseWithoutACountIsADivergenceThere) {
    first() = PauseEvent{first().exit, 0, false};
    expect_prompt_divergence_at_first_pause();
}

TEST_F(PauseReplay, APauseAtACountTheGuestPassedIsADivergenceThere) {
    // Before the guest's last exit ahead of it: passed before the stretch.
    first().instructions = 3;
    expect_prompt_divergence_at_first_pause();
}

TEST_F(PauseReplay, ARecordingOnKvmIsRefused) {
    trace.header.accelerator = "kvm";
    testing::encode(trace, edited);
    const std::string why = refusal(edited);
    EXPECT_NE(why.find("KVM, which recorded it, counts none"), std::string::npos) << why;
}

TEST_F(PauseReplay, ATraceFromBeforeFormat12IsRefused) {
    trace.header.format_version = kTracePauseVersion - 1;
    trace.header.min_reader_version = kTraceInterruptVersion;
    trace.events.erase(std::remove_if(trace.events.begin(), trace.events.end(),
                                      [](const TraceEvent& e) { return std::holds_alternative<PauseEvent>(e.body); }),
                       trace.events.end());
    testing::encode(trace, edited);
    const std::string why = refusal(edited);
    EXPECT_NE(why.find("does not say where"), std::string::npos) << why;
}

TEST_F(PauseReplay, AReplayOnKvmIsRefusedBeforeItStarts) {
    const std::string why = refusal(recorded, Accel::Kvm);
    EXPECT_NE(why.find("--accel emu"), std::string::npos) << why;
}

// A firmware that spins at its reset vector (jmp $) while the PIT runs
// from reset: no exit at all, a pause at every kick, and a recording that
// its time limit ends in that one stretch. The replay goes on through all
// of the stretch's pauses (two seconds of them) before it gives the guest
// its second to stop, and reproduces the recording.
TEST(PauseReplayStretch, PausesInALastStretchLongerThanASecondAreAllReplayed) {
    const std::string path = testing::temp_trace("pause-stretch");
    std::vector<uint8_t> firmware(64 * 1024, 0x90);
    firmware[0xfff0] = 0xeb;  // jmp $
    firmware[0xfff1] = 0xfe;
    RecordRequest req = testing::ticks_request(std::move(firmware), "spin.bin", path);
    req.run.limits.timeout = std::chrono::milliseconds(2500);
    const RecordReport rec = record_guest(req);
    ASSERT_EQ(rec.run.result.reason, StopReason::Timeout) << rec.run.message;
    EXPECT_EQ(rec.run.result.exits, 0u);
    const testing::Decoded d = testing::decode(path);
    const auto pauses = std::count_if(d.events.begin(), d.events.end(),
                                      [](const TraceEvent& e) { return std::holds_alternative<PauseEvent>(e.body); });
    EXPECT_GT(pauses, 20);
    TraceReader r = TraceReader::open(path);
    const ReplayReport rep = replay_guest(r);
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << (rep.divergence ? rep.divergence->describe() : "");
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace kvmrr
