// TraceError: a trace that is damaged or says something impossible (a
// header field out of range, an event that contradicts the trace's own
// structure), as opposed to a file that is not a trace or a command that
// cannot start. kvmrr exits 3 for it, as for a trace that is not whole.
#pragma once

#include "core/error.h"

namespace kvmrr {

class TraceError : public Error {
public:
    using Error::Error;
};

}  // namespace kvmrr
