// Device replay against scripted recordings: a whole run reproduces, and a
// planted change in a device model, a damaged trace or a changed model
// version is caught at the right event.
#include "core/tests/region_test_hook.h"
#include "replay/device_replay.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "vmm/machine.h"
#include "record/trace_writer.h"
#include "replay/tests/replay_test_util.h"

namespace kvmrr {
namespace {

using testing::record_device_tour;
using testing::temp_trace;

// A device's own callbacks with one change planted in front of them.
class PlantedOps final : public RegionOps {
public:
    using Read = std::function<uint64_t(RegionOps&, uint64_t, unsigned)>;
    using Write = std::function<void(RegionOps&, uint64_t, uint64_t, unsigned)>;
    PlantedOps(RegionOps& inner, Read r, Write w) : inner_(inner), read_(std::move(r)), write_(std::move(w)) {}
    uint64_t read(uint64_t off, unsigned size) override { return read_ ? read_(inner_, off, size) : inner_.read(off, size); }
    void write(uint64_t off, uint64_t v, unsigned size) override {
        if (write_) write_(inner_, off, v, size);
        else inner_.write(off, v, size);
    }

private:
    RegionOps& inner_;
    Read read_;
    Write write_;
};

std::vector<TraceEvent> read_all(const std::string& path) {
    TraceReader r = TraceReader::open(path);
    std::vector<TraceEvent> out;
    TraceEvent e;
    while (r.next(e)) out.push_back(e);
    return out;
}

// Sequence number of the first access matching, or of the first event of
// kind `then` after it.
uint64_t seq_of(const std::vector<TraceEvent>& ev, bool io, uint64_t addr, bool is_write, const char* then = nullptr) {
    for (size_t i = 0; i < ev.size(); ++i) {
        const auto* a = std::get_if<AccessEvent>(&ev[i].body);
        if (!a || a->io != io || a->addr != addr || a->is_write != is_write) continue;
        if (!then) return ev[i].seq;
        for (size_t j = i + 1; j < ev.size(); ++j)
            if (std::string(event_kind(ev[j])) == then) return ev[j].seq;
    }
    ADD_FAILURE() << "no such event";
    return ~0ull;
}

struct DeviceReplayTest : ::testing::Test {
    std::string path = temp_trace("replay");
    std::vector<std::unique_ptr<PlantedOps>> planted;
    void SetUp() override { record_device_tour(path); }
    void TearDown() override { std::filesystem::remove(path); }

