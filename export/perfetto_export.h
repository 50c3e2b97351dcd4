// export_perfetto: a trace as Chrome/Perfetto trace-event JSON (the
// "JSON trace format" that ui.perfetto.dev and chrome://tracing open).
//
// Tracks: process 1 "vCPUs" has a thread per vCPU whose exits (recorded
// accesses) are complete slices ("ph":"X") named "<device> <verb> <addr>",
// with the region, device, value, size and status in "args", each lasting
// until the next access, and the interrupt deliveries as instants on the
// same thread; process 2 "devices" has a thread per device with the same
// slices; process 3 "machine" has threads of instant events for topology
// commits, memslot changes, host inputs (clock, entropy, serial input,
// disk reads) and DMA, and two counters: "dirty pages" (one value per
// harvest epoch, at the epoch's last log) and "exits/s" (accesses in each
// 1 ms of the timeline). Times come from EventTimes (event_times.h); the
// top-level "otherData" says which source placed them.
//
// It streams: the trace is read twice (once for the time anchors, once to
// write), and every event is written as it is read, so memory stays bounded
// whatever the trace's length. A damaged trace exports as far as it is
// whole; the result says what was lost.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>

namespace kvmrr {

struct PerfettoExport {
    uint64_t events = 0;       // trace events read
    uint64_t slices = 0;       // on vCPU tracks (one per access); as many again on device tracks
    uint64_t instants = 0;
    std::map<std::string, uint64_t> instants_by_track;
    uint64_t dirty_counters = 0;  // "dirty pages" samples: harvest epochs
    uint64_t rate_counters = 0;   // "exits/s" samples
    std::string placement;        // EventTimes::describe()
    std::optional<std::string> damage;
};

// Reads the trace at `path` (twice) and writes the JSON to `out`. Throws
// kvmrr::Error when the trace cannot be opened or `out` fails.
PerfettoExport export_perfetto(const std::string& path, std::ostream& out);

}  // namespace kvmrr
