#include "devices/port92.h"

#include <xxhash.h>

#include "core/error.h"

namespace kvmrr {

void Port92::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("port92: this device is attached to a machine already");
    const AccessRules rules{.valid = {1, 4, true}, .impl = {1, 1, false}};
    claim_io_window(sys, m, "port92", kSize, *this, rules);
    attached_ = true;
}

uint64_t Port92::read(uint64_t, unsigned) { return value_; }

void Port92::write(uint64_t, uint64_t value, unsigned) {
    const uint8_t old = value_;
    value_ = static_cast<uint8_t>(value);
    if ((value_ & kFastReset) && !(old & kFastReset)) run_.request_reset();
}

uint64_t Port92::state_digest() const {
    const uint64_t s = value_;
    return XXH64(&s, sizeof s, 0);
}

}  // namespace kvmrr
