// A trace of every fixture guest, recorded on the emulator (this machine
// has no KVM; the recorder's taps are the same on both): it reads back
// whole, with contiguous sequence numbers and dirty logs, and the bytes
// the trace says the guest wrote to the UART are exactly its output.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "vmm/guest_run.h"
#include "record/record_session.h"
#include "record/trace_reader.h"

namespace kvmrr {
namespace {

class RecordFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(RecordFixture, TraceReadsBackAndMatchesTheGuestsOutput) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("kvmrr-recfix-" + std::to_string(getpid()) + "-" + GetParam() + ".trace")).string();
    RecordRequest req;
    req.run.guest.fixture = GetParam();
    req.run.accel = Accel::Emu;
    req.run.limits.timeout = std::chrono::seconds(60);
    std::string serial;
    req.run.serial_out = [&](uint8_t b) { serial.push_back(static_cast<char>(b)); };
    req.output = path;
    req.recorder.dirty_interval_exits = 100;
    const RecordReport rep = record_guest(req);
    EXPECT_EQ(rep.accel, "emu");

    TraceReader r = TraceReader::open(path);
    std::filesystem::remove(path);
    std::string from_trace;
    uint64_t expect_seq = 0, accesses = 0, dirty = 0;
    bool ended = false;
    // A write to the data register is output only with the divisor latch
    // off (LCR bit 7) and loopback off (MCR bit 4): device_walk writes it
    // in both modes too.
    bool dlab = false, loopback = false;
    TraceEvent e;
    while (r.next(e)) {
        EXPECT_EQ(e.seq, expect_seq++);
        EXPECT_FALSE(ended) << "event after the end";
        if (const auto* a = std::get_if<AccessEvent>(&e.body)) {
            ++accesses;
            if (a->io && a->is_write && a->addr == 0x3fb) dlab = (a->value & 0x80) != 0;
            if (a->io && a->is_write && a->addr == 0x3fc) loopback = (a->value & 0x10) != 0;
            if (a->io && a->addr == 0x3f8 && a->is_write && !dlab && !loopback)
                from_trace.push_back(static_cast<char>(a->value));
        }
        if (std::holds_alternative<DirtyEvent>(e.body)) ++dirty;
        if (const auto* end = std::get_if<EndEvent>(&e.body)) {
            ended = true;
            EXPECT_EQ(end->exits, rep.run.result.exits);
            EXPECT_EQ(end->device_digests.size(), 8u);
        }
    }
    EXPECT_TRUE(r.complete()) << r.damage().value_or("");
    EXPECT_TRUE(ended);
    EXPECT_EQ(expect_seq, rep.stats.events);
    EXPECT_EQ(accesses, rep.run.result.exits);
    EXPECT_GT(dirty, 0u);
    EXPECT_FALSE(serial.empty());
    EXPECT_EQ(from_trace, serial);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RecordFixture, ::testing::ValuesIn(fixture_names()));

}  // namespace
}  // namespace kvmrr
