// RealHostInputs: HostInputs from the actual host — CLOCK_REALTIME,
// getrandom(2), a serial input file descriptor read without blocking, and
// a disk backing file. This is what `kvmrr run` and `kvmrr record` use; the
// recorder wraps it and replay replaces it.
#pragma once

#include <string>

#include "devices/host_inputs.h"

namespace kvmrr {

class RealHostInputs final : public HostInputs {
public:
    // `serial_fd` < 0: no serial input (it is not closed here). An empty
    // `disk_path` means no disk: reads give zeros, writes are dropped. A
    // path that cannot be opened read-write throws kvmrr::Error.
    RealHostInputs(int serial_fd, const std::string& disk_path);
    ~RealHostInputs() override;
    RealHostInputs(const RealHostInputs&) = delete;
    RealHostInputs& operator=(const RealHostInputs&) = delete;

    int64_t wall_clock_ns() override;
    void entropy(std::span<uint8_t> out) override;
    std::optional<uint8_t> serial_in() override;
    void disk_read(uint64_t offset, std::span<uint8_t> out) override;
    void disk_write(uint64_t offset, std::span<const uint8_t> in) override;

private:
    int serial_fd_;
    int disk_fd_ = -1;
    std::string disk_path_;
};

}  // namespace kvmrr
