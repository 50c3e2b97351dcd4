// record_guest: what `kvmrr record` does — run a guest exactly as
// run_guest would, with the Recorder's taps in place, into a trace file.
#pragma once

#include <string>

#include "vmm/guest_run.h"
#include "record/recorder.h"
#include "record/trace_writer.h"

namespace kvmrr {

struct RecordRequest {
    GuestRunRequest run;
    std::string output;
    RecorderOptions recorder;
};

struct RecordReport {
    GuestRunReport run;
    std::string accel;  // the accelerator that ran the guest: "kvm" or "emu"
    TraceWriterStats stats;
    double seconds = 0;
    std::string summary() const;  // several lines for stderr
};

// Throws kvmrr::Error when the run cannot start or the trace cannot be written.
RecordReport record_guest(const RecordRequest& req);

// Machine, guest and host facts for a trace header (exposed for tests).
TraceHeader make_trace_header(const Machine& m, const GuestImage& image, const std::vector<uint64_t>& args);

}  // namespace kvmrr
