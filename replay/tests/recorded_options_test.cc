// Every option that shapes a run is in the trace header and replay uses
// it: a --lax-mmio recording replays lax, and a recording that timed out
// guest-replays to the same exit without the user repeating --timeout.
// Recorded here on the emulator (no KVM needed).
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>

#include "record/record_session.h"
#include "record/trace_reader.h"
#include "record/trace_writer.h"
#include "replay/device_replay.h"
#include "replay/guest_replay.h"
#include "replay/tests/replay_test_util.h"

namespace kvmrr {
namespace {

RecordRequest emu_request(const std::string& out) {
    RecordRequest req;
    req.run.accel = Accel::Emu;
    req.run.serial_out = [](uint8_t) {};
    req.run.limits.timeout = std::chrono::seconds(60);
    req.output = out;
    return req;
}

ReplayReport replay(const std::string& path, bool guest) {
    TraceReader r = TraceReader::open(path);
    ReplayOptions o;
    o.accel = Accel::Emu;
    return guest ? replay_guest(r, o) : replay_devices(r, o);
}

// Records `code`, loaded at 0x1000 in real mode, on the emulator into
// `path`, with a time limit.
RecordReport record_real_mode(const std::vector<unsigned char>& code, const std::string& path,
                              std::chrono::milliseconds timeout) {
    const std::string image = path + ".image";
    std::ofstream(image, std::ios::binary).write(reinterpret_cast<const char*>(code.data()), static_cast<long>(code.size()));
    RecordRequest req = emu_request(path);
    req.run.guest.image = image;
    req.run.guest.load = 0x1000;
    req.run.guest.mode = CpuMode::Real;
    req.run.limits.timeout = timeout;
    RecordReport rec = record_guest(req);
    std::filesystem::remove(image);
    return rec;
}

// Real mode, 64 KiB of RAM: a read of 0x20000 hits nothing. Strict, the run
// ends there; lax, it reads all ones, which the guest exits with.
TEST(RecordedOptions, LaxMmioIsRecordedAndReplayed) {
    const std::string image = testing::temp_trace("lax-image"), path = testing::temp_trace("lax");
    {
        const unsigned char code[] = {0xb8, 0x00, 0x20,   // mov ax, 0x2000
                                      0x8e, 0xd8,         // mov ds, ax
                                      0xa0, 0x00, 0x00,   // mov al, [0]
                                      0xe6, 0xf4,         // out 0xf4, al
                                      0xf4};              // hlt
        std::ofstream(image, std::ios::binary).write(reinterpret_cast<const char*>(code), sizeof code);
    }
    RecordRequest req = emu_request(path);
    req.run.guest.image = image;
    req.run.guest.load = 0x1000;
    req.run.guest.mode = CpuMode::Real;
    req.run.layout = MachineLayout::parse("ram 64K\n", "test");
    req.run.policy.stop_on_unassigned_mmio = false;
    const RecordReport rec = record_guest(req);
    std::filesystem::remove(image);
    ASSERT_EQ(rec.run.exit_status, 0xff) << rec.run.message;
    EXPECT_TRUE(TraceReader::open(path).header().lax_mmio);
    for (bool guest : {false, true}) {
        const ReplayReport rep = replay(path, guest);
        EXPECT_TRUE(rep.reproduced()) << (guest ? "guest: " : "devices: ") << rep.summary()
                                      << (rep.divergence ? rep.divergence->describe() : "");
        EXPECT_EQ(rep.exit_status, 0xff);
    }
    std::filesystem::remove(path);
}

// Device and guest replay of `path` both reproduce it, ending as it did.
void expect_both_replays_end_as_recorded(const std::string& path, const std::string& end_reason) {
    for (bool guest : {false, true}) {
        const ReplayReport rep = replay(path, guest);
        EXPECT_TRUE(rep.reproduced()) << (guest ? "guest: " : "devices: ") << rep.summary()
                                      << (rep.divergence ? rep.divergence->describe() : "");
        EXPECT_EQ(rep.end_reason, end_reason);
    }
}

TEST(RecordedOptions, ATimedOutRecordingGuestReplaysToTheSameExit) {
    const std::string path = testing::temp_trace("timeout");
    RecordRequest req = emu_request(path);
    req.run.guest.fixture = "pio_loop";
    req.run.guest.args = {100000000};
    req.run.limits.timeout = std::chrono::milliseconds(300);
    const RecordReport rec = record_guest(req);
    ASSERT_EQ(rec.run.result.reason, StopReason::Timeout) << rec.run.message;
    EXPECT_EQ(TraceReader::open(path).header().timeout_ms, 300u);
    expect_both_replays_end_as_recorded(path, "timeout");
    std::filesystem::remove(path);
}

// --max-exits is in the header; guest replay stops after the same number
// of exits, and both replays end as the recording did.
TEST(RecordedOptions, ARecordingEndedByItsExitLimitGuestReplaysToTheSameExit) {
    const std::string path = testing::temp_trace("max-exits");
    RecordRequest req = emu_request(path);
    req.run.guest.fixture = "pio_loop";
    req.run.guest.args = {100000000};
    req.run.limits.max_exits = 40;
    const RecordReport rec = record_guest(req);
    ASSERT_EQ(rec.run.result.reason, StopReason::MaxExits) << rec.run.message;
    EXPECT_EQ(TraceReader::open(path).header().max_exits, 40u);
    expect_both_replays_end_as_recorded(path, "exit limit reached");
    std::filesystem::remove(path);
}

// A recording ended from outside (the CLI's Ctrl-C) ends at an exit it
// leaves unhandled, as a timed-out one: both replays reproduce it, the
// guest replay to that same exit.
TEST(RecordedOptions, AnInterruptedRecordingGuestReplaysToTheSameExit) {
    const std::string path = testing::temp_trace("interrupted");
    RecordRequest req = emu_request(path);
    req.run.guest.fixture = "pio_loop";
    req.run.guest.args = {100000000};
    std::atomic<int> interrupt{0};
    req.run.limits.interrupt = &interrupt;
    std::thread asker([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        interrupt.store(SIGINT);
    });
    const RecordReport rec = record_guest(req);
    asker.join();
    ASSERT_EQ(rec.run.result.reason, StopReason::Interrupted) << rec.run.message;
    EXPECT_EQ(rec.run.exit_status, 130);
    expect_both_replays_end_as_recorded(path, "interrupted");
    std::filesystem::remove(path);
}

// A time limit that stops the guest between exits (after one OUT it counts
// in a loop without any): the end says so, and guest replay stops its guest
// in that last stretch itself and compares everything but where it
// stopped (its registers). Such an end claiming it stopped at an exit, or
// another exit status, diverges.
TEST(RecordedOptions, ATimeLimitBetweenExitsIsReplayedWithoutWhereItStopped) {
    const std::string path = testing::temp_trace("count"), lying = testing::temp_trace("count-lying");
    const RecordReport rec = record_real_mode({0xb0, 0x41,        // mov al, 'A'
                                               0xba, 0xf8, 0x03,  // mov dx, 0x3f8
                                               0xee,              // out dx, al
                                               0x41,              // inc cx
                                               0xeb, 0xfd},       // jmp back to it
                                              path, std::chrono::milliseconds(200));
    ASSERT_EQ(rec.run.result.reason, StopReason::Timeout) << rec.run.message;
    EXPECT_TRUE(rec.run.result.between_exits);
    EXPECT_NE(rec.run.message.find("between exits"), std::string::npos) << rec.run.message;
    const auto guest_replay = [](const std::string& p, std::chrono::milliseconds limit) {
        TraceReader r = TraceReader::open(p);
        ReplayOptions o;
        o.accel = Accel::Emu;
        o.timeout = limit;
        return replay_guest(r, o);
    };
    // Its guest never makes another exit: the replay stops it itself, a
    // second into that last stretch, not at its own time limit.
    const auto started = std::chrono::steady_clock::now();
    const ReplayReport rep = guest_replay(path, std::chrono::minutes(10));
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::minutes(5));
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << (rep.divergence ? rep.divergence->describe() : "");
    EXPECT_TRUE(rep.end_between_exits);
    EXPECT_NE(rep.summary().find("between exits"), std::string::npos) << rep.summary();
    EXPECT_TRUE(replay(path, false).reproduced());
    const auto rewrite_end = [&](const std::function<void(EndEvent&)>& change) {
        TraceReader in = TraceReader::open(path);
        TraceWriter w(lying, in.header());
        for (TraceEvent e; in.next(e);) {
            if (auto* end = std::get_if<EndEvent>(&e.body)) {
                EXPECT_TRUE(end->between_exits);
                change(*end);
            }
            w.append(e.vcpu, e.body);
        }
        w.close();
    };
    rewrite_end([](EndEvent& e) { e.between_exits = false; });
    ReplayReport lie = guest_replay(lying, std::chrono::milliseconds(300));
    ASSERT_TRUE(lie.divergence) << lie.summary();
    EXPECT_EQ(lie.divergence->kind, "end") << lie.divergence->describe();
    rewrite_end([](EndEvent& e) { e.exit_status = 5; });
    lie = guest_replay(lying, std::chrono::milliseconds(300));
    ASSERT_TRUE(lie.divergence) << lie.summary();
    EXPECT_NE(lie.divergence->difference.find("exit status"), std::string::npos) << lie.divergence->describe();
    std::filesystem::remove(path);
    std::filesystem::remove(lying);
}

// The same with no exit at all before the time limit: the replay stops its
// guest a second into that one stretch, not at its own time limit.
TEST(RecordedOptions, ATimeLimitBeforeTheFirstExitIsReplayedThere) {
    const std::string path = testing::temp_trace("count-no-exit");
    const RecordReport rec = record_real_mode({0x41, 0xeb, 0xfd}, path, std::chrono::milliseconds(200));  // inc cx; jmp back
    ASSERT_EQ(rec.run.result.reason, StopReason::Timeout) << rec.run.message;
    EXPECT_EQ(rec.run.result.exits, 0u);
    TraceReader r = TraceReader::open(path);
    ReplayOptions o;
    o.accel = Accel::Emu;
    o.timeout = std::chrono::minutes(10);
    const auto started = std::chrono::steady_clock::now();
    const ReplayReport rep = replay_guest(r, o);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::minutes(1));
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << (rep.divergence ? rep.divergence->describe() : "");
    EXPECT_TRUE(rep.end_between_exits);
    std::filesystem::remove(path);
}

