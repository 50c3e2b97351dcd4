// Tests for export/perfetto_export.h through `kvmrr export --perfetto`:
// the golden traces' timelines, parsed with a real JSON parser and counted
// against `kvmrr inspect`; damage, and the command's usage errors.
#include "export/perfetto_export.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "export/tests/export_test_util.h"
#include "export/tests/perfetto_test_util.h"
#include "record/trace_writer.h"

namespace kvmrr {
namespace {

using testing::kvmrr_run;

class PerfettoExport : public ::testing::Test {
protected:
    std::filesystem::path dir = testing::scratch_dir("perfetto");
    void TearDown() override { std::filesystem::remove_all(dir); }
};

TEST_F(PerfettoExport, GoldenTracesBecomeTimelinesThatCountAsInspectDoes) {
    // Between them: port and MMIO exits, clock and entropy readings, serial
    // input, disk reads and DMA, topology commits from bank switching,
    // region definitions, dirty logs of many epochs.
    for (const char* name : {"hello", "nondet", "dma_disk", "bank_switch", "rom_shadow", "dirty_walker"}) {
        const std::string trace = testing::golden_trace(name);
        const auto json = dir / (std::string(name) + ".json");
        const testing::Result e = kvmrr_run("export --perfetto " + trace + " -o " + json.string());
        ASSERT_EQ(e.status, 0) << e.out;
        EXPECT_NE(e.out.find("time: "), std::string::npos) << e.out;
        const testing::Result i = kvmrr_run("inspect " + trace);
        ASSERT_EQ(i.status, 0) << i.out;
        testing::check_perfetto(trace, testing::slurp(json), i.out);
    }
}

// Every kind of event on its track, including those the golden traces lack
// (interrupts, DMA reads, a second vCPU), from a trace written here.
TEST_F(PerfettoExport, EveryKindLandsOnItsTrack) {
    const std::string trace = (dir / "kinds.trace").string();
    {
        TraceHeader h;
        h.vcpu_count = 2;
        h.initial_regs.resize(2);
        h.windows = {{"pic-master", true, 0x20, 2}, {"ioapic", false, 0xfec00000, 0x1000}};
        h.regions = {{0, "pic-master", "i/o"}, {1, "ioapic", "i/o"}, {2, "ram", "ram"}};
        TraceWriter w(trace, h);
        AccessEvent out;
        out.io = true;
        out.addr = 0x20;
        out.size = 1;
        out.is_write = true;
        out.value = 0x20;
        out.region = 0;
        AccessEvent mmio;
        mmio.addr = 0xfec00010;
        mmio.size = 4;
        mmio.value = 0x00170011;
        mmio.region = 1;
        w.append(0, TopologyEvent{0, 0x1234, 3, {}});
        w.append(0, MemslotEvent{});
        w.append(0, out);
        w.append(0, ClockEvent{5'000});
        w.append(0, InterruptEvent{0x20, 1, 0xfff0});
        w.append(1, mmio);
        w.append(1, ClockEvent{9'000});
        w.append(1, DmaReadEvent{0x1000, {1, 2, 3, 4}});
        w.append(1, DmaWriteEvent{0x2000, {5, 6}});
        w.append(1, EntropyEvent{{7, 8}});
        w.append(0, PauseEvent{2, 4242, true});
        DirtyEvent d;
        d.epoch = 0;
        d.pages = 8;
        d.dirty_pages = 2;
        d.runs = {1, 2};
        d.time_ns = 10'000;
        w.append(0, d);
        w.append(0, EndEvent{"halt", 0, 2, 0, {}, {}});
        w.close();
    }
    const auto json = dir / "kinds.json";
    const testing::Result e = kvmrr_run("export --perfetto " + trace + " -o " + json.string());
    ASSERT_EQ(e.status, 0) << e.out;
    testing::check_perfetto(trace, testing::slurp(json), kvmrr_run("inspect " + trace).out);
    const nlohmann::json j = nlohmann::json::parse(testing::slurp(json));
    bool interrupt_on_vcpu0 = false, vcpu1_named = false, ioapic_slice = false, pause_on_vcpu0 = false;
    for (const auto& ev : j["traceEvents"]) {
        if (ev["ph"] == "i" && ev["cat"] == "interrupts" && ev["name"] == "pause between exits")
            pause_on_vcpu0 = ev["pid"] == 1 && ev["tid"] == 0 && ev["args"]["exit"] == 2 && ev["args"]["instructions"] == 4242;
        else if (ev["ph"] == "i" && ev["cat"] == "interrupts")
            interrupt_on_vcpu0 = ev["pid"] == 1 && ev["tid"] == 0 && ev["args"]["vector"] == 0x20 &&
                                 std::abs(ev["ts"].get<double>() - 6.333) < 1e-6;  // a third of the way from 5 to 9 µs
        if (ev["ph"] == "M" && ev["pid"] == 1 && ev["tid"] == 1) vcpu1_named = ev["args"]["name"] == "vcpu1";
        if (ev["ph"] == "X" && ev["pid"] == 1 && ev["tid"] == 1)
            ioapic_slice = ev["name"] == "ioapic read 0xfec00010" && ev["args"]["value"] == "0x170011" &&
                           ev["args"]["device"] == "ioapic" && std::abs(ev["ts"].get<double>() - 7.666) < 1e-6;
    }
    EXPECT_TRUE(interrupt_on_vcpu0);
    EXPECT_TRUE(pause_on_vcpu0);
    EXPECT_TRUE(vcpu1_named);
    EXPECT_TRUE(ioapic_slice);
}

TEST_F(PerfettoExport, StandardOutputByDefault) {
    const testing::Result e = kvmrr_run("export --perfetto " + testing::golden_trace("hello"));
    ASSERT_EQ(e.status, 0) << e.out;
    // The JSON, then kvmrr's one line on stderr (flushed after it).
    const size_t note = e.out.rfind("\nkvmrr: ");
    ASSERT_NE(note, std::string::npos) << e.out;
    EXPECT_TRUE(nlohmann::json::accept(e.out.substr(0, note + 1))) << e.out;
}

TEST_F(PerfettoExport, ADamagedTraceIsExportedAsFarAsItIsWholeWithExit3) {
    std::string bytes = testing::slurp(testing::golden_trace("mmio_mix"));
    bytes.resize(bytes.size() - 100);  // into the last chunk
    const auto cut = dir / "cut.trace", json = dir / "cut.json";
    std::ofstream(cut, std::ios::binary) << bytes;
    const testing::Result e = kvmrr_run("export --perfetto " + cut.string() + " -o " + json.string());
    EXPECT_EQ(e.status, 3) << e.out;
    EXPECT_NE(e.out.find("is not whole"), std::string::npos) << e.out;
    const nlohmann::json j = nlohmann::json::parse(testing::slurp(json));
    ASSERT_TRUE(j.at("kvmrrDamage").is_string());
    EXPECT_FALSE(j.at("traceEvents").empty());
}

// -o writes a whole new file and then renames it over what was there: a
// file is replaced only by a complete export (and the user is told), and
// an export that fails leaves it as it was, with nothing beside it.
TEST_F(PerfettoExport, AnExistingOutputIsReplacedOnlyByAWholeExport) {
    const auto out = dir / "timeline.json";
    const auto write_old = [&] { std::ofstream(out) << "the user's file\n"; };
    write_old();
    const testing::Result bad = kvmrr_run("export --qtest " + std::string(KVMRR_SOURCE_DIR) + "/README.md -o " + out.string());
    EXPECT_EQ(bad.status, 2) << bad.out;
    EXPECT_EQ(testing::slurp(out), "the user's file\n");
    const testing::Result good = kvmrr_run("export --perfetto " + testing::golden_trace("hello") + " -o " + out.string());
    ASSERT_EQ(good.status, 0) << good.out;
    EXPECT_NE(good.out.find("replaced the existing " + out.string()), std::string::npos) << good.out;
    EXPECT_EQ(testing::slurp(out).rfind("{", 0), 0u) << "not the timeline";
    const auto fresh = dir / "fresh.json";
    const testing::Result first = kvmrr_run("export --perfetto " + testing::golden_trace("hello") + " -o " + fresh.string());
    ASSERT_EQ(first.status, 0) << first.out;
    EXPECT_EQ(first.out.find("replaced"), std::string::npos) << first.out;
    size_t files = 0;
    for ([[maybe_unused]] const auto& f : std::filesystem::directory_iterator(dir)) ++files;
    EXPECT_EQ(files, 2u) << "a temporary file was left beside the outputs";
}

TEST_F(PerfettoExport, UsageErrorsExit2) {
    EXPECT_EQ(kvmrr_run("export").status, 2);
    EXPECT_EQ(kvmrr_run("export --perfetto /nonexistent.trace").status, 2);
    const testing::Result both = kvmrr_run("export --perfetto a --qtest b");
    EXPECT_EQ(both.status, 2) << both.out;
    EXPECT_NE(both.out.find("give --perfetto TRACE or --qtest TRACE"), std::string::npos) << both.out;
    const testing::Result not_trace = kvmrr_run("export --qtest " + std::string(KVMRR_SOURCE_DIR) + "/README.md");
    EXPECT_EQ(not_trace.status, 2) << not_trace.out;
    EXPECT_NE(not_trace.out.find("not a kvmrr trace"), std::string::npos) << not_trace.out;
    EXPECT_EQ(kvmrr_run("export --perfetto " + testing::golden_trace("hello") + " -o /nonexistent/dir/x.json").status, 2);
}

}  // namespace
}  // namespace kvmrr
