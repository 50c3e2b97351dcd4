#include "devices/debug_exit.h"

#include <xxhash.h>

#include <string>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

DebugExit::DebugExit(RunControl& run) : run_(run) {}

void DebugExit::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("debug-exit: this device is attached to a machine already");
    AccessRules rules;
    // The status is one byte. A wider `out` always runs past the end of
    // this one-byte range, so the core cuts it there (the device sees its
    // low byte and the rest is unassigned) rather than refusing it whole.
    rules.valid = {1, 1, false};
    rules.impl = {1, 1, false};
    claim_io_window(sys, m, "debug-exit", kSize, *this, rules);
    attached_ = true;
}

uint64_t DebugExit::read(uint64_t, unsigned) { return 0xff; }

void DebugExit::write(uint64_t, uint64_t value, unsigned) {
    const auto status = static_cast<uint8_t>(value);
    last_ = status;
    run_.request_exit(status);
}

uint64_t DebugExit::state_digest() const {
    // "Never written" differs from "wrote 0" (which a guest uses for success).
    const uint8_t s[2] = {static_cast<uint8_t>(last_.has_value()), last_.value_or(0)};
    return XXH64(s, sizeof s, 0);
}

}  // namespace kvmrr
