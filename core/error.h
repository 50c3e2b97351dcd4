// Error: the one exception type the memory model throws for misuse or
// exhausted resources. Configuration mistakes (alias cycles, overflowing
// ranges, zero-size RAM, removing a region that is not a child) are
// programming or description errors that a caller wants to see with a
// precise message, so they throw; the dispatch hot path never throws and
// reports problems through AccessStatus instead.
#pragma once

#include <stdexcept>
#include <string>

namespace kvmrr {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Formats a 64-bit value as 0x-prefixed hex, for error messages.
std::string hex(unsigned long long v);

}  // namespace kvmrr
