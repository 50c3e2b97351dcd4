#include "devices/debugcon.h"

#include <xxhash.h>

#include "core/error.h"

namespace kvmrr {

DebugCon::DebugCon(std::function<void(uint8_t)> out) : out_(std::move(out)) {}

void DebugCon::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("debugcon: this device is attached to a machine already");
    const AccessRules rules{.valid = {1, 4, true}, .impl = {1, 1, false}};
    claim_io_window(sys, m, "debugcon", kSize, *this, rules);
    attached_ = true;
}

uint64_t DebugCon::read(uint64_t, unsigned) { return kReadback; }

void DebugCon::write(uint64_t, uint64_t value, unsigned) {
    const auto b = static_cast<uint8_t>(value);
    ++count_;
    hash_ = (hash_ ^ b) * 0x100000001b3ull;
    if (out_) out_(b);
}

uint64_t DebugCon::state_digest() const {
    const uint64_t s[2] = {count_, hash_};
    return XXH64(s, sizeof s, 0);
}

}  // namespace kvmrr
