// Device replay: a trace re-run through fresh device models and a fresh
// memory model, without a vCPU, checked event by event.
//
// The machine is rebuilt from the trace header (layout, devices, guest
// image), and the very Recorder that wrote the trace is put in front of it
// again, writing into memory instead of a file. Every recorded PIO/MMIO
// access is dispatched as the run loop dispatched it, with the
// non-deterministic inputs recorded after it queued for the devices
// (TraceInputs); the events the recorder then produces (the access with
// the value the read returned, topology commits with their flat views,
// memslot changes, DMA writes, the inputs handed out) must equal the ones
// recorded after that access, in order. Dirty bitmaps are skipped (the
// guest's own writes are not replayed here). At the end each device's
// register digest and the guest's exit request must match the end event.
// The first difference stops the replay and is reported with its context.
#pragma once

#include "record/trace_reader.h"
#include "replay/replay_report.h"

namespace kvmrr {

// Replays what `reader` has not read yet (open it fresh). Throws
// kvmrr::Error only when the machine cannot be built from the header.
ReplayReport replay_devices(TraceReader& reader, const ReplayOptions& options = {});

}  // namespace kvmrr
