// With --ticks-between-exits the run loop's kick can stop the guest before
// its first exit, and the delivery that follows reads the clock: a reading
// in the trace's prologue, before any access. Device replay steps the board
// for it as the recording's loop did, and guest replay stops its guest at
// the pause's instruction count. Recorded here on the emulator, where the
// kick seldom comes that early, so the pause and its reading are put into
// a real recording where the loop would have made them.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "replay/device_replay.h"
#include "replay/guest_replay.h"
#include "replay/tests/replay_test_util.h"
#include "replay/tests/spinning_guest.h"

namespace kvmrr {
namespace {

using testing::Decoded;
using testing::decode;
using testing::encode;

ReplayReport replay(const std::string& path) {
    TraceReader r = TraceReader::open(path);
    return replay_devices(r, ReplayOptions{});
}

class EarlyKick : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NO_FATAL_FAILURE(testing::record_spinning_guest(recorded));
        trace = decode(recorded);
        first_access = std::find_if(trace.events.begin(), trace.events.end(), [](const TraceEvent& e) {
                           return std::holds_alternative<AccessEvent>(e.body);
                       }) -
                       trace.events.begin();
        ASSERT_LT(first_access, trace.events.size());
        for (const TraceEvent& e : trace.events)
            if (const auto* c = std::get_if<ClockEvent>(&e.body)) {
                first_reading = c->ns;
                break;
            }
        ASSERT_GT(first_reading, 0);
    }
    void TearDown() override {
        std::filesystem::remove(recorded);
        std::filesystem::remove(edited);
    }
    // The trace with kicks just before its first access, as the
    // recording's loop makes them: a pause (after 0 exits and 1, 2, ...
    // instructions), then the step's reading (the next of `ns`).
    void with_early_readings(std::initializer_list<int64_t> ns) {
        Decoded d = trace;
        d.events.insert(d.events.begin() + static_cast<std::ptrdiff_t>(first_access), 2 * ns.size(), TraceEvent{});
        size_t i = first_access;
        uint64_t instructions = 0;
        for (int64_t t : ns) {
            d.events[i++].body = PauseEvent{0, ++instructions, true};
            d.events[i++].body = ClockEvent{t};
        }
        encode(d, edited);
    }

    std::string recorded = testing::temp_trace("early-kick"), edited = testing::temp_trace("early-kick-edited");
    Decoded trace;
    size_t first_access = 0;
    int64_t first_reading = 0;
};

TEST_F(EarlyKick, TheRecordingAsItIsReplays) {
    const ReplayReport rep = replay(recorded);
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << (rep.divergence ? rep.divergence->describe() : "");
}

// The PIT runs from reset (channel 0, mode 3): its first deadline is armed
// before the guest does anything, and a kick for it may come at once.
TEST_F(EarlyKick, ReadingsBeforeTheFirstAccessAreTheBoardsSteps) {
    with_early_readings({first_reading / 3, first_reading / 2});
    const ReplayReport rep = replay(edited);
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << (rep.divergence ? rep.divergence->describe() : "");
    // Guest replay stops the guest after its first and second
    // instructions, before any exit, and the board reads the clock there.
    TraceReader r = TraceReader::open(edited);
    const ReplayReport guest = replay_guest(r);
    EXPECT_TRUE(guest.reproduced()) << guest.summary() << (guest.divergence ? guest.divergence->describe() : "");
}

// Only clock readings are steps: any other input before the first access
// is one no device asked for, and the replay stops there.
TEST_F(EarlyKick, AnInputNoStepReadsBeforeTheFirstAccessDiverges) {
    Decoded d = trace;
    d.events.insert(d.events.begin() + static_cast<std::ptrdiff_t>(first_access),
                    TraceEvent(0, 0, EntropyEvent{{1, 2, 3, 4}}));
    encode(d, edited);
    const ReplayReport rep = replay(edited);
    ASSERT_TRUE(rep.divergence);
    EXPECT_EQ(rep.divergence->seq, first_access) << rep.divergence->describe();
}

// Not only a kick: a HLT the guest makes before any access is an exit
// with no event of its own, and the board's wait after it reads the clock
// into the prologue as well (a firmware that starts with sti; hlt, whose
// tick comes through the 8259 as the reset left it). Guest replay hands
// the board those readings as device replay does.
TEST(EarlyHalt, ReadingsOfAWaitBeforeTheFirstAccessAreReplayedWithTheGuest) {
    const std::string path = testing::temp_trace("early-halt");
    std::vector<uint8_t> firmware(64 * 1024, 0x90);
    const uint8_t start[] = {0xfb, 0xf4, 0xeb, 0xfe};  // sti; hlt; jmp $
    std::copy(std::begin(start), std::end(start), firmware.begin() + 0xfff0);
    RecordRequest req = testing::ticks_request(std::move(firmware), "halt.bin", path);
    req.run.ticks_between_exits = false;
    req.run.limits.timeout = std::chrono::milliseconds(500);
    const RecordReport rec = record_guest(req);
    ASSERT_EQ(rec.run.result.reason, StopReason::Timeout) << rec.run.message;
    const Decoded d = decode(path);
    const auto first_access = std::find_if(d.events.begin(), d.events.end(), [](const TraceEvent& e) {
        return std::holds_alternative<AccessEvent>(e.body);
    });
    ASSERT_NE(std::find_if(d.events.begin(), first_access,
                           [](const TraceEvent& e) { return std::holds_alternative<ClockEvent>(e.body); }),
              first_access);
    EXPECT_TRUE(replay(path).reproduced());
    TraceReader r = TraceReader::open(path);
    const ReplayReport guest = replay_guest(r);
    EXPECT_TRUE(guest.reproduced()) << guest.summary() << (guest.divergence ? guest.divergence->describe() : "");
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace kvmrr
