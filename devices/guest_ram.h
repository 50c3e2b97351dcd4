// Whether a guest-physical range is all writable RAM in a memory address
// space's current view: where a device's DMA may touch guest memory
// without reaching a device (whose callbacks could re-enter the one
// running the DMA) or ROM.
#pragma once

#include <cstdint>

#include "core/address_space.h"

namespace kvmrr {

bool is_guest_ram(const MemoryAddressSpace& memory, uint64_t addr, uint64_t len);

}  // namespace kvmrr
