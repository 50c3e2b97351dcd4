// With --ticks-between-exits the run loop's kick can stop the guest before
// its first exit, and the delivery that follows reads the clock: a reading
// in the trace's prologue, before any access. Device replay steps the board
// for it as the recording's loop did. Recorded here on the emulator, where
// the kick seldom comes that early, so the reading is put into a real
// recording where the loop would have made it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "record/record_session.h"
#include "record/trace_reader.h"
#include "record/trace_writer.h"
#include "replay/device_replay.h"
#include "replay/tests/replay_test_util.h"
#include "vmm/board.h"

namespace kvmrr {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

struct Decoded {
    TraceHeader header;
    std::vector<TraceEvent> events;
};

Decoded decode(const std::string& path) {
    TraceReader r = TraceReader::open(path);
    Decoded d{r.header(), {}};
    TraceEvent e;
    while (r.next(e)) d.events.push_back(e);
    return d;
}

void encode(const Decoded& d, const std::string& path) {
    TraceWriter w(path, d.header);
    for (const TraceEvent& e : d.events) w.append(e.vcpu, e.body);
    w.close();
}

ReplayReport replay(const std::string& path) {
    TraceReader r = TraceReader::open(path);
    return replay_devices(r, ReplayOptions{});
}

class EarlyKick : public ::testing::Test {
protected:
    void SetUp() override {
        RecordRequest req;
        req.run.board = Board::Pc;
        req.run.firmware = read_file(std::string(KVMRR_FIRMWARE_DIR) + "/timer_irq_spin.bin");
        ASSERT_FALSE(req.run.firmware.empty());
        req.run.firmware_name = "timer_irq_spin.bin";
        req.run.layout = pc_layout(kPcDefaultRam, req.run.firmware.size());
        req.run.ticks_between_exits = true;
        req.run.accel = Accel::Emu;
        req.run.limits.timeout = std::chrono::seconds(60);
        req.output = recorded;
        const RecordReport rep = record_guest(req);
        ASSERT_EQ(rep.run.exit_status, 10) << rep.run.message;
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
    // The trace with readings of `ns` just before its first access.
    void with_early_readings(std::initializer_list<int64_t> ns) {
        Decoded d = trace;
        d.events.insert(d.events.begin() + static_cast<std::ptrdiff_t>(first_access), ns.size(), TraceEvent{});
        size_t i = first_access;
        for (int64_t t : ns) d.events[i++].body = ClockEvent{t};
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

}  // namespace
}  // namespace kvmrr