// The replay's own time limit, reached where the recording went on: a
// trace that claims a second exit its guest (spinning after the first)
// never makes. The report names the limit at that recorded event, not a
// difference from the harvest and end the limit forced.
TEST(RecordedOptions, AGuestReplayThatReachesItsTimeLimitSaysSoAtTheNextRecordedEvent) {
    const std::string path = testing::temp_trace("spin"), lying = testing::temp_trace("spin-lying");
    const RecordReport rec = record_real_mode({0xb0, 0x41,        // mov al, 'A'
                                               0xba, 0xf8, 0x03,  // mov dx, 0x3f8
                                               0xee,              // out dx, al
                                               0xeb, 0xfe},       // jmp $
                                              path, std::chrono::milliseconds(200));
    ASSERT_EQ(rec.run.result.reason, StopReason::Timeout) << rec.run.message;
    uint64_t claimed = 0;
    {
        TraceReader in = TraceReader::open(path);
        std::vector<TraceEvent> events;
        for (TraceEvent e; in.next(e);) events.push_back(e);
        const auto out = std::find_if(events.begin(), events.end(), [](const TraceEvent& e) {
            const auto* a = std::get_if<AccessEvent>(&e.body);
            return a && a->is_write && a->addr == 0x3f8;
        });
        ASSERT_NE(out, events.end());
        const auto end = std::find_if(events.begin(), events.end(),
                                      [](const TraceEvent& e) { return std::holds_alternative<EndEvent>(e.body); });
        ASSERT_NE(end, events.end());
        claimed = static_cast<uint64_t>(end - events.begin());  // sequence numbers count from 0
        const TraceEvent second = *out;
        events.insert(end, second);
        TraceWriter w(lying, in.header());
        for (const TraceEvent& e : events) w.append(e.vcpu, e.body);
        w.close();
    }
    TraceReader r = TraceReader::open(lying);
    ReplayOptions o;
    o.accel = Accel::Emu;
    o.timeout = std::chrono::milliseconds(200);
    const ReplayReport rep = replay_guest(r, o);
    ASSERT_TRUE(rep.divergence) << rep.summary();
    EXPECT_EQ(rep.divergence->seq, std::optional<uint64_t>(claimed)) << rep.divergence->describe();
    EXPECT_EQ(rep.divergence->kind, "pio");
    EXPECT_NE(rep.divergence->difference.find("reached its time limit (200 ms, --timeout)"), std::string::npos)
        << rep.divergence->describe();
    EXPECT_TRUE(rep.divergence->actual.empty()) << rep.divergence->describe();
    std::filesystem::remove(path);
    std::filesystem::remove(lying);
}

}  // namespace
}  // namespace kvmrr
