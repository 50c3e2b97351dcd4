// Structural comparison of two traces (`kvmrr diff A B`).
//
// Headers are compared on what defines a run (machine, devices and their
// model versions, guest image and arguments, record options), not on what
// only describes when and where it ran (start time, kernel, accelerator).
// Events are compared position by position with event_difference (region
// names, not ids), counting the differing pairs by kind; the first one is
// shown whole. A difference that starts with a non-deterministic input
// (clock, entropy, serial input, disk data) is called out as such: the
// host gave the two runs different inputs, and what follows may be their
// consequence. A guest's write that differs with no input before it
// differing is put down to what kvmrr cannot record, where the guest's
// RDTSC was not trapped (KVM; the emulator on the host clock). Traces
// recorded on different accelerators are compared up to what
// AcrossAccelerators allows (docs/ACCELERATORS.md), and the output says
// how many events that let pass.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "record/trace_reader.h"

namespace kvmrr {

struct TraceDiff {
    std::vector<std::string> header;  // header fields that differ, one line each
    uint64_t events_a = 0, events_b = 0;
    std::map<std::string, uint64_t> by_kind;  // differing pairs by the kind in A ("missing in B" / "extra in B")
    uint64_t differing = 0;                   // differing pairs, all kinds
    uint64_t nondeterministic = 0;            // of which non-deterministic inputs, or accesses whose own inputs differ
    std::optional<uint64_t> first_seq;
    std::string first_a, first_b, first_difference;
    bool first_is_input = false;  // the first difference is, or follows from, a non-deterministic input
    std::string first_cause;      // that input (both sides), when the first difference is an access
    // The first difference is a value the guest wrote, all inputs before it
    // the same, where a guest read the host's TSC unrecorded (KVM,
    // or the emulator on the host clock): a likely leak of RDTSC.
    bool first_may_be_tsc = false;
    std::optional<std::string> damage_a, damage_b;
    // Traces recorded on different accelerators ("kvm and emu", else ""):
    // events compared by AcrossAccelerators (event_compare.h), and how
    // many differed only as it allows (not counted in `differing`).
    std::string accelerators;
    uint64_t accelerator_differences = 0;

    bool same() const { return header.empty() && differing == 0 && !damage_a && !damage_b; }
    bool only_inputs() const { return header.empty() && differing > 0 && differing == nondeterministic; }
    std::string format(const std::string& name_a, const std::string& name_b) const;  // lines for people
};

TraceDiff diff_traces(TraceReader& a, TraceReader& b);

}  // namespace kvmrr
