// handle_exit: the VMM's reaction to one vCPU exit, with no ioctl in it.
//
// Port I/O goes to the I/O address space, MMIO to the memory address
// space, one access per repetition of string I/O. The policy for accesses
// that hit nothing is explicit: by default a port that nobody claims reads
// as all ones (guests probe ports) while an MMIO access to unmapped memory
// stops the run, because a guest that does that is broken and the user
// wants to know where.
#pragma once

#include "core/address_space.h"
#include "core/vcpu/vcpu_exit.h"

namespace kvmrr {

struct ExitPolicy {
    bool stop_on_unassigned_pio = false;
    bool stop_on_unassigned_mmio = true;
    bool stop_on_invalid = true;
};

struct ExitTargets {
    IoAddressSpace& io;
    MemoryAddressSpace& memory;
};

ExitOutcome handle_exit(VcpuExit& exit, ExitTargets targets, const ExitPolicy& policy = {});

}  // namespace kvmrr
