// The heatmap of a dirty-page analysis: RAM pages down, epochs across, each
// cell the share of its pages that were dirty (white: none, through yellow
// and red to black: all). Rows and columns are buckets of pages and epochs
// chosen so that a 1 GiB guest over 1,000 epochs still fits a screen
// (at most 768 rows and 1,200 columns); small analyses get larger cells.
#pragma once

#include <string>

#include "replay/dirty_analysis.h"

namespace kvmrr {

struct HeatmapGrid {
    uint64_t rows = 0, cols = 0;
    uint64_t pages_per_row = 1, epochs_per_col = 1;
    std::vector<double> share;  // rows * cols, row-major: dirty page-epochs / (pages * epochs) of the cell
    double at(uint64_t row, uint64_t col) const { return share[row * cols + col]; }
};

HeatmapGrid heatmap_grid(const DirtyReport& r, uint64_t max_rows = 768, uint64_t max_cols = 1200);

// Writes the picture: PNG when `path` ends in .png, SVG when it ends in
// .svg (with axis labels and RAM block boundaries). Throws kvmrr::Error
// for another extension, an empty analysis or a file that cannot be written.
void write_heatmap(const DirtyReport& r, const std::string& path);

}  // namespace kvmrr
