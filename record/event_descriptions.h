// Every kind of trace event, and every record nested in one, described
// once (event_fields.h says what a description holds). `kvmrr dump` (both
// forms), the comparison of a recorded and a replayed event
// (replay/event_compare.h), event_kind() and is_nondeterministic_input()
// are all driven from these descriptions.
//
// Adding an event kind: its struct and its place in EventBody
// (trace_event.h); its description and describe() overload (here and in
// event_descriptions.cc); its schema (trace.capnp), conversion and checks
// (capnp_convert.cc); its name in kEventKindNames (trace_format.h). Then
// add it to record/tests/event_samples.h: the tests there fail until every
// member of the struct is described, converted and compared.
#pragma once

#include <array>

#include "record/event_fields.h"
#include "record/trace_event.h"

namespace kvmrr {

// RegsRecord::gprs, in order.
inline constexpr std::array<const char*, 18> kGprNames = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi",
                                                          "rsp", "rbp", "r8",  "r9",  "r10", "r11",
                                                          "r12", "r13", "r14", "r15", "rip", "rflags"};

const Description& describe(const AccessEvent&);
const Description& describe(const TopologyEvent&);
const Description& describe(const MemslotEvent&);
const Description& describe(const DirtyEvent&);
const Description& describe(const DmaWriteEvent&);
const Description& describe(const ClockEvent&);
const Description& describe(const EntropyEvent&);
const Description& describe(const SerialInEvent&);
const Description& describe(const DiskReadEvent&);
const Description& describe(const DiskWriteEvent&);
const Description& describe(const RegionDefEvent&);
const Description& describe(const EndEvent&);
const Description& describe(const InterruptEvent&);
const Description& describe(const DmaReadEvent&);
const Description& describe(const PauseEvent&);
// Records nested in events.
const Description& describe(const ViewRangeRecord&);
const Description& describe(const RegionRecord&);
const Description& describe(const RegsRecord&);
const Description& describe(const DeviceDigestRecord&);

// An event's body and the description of its kind: what the generic code
// walks. The only place a body is paired with a description.
struct DescribedBody {
    const Description* description;
    const void* record;
};
DescribedBody described(const EventBody& body);

}  // namespace kvmrr
