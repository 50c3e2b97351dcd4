// Tests for export/perfetto_export.h through `kvmrr export --perfetto`:
// the golden traces' timelines, parsed with a real JSON parser and counted
// against `kvmrr inspect`; damage, and the command's usage errors.
#include "export/perfetto_export.h"

#include <gtest/gtest.h>

#include "export/tests/export_test_util.h"
#include "export/tests/perfetto_test_util.h"

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
