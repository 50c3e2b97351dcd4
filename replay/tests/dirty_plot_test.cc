// kvmrr dirty's picture: its structure, not its pixels. The SVG of the
// golden dirty_walker trace must carry exactly the words (title, axes,
// ticks, bands, key, legend) listed in replay/tests/data/dirty_walker_plot.txt,
// each also drawn by cairo; the PNG must be a PNG of the same size. The
// golden file is only ever changed by hand: when the picture changes on
// purpose, the failure prints the new lines to paste into it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "replay/dirty_plot.h"
#include "replay/plot_axes.h"
#include "replay/plot_canvas.h"

namespace kvmrr {
namespace {

const std::string kSource = KVMRR_SOURCE_DIR;

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("kvmrr-plot-" + std::to_string(getpid()) + "-" + name)).string();
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

// The golden trace's analysis, and the picture's facts, as `kvmrr dirty
// --bandwidth 100Mbit` (downtime 300 ms) has them.
struct Walker {
    DirtyReport report;
    DirtyPlotInfo info;
};

Walker walker() {
    TraceReader r = TraceReader::open(kSource + "/fixtures/traces/dirty_walker.trace");
    Walker w;
    w.report = analyse_dirty(r);
    w.info = dirty_plot_info(r);
    w.info.migration = estimate_migration(w.report, {parse_bandwidth("100Mbit"), 0.3, 30});
    return w;
}

size_t count_role(const std::vector<std::string>& lines, const std::string& role) {
    size_t n = 0;
    for (const std::string& l : lines) n += l.rfind(role + ": ", 0) == 0;
    return n;
}

TEST(DirtyPlot, TheSvgOfTheGoldenTraceHasTheGoldenWords) {
    const Walker w = walker();
    const std::string path = temp_path("walker.svg");
    write_dirty_plot(w.report, w.info, path);
    const std::string svg = slurp(path);
    std::filesystem::remove(path);
    const std::vector<std::string> got = svg_text_lines(svg);
    const std::vector<std::string> want = lines_of(slurp(kSource + "/replay/tests/data/dirty_walker_plot.txt"));
    std::string all;
    for (const std::string& l : got) all += l + "\n";
    EXPECT_EQ(got, want) << "the picture's words are now:\n" << all;

    // What a reader needs is there whatever the data: a title with the
    // trace, guest and date; both axes of every panel; bands; a key; a legend.
    EXPECT_NE(svg.find("<title>Dirty pages of dirty_walker.trace (guest dirty_walker)</title>"), std::string::npos);
    EXPECT_EQ(count_role(got, "title"), 1u);
    EXPECT_NE(all.find("subtitle: recorded 2026-12-02 06:25:15 UTC on kvm;"), std::string::npos) << all;
    EXPECT_EQ(count_role(got, "panel-title"), 3u);
    EXPECT_EQ(count_role(got, "axis-title"), 7u);  // heatmap 3, rate 2, migration 2
    EXPECT_EQ(count_role(got, "band"), w.report.blocks.size());
    EXPECT_GE(count_role(got, "address"), w.report.blocks.size());
    EXPECT_EQ(count_role(got, "key-title"), 1u);
    EXPECT_GE(count_role(got, "key"), 5u);
    EXPECT_GE(count_role(got, "legend"), 5u);
    EXPECT_GE(count_role(got, "tick"), 20u);
    // Every word in the text layer was drawn by cairo too: one glyph group each.
    EXPECT_EQ(svg_glyph_groups(svg), got.size());
    // The text layer is invisible: cairo's glyphs are what is seen.
    EXPECT_NE(svg.find("<g id=\"kvmrr-text\" font-family=\"DejaVu Sans, sans-serif\" fill-opacity=\"0\">"), std::string::npos);
}

TEST(DirtyPlot, ThePngIsAPngOfThePicturesSize) {
    const Walker w = walker();
    const std::string path = temp_path("walker.PNG");  // the extension in any case
    write_dirty_plot(w.report, w.info, path);
    const std::string png = slurp(path);
    std::filesystem::remove(path);
    ASSERT_GT(png.size(), 24u);
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    auto be32 = [&](size_t at) {
        return uint32_t{static_cast<uint8_t>(png[at])} << 24 | uint32_t{static_cast<uint8_t>(png[at + 1])} << 16 |
               uint32_t{static_cast<uint8_t>(png[at + 2])} << 8 | static_cast<uint8_t>(png[at + 3]);
    };
    EXPECT_EQ(be32(16), 1100u);  // IHDR width, height
    EXPECT_EQ(be32(20), 1110u);
}

TEST(DirtyPlot, ATraceWithoutTimesOrWholenessSaysSo) {
    Walker w = walker();
    w.report.timed = false;
    for (DirtyEpoch& e : w.report.epochs) e.start_ns = e.end_ns = 0;
    w.report.damage = "cut short at byte 1234";
    w.info.migration.reset();
    w.info.no_migration = "the trace has no epoch times to replay the rounds in";
    w.info.recorded_at_ns = 0;
    const std::string path = temp_path("untimed.svg");
    write_dirty_plot(w.report, w.info, path);
    const std::string svg = slurp(path);
    std::filesystem::remove(path);
    std::string all;
    for (const std::string& l : svg_text_lines(svg)) all += l + "\n";
    EXPECT_NE(all.find("subtitle: recording date unknown on kvm;"), std::string::npos) << all;
    EXPECT_NE(all.find("subtitle: the trace is not whole: this shows what was (cut short at byte 1234)"), std::string::npos) << all;
    EXPECT_NE(all.find("panel-title: Dirty pages per epoch\n"), std::string::npos) << all;
    EXPECT_NE(all.find("axis-title: epoch (this trace has no epoch times)\n"), std::string::npos) << all;
    EXPECT_NE(all.find("note: no migration estimate: the trace has no epoch times"), std::string::npos) << all;
}

TEST(DirtyPlot, BadNamesAndEmptyAnalysesAreClearErrors) {
    const Walker w = walker();
    EXPECT_THROW(write_dirty_plot(w.report, w.info, temp_path("x.gif")), Error);
    EXPECT_THROW(write_dirty_plot(w.report, w.info, temp_path("svg")), Error);
    EXPECT_THROW(write_dirty_plot(w.report, w.info, "/nonexistent-kvmrr-dir/x.png"), Error);
    EXPECT_THROW(write_dirty_plot(w.report, w.info, "/nonexistent-kvmrr-dir/x.svg"), Error);
    EXPECT_THROW(write_dirty_plot(DirtyReport{}, w.info, temp_path("empty.svg")), Error);
    EXPECT_FALSE(std::filesystem::exists(temp_path("empty.svg")));
    try {
        picture_format("walker.jpeg");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("walker.jpeg: the name must end in .png or .svg"), std::string::npos) << e.what();
    }
}

