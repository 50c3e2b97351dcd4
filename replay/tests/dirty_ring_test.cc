// The dirty ring (KVM_CAP_DIRTY_LOG_RING) against the dirty bitmap, on
// real KVM (CTest label kvm; skips without /dev/kvm): the same guest
// recorded in both modes gives the same trace events and the same
// analysis, and a ring too small for what the guest dirties between two
// harvests either works (KVM_EXIT_DIRTY_RING_FULL handled) or is a clear
// error, never silently missing pages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/kvm/kvm.h"
#include "core/kvm/tests/require_kvm.h"
#include "record/record_session.h"
#include "replay/dirty_analysis.h"
#include "replay/tests/dirty_walker_expect.h"
#include "replay/trace_diff.h"

namespace kvmrr {
namespace {

struct Recorded {
    std::string path;
    std::string error;  // what record_guest threw, if it did
};

Recorded record_walker(uint32_t pattern, uint32_t pages, uint32_t epochs, DirtyLogMode mode, uint32_t ring_entries,
                       Accel accel = Accel::Kvm) {
    Recorded r;
    r.path = (std::filesystem::temp_directory_path() /
              ("kvmrr-ring-" + std::to_string(getpid()) + "-" + std::to_string(pattern) + "-" + dirty_log_mode_name(mode) + ".trace"))
                 .string();
    RecordRequest req;
    req.run.guest.fixture = "dirty_walker";
    req.run.guest.args = {pattern, pages, epochs};
    req.run.accel = accel;
    req.run.dirty_mode = mode;
    req.run.dirty_ring_entries = ring_entries;
    req.run.limits.timeout = std::chrono::seconds(60);
    req.run.serial_out = [](uint8_t) {};
    req.output = r.path;
    req.recorder.dirty_mark_port = 0x3ff;
    try {
        const RecordReport rep = record_guest(req);
        EXPECT_EQ(rep.run.exit_status, 0) << rep.run.message;
    } catch (const Error& e) {
        r.error = e.what();
    }
    return r;
}

DirtyReport analyse(const std::string& path) {
    TraceReader r = TraceReader::open(path);
    return analyse_dirty(r);
}

class DirtyRing : public ::testing::TestWithParam<uint32_t> {
protected:
    void SetUp() override {
        if (const std::string why = KvmSystem::unavailable_reason(); !why.empty())
            KVMRR_SKIP_WITHOUT_KVM("needs KVM: " + why);
        KvmSystem kvm;
        if (kvm.check_extension(KVM_CAP_DIRTY_LOG_RING) <= 0) KVMRR_SKIP_WITHOUT_KVM("this KVM has no dirty ring");
    }
};

TEST_P(DirtyRing, SameEventsAndAnalysisAsTheBitmap) {
    const uint32_t pattern = GetParam(), pages = 1024, epochs = 6;
    const Recorded bitmap = record_walker(pattern, pages, epochs, DirtyLogMode::Bitmap, 0);
    const Recorded ring = record_walker(pattern, pages, epochs, DirtyLogMode::Ring, kDefaultDirtyRingEntries);
    ASSERT_EQ(bitmap.error, "");
    ASSERT_EQ(ring.error, "");
    {
        TraceReader a = TraceReader::open(bitmap.path), b = TraceReader::open(ring.path);
        EXPECT_EQ(a.header().dirty_mode, "bitmap");
        EXPECT_EQ(b.header().dirty_mode, "ring");
        const TraceDiff d = diff_traces(a, b);
        EXPECT_EQ(d.differing, 0u) << d.format(bitmap.path, ring.path);
    }
    const DirtyReport ra = analyse(bitmap.path), rb = analyse(ring.path);
    std::filesystem::remove(bitmap.path);
    std::filesystem::remove(ring.path);
    ASSERT_EQ(ra.epochs.size(), rb.epochs.size());
    for (uint32_t e = 0; e < epochs; ++e) {
        EXPECT_EQ(ra.epochs[e].runs, rb.epochs[e].runs) << e;
        EXPECT_EQ(testing::walker_pages_seen(rb.epochs[e], pages), testing::walker_pages_written(pattern, pages, e)) << e;
    }
}

INSTANTIATE_TEST_SUITE_P(Patterns, DirtyRing, ::testing::Values(DIRTY_WALKER_SEQUENTIAL, DIRTY_WALKER_RANDOM, DIRTY_WALKER_HOT_COLD));

TEST_F(DirtyRing, ARingTooSmallWorksOrSaysPagesWereLost) {
    // 2,048 pages an epoch into a ring of 256 entries: KVM must stop the
    // vCPU with KVM_EXIT_DIRTY_RING_FULL several times per epoch.
    const Recorded ring = record_walker(DIRTY_WALKER_SEQUENTIAL, 8192, 3, DirtyLogMode::Ring, 256);
    if (!ring.error.empty()) {
        // Some KVMs (seen on a PVM host) let the ring overflow before the
        // exit: then kvmrr must say so rather than record a short bitmap.
        EXPECT_NE(ring.error.find("dirty pages"), std::string::npos) << ring.error;
        EXPECT_NE(ring.error.find("--dirty-mode bitmap"), std::string::npos) << ring.error;
        std::filesystem::remove(ring.path);
        return;
    }
    const Recorded bitmap = record_walker(DIRTY_WALKER_SEQUENTIAL, 8192, 3, DirtyLogMode::Bitmap, 0);
    const DirtyReport ra = analyse(bitmap.path), rb = analyse(ring.path);
    std::filesystem::remove(bitmap.path);
    std::filesystem::remove(ring.path);
    ASSERT_EQ(ra.epochs.size(), rb.epochs.size());
    for (size_t e = 0; e < ra.epochs.size(); ++e) EXPECT_EQ(ra.epochs[e].runs, rb.epochs[e].runs) << e;
}

TEST(DirtyRingMode, IsRefusedOnTheEmulatorWithAClearError) {
    const Recorded r = record_walker(DIRTY_WALKER_SEQUENTIAL, 64, 1, DirtyLogMode::Ring, 0, Accel::Emu);
    std::filesystem::remove(r.path);
    EXPECT_NE(r.error.find("the dirty ring is a KVM feature"), std::string::npos) << r.error;
    EXPECT_THROW(parse_dirty_log_mode("rings"), Error);
    EXPECT_EQ(parse_dirty_log_mode("ring"), DirtyLogMode::Ring);
}

}  // namespace
}  // namespace kvmrr
