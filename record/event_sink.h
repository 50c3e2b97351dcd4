// EventSink: where the recorder's events go.
//
// Recording appends to a TraceWriter (a file); replay runs the same
// Recorder over the replayed machine into a sink that keeps the events in
// memory, so what replay compares with the trace was produced by exactly
// the code that produced the trace.
#pragma once

#include <cstdint>

#include "record/trace_event.h"

namespace kvmrr {

class EventSink {
public:
    virtual ~EventSink() = default;
    // Takes one event; returns its sequence number.
    virtual uint64_t append(uint16_t vcpu, EventBody body) = 0;
};

}  // namespace kvmrr
