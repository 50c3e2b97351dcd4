// Traces that are well formed but lie: a golden trace copied through the
// writer with one header field changed. Replay refuses each with a
// TraceError (kvmrr exits 3) that says what is wrong, rather than
// "reproducing" it.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "record/trace_error.h"
#include "record/trace_reader.h"
#include "record/trace_writer.h"
#include "replay/device_replay.h"
#include "replay/guest_replay.h"
#include "replay/tests/replay_test_util.h"

namespace kvmrr {
namespace {

std::string golden(const std::string& name) { return std::string(KVMRR_SOURCE_DIR) + "/fixtures/traces/" + name + ".trace"; }

// The golden trace `name` with its header edited, written anew.
std::string lying_copy(const std::string& name, const std::function<void(TraceHeader&)>& lie) {
    TraceReader in = TraceReader::open(golden(name));
    TraceHeader h = in.header();
    lie(h);
    const std::string path = testing::temp_trace("lie-" + name);
    TraceWriter out(path, h);
    TraceEvent e;
    while (in.next(e)) out.append(e.vcpu, e.body);
    out.close();
    return path;
}

std::string replay_error(const std::string& path, bool guest) {
    TraceReader r = TraceReader::open(path);
    std::filesystem::remove(path);
    ReplayOptions o;
    o.accel = Accel::Emu;
    try {
        const ReplayReport rep = guest ? replay_guest(r, o) : replay_devices(r, o);
        return "no error: " + rep.summary();
    } catch (const TraceError& e) {
        return e.what();
    }
}

TEST(LyingTrace, AnEmptyDeviceListIsRefused) {
    for (bool guest : {false, true}) {
        const std::string e = replay_error(lying_copy("hello", [](TraceHeader& h) { h.devices.clear(); }), guest);
        EXPECT_NE(e.find("lists 0 device(s) but not '"), std::string::npos) << e;
    }
}

TEST(LyingTrace, AMachineThatCannotBeIsRefused) {
    const std::string e = replay_error(lying_copy("hello", [](TraceHeader& h) { h.ram_size = 4095; }), false);
    EXPECT_NE(e.find("machine cannot be: RAM size 0xfff"), std::string::npos) << e;
}

TEST(LyingTrace, GuestReplayNeedsTheRecordedInitialRegisters) {
    std::string e = replay_error(lying_copy("hello", [](TraceHeader& h) { h.initial_regs.clear(); }), true);
    EXPECT_NE(e.find("no initial registers"), std::string::npos) << e;
    e = replay_error(lying_copy("hello", [](TraceHeader& h) { h.initial_regs.at(0).gprs.at(16) = 0xdead0000; }), true);
    EXPECT_NE(e.find("initial rip 0xdead0000 is not where its guest starts"), std::string::npos) << e;
}

// The pc board's IDE disk: a size no LBA reaches, or a disk on a machine
// without IDE channels, is refused; a smaller disk than the recording's
// replays, and diverges at the first read past its end.
TEST(LyingTrace, AnIdeDiskThatCannotBeIsRefused) {
    for (bool guest : {false, true}) {
        std::string e = replay_error(lying_copy("ide_walk", [](TraceHeader& h) { h.disk_sectors = uint64_t{1} << 60; }), guest);
        EXPECT_NE(e.find("past what LBA48 addresses"), std::string::npos) << e;
        e = replay_error(lying_copy("hello", [](TraceHeader& h) { h.disk_sectors = 128; }), guest);
        EXPECT_NE(e.find("has no IDE channel"), std::string::npos) << e;
        e = replay_error(lying_copy("ide_walk", [](TraceHeader& h) { h.disk_geometry = IdeGeometry{10, 17, 63, 0}; }), guest);
        EXPECT_NE(e.find("which no disk has"), std::string::npos) << e;
        e = replay_error(lying_copy("pc_walk", [](TraceHeader& h) {
                             h.disk_sectors = 0;
                             h.disk_geometry = IdeGeometry{10, 16, 63, 0};
                         }),
                         guest);
        EXPECT_NE(e.find("a geometry for an IDE disk it does not have"), std::string::npos) << e;
    }
    TraceReader r = TraceReader::open(lying_copy("ide_walk", [](TraceHeader& h) { h.disk_sectors = 8; }));
    ReplayOptions o;
    o.accel = Accel::Emu;
    const ReplayReport rep = replay_devices(r, o);
    ASSERT_TRUE(rep.divergence) << rep.summary();
    EXPECT_EQ(rep.divergence->device, "ide0") << rep.divergence->describe();
}

}  // namespace
}  // namespace kvmrr
