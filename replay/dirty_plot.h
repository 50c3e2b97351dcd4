// The picture `kvmrr dirty` draws (PNG or SVG, by the file's name), for a
// person who has not read the manual: a title with the trace's name,
// guest, recording date and totals; the heatmap (dirty_heatmap.h) with
// time and epochs across, guest-physical addresses down and each RAM block
// a named band, and its colour key; under it, on the same time axis, the
// dirty pages per second; and the pre-copy migration rounds of
// migration_estimate.h (pages sent and pages dirtied per round, from the
// trace and from the geometric model, on a log scale, with the downtime
// limit). Text is real text in the SVG (see plot_canvas.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "record/trace_reader.h"
#include "replay/dirty_analysis.h"
#include "replay/migration_estimate.h"

namespace kvmrr {

struct DirtyPlotInfo {
    std::string trace_name;      // the trace file's name, for the title
    std::string guest;           // "" unknown
    std::string accelerator;     // "" unknown
    int64_t recorded_at_ns = 0;  // wall-clock start of the recording, ns since 1970 (0: unknown)
    std::optional<MigrationEstimate> migration;
    bool link_assumed = false;   // the migration's link was not asked for: the picture says so
    std::string no_migration;    // why there is no migration panel, when there is none
};

// The title's facts from an open trace.
DirtyPlotInfo dirty_plot_info(const TraceReader& reader);

// Throws kvmrr::Error for a name that is not .png or .svg (before drawing
// anything), an analysis with no dirty logs, or a file that cannot be
// written. Not for two threads at once: when done, written or not, it
// empties cairo's and fontconfig's font caches (release_drawing_caches in
// plot_canvas.h), so that nothing of the drawing outlives it.
// Returns whether it replaced a file that was at `path`.
bool write_dirty_plot(const DirtyReport& r, const DirtyPlotInfo& info, const std::string& path);

}  // namespace kvmrr
