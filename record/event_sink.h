// EventSink: where the recorder's events go.
//
// Recording appends to a TraceWriter (a file); replay runs the same
// Recorder over the replayed machine into a sink that keeps the events in
// memory, so what replay compares with the trace was produced by exactly
// the code that produced the trace.
#pragma once

#include <cstdint>

#include "core/vcpu/dirty_log.h"
#include "record/dirty_runs.h"
#include "record/trace_event.h"

namespace kvmrr {

class EventSink {
public:
    virtual ~EventSink() = default;
    // Takes one event; returns its sequence number.
    virtual uint64_t append(uint16_t vcpu, EventBody body) = 0;
    // Takes a harvested dirty bitmap as the DirtyEvent make_dirty_event()
    // makes of it, stamped with `time_ns`; returns its sequence number.
    // The harvest stalls the vCPU, so a sink may keep a copy of the words
    // and encode them later, off the vCPU's thread (the trace writer
    // does); what it ends up holding must be this event.
    virtual uint64_t append_dirty(uint16_t vcpu, const DirtyBitmap& b, uint64_t epoch, uint64_t time_ns) {
        return append(vcpu, make_dirty_event(b, epoch, time_ns));
    }
};

}  // namespace kvmrr
