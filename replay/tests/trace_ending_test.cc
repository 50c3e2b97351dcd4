// One rule for a trace's ending, shared by device replay and guest replay
// (docs/TRACE_FORMAT.md, "Endings"): the run ends at the first end event;
// anything after it (a second end, any event) or no end at all leaves the
// replay not whole, with the same verdict and exit status (3) in both.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "record/trace_reader.h"
#include "record/trace_writer.h"
#include "replay/device_replay.h"
#include "replay/guest_replay.h"
#include "replay/tests/replay_test_util.h"

namespace kvmrr {
namespace {

std::string golden(const std::string& name) { return std::string(KVMRR_SOURCE_DIR) + "/fixtures/traces/" + name + ".trace"; }

// The golden hello trace, its events edited on the way through the writer.
std::string edited_copy(const std::function<void(std::vector<TraceEvent>&)>& edit) {
    TraceReader in = TraceReader::open(golden("hello"));
    std::vector<TraceEvent> events;
    for (TraceEvent e; in.next(e);) events.push_back(e);
    edit(events);
    const std::string path = testing::temp_trace("ending");
    TraceWriter out(path, in.header());
    for (const TraceEvent& e : events) out.append(e.vcpu, e.body);
    out.close();
    return path;
}

ReplayReport replay(const std::string& path, bool guest) {
    TraceReader r = TraceReader::open(path);
    ReplayOptions o;
    o.accel = Accel::Emu;
    return guest ? replay_guest(r, o) : replay_devices(r, o);
}

void expect_not_whole(const std::string& path, const std::string& why) {
    for (bool guest : {false, true}) {
        const ReplayReport rep = replay(path, guest);
        const std::string who = guest ? "guest replay: " : "device replay: ";
        EXPECT_FALSE(rep.reproduced()) << who << rep.summary();
        EXPECT_FALSE(rep.divergence.has_value()) << who << rep.divergence->describe();
        ASSERT_TRUE(rep.damage.has_value()) << who << rep.summary();
        EXPECT_NE(rep.damage->find(why), std::string::npos) << who << *rep.damage;
    }
    std::filesystem::remove(path);
}

TEST(TraceEnding, TheGoldenTraceEndsOnceAndReproducesInBoth) {
    const std::string path = edited_copy([](std::vector<TraceEvent>&) {});
    for (bool guest : {false, true}) EXPECT_TRUE(replay(path, guest).reproduced()) << guest;
    std::filesystem::remove(path);
}

TEST(TraceEnding, ADuplicateEndIsNotWholeInBoth) {
    expect_not_whole(edited_copy([](std::vector<TraceEvent>& ev) { ev.push_back(ev.back()); }),
                     "1 event(s) follow the end event");
}

TEST(TraceEnding, AnEventAfterTheEndIsNotWholeInBoth) {
    expect_not_whole(edited_copy([](std::vector<TraceEvent>& ev) { ev.push_back({0, 0, SerialInEvent{-1}}); }),
                     "follow the end event");
    // An access after the end starts a group of its own.
    expect_not_whole(edited_copy([](std::vector<TraceEvent>& ev) {
                         const auto first = std::find_if(ev.begin(), ev.end(), [](const TraceEvent& e) {
                             return std::holds_alternative<AccessEvent>(e.body);
                         });
                         ev.push_back(*first);
                     }),
                     "follow the end event");
}

TEST(TraceEnding, NoEndIsNotWholeInBoth) {
    expect_not_whole(edited_copy([](std::vector<TraceEvent>& ev) { ev.pop_back(); }), "no end event");
}

}  // namespace
}  // namespace kvmrr
