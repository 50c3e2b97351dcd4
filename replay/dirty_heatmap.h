// The heatmap of a dirty-page analysis as data: RAM pages down, epochs
// across, each cell the share of its pages that were dirty in its epochs.
// Each RAM block is a band of rows of its own, so that a small block (a
// 64 KiB bank next to 256 MiB of RAM) still gets rows a person can see:
// inside a band rows are pages in order, a band's height is its share of
// the rows but at least `min_band_rows` (never more rows than pages).
// Columns are buckets of consecutive epochs. dirty_plot.h draws it.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "replay/dirty_analysis.h"

namespace kvmrr {

struct HeatmapBand {
    size_t block = 0;  // index into DirtyReport::blocks
    uint64_t first_row = 0, rows = 0;
};

struct HeatmapGrid {
    uint64_t rows = 0, cols = 0;
    uint64_t epochs_per_col = 1;
    std::vector<HeatmapBand> bands;  // in block order, one after another
    std::vector<double> share;       // rows * cols, row-major: dirty page-epochs / (pages * epochs) of the cell
    double at(uint64_t row, uint64_t col) const { return share[row * cols + col]; }
    // The pages of `row` within its band's block: [first, end).
    std::pair<uint64_t, uint64_t> row_pages(const HeatmapBand& band, uint64_t pages, uint64_t row) const;
};

// Empty (no rows) when the report has no RAM or no epoch.
HeatmapGrid heatmap_grid(const DirtyReport& r, uint64_t max_rows = 768, uint64_t max_cols = 1200,
                         uint64_t min_band_rows = 0);

// White for clean, then light yellow, red and black as the share grows;
// a cell with any dirty page is at least the light yellow, so one page shows.
std::array<uint8_t, 3> heatmap_colour(double share);

}  // namespace kvmrr
