// Trace contents as text: one line per event for `kvmrr dump` (a human
// form and a JSON form), the header for `kvmrr inspect`, and a summary
// of a whole trace.
//
// Human form: `#42 vcpu0 pio out 0x3f8 size 1 value 0x41 -> uart16550 ok`.
// Addresses, access values, hashes and flags are hex; counts, sizes and
// offsets on the disk are decimal; byte strings are hex, cut after 32
// bytes (the length is always shown).
//
// JSON form: one object per line, keys in a fixed order ("seq", "vcpu",
// "kind", then the kind's fields), strings escaped, byte strings as
// complete lowercase hex strings, addresses, values, hashes and flags as
// "0x..." strings (so no parser rounds them), other integers as numbers.
//
// Which fields each kind shows, in which order and how, is its description
// (event_descriptions.h).
//
// Region ids become names through a RegionNames the caller keeps: built
// from the header, then told every event in order (observe()), so a
// region-def event names the regions of the accesses after it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "record/trace_event.h"

namespace kvmrr {

class RegionNames {
public:
    RegionNames() = default;
    explicit RegionNames(const TraceHeader& header);
    void add(const RegionRecord& region);
    // Learns region-def events; inline, as it is asked of every event.
    void observe(const TraceEvent& e) {
        if (const auto* r = std::get_if<RegionDefEvent>(&e.body)) add(r->region);
    }
    const RegionRecord* find(uint32_t id) const;
    // The name for people: the region's, "none" for kNoRegion, "region#N" if unknown.
    std::string label(uint32_t id) const;
    // Goes up with every add(): what was learnt from the names may be stale.
    uint64_t generation() const { return generation_; }

private:
    // The recorder numbers regions from 0, so ids are small and dense: those
    // below kDenseIds are found by index (replay looks one up for every
    // access it compares); any other id a trace may carry goes to the map.
    static constexpr uint32_t kDenseIds = 1u << 16;
    std::vector<std::optional<RegionRecord>> dense_;
    std::map<uint32_t, RegionRecord> sparse_;
    uint64_t generation_ = 0;
};

std::string format_event(const TraceEvent& e, const RegionNames& names, bool json);
// Names from the header alone (no region-def events).
std::string format_event(const TraceEvent& e, const TraceHeader& header, bool json);

// Several lines, each ending in '\n', for `kvmrr inspect`.
std::string format_header(const TraceHeader& h);

// Accumulates what a trace holds, event by event.
class TraceSummary {
public:
    explicit TraceSummary(const TraceHeader& header);
    void add(const TraceEvent& e);
    // Several lines, each ending in '\n'.
    std::string format() const;

    uint64_t events = 0;
    std::map<std::string, uint64_t> by_kind;             // event_kind() -> events
    std::map<std::string, uint64_t> accesses_by_region;  // RegionNames::label() -> pio and mmio events
    uint64_t data_bytes = 0;   // bytes carried: bulk access data, DMA, entropy, disk reads, dirty runs
    uint64_t dirty_pages = 0;  // sum of the dirty events' dirty_pages
    std::optional<uint64_t> first_seq, last_seq;
    std::optional<EndEvent> end;

private:
    RegionNames names_;
};

}  // namespace kvmrr
