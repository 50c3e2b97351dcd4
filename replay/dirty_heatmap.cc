#include "replay/dirty_heatmap.h"

#include <png.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace kvmrr {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// White for clean, then yellow, red and black as the share grows; a cell
// with any dirty page is at least a light yellow, so one page shows.
std::array<uint8_t, 3> colour(double share) {
    if (share <= 0) return {255, 255, 255};
    const double x = 0.15 + 0.85 * std::min(1.0, share);
    auto mix = [](double a, double b, double t) { return static_cast<uint8_t>(a + (b - a) * t + 0.5); };
    if (x < 0.5) {
        const double t = x / 0.5;  // light yellow -> red
        return {mix(255, 220, t), mix(240, 30, t), mix(150, 30, t)};
    }
    const double t = (x - 0.5) / 0.5;  // red -> black
    return {mix(220, 0, t), mix(30, 0, t), mix(30, 0, t)};
}

uint64_t cells_to_fill(uint64_t n, uint64_t target) { return n >= target ? 1 : std::max<uint64_t>(1, target / n); }

// libpng reports errors by longjmp, so its calls stay in this function,
// whose only locals live across setjmp are set before it and never change.
const char* png_encode(std::FILE* f, const uint8_t* rgb, png_uint_32 w, png_uint_32 h) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    if (!png) return "libpng could not start";
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, nullptr);
        return "libpng could not start";
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return "libpng failed (is the disk full?)";
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (png_uint_32 y = 0; y < h; ++y) png_write_row(png, rgb + size_t{y} * w * 3);
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return nullptr;
}

void write_png(const HeatmapGrid& g, const DirtyReport& r, const std::string& path) {
    const uint64_t cw = cells_to_fill(g.cols, 800), ch = cells_to_fill(g.rows, 600);
    const uint64_t margin = 6;  // a strip on the left that shows the RAM blocks, alternating grey
    const uint64_t w = margin + g.cols * cw, h = g.rows * ch;
    std::vector<uint8_t> image(w * h * 3);
    for (uint64_t y = 0; y < h; ++y) {
        uint8_t* row = image.data() + y * w * 3;
        const uint64_t gr = y / ch;
        // Which RAM block the row's first page belongs to, for the strip.
        const uint64_t page = gr * g.pages_per_row;
        size_t block = 0;
        while (block + 1 < r.blocks.size() && r.blocks[block + 1].first <= page) ++block;
        const uint8_t grey = block % 2 ? 120 : 190;
        for (uint64_t x = 0; x < margin; ++x) row[x * 3] = row[x * 3 + 1] = row[x * 3 + 2] = x + 1 == margin ? 255 : grey;
        for (uint64_t c = 0; c < g.cols; ++c) {
            const auto rgb = colour(g.at(gr, c));
            for (uint64_t k = 0; k < cw; ++k) std::copy(rgb.begin(), rgb.end(), row + (margin + c * cw + k) * 3);
        }
    }
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw Error("cannot write the heatmap " + path + ": " + std::strerror(errno));
    const char* err = png_encode(f, image.data(), static_cast<png_uint_32>(w), static_cast<png_uint_32>(h));
    const bool flushed = std::fflush(f) == 0 && !std::ferror(f);
    std::fclose(f);
    if (err) throw Error("cannot write the heatmap " + path + ": " + err);
    if (!flushed) throw Error("cannot write the heatmap " + path + ": " + std::strerror(errno));
}

