// Port92: the PC's "system control port A" at the "port92" window (io
// 0x92, 1 byte), as QEMU's port92 device.
//
// The register reads back what was written. Bit 1 is the A20 gate: kept,
// but A20 masking is not modelled (the CPU always sees all address lines,
// as every firmware and OS since the 1990s enables A20 first). Bit 0 going
// from 0 to 1 is a fast reset: RunControl::request_reset(), which ends a
// kvmrr run; a machine reset clears bit 0, as QEMU's port92_reset, and since
// a run ends there, a new device is the reset state. The i8042's output
// port drives the same A20 line on a real PC; the two are not combined.
// The device must outlive the MemorySystem it is attached to.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"

namespace kvmrr {

class Port92 final : public Device, private RegionOps {
public:
    static constexpr uint64_t kSize = 1;
    static constexpr uint8_t kFastReset = 0x01;
    static constexpr uint8_t kA20 = 0x02;

    explicit Port92(RunControl& run) : run_(run) {}
    Port92(const Port92&) = delete;
    Port92& operator=(const Port92&) = delete;

    std::string_view name() const override { return "port92"; }
    uint32_t model_version() const override { return 1; }
    // Claims the "port92" window; throws kvmrr::Error if it is missing or
    // claimed, or on a second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    uint8_t value() const { return value_; }
    bool a20() const { return value_ & kA20; }

private:
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

    RunControl& run_;
    bool attached_ = false;
    uint8_t value_ = 0;
};

}  // namespace kvmrr
