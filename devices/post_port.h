// PostPort: the PC's POST diagnostic port, which firmware writes progress
// codes to, at the "post" window (io 0x80, 1 byte).
//
// On QEMU's pc machine port 0x80 is a sink ("ioport80"): writes are
// dropped and reads return 0xff. This model answers the guest the same
// way, and keeps the last code written (and how many) for the board's
// diagnostics and the state digest; neither is visible to the guest.
// The device must outlive the MemorySystem it is attached to.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"

namespace kvmrr {

class PostPort final : public Device, private RegionOps {
public:
    static constexpr uint64_t kSize = 1;

    PostPort() = default;
    PostPort(const PostPort&) = delete;
    PostPort& operator=(const PostPort&) = delete;

    std::string_view name() const override { return "post"; }
    uint32_t model_version() const override { return 1; }
    // Claims the "post" window; throws kvmrr::Error if it is missing or
    // claimed, or on a second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    uint8_t last_code() const { return last_; }
    uint64_t codes_written() const { return count_; }

private:
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

    bool attached_ = false;
    uint8_t last_ = 0;
    uint64_t count_ = 0;
};

}  // namespace kvmrr
