// EntropyDevice: a memory-mapped source of random bytes for the guest
// (the "entropy" window, 4 KiB at 0xfeb00000 by default).
//
// Register map (little-endian; accesses of 1, 2, 4 or 8 bytes, naturally
// aligned):
//   0x00 DATA   8 bytes, read-only: a read of N bytes anywhere in it
//               returns N fresh bytes from HostInputs::entropy (one call
//               per read, so the recorder logs exactly what the guest got)
//   0x08 COUNT  8 bytes, read-only: entropy bytes delivered so far
//   0x10 ID     4 bytes, read-only: kMagic, 0x52444e45 ("ENDR" in memory
//               order), so a guest can tell the device is there
// Every other offset reads 0; all writes are ignored. COUNT is the only
// state. The device must outlive the MemorySystem it is attached to.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/host_inputs.h"

namespace kvmrr {

class EntropyDevice final : public Device, private RegionOps {
public:
    static constexpr uint64_t kSize = 0x1000;
    static constexpr uint64_t kDataOffset = 0x00;
    static constexpr uint64_t kCountOffset = 0x08;
    static constexpr uint64_t kIdOffset = 0x10;
    static constexpr uint32_t kMagic = 0x52444e45;

    explicit EntropyDevice(HostInputs& in);
    EntropyDevice(const EntropyDevice&) = delete;
    EntropyDevice& operator=(const EntropyDevice&) = delete;

    std::string_view name() const override { return "entropy"; }
    uint32_t model_version() const override { return 1; }
    // Claims the "entropy" window; throws kvmrr::Error if the window is
    // missing or claimed, or if this device is attached already.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

private:
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

    // One byte of the read-only registers after DATA (0 where none is).
    uint8_t register_byte(uint64_t offset) const;

    HostInputs& in_;
    bool attached_ = false;
    uint64_t delivered_ = 0;  // COUNT
};

}  // namespace kvmrr
