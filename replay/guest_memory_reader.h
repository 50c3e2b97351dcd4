// Guest memory as a debugger reads it: at linear addresses, through the
// guest's page tables as its control registers describe them, and only
// where memory is RAM or ROM. A device's window is never read: that would
// run the device's code and change its state under a replay.
//
// The page walk is the CPU's (Intel SDM vol. 3, 4.3-4.5): none with
// CR0.PG clear; two levels with 4 MiB pages where CR4.PSE allows them;
// PAE's three levels; four levels in long mode (EFER.LMA). Accessed and
// dirty bits are not set, permissions are not checked: a debugger looks,
// it does not run the guest. 5-level paging (CR4.LA57) is not walked.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/address_space.h"

namespace kvmrr {

class GuestMemoryReader {
public:
    explicit GuestMemoryReader(const MemoryAddressSpace& memory) : memory_(memory) {}

    // False, with nothing promised in `out`, where any byte is not RAM or
    // ROM in the space's current view.
    bool read_physical(uint64_t addr, void* out, size_t n) const;
    // Where `linear` is in physical memory, or nothing where no page (or
    // no readable page-table entry) maps it.
    std::optional<uint64_t> physical_of(const kvm_sregs& sregs, uint64_t linear) const;
    // Page by page, as read_physical.
    bool read_linear(const kvm_sregs& sregs, uint64_t linear, void* out, size_t n) const;

private:
    const MemoryAddressSpace& memory_;
};

}  // namespace kvmrr
