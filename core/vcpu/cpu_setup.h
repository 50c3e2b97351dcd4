// Initial vCPU state for the two ways a kvmrr guest starts.
//
// Long mode: kvmrr writes identity-mapped page tables (the first 4 GiB in
// 2 MiB pages, so RAM and every device window are reachable) and a flat GDT
// into guest RAM below kBootAreaEnd, and starts the vCPU in 64-bit mode at
// the entry point with a stack below kLongModeStackTop. Real mode: CS base
// 0 and IP the entry address, as for a raw image assembled with `org`.
// Both are plain functions of a starting sregs so that tests can check
// them without /dev/kvm.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

#include "core/address_space.h"
#include "core/cpu_mode.h"

namespace kvmrr {

struct CpuState {
    kvm_regs regs{};
    kvm_sregs sregs{};
};

// Writes the page tables and GDT through `memory` (throws kvmrr::Error if
// that RAM is missing) and returns the 64-bit state.
CpuState long_mode_state(MemoryAddressSpace& memory, const kvm_sregs& initial, uint64_t entry);
CpuState real_mode_state(const kvm_sregs& initial, uint64_t entry);

}  // namespace kvmrr
