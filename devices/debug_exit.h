// DebugExit: the one-byte port (the "debug-exit" window, 0xf4 by default)
// through which a guest ends the run with an exit status.
//
// A guest write of a byte v asks the run to stop with status v (through
// RunControl, so the run loop decides when it actually stops). This is how
// fixture guests report success or failure without a shutdown protocol.
// Reads answer 0xff, as for a port with nothing behind it. The last value
// written is the device's only state. The device must outlive the
// MemorySystem it is attached to, whose region calls it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"

namespace kvmrr {

class DebugExit final : public Device, private RegionOps {
public:
    static constexpr uint64_t kSize = 1;

    explicit DebugExit(RunControl& run);
    DebugExit(const DebugExit&) = delete;
    DebugExit& operator=(const DebugExit&) = delete;

    std::string_view name() const override { return "debug-exit"; }
    uint32_t model_version() const override { return 1; }
    // Claims the "debug-exit" window; throws kvmrr::Error if the window is
    // missing or claimed, or if this device is attached already.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    // The last status the guest wrote, if any (for the run loop and tools).
    std::optional<uint8_t> last_status() const { return last_; }

private:
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

    RunControl& run_;
    bool attached_ = false;
    std::optional<uint8_t> last_;
};

}  // namespace kvmrr
