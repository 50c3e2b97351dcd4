#include "devices/entropy.h"

#include <xxhash.h>

#include <array>
#include <cstring>
#include <span>
#include <string>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

EntropyDevice::EntropyDevice(HostInputs& in) : in_(in) {}

void EntropyDevice::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("entropy: this device is attached to a machine already");
    AccessRules rules;
    // The callbacks see each access exactly as the guest made it (no
    // splitting or widening), so a 4-byte DATA read is one entropy call
    // of 4 bytes rather than four calls of 1.
    rules.valid = {1, 8, false};
    rules.impl = {1, 8, false};
    claim_io_window(sys, m, "entropy", kSize, *this, rules);
    attached_ = true;
}

uint64_t EntropyDevice::read(uint64_t offset, unsigned size) {
    // Accesses are naturally aligned and registers 8-byte aligned, so an
    // access lies inside one register's 8-byte slot.
    if (offset < kCountOffset) {
        std::array<uint8_t, 8> bytes{};
        in_.entropy(std::span<uint8_t>(bytes.data(), size));
        delivered_ += size;
        uint64_t v = 0;
        std::memcpy(&v, bytes.data(), size);  // little-endian host (checked by the core)
        return v;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) v |= uint64_t{register_byte(offset + i)} << (8 * i);
    return v;
}

void EntropyDevice::write(uint64_t, uint64_t, unsigned) {}

uint8_t EntropyDevice::register_byte(uint64_t offset) const {
    if (offset >= kCountOffset && offset < kCountOffset + 8) return static_cast<uint8_t>(delivered_ >> (8 * (offset - kCountOffset)));
    if (offset >= kIdOffset && offset < kIdOffset + 4) return static_cast<uint8_t>(kMagic >> (8 * (offset - kIdOffset)));
    return 0;
}

uint64_t EntropyDevice::state_digest() const { return XXH64(&delivered_, sizeof delivered_, 0); }

}  // namespace kvmrr
