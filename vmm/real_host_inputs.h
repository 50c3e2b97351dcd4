// RealHostInputs: HostInputs from the actual host — CLOCK_REALTIME and
// CLOCK_MONOTONIC (from the machine's start), getrandom(2), a serial input
// file descriptor read without blocking (and waited for with poll(2)), and
// a disk backing file. This is what `kvmrr run` and `kvmrr record` use; the recorder wraps it and replay
// replaces it. With a virtual clock (--clock virtual) both clocks come from
// it instead: the monotonic time is the virtual time, the wall clock a fixed
// epoch (kVirtualEpochNs) plus it, so two runs read the same times.
#pragma once

#include <cstdint>
#include <functional>
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

    // 2024-01-01T00:00:00Z: the wall clock's start under a virtual clock.
    static constexpr int64_t kVirtualEpochNs = 1704067200LL * 1000000000LL;
    // Both clocks from `now` (virtual nanoseconds since the start) from here on.
    void use_virtual_clock(std::function<int64_t()> now) { virtual_now_ = std::move(now); }

    int64_t wall_clock_ns() override;
    int64_t monotonic_ns() override;
    void entropy(std::span<uint8_t> out) override;
    std::optional<uint8_t> serial_in() override;
    bool wait_for_serial_in(std::chrono::steady_clock::time_point until, const std::atomic<int>* stop) override;
    void disk_read(uint64_t offset, std::span<uint8_t> out) override;
    void disk_write(uint64_t offset, std::span<const uint8_t> in) override;

private:
    int serial_fd_;
    int disk_fd_ = -1;
    std::string disk_path_;
    int64_t start_ns_ = 0;  // CLOCK_MONOTONIC when made
    std::function<int64_t()> virtual_now_;
};

}  // namespace kvmrr
