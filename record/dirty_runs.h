// Dirty-page runs: the compact form of a dirty bitmap stored in a trace.
//
// A DirtyEvent does not store KVM's bitmap (its size follows the slot) but
// the runs of consecutive dirty pages in it, as LEB128 varint pairs
// (gap, length): the gap counts the clean pages between the end of the
// previous run (or page 0) and the start of this one, the length the dirty
// pages in the run. Runs are maximal, so every gap after the first is at
// least 1 and every length at least 1; one bitmap has exactly one encoding.
// The size of the encoding follows the number of runs: a 1 GiB slot with
// three dirty pages takes a few bytes. Decoding checks everything (a run
// past the slot's `pages`, an overlong or truncated varint, a zero length,
// a count that disagrees with `dirty_pages`) and throws kvmrr::Error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/vcpu/dirty_log.h"
#include "record/trace_event.h"

namespace kvmrr {

struct DirtyRun {
    uint64_t first = 0;  // page index in the slot
    uint64_t count = 0;  // pages
    bool operator==(const DirtyRun&) const = default;
};

// The runs of `bitmap` (bits at or past bitmap.pages are ignored; missing
// words are clean), with the slot, address and page counts copied and the
// harvest's time stamped.
DirtyEvent make_dirty_event(const DirtyBitmap& bitmap, uint64_t epoch, uint64_t time_ns = 0);
// The same event before its runs are counted: epoch, slot, address, size
// and time (for a sink that encodes the runs later).
DirtyEvent dirty_event_header(const DirtyBitmap& bitmap, uint64_t epoch, uint64_t time_ns = 0);

// The dirty page indices (relative to the slot's first page), ascending.
// Throws kvmrr::Error on malformed runs. The result has e.dirty_pages
// entries: check it against what you can afford before calling this on an
// event from an untrusted trace (dirty_runs() is bounded by the encoding).
std::vector<uint64_t> dirty_pages(const DirtyEvent& e);

// The runs, checked as dirty_pages() checks them. At most one run per two
// bytes of e.runs.
std::vector<DirtyRun> dirty_runs(const DirtyEvent& e);

// Two encodings of one slot's runs compared, for a report: the pages
// (numbered from the slot's first) dirty only in `expected` and only in
// `actual`, the first few ranges of each; nothing if either is malformed.
std::optional<std::string> dirty_runs_difference(const std::vector<uint8_t>& expected, const std::vector<uint8_t>& actual);

// What is wrong with e's runs, or nothing; allocates nothing.
std::optional<std::string> dirty_runs_problem(const DirtyEvent& e);

}  // namespace kvmrr
