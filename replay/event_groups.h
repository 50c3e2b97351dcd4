// EventGroupReader: a trace read as replay consumes it, in groups.
//
// A group is a recorded access (or the end event) with everything that
// followed it up to the next access: the consequences of that access (a
// topology commit, memslot changes, DMA writes, dirty logs) and the
// inputs its device asked for. The first group, the prologue, is what the
// recording wrote before the first access. The reader also learns the
// trace's region names as it goes (region-def events), which the matcher
// needs to compare regions by name, and reads back the events before a
// divergence for its report.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "record/trace_reader.h"
#include "record/trace_text.h"

namespace kvmrr {

class EventGroupReader {
public:
    explicit EventGroupReader(TraceReader& reader);

    const TraceHeader& header() const { return reader_.header(); }
    // The recorded regions' names, as far as the groups read so far define them.
    const RegionNames& names() const { return names_; }

    // Reads the next group into `group` (after what it holds, with
    // `append`). False at the end of what can be read; then `group` holds
    // the last, possibly partial, group.
    bool read(std::vector<TraceEvent>& group, bool append = false);
    // read() without moving anything when it can: the group in place in
    // the reader's buffer when it lies wholly there (nearly always), else
    // moved into `spill`. Valid until the next read; `more` as read()'s
    // result.
    std::span<TraceEvent> read_in_place(std::vector<TraceEvent>& spill, bool& more);

    // Whether the trace was read to its real end (not stopped by damage),
    // and if not, why.
    bool complete() const { return reader_.complete(); }
    std::optional<std::string> damage() const { return reader_.damage(); }
    std::optional<uint64_t> event_count() const { return reader_.event_count(); }

    // The recorded events before sequence number `end`, at most `n`, as
    // `kvmrr dump` prints them. Reading stops at the first divergence, so
    // the reader is free to go back for them; a trace too damaged to seek
    // in gives none rather than wrong ones.
    std::vector<std::string> context_before(uint64_t end, size_t n);

private:
    TraceEvent* next_buffered();
    void sync();
    static bool starts_group(const TraceEvent& e);

    TraceReader& reader_;
    RegionNames names_;
    bool prologue_done_ = false;
    // The reader's buffered events, and how many of them were taken: the
    // reader is told what was taken only when the buffer runs out (or
    // before it is asked anything else), not once per event.
    std::span<TraceEvent> rbuf_;
    size_t rpos_ = 0;
};

}  // namespace kvmrr
