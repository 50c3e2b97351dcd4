#include "replay/dirty_heatmap.h"

#include <algorithm>

namespace kvmrr {

namespace {

// Row counts per block: blocks whose share of `max_rows` is below
// `min_rows` get min_rows (or one per page if fewer); the rest share what
// is left in proportion to their pages, at least one row each.
std::vector<uint64_t> band_rows(const DirtyReport& r, uint64_t max_rows, uint64_t min_rows) {
    std::vector<uint64_t> rows(r.blocks.size(), 0);
    std::vector<bool> fixed(r.blocks.size(), false);
    uint64_t fixed_rows = 0, other_pages = 0;
    for (size_t i = 0; i < r.blocks.size(); ++i) {
        const uint64_t pages = r.blocks[i].pages;
        const uint64_t floor_rows = std::min(pages, min_rows);
        const double share = static_cast<double>(max_rows) * static_cast<double>(pages) / static_cast<double>(r.ram_pages);
        if (share < static_cast<double>(floor_rows)) {
            fixed[i] = true;
            rows[i] = floor_rows;
            fixed_rows += floor_rows;
        } else {
            other_pages += pages;
        }
    }
    const uint64_t left = max_rows > fixed_rows ? max_rows - fixed_rows : 0;
    for (size_t i = 0; i < r.blocks.size(); ++i) {
        if (fixed[i]) continue;
        const uint64_t pages = r.blocks[i].pages;
        const auto want = static_cast<uint64_t>(static_cast<double>(left) * static_cast<double>(pages) / static_cast<double>(other_pages));
        rows[i] = std::clamp<uint64_t>(want, std::min<uint64_t>(1, pages), pages);
    }
    return rows;
}

}  // namespace

std::pair<uint64_t, uint64_t> HeatmapGrid::row_pages(const HeatmapBand& band, uint64_t pages, uint64_t row) const {
    // Row i holds pages [ceil(i*P/R), ceil((i+1)*P/R)), so page p is in row floor(p*R/P).
    const uint64_t i = row - band.first_row, R = band.rows;
    return {(i * pages + R - 1) / R, ((i + 1) * pages + R - 1) / R};
}

HeatmapGrid heatmap_grid(const DirtyReport& r, uint64_t max_rows, uint64_t max_cols, uint64_t min_band_rows) {
    HeatmapGrid g;
    if (r.ram_pages == 0 || r.epochs.empty() || r.blocks.empty() || max_rows == 0 || max_cols == 0) return g;
    const std::vector<uint64_t> rows = band_rows(r, max_rows, min_band_rows);
    for (size_t i = 0; i < r.blocks.size(); ++i) {
        g.bands.push_back({i, g.rows, rows[i]});
        g.rows += rows[i];
    }
    g.epochs_per_col = (r.epochs.size() + max_cols - 1) / max_cols;
    g.cols = (r.epochs.size() + g.epochs_per_col - 1) / g.epochs_per_col;
    std::vector<uint64_t> count(g.rows * g.cols, 0);
    for (size_t e = 0; e < r.epochs.size(); ++e) {
        const uint64_t col = e / g.epochs_per_col;
        for (const PageRun& run : r.epochs[e].runs) {
            // The block holding the run (a run never crosses blocks), then its pages row by row.
            const auto it = std::upper_bound(r.blocks.begin(), r.blocks.end(), run.first,
                                             [](uint64_t p, const RamBlockPages& b) { return p < b.first; });
            if (it == r.blocks.begin()) continue;
            const size_t b = static_cast<size_t>(std::prev(it) - r.blocks.begin());
            const RamBlockPages& block = r.blocks[b];
            const HeatmapBand& band = g.bands[b];
            if (band.rows == 0) continue;
            uint64_t p = run.first - block.first;
            const uint64_t end = std::min(run.first + run.count - block.first, block.pages);
            while (p < end) {
                const uint64_t row = band.first_row + p * band.rows / block.pages;
                const uint64_t row_end = std::min(end, g.row_pages(band, block.pages, row).second);
                count[row * g.cols + col] += row_end - p;
                p = row_end;
            }
        }
    }
    g.share.assign(count.size(), 0);
    for (const HeatmapBand& band : g.bands) {
        const uint64_t pages = r.blocks[band.block].pages;
        for (uint64_t row = band.first_row; row < band.first_row + band.rows; ++row) {
            const auto [first, end] = g.row_pages(band, pages, row);
            for (uint64_t col = 0; col < g.cols; ++col) {
                const uint64_t epochs = std::min<uint64_t>(g.epochs_per_col, r.epochs.size() - col * g.epochs_per_col);
                g.share[row * g.cols + col] =
                    static_cast<double>(count[row * g.cols + col]) / static_cast<double>((end - first) * epochs);
            }
        }
    }
    return g;
}

std::array<uint8_t, 3> heatmap_colour(double share) {
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

}  // namespace kvmrr
