// The checks that decide whether an event or a trace header read from a
// file (or about to be written) makes sense: an access of size 0, bulk
// data that does not match size * count, a dirty run past its slot, an
// unknown enum, versions that contradict each other.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "record/trace_event.h"

namespace kvmrr {

// What is absurd about e, or nothing. vcpu_count 0 skips the vCPU check.
std::optional<std::string> event_problem(const TraceEvent& e, uint32_t vcpu_count);
std::optional<std::string> header_problem(const TraceHeader& h);

}  // namespace kvmrr