    ReplayReport replay(std::function<void(Machine&)> prepare = {}) {
        TraceReader r = TraceReader::open(path);
        ReplayOptions o;
        o.prepare_machine = std::move(prepare);
        return replay_devices(r, o);
    }
    // Plants a change in the region answering `addr`.
    void plant(Machine& m, bool io, uint64_t addr, PlantedOps::Read rd, PlantedOps::Write wr = {}) {
        const AddressSpace& as = io ? static_cast<AddressSpace&>(m.io_space()) : static_cast<AddressSpace&>(m.memory_space());
        MemoryRegion* mr = as.view()->lookup(addr)->mr;
        planted.push_back(std::make_unique<PlantedOps>(*mr->ops(), std::move(rd), std::move(wr)));
        RegionTestHook::replace_ops(*mr, *planted.back());
    }
};

TEST_F(DeviceReplayTest, WholeRunIsReproduced) {
    const ReplayReport rep = replay();
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << "\n" << (rep.divergence ? rep.divergence->describe() : "");
    EXPECT_EQ(rep.accesses, 23u);
    EXPECT_EQ(rep.events, read_all(path).size());
    EXPECT_EQ(rep.end_reason, "guest-exit");
    EXPECT_EQ(rep.exit_status, 3);
    EXPECT_GT(rep.skipped_dirty, 0u);
    EXPECT_NE(rep.summary().find("reproduced: "), std::string::npos);
}

// Replay takes a group in place from the reader's chunk when it lies in
// one, and gathers it when it spans chunks: the same trace re-chunked
// into chunks of 1 to 7 events (every group split somewhere) replays alike.
TEST_F(DeviceReplayTest, GroupsSpanningChunksReplayAlike) {
    const std::vector<TraceEvent> events = read_all(path);
    const TraceHeader header = TraceReader::open(path).header();
    const ReplayReport whole = replay();
    ASSERT_TRUE(whole.reproduced());
    for (uint32_t chunk : {1u, 2u, 3u, 5u, 7u}) {
        SCOPED_TRACE("chunks of " + std::to_string(chunk));
        const std::string rechunked = temp_trace("rechunked");
        {
            TraceWriterOptions o;
            o.chunk_events = chunk;
            TraceWriter w(rechunked, header, o);
            for (const TraceEvent& e : events) w.append(e.vcpu, e.body);
        }
        TraceReader r = TraceReader::open(rechunked);
        const ReplayReport rep = replay_devices(r);
        std::filesystem::remove(rechunked);
        EXPECT_TRUE(rep.reproduced()) << rep.summary() << "\n" << (rep.divergence ? rep.divergence->describe() : "");
        EXPECT_EQ(rep.events, whole.events);
        EXPECT_EQ(rep.checked, whole.checked);
        EXPECT_EQ(rep.accesses, whole.accesses);
    }
}

TEST_F(DeviceReplayTest, ReplayIsRepeatable) {
    // Two replays of one trace, in one process, agree (no state left behind).
    EXPECT_TRUE(replay().reproduced());
    EXPECT_TRUE(replay().reproduced());
}

TEST_F(DeviceReplayTest, UartStatusBitChangeIsCaughtAtTheFirstStatusRead) {
    const ReplayReport rep = replay([&](Machine& m) {
        plant(m, true, 0x3fd, [](RegionOps& in, uint64_t off, unsigned size) {
            const uint64_t v = in.read(off, size);
            return off == 5 ? v & ~0x20ull : v;  // THRE never set
        });
    });
    ASSERT_TRUE(rep.divergence);
    const Divergence& d = *rep.divergence;
    EXPECT_EQ(d.seq, seq_of(read_all(path), true, 0x3fd, false));
    EXPECT_EQ(d.kind, "pio");
    EXPECT_EQ(d.addr, 0x3fdu);
    EXPECT_EQ(d.device, "uart16550");
    EXPECT_NE(d.difference.find("value: expected 0x60, actual 0x40"), std::string::npos) << d.difference;
    EXPECT_FALSE(d.expected.empty());
    EXPECT_FALSE(d.actual.empty());
    EXPECT_NE(d.describe().find("of device uart16550"), std::string::npos);
    EXPECT_FALSE(rep.reproduced());
}

TEST_F(DeviceReplayTest, RtcRegisterChangeIsCaughtAtItsRead) {
    const ReplayReport rep = replay([&](Machine& m) {
        plant(m, true, 0x71, [](RegionOps& in, uint64_t off, unsigned size) {
            const uint64_t v = in.read(off, size);
            return off == 1 ? v ^ 1 : v;
        });
    });
    ASSERT_TRUE(rep.divergence);
    EXPECT_EQ(rep.divergence->seq, seq_of(read_all(path), true, 0x71, false));
    EXPECT_EQ(rep.divergence->device, "cmos-rtc");
    EXPECT_NE(rep.divergence->difference.find("value"), std::string::npos);
}

TEST_F(DeviceReplayTest, BankSwitchOffsetChangeIsCaughtAtTheTopologyCommit) {
    const ReplayReport rep = replay([&](Machine& m) {
        plant(m, false, 0xfeb01000, nullptr, [](RegionOps& in, uint64_t off, uint64_t v, unsigned size) {
            in.write(off, off == 0 ? v + 1 : v, size);  // the next bank
        });
    });
    ASSERT_TRUE(rep.divergence);
    const Divergence& d = *rep.divergence;
    // The memslot listener hears the commit first: the old bank's slot is
    // deleted alike, then the new slot is the first consequence that differs.
    EXPECT_EQ(d.seq, seq_of(read_all(path), false, 0xfeb01000, true, "memslot") + 1);
    EXPECT_NE(d.expected.find("memslot add"), std::string::npos) << d.expected;
    EXPECT_EQ(d.kind, "memslot");
    EXPECT_EQ(d.addr, 0xfeb01000u);
    EXPECT_EQ(d.device, "bank-switch");
    EXPECT_NE(d.difference.find("block offset: expected 0x10000, actual 0x20000"), std::string::npos) << d.difference;
    // The views name the bank RAM at different offsets.
    EXPECT_NE(d.view_diff.find("- 0xe0000000"), std::string::npos) << d.view_diff;
    EXPECT_NE(d.view_diff.find("+ 0xe0000000"), std::string::npos) << d.view_diff;
    EXPECT_NE(d.describe().find("flat view, recorded (-) against replayed (+)"), std::string::npos);
    ASSERT_EQ(d.context.size(), 8u);
    // The eight recorded events just before it, in order.
    for (size_t i = 0; i < 8; ++i)
        EXPECT_EQ(d.context[i].rfind("#" + std::to_string(*d.seq - 8 + i) + " ", 0), 0u) << d.context[i];
}

TEST_F(DeviceReplayTest, DeviceThatAsksForMoreInputThanRecordedDiverges) {
    // The entropy device reads its source twice per access: the second
    // request has no recorded input behind it.
    const ReplayReport rep = replay([&](Machine& m) {
        plant(m, false, 0xfeb00000, [](RegionOps& in, uint64_t off, unsigned size) {
            (void)in.read(off, size);
            return in.read(off, size);
        });
    });
    ASSERT_TRUE(rep.divergence);
    EXPECT_EQ(rep.divergence->seq, seq_of(read_all(path), false, 0xfeb00000, false));
    EXPECT_EQ(rep.divergence->device, "entropy");
}

TEST_F(DeviceReplayTest, CutTraceIsReplayedAsFarAsItIsWhole) {
    const auto size = std::filesystem::file_size(path);
    std::filesystem::resize_file(path, size * 2 / 3);
    const ReplayReport rep = replay();
    EXPECT_FALSE(rep.reproduced());
    EXPECT_FALSE(rep.divergence) << rep.divergence->describe();
    ASSERT_TRUE(rep.damage);
    EXPECT_GT(rep.events, 0u);
    EXPECT_GT(rep.accesses, 0u);
    EXPECT_LT(rep.accesses, 23u);
    EXPECT_NE(rep.summary().find("INCOMPLETE"), std::string::npos);
}

// A flipped bit either makes the header unreadable, and open() refuses the
// trace, or it is damage that the replay reports (INCOMPLETE), never an
// exception thrown while replaying.
TEST_F(DeviceReplayTest, FlippedBitsNeverCrash) {
    std::vector<char> bytes(std::filesystem::file_size(path));
    std::ifstream(path, std::ios::binary).read(bytes.data(), static_cast<long>(bytes.size()));
    uint64_t refused_at_open = 0, damaged = 0;
    for (size_t i = 0; i < bytes.size(); i += 7) {
        std::vector<char> b = bytes;
        b[i] ^= 0x10;
        std::ofstream(path, std::ios::binary | std::ios::trunc).write(b.data(), static_cast<long>(b.size()));
        std::optional<TraceReader> r;
        try {
            r.emplace(TraceReader::open(path));
        } catch (const Error&) {
            ++refused_at_open;
            continue;
        }
        try {
            const ReplayReport rep = replay_devices(*r);
            // Checksums catch the flip: never a clean "reproduced" of damaged data past the header.
            if (rep.reproduced()) {
                EXPECT_LT(i, 64u) << "flip at byte " << i;
            }
            if (rep.damage) {
                ++damaged;
                EXPECT_NE(rep.summary().find("INCOMPLETE"), std::string::npos) << "flip at byte " << i << ": " << rep.summary();
            }
        } catch (const Error& e) {
            ADD_FAILURE() << "flip at byte " << i << " threw during replay: " << e.what();
        }
    }
    // Both outcomes happen: the file header is read at open, the chunks by the replay.
    EXPECT_GT(refused_at_open, 0u);
    EXPECT_GT(damaged, 0u);
}

TEST(DeviceReplayHeader, ChangedModelVersionIsReportedBeforeReplaying) {
    const std::string path = temp_trace("replay-version");
    {
        testing::ScriptedRecording s(path, [](TraceHeader& h) {
            for (DeviceRecord& d : h.devices)
                if (d.name == "cmos-rtc") d.model_version += 7;
        });
        s.out(0xf4, 0);
        s.finish();
    }
    TraceReader r = TraceReader::open(path);
    const ReplayReport rep = replay_devices(r);
    std::filesystem::remove(path);
    ASSERT_TRUE(rep.divergence);
    EXPECT_EQ(rep.divergence->kind, "header");
    EXPECT_FALSE(rep.divergence->seq);
    EXPECT_NE(rep.divergence->difference.find("device 'cmos-rtc' was model version"), std::string::npos);
}

TEST(DeviceReplayHeader, ExitStatusMismatchIsReported) {
    const std::string path = temp_trace("replay-status");
    {
        testing::ScriptedRecording s(path);
        s.out(0xf4, 0);
        // The run "ended" by halting although the guest asked to exit.
        s.finish(StopReason::Halt);
    }
    TraceReader r = TraceReader::open(path);
    const ReplayReport rep = replay_devices(r);
    std::filesystem::remove(path);
    ASSERT_TRUE(rep.divergence);
    EXPECT_EQ(rep.divergence->kind, "end");
    EXPECT_NE(rep.divergence->difference.find("saw the guest ask to exit"), std::string::npos);
}

}  // namespace
}  // namespace kvmrr
