#include "devices/post_port.h"

#include <xxhash.h>

#include "core/error.h"

namespace kvmrr {

void PostPort::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("post: this device is attached to a machine already");
    const AccessRules rules{.valid = {1, 4, true}, .impl = {1, 1, false}};
    claim_io_window(sys, m, "post", kSize, *this, rules);
    attached_ = true;
}

uint64_t PostPort::read(uint64_t, unsigned) { return 0xff; }

void PostPort::write(uint64_t, uint64_t value, unsigned) {
    last_ = static_cast<uint8_t>(value);
    ++count_;
}

uint64_t PostPort::state_digest() const {
    const uint64_t s[2] = {last_, count_};
    return XXH64(s, sizeof s, 0);
}

}  // namespace kvmrr
