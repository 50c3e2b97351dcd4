// Device: the one small interface every device model implements.
//
// A device claims its window(s) of the machine layout when attached, by
// name, replacing the reservation there with its own regions; from then on
// the guest reaches it only through the address spaces. It reports its
// model version (stored in trace headers, so a replay can tell that a
// model changed) and digests of its guest-visible state (compared at the
// end of a replay).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/region_ops.h"

namespace kvmrr {

struct MachineMemory;
class MemorySystem;
class MemoryRegion;

// What a device may ask of the run: stop it with an exit status, or reset
// the machine (the PC's reset register, port 0x92, the keyboard
// controller's pulse), which ends a kvmrr run with the reason "reset".
class RunControl {
public:
    virtual ~RunControl() = default;
    virtual void request_exit(int status) = 0;
    virtual void request_reset() = 0;
};

class Device {
public:
    virtual ~Device() = default;
    virtual std::string_view name() const = 0;
    virtual uint32_t model_version() const = 0;
    // Claims the device's window(s) in `m`; throws kvmrr::Error if one is
    // missing from the layout.
    virtual void attach(MemorySystem& sys, MachineMemory& m) = 0;
    virtual uint64_t state_digest() const = 0;
    // The part of that state only the device's own I/O and its host inputs
    // change: what a replay without the guest's CPU can reproduce. Devices
    // that own memory the guest writes directly leave that memory out.
    virtual uint64_t register_digest() const { return state_digest(); }
};

// Replaces the reservation named `window` with `region` at the same place
// and returns the window's address; throws kvmrr::Error naming the window
// if the layout has none (or it was claimed already).
uint64_t claim_window(MachineMemory& m, const std::string& window, MemoryRegion& region);

// Throws kvmrr::Error, naming `device`, unless the layout has an unclaimed
// window `window` of at least `size` bytes. Devices with several windows
// check them all before creating any region, so a failed attach leaves
// nothing behind.
void require_window(const MachineMemory& m, std::string_view device, const std::string& window, uint64_t size);

// The usual attach of a one-window device: an I/O region named after the
// window, with `ops` and `rules`, claims it; if the claim fails the region
// is destroyed again, so a failed attach leaves the machine as it was.
MemoryRegion& claim_io_window(MemorySystem& sys, MachineMemory& m, const std::string& window, uint64_t size,
                              RegionOps& ops, const AccessRules& rules);

}  // namespace kvmrr