TEST(PlotCanvas, TheTextLayerEscapesAndRoundTrips) {
    const std::string path = temp_path("canvas.svg");
    {
        PlotCanvas c(PictureFormat::Svg, 200, 100, "a <title> & more");
        c.text("label", "x < y & \"z\"", 10, 20, 12);
        c.text("turned", "up", 50, 80, 10, TextAnchor::Middle, true, true);
        c.text("label", "", 10, 40, 12);  // nothing to draw, nothing kept
        // From a damaged or hostile trace: not UTF-8, control characters,
        // an overlong '/', a surrogate. Cairo would refuse them; they become '?'.
        c.text("name", "bad\xff\x01\xc0\xaf\xed\xa0\x80 \xc3\xa9t\xc3\xa9", 10, 60, 12);
        c.save(path);
        EXPECT_THROW(c.save(path), Error);
    }
    const std::string svg = slurp(path);
    std::filesystem::remove(path);
    EXPECT_NE(svg.find("<title>a &lt;title&gt; &amp; more</title>"), std::string::npos) << svg;
    EXPECT_EQ(svg_text_lines(svg),
              (std::vector<std::string>{"label: x < y & \"z\"", "turned: up", "name: bad??????? \xc3\xa9t\xc3\xa9"}));
    EXPECT_NE(svg.find("transform=\"rotate(-90 50.00 80.00)\""), std::string::npos);
    EXPECT_EQ(svg_glyph_groups(svg), 3u);
    release_drawing_caches();  // as write_dirty_plot does: the sanitizer build checks for leaks
}

TEST(PlotAxes, TicksAndLabels) {
    EXPECT_EQ(linear_ticks(0, 257.49, 8), (std::vector<double>{0, 50, 100, 150, 200, 250}));
    EXPECT_EQ(linear_ticks(0, 1, 4), (std::vector<double>{0, 0.5, 1}));
    EXPECT_EQ(linear_ticks(3, 3, 4), (std::vector<double>{3}));
    EXPECT_TRUE(linear_ticks(2, 1, 4).empty());
    EXPECT_EQ(log_ticks(1, 65808), (std::vector<double>{1, 10, 100, 1000, 10000, 100000}));
    EXPECT_DOUBLE_EQ(log_ceil(1000), 1000);
    EXPECT_DOUBLE_EQ(log_floor(999), 100);
    EXPECT_EQ(short_number(0), "0");
    EXPECT_EQ(short_number(0.5), "0.5");
    EXPECT_EQ(short_number(8113.4), "8.11k");
    EXPECT_EQ(short_number(1236404), "1.24M");
    EXPECT_EQ(short_number(1e9), "1G");
    EXPECT_EQ(address_label(0xe0000000), "0xe0000000");
    EXPECT_EQ(size_label_bytes(256ull << 20), "256 MiB");
    EXPECT_EQ(size_label_bytes(64 << 10), "64 KiB");
    EXPECT_EQ(size_label_bytes(100), "100 bytes");
    const LinearScale x(0, 10, 100, 200);
    EXPECT_DOUBLE_EQ(x(5), 150);
    const LinearScale flat(3, 3, 0, 10);  // no division by zero
    EXPECT_DOUBLE_EQ(flat(3), 0);
    const LogScale y(1, 1000, 300, 0);
    EXPECT_DOUBLE_EQ(y(10), 200);
    EXPECT_DOUBLE_EQ(y(0), 300);  // below the floor: at the floor
}

}  // namespace
}  // namespace kvmrr
