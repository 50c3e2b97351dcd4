// RegionTestHook: what tests may do to a region that a machine never does.
//
// replace_ops puts other callbacks behind an I/O or ROM-device region
// (throws for other kinds): how replay's tests plant a changed device model
// (a wrapper around the device's own ops) to prove that replay notices.
// The rendering does not change.
#pragma once

#include "core/memory_region.h"

namespace kvmrr {

struct RegionTestHook {
    static void replace_ops(MemoryRegion& mr, RegionOps& ops) { mr.replace_ops(ops); }
};

}  // namespace kvmrr