void write_svg(const HeatmapGrid& g, const DirtyReport& r, const std::string& path) {
    const uint64_t cw = cells_to_fill(g.cols, 800), ch = cells_to_fill(g.rows, 600);
    const uint64_t left = 90, top = 30, bottom = 40;
    const uint64_t w = left + g.cols * cw + 20, h = top + g.rows * ch + bottom;
    std::string s;
    s.reserve(g.rows * g.cols * 16);
    s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(w) + "\" height=\"" + std::to_string(h) +
         "\" font-family=\"sans-serif\" font-size=\"11\">\n";
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    s += "<text x=\"" + std::to_string(left) + "\" y=\"18\">dirty pages: " + std::to_string(r.ram_pages) + " pages down (" +
         std::to_string(g.pages_per_row) + " per row), " + std::to_string(r.epochs.size()) + " epochs across (" +
         std::to_string(g.epochs_per_col) + " per column)</text>\n";
    // Cells: one rect per run of equal colour along a row keeps the file small.
    for (uint64_t row = 0; row < g.rows; ++row) {
        uint64_t c = 0;
        while (c < g.cols) {
            const auto rgb = colour(g.at(row, c));
            uint64_t e = c + 1;
            while (e < g.cols && colour(g.at(row, e)) == rgb) ++e;
            if (rgb != std::array<uint8_t, 3>{255, 255, 255}) {
                char buf[160];
                std::snprintf(buf, sizeof buf, "<rect x=\"%llu\" y=\"%llu\" width=\"%llu\" height=\"%llu\" fill=\"#%02x%02x%02x\"/>\n",
                              static_cast<unsigned long long>(left + c * cw), static_cast<unsigned long long>(top + row * ch),
                              static_cast<unsigned long long>((e - c) * cw), static_cast<unsigned long long>(ch), rgb[0], rgb[1],
                              rgb[2]);
                s += buf;
            }
            c = e;
        }
    }
    // Frame, RAM block boundaries with their sizes, and a few epoch ticks.
    s += "<rect x=\"" + std::to_string(left) + "\" y=\"" + std::to_string(top) + "\" width=\"" + std::to_string(g.cols * cw) +
         "\" height=\"" + std::to_string(g.rows * ch) + "\" fill=\"none\" stroke=\"#888\"/>\n";
    for (const RamBlockPages& b : r.blocks) {
        const uint64_t y = top + (b.first / g.pages_per_row) * ch;
        s += "<line x1=\"" + std::to_string(left - 5) + "\" x2=\"" + std::to_string(left + g.cols * cw) + "\" y1=\"" +
             std::to_string(y) + "\" y2=\"" + std::to_string(y) + "\" stroke=\"#4a7\" stroke-width=\"0.5\"/>\n";
        char label[96];
        std::snprintf(label, sizeof label, "block %u: %.1f MiB", b.id, static_cast<double>(b.pages * r.page_size) / 1048576.0);
        s += "<text x=\"2\" y=\"" + std::to_string(y + 11) + "\">" + label + "</text>\n";
    }
    const uint64_t ticks = std::min<uint64_t>(g.cols, 10);
    for (uint64_t i = 0; i <= ticks && ticks > 0; ++i) {
        const uint64_t col = std::min(g.cols - 1, i * g.cols / ticks);
        const uint64_t x = left + col * cw;
        s += "<text x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(top + g.rows * ch + 15) + "\">" +
             std::to_string(r.epochs[std::min<size_t>(r.epochs.size() - 1, col * g.epochs_per_col)].epoch) + "</text>\n";
    }
    s += "<text x=\"" + std::to_string(left) + "\" y=\"" + std::to_string(h - 6) +
         "\">epoch → (white: clean; yellow, red, black: more of the cell's pages dirty)</text>\n";
    s += "</svg>\n";
    std::ofstream out(path, std::ios::binary);
    out << s;
    out.flush();
    if (!out) throw Error("cannot write the heatmap " + path);
}

}  // namespace

HeatmapGrid heatmap_grid(const DirtyReport& r, uint64_t max_rows, uint64_t max_cols) {
    HeatmapGrid g;
    if (r.ram_pages == 0 || r.epochs.empty()) return g;
    g.pages_per_row = (r.ram_pages + max_rows - 1) / max_rows;
    g.rows = (r.ram_pages + g.pages_per_row - 1) / g.pages_per_row;
    g.epochs_per_col = (r.epochs.size() + max_cols - 1) / max_cols;
    g.cols = (r.epochs.size() + g.epochs_per_col - 1) / g.epochs_per_col;
    std::vector<uint64_t> count(g.rows * g.cols, 0);
    for (size_t i = 0; i < r.epochs.size(); ++i) {
        const uint64_t col = i / g.epochs_per_col;
        for (const PageRun& run : r.epochs[i].runs) {
            // The run's pages, row by row.
            uint64_t p = run.first;
            const uint64_t end = std::min(run.first + run.count, r.ram_pages);
            while (p < end) {
                const uint64_t row = p / g.pages_per_row;
                const uint64_t row_end = std::min(end, (row + 1) * g.pages_per_row);
                count[row * g.cols + col] += row_end - p;
                p = row_end;
            }
        }
    }
    g.share.resize(count.size());
    for (uint64_t row = 0; row < g.rows; ++row) {
        const uint64_t pages = std::min(g.pages_per_row, r.ram_pages - row * g.pages_per_row);
        for (uint64_t col = 0; col < g.cols; ++col) {
            const uint64_t epochs = std::min<uint64_t>(g.epochs_per_col, r.epochs.size() - col * g.epochs_per_col);
            g.share[row * g.cols + col] = static_cast<double>(count[row * g.cols + col]) / static_cast<double>(pages * epochs);
        }
    }
    return g;
}

void write_heatmap(const DirtyReport& r, const std::string& path) {
    const bool png = ends_with(path, ".png"), svg = ends_with(path, ".svg");
    if (!png && !svg) throw Error("heatmap " + path + ": the name must end in .png or .svg");
    const HeatmapGrid g = heatmap_grid(r);
    if (g.rows == 0) throw Error("heatmap " + path + ": the trace has no dirty logs to draw");
    // Drawn under a hidden name beside `path` and renamed: an existing
    // picture is replaced by a whole one or left as it was.
    const std::filesystem::path target(path);
    const std::string temp =
        (target.parent_path() / ("." + target.filename().string() + ".kvmrr-" + std::to_string(::getpid()))).string();
    try {
        if (png) {
            write_png(g, r, temp);
        } else {
            write_svg(g, r, temp);
        }
        if (std::rename(temp.c_str(), path.c_str()) != 0)
            throw Error("cannot write the heatmap " + path + ": " + std::strerror(errno));
    } catch (...) {
        std::remove(temp.c_str());
        throw;
    }
}

}  // namespace kvmrr
