#include "replay/dirty_plot.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <numbers>

#include "core/error.h"
#include "core/file_replacement.h"
#include "replay/dirty_heatmap.h"
#include "replay/plot_axes.h"
#include "replay/plot_canvas.h"

namespace kvmrr {

namespace {

// The page, top to bottom: title, heatmap (panel A) with its key on the
// right, the dirty rate (B) on A's time axis, the migration rounds (C).
constexpr int kWidth = 1100, kHeight = 1110;
constexpr double kLeft = 240, kRight = 880;       // the plot area of A and B
constexpr double kTopA = 124, kBottomA = 524;     // A's plot area
constexpr double kTopB = 612, kBottomB = 772;     // B's
constexpr double kTopC = 862, kBottomC = 1052;    // C's
constexpr double kRightC = 700;                   // C is narrower: its legend is on the right
constexpr double kKeyLeft = 905, kKeyRight = 925;  // the colour key
constexpr uint64_t kMinBandRows = 14;             // rows (pixels) a small RAM block's band gets at least

struct Rgb {
    double r, g, b;
};
constexpr Rgb kTraceColour{0.12, 0.38, 0.72}, kModelColour{0.90, 0.45, 0.05}, kGrey{0.55, 0.55, 0.55};

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string date_label(int64_t ns) {
    if (ns <= 0) return "recording date unknown";
    const time_t secs = static_cast<time_t>(ns / 1000000000);
    struct tm tm {};
    if (gmtime_r(&secs, &tm) == nullptr) return "recording date unknown";
    char buf[64];
    std::snprintf(buf, sizeof buf, "recorded %04d-%02d-%02d %02d:%02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

void colour(cairo_t* cr, Rgb c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

void line(cairo_t* cr, double x0, double y0, double x1, double y1, double width = 1) {
    cairo_set_line_width(cr, width);
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
    cairo_stroke(cr);
}

void frame(cairo_t* cr, double x0, double y0, double x1, double y1) {
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x0 + 0.5, y0 + 0.5, x1 - x0 - 1, y1 - y0 - 1);
    cairo_stroke(cr);
}

// The horizontal axis A and B share: time when every epoch has one, else
// epoch numbers. Maps an epoch boundary to x.
struct TimeAxis {
    bool timed = false;
    double scale_s = 1e-3;  // one unit, in seconds
    std::string unit = "ms";
    double end = 1;  // in units (timed) or epochs
    double x(double v) const { return kLeft + v / end * (kRight - kLeft); }
    double epoch_start(const DirtyReport& r, size_t e) const {
        return timed ? static_cast<double>(r.epochs[e].start_ns) / 1e9 / scale_s : static_cast<double>(e);
    }
    double epoch_end(const DirtyReport& r, size_t e) const {
        return timed ? static_cast<double>(r.epochs[e].end_ns) / 1e9 / scale_s : static_cast<double>(e + 1);
    }
    std::string title() const {
        return timed ? "time since the recording started (" + unit + ")" : "epoch (this trace has no epoch times)";
    }
};

TimeAxis time_axis(const DirtyReport& r) {
    TimeAxis a;
    a.timed = r.timed && r.recorded_ns() > 0;
    if (!a.timed) {
        a.end = static_cast<double>(r.epochs.size());
        return a;
    }
    const double seconds = static_cast<double>(r.recorded_ns()) / 1e9;
    if (seconds >= 10) {
        a.scale_s = 1;
        a.unit = "s";
    }
    a.end = seconds / a.scale_s;
    return a;
}

void time_ticks(PlotCanvas& c, const TimeAxis& a, double bottom) {
    cairo_t* cr = c.cr();
    for (double v : linear_ticks(0, a.end, 8)) {
        const double x = a.x(v);
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        line(cr, x, bottom, x, bottom + 4);
        c.text("tick", short_number(v), x, bottom + 16, 10, TextAnchor::Middle);
    }
    c.text("axis-title", a.title(), (kLeft + kRight) / 2, bottom + 34, 11, TextAnchor::Middle);
}

// Panel A's picture: one pixel per cell or more, columns placed on the
// time axis (an epoch shorter than a pixel still gets one), drawn into an
// image and painted once, so a large heatmap stays one image in the SVG.
void heatmap_image(PlotCanvas& c, const DirtyReport& r, const HeatmapGrid& g, const TimeAxis& a) {
    const int w = static_cast<int>(kRight - kLeft), h = static_cast<int>(kBottomA - kTopA);
    cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        throw Error("cannot draw the heatmap: out of memory");
    }
    cairo_surface_flush(img);
    // Each pixel the darkest share that falls on it, so that a short dirty
    // epoch beside a long clean one still shows.
    std::vector<double> cell(static_cast<size_t>(w) * h, 0);
    for (uint64_t col = 0; col < g.cols; ++col) {
        const size_t e0 = col * g.epochs_per_col, e1 = std::min(r.epochs.size(), (col + 1) * g.epochs_per_col) - 1;
        int x0 = static_cast<int>(std::floor(a.x(a.epoch_start(r, e0)) - kLeft));
        int x1 = static_cast<int>(std::ceil(a.x(a.epoch_end(r, e1)) - kLeft));
        x0 = std::clamp(x0, 0, w - 1);
        x1 = std::clamp(std::max(x1, x0 + 1), 1, w);
        for (uint64_t row = 0; row < g.rows; ++row) {
            const double share = g.at(row, col);
            if (share <= 0) continue;
            const int y0 = static_cast<int>(row * h / g.rows), y1 = std::max<int>(y0 + 1, static_cast<int>((row + 1) * h / g.rows));
            for (int y = y0; y < std::min(y1, h); ++y)
                for (int x = x0; x < x1; ++x) cell[static_cast<size_t>(y) * w + x] = std::max(cell[static_cast<size_t>(y) * w + x], share);
        }
    }
    unsigned char* data = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    for (int y = 0; y < h; ++y) {
        auto* px = reinterpret_cast<uint32_t*>(data + static_cast<size_t>(y) * stride);
        for (int x = 0; x < w; ++x) {
            const auto rgb = heatmap_colour(cell[static_cast<size_t>(y) * w + x]);
            px[x] = uint32_t{rgb[0]} << 16 | uint32_t{rgb[1]} << 8 | rgb[2];
        }
    }
    cairo_surface_mark_dirty(img);
    cairo_set_source_surface(c.cr(), img, kLeft, kTopA);
    cairo_paint(c.cr());
    cairo_surface_destroy(img);
}

bool overlaps(const BlockMapping& a, const BlockMapping& b) { return a.page < b.page + b.pages && b.page < a.page + a.pages; }

// Mappings that show pages an earlier mapping already showed (a window
// that moved, an alias): the band is labelled with the first place only.
size_t moved_mappings(const RamBlockPages& b) {
    size_t n = 0;
    for (size_t i = 0; i < b.mappings.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (overlaps(b.mappings[i], b.mappings[j])) {
                ++n;
                break;
            }
    return n;
}

// Hex addresses down a band: where each piece of the block is mapped
// starts, and round (power-of-two) addresses inside pieces tall enough.
void band_addresses(PlotCanvas& c, const RamBlockPages& b, double y0, double y1, uint64_t page_size) {
    const double px_per_page = (y1 - y0) / static_cast<double>(b.pages);
    double last_label = -1e9;
    auto label = [&](uint64_t gpa, double y, bool tick) {
        if (y - last_label < 12 || y > y1 + 1) return;
        cairo_set_source_rgb(c.cr(), 0.3, 0.3, 0.3);
        if (tick) line(c.cr(), kLeft - 16, y, kLeft - 12, y);
        c.text("address", address_label(gpa), kLeft - 18, std::max(y + 3, y0 + 9), 9, TextAnchor::End);
        last_label = std::max(y, y0 + 6);
    };
    std::vector<BlockMapping> shown;
    for (const BlockMapping& m : b.mappings) {
        if (std::any_of(shown.begin(), shown.end(), [&](const BlockMapping& s) { return overlaps(s, m); })) continue;
        shown.push_back(m);
    }
    std::sort(shown.begin(), shown.end(), [](const BlockMapping& x, const BlockMapping& y) { return x.page < y.page; });
    for (const BlockMapping& m : shown) {
        auto y_of = [&](uint64_t gpa) { return y0 + static_cast<double>(m.page + (gpa - m.gpa) / page_size) * px_per_page; };
        label(m.gpa, y_of(m.gpa), true);
        const double span_px = static_cast<double>(m.pages) * px_per_page;
        if (span_px < 80) continue;
        const uint64_t bytes = m.pages * page_size;
        uint64_t step = page_size;
        while (step < bytes / static_cast<uint64_t>(span_px / 50)) step <<= 1;
        for (uint64_t gpa = (m.gpa / step + 1) * step; gpa < m.gpa + bytes; gpa += step)
            if (y_of(gpa) < y1 - 8) label(gpa, y_of(gpa), true);
    }
}

void panel_heatmap(PlotCanvas& c, const DirtyReport& r, const TimeAxis& a) {
    cairo_t* cr = c.cr();
    const HeatmapGrid g = heatmap_grid(r, static_cast<uint64_t>(kBottomA - kTopA), static_cast<uint64_t>(kRight - kLeft), kMinBandRows);
    cairo_set_source_rgb(cr, 0, 0, 0);
    c.text("panel-title", "Dirty pages by guest-physical address", 20, kTopA - 40, 13, TextAnchor::Start, true);
    heatmap_image(c, r, g, a);
    frame(cr, kLeft, kTopA, kRight, kBottomA);

    // Epochs across the top.
    const double epochs = static_cast<double>(r.epochs.size());
    for (double v : linear_ticks(0, epochs - 1, 10)) {
        const size_t e = static_cast<size_t>(v);
        const double x = (a.x(a.epoch_start(r, e)) + a.x(a.epoch_end(r, e))) / 2;
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        line(cr, x, kTopA - 4, x, kTopA);
        c.text("tick", std::to_string(r.epochs[e].epoch), x, kTopA - 7, 10, TextAnchor::Middle);
    }
    c.text("axis-title", "epoch (the interval between two dirty-log harvests)", (kLeft + kRight) / 2, kTopA - 22, 11,
           TextAnchor::Middle);
    time_ticks(c, a, kBottomA);

    // The RAM blocks as named bands down the left, with their addresses.
    const double px_per_row = (kBottomA - kTopA) / static_cast<double>(g.rows);
    for (const HeatmapBand& band : g.bands) {
        const RamBlockPages& b = r.blocks[band.block];
        const double y0 = kTopA + static_cast<double>(band.first_row) * px_per_row;
        const double y1 = y0 + static_cast<double>(band.rows) * px_per_row;
        const bool odd = band.block % 2;
        cairo_set_source_rgb(cr, odd ? 0.45 : 0.7, odd ? 0.6 : 0.78, odd ? 0.45 : 0.7);
        cairo_rectangle(cr, kLeft - 10, y0, 8, y1 - y0);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
        if (band.first_row > 0) line(cr, kLeft - 10, y0, kRight, y0, 0.5);
        cairo_set_source_rgb(cr, 0, 0, 0);
        std::string name = b.region + " (" + size_label_bytes(b.pages * r.page_size) + ")";
        if (const size_t moved = moved_mappings(b)) name += ", also mapped elsewhere " + std::to_string(moved) + "x";
        c.text("band", name, 20, std::max(y0 + 11, (y0 + y1) / 2 + 4), 11);
        band_addresses(c, b, y0, y1, r.page_size);
    }
    c.text("axis-title", "guest-physical address, by RAM block (small blocks enlarged)", 12, (kTopA + kBottomA) / 2, 11,
           TextAnchor::Middle, false, true);

    // The colour key.
    const int kh = static_cast<int>(kBottomA - kTopA);
    for (int y = 0; y < kh; ++y) {
        const double share = 1.0 - static_cast<double>(y) / (kh - 8);  // the last 8 pixels: clean
        const auto rgb = heatmap_colour(y >= kh - 8 ? 0 : share);
        cairo_set_source_rgb(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
        cairo_rectangle(cr, kKeyLeft, kTopA + y, kKeyRight - kKeyLeft, 1);
        cairo_fill(cr);
    }
    frame(cr, kKeyLeft, kTopA, kKeyRight, kBottomA);
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int pct : {100, 75, 50, 25})
        c.text("key", std::to_string(pct) + "%", kKeyRight + 5, kTopA + (1 - pct / 100.0) * (kh - 8) + 4, 10);
    c.text("key", "1 page", kKeyRight + 5, kBottomA - 12, 10);
    c.text("key", "clean", kKeyRight + 5, kBottomA, 10);
    c.text("key-title", "share of a cell's pages dirtied in its epochs", kKeyRight + 62, (kTopA + kBottomA) / 2, 11,
           TextAnchor::Middle, false, true);
}

void panel_rate(PlotCanvas& c, const DirtyReport& r, const TimeAxis& a) {
    cairo_t* cr = c.cr();
    cairo_set_source_rgb(cr, 0, 0, 0);
    c.text("panel-title", a.timed ? "Dirty pages per second" : "Dirty pages per epoch", 20, kTopB - 14, 13, TextAnchor::Start,
           true);
    auto value = [&](const DirtyEpoch& e) { return a.timed ? e.pages_per_second() : static_cast<double>(e.dirty_pages); };
    double top = 1;
    for (const DirtyEpoch& e : r.epochs) top = std::max(top, value(e));
    std::vector<double> ticks = linear_ticks(0, top, 4);
    if (ticks.size() > 1 && ticks.back() < top) ticks.push_back(ticks.back() + (ticks[1] - ticks[0]));  // a round top
    top = std::max(top, ticks.back());
    const LinearScale y(0, top, kBottomB, kTopB);
    for (double v : ticks) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        line(cr, kLeft, y(v), kRight, y(v));
        cairo_set_source_rgb(cr, 0, 0, 0);
        c.text("tick", short_number(v), kLeft - 6, y(v) + 4, 10, TextAnchor::End);
    }
    // The rate as steps, one per epoch, filled below.
    cairo_move_to(cr, a.x(0), y(0));
    for (size_t e = 0; e < r.epochs.size(); ++e) {
        cairo_line_to(cr, a.x(a.epoch_start(r, e)), y(value(r.epochs[e])));
        cairo_line_to(cr, a.x(a.epoch_end(r, e)), y(value(r.epochs[e])));
    }
    cairo_line_to(cr, a.x(a.epoch_end(r, r.epochs.size() - 1)), y(0));
    cairo_close_path(cr);
    cairo_set_source_rgba(cr, kTraceColour.r, kTraceColour.g, kTraceColour.b, 0.25);
    cairo_fill_preserve(cr);
    colour(cr, kTraceColour);
    cairo_set_line_width(cr, 1.2);
    cairo_stroke(cr);
    if (a.timed) {
        const double mean = r.mean_pages_per_second();
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        const double dash[] = {5, 3};
        cairo_set_dash(cr, dash, 2, 0);
        line(cr, kLeft, y(mean), kRight, y(mean));
        cairo_set_dash(cr, nullptr, 0, 0);
        c.text("note", "mean " + short_number(mean) + " pages/s (" + fixed(mean * static_cast<double>(r.page_size) / 1e6, 2) + " MB/s)",
               kRight - 4, std::max(kTopB + 12, y(mean) - 4), 10, TextAnchor::End);
    }
    frame(cr, kLeft, kTopB, kRight, kBottomB);
    cairo_set_source_rgb(cr, 0, 0, 0);
    c.text("axis-title", a.timed ? "dirty pages/s" : "dirty pages", kLeft - 50, (kTopB + kBottomB) / 2, 11, TextAnchor::Middle,
           false, true);
    time_ticks(c, a, kBottomB);
}

// Pages each round sends, the stop-and-copy last, and pages dirtied while
// each was sent (what the next one sends).
struct Rounds {
    std::vector<double> sent, dirtied;
};

Rounds rounds_of(const MigrationOutcome& o) {
    Rounds r;
    for (uint64_t p : o.round_pages) r.sent.push_back(static_cast<double>(p));
    r.sent.push_back(static_cast<double>(o.final_pages));
    for (size_t i = 0; i + 1 < r.sent.size(); ++i) r.dirtied.push_back(r.sent[i + 1]);
    return r;
}

// What an estimate concludes, in two lines (second: true for the second).
std::string outcome_label(const MigrationOutcome& o, bool second) {
    if (!second) return std::string(o.converges ? "converges" : "does not converge") + " after " + std::to_string(o.rounds) + " round(s):";
    return "total " + short_number(o.total_s) + " s, downtime " + short_number(o.downtime_s * 1e3) + " ms";
}

void series(cairo_t* cr, const std::vector<double>& v, const LinearScale& x, const LogScale& y, Rgb c, bool dashed) {
    if (v.empty()) return;
    colour(cr, c);
    const double dash[] = {4, 3};
    cairo_set_dash(cr, dash, dashed ? 2 : 0, 0);
    cairo_set_line_width(cr, 1.6);
    for (size_t i = 0; i < v.size(); ++i) (i ? cairo_line_to : cairo_move_to)(cr, x(static_cast<double>(i)), y(v[i]));
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
    for (size_t i = 0; i < v.size(); ++i) {
        if (dashed) {
            cairo_rectangle(cr, x(static_cast<double>(i)) - 2.5, y(v[i]) - 2.5, 5, 5);
            cairo_stroke(cr);
        } else {
            cairo_arc(cr, x(static_cast<double>(i)), y(v[i]), 3, 0, 2 * std::numbers::pi);
            cairo_fill(cr);
        }
    }
}

void panel_migration(PlotCanvas& c, const DirtyPlotInfo& info) {
    cairo_t* cr = c.cr();
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (!info.migration) {
        c.text("panel-title", "Pre-copy migration rounds", 20, kTopC - 18, 13, TextAnchor::Start, true);
        c.text("note", "no migration estimate: " + info.no_migration, (kLeft + kRightC) / 2, (kTopC + kBottomC) / 2, 11,
               TextAnchor::Middle);
        return;
    }
    const MigrationEstimate& m = *info.migration;
    const double link_mbit = m.params.bandwidth_bytes_per_s * 8 / 1e6;
    const std::string link = link_mbit >= 1000 ? short_number(link_mbit / 1000) + " Gbit/s" : short_number(link_mbit) + " Mbit/s";
    c.text("panel-title",
           "Pre-copy migration rounds over " + link + ", downtime limit " +
               short_number(m.params.downtime_s * 1e3) + " ms" + (info.link_assumed ? " (an assumed link: see --bandwidth)" : ""),
           20, kTopC - 18, 13, TextAnchor::Start, true);
    const Rounds tr = rounds_of(m.trace), geo = rounds_of(m.geometric);
    const double limit = m.params.downtime_s * m.params.bandwidth_bytes_per_s / static_cast<double>(m.page_size);
    double hi = std::max(1.0, limit);
    for (const Rounds* s : {&tr, &geo})
        for (double v : s->sent) hi = std::max(hi, v);
    const LogScale y(1, log_ceil(hi), kBottomC, kTopC);
    const double n = static_cast<double>(std::max(tr.sent.size(), geo.sent.size()));
    const LinearScale x(-0.5, std::max(1.0, n - 0.5), kLeft, kRightC);
    for (double v : log_ticks(1, log_ceil(hi))) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        line(cr, kLeft, y(v), kRightC, y(v));
        cairo_set_source_rgb(cr, 0, 0, 0);
        c.text("tick", short_number(v), kLeft - 6, y(v) + 4, 10, TextAnchor::End);
    }
    for (double v : linear_ticks(0, n - 1, 12)) {
        if (v != std::floor(v)) continue;  // rounds are whole
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        line(cr, x(v), kBottomC, x(v), kBottomC + 4);
        c.text("tick", short_number(v), x(v), kBottomC + 16, 10, TextAnchor::Middle);
    }
    colour(cr, kGrey);
    const double dash[] = {2, 2};
    cairo_set_dash(cr, dash, 2, 0);
    line(cr, kLeft, y(limit), kRightC, y(limit));
    cairo_set_dash(cr, nullptr, 0, 0);
    series(cr, tr.sent, x, y, kTraceColour, false);
    series(cr, tr.dirtied, x, y, kTraceColour, true);
    series(cr, geo.sent, x, y, kModelColour, false);
    series(cr, geo.dirtied, x, y, kModelColour, true);
    frame(cr, kLeft, kTopC, kRightC, kBottomC);
    cairo_set_source_rgb(cr, 0, 0, 0);
    c.text("axis-title", "pages (log scale)", kLeft - 50, (kTopC + kBottomC) / 2, 11, TextAnchor::Middle, false, true);
    c.text("axis-title", "pre-copy round (the last point of each: the stop-and-copy)", (kLeft + kRightC) / 2, kBottomC + 34, 11,
           TextAnchor::Middle);

    // The legend, and what each estimate concludes.
    double ly = kTopC + 10;
    auto entry = [&](Rgb col, bool dashed, const std::string& label) {
        colour(cr, col);
        const double d[] = {4, 3};
        cairo_set_dash(cr, d, dashed ? 2 : 0, 0);
        line(cr, kRightC + 20, ly - 4, kRightC + 44, ly - 4, 1.6);
        cairo_set_dash(cr, nullptr, 0, 0);
        cairo_set_source_rgb(cr, 0, 0, 0);
        c.text("legend", label, kRightC + 50, ly, 10);
        ly += 16;
    };
    entry(kTraceColour, false, "trace: pages sent");
    entry(kTraceColour, true, "trace: pages dirtied meanwhile");
    entry(kModelColour, false, "geometric model: pages sent");
    entry(kModelColour, true, "geometric model: pages dirtied");
    entry(kGrey, true, "what the downtime limit can send");
    ly += 8;
    c.text("legend", "the trace " + outcome_label(m.trace, false), kRightC + 20, ly, 10);
    c.text("legend", outcome_label(m.trace, true), kRightC + 30, ly + 14, 10);
    c.text("legend", "the model (lambda " + fixed(m.lambda, 3) + ") " + outcome_label(m.geometric, false), kRightC + 20, ly + 32, 10);
    c.text("legend", outcome_label(m.geometric, true), kRightC + 30, ly + 46, 10);
    if (m.looped) c.text("legend", "(the estimate loops the recording)", kRightC + 20, ly + 64, 10);
}

void draw_dirty_plot(const DirtyReport& r, const DirtyPlotInfo& info, const std::string& path) {
    const PictureFormat format = picture_format(path);
    std::string title = "Dirty pages of " + (info.trace_name.empty() ? std::string("a trace") : info.trace_name);
    if (!info.guest.empty()) title += " (guest " + info.guest + ")";
    PlotCanvas c(format, kWidth, kHeight, title);
    c.text("title", title, 20, 30, 17, TextAnchor::Start, true);
    std::string sub = date_label(info.recorded_at_ns);
    if (!info.accelerator.empty()) sub += " on " + info.accelerator;
    sub += "; " + std::to_string(r.ram_pages) + " pages of RAM (" + size_label_bytes(r.ram_pages * r.page_size) + ") in " +
           std::to_string(r.blocks.size()) + " block(s); " + std::to_string(r.epochs.size()) + " epochs";
    if (r.timed) sub += " over " + fixed(static_cast<double>(r.recorded_ns()) / 1e6, 1) + " ms";
    sub += "; " + std::to_string(r.distinct_pages) + " distinct pages dirtied";
    c.text("subtitle", sub, 20, 52, 12);
    if (r.damage) {
        cairo_set_source_rgb(c.cr(), 0.75, 0, 0);
        c.text("subtitle", "the trace is not whole: this shows what was (" + *r.damage + ")", 20, 68, 11);
    }
    const TimeAxis a = time_axis(r);
    panel_heatmap(c, r, a);
    panel_rate(c, r, a);
    panel_migration(c, info);
    c.save(path);
}

}  // namespace

DirtyPlotInfo dirty_plot_info(const TraceReader& reader) {
    DirtyPlotInfo i;
    i.trace_name = std::filesystem::path(reader.name()).filename().string();
    i.guest = reader.header().guest_name;
    i.accelerator = reader.header().accelerator;
    i.recorded_at_ns = reader.header().start_time_ns;
    return i;
}

bool write_dirty_plot(const DirtyReport& r, const DirtyPlotInfo& info, const std::string& path) {
    picture_format(path);
    if (r.epochs.empty() || r.ram_pages == 0) throw Error("picture " + path + ": the trace has no dirty logs to draw");
    // Drawn under a hidden name beside `path` (same extension, which says
    // the format) and renamed: an existing picture is replaced by a whole
    // one or left as it was.
    FileReplacement out(path);
    try {
        draw_dirty_plot(r, info, out.temp_path());
        out.commit();
    } catch (...) {
        release_drawing_caches();
        throw;
    }
    release_drawing_caches();
    return out.replaces_existing();
}

}  // namespace kvmrr
