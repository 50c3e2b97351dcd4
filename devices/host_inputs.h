// HostInputs: everything a device learns from the host instead of the guest.
//
// These are the machine's only sources of non-determinism (the wall clock,
// entropy, serial input, disk contents). Devices never call the host
// directly; they ask this interface, so the recorder can wrap it and log
// every answer, and replay can serve the answers from a trace.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

namespace kvmrr {

class HostInputs {
public:
    virtual ~HostInputs() = default;
    // Nanoseconds since the Unix epoch (CLOCK_REALTIME).
    virtual int64_t wall_clock_ns() = 0;
    // The guest's monotonic time: nanoseconds since the machine started,
    // never going back (host time, or the virtual clock: see GuestClock).
    virtual int64_t monotonic_ns() = 0;
    virtual void entropy(std::span<uint8_t> out) = 0;
    // The next byte of serial input, if one is waiting.
    virtual std::optional<uint8_t> serial_in() = 0;
    // For a guest that waits for serial input and nothing else: blocks
    // until serial_in() has something to say (a byte, or that the input
    // ended or there is none), true; false once `until` passes or `stop`
    // (when given) is set first. Not an input itself: only the serial_in()
    // calls that follow are recorded, and replay, which has no host to
    // wait for, says true exactly where the recording asked next.
    virtual bool wait_for_serial_in(std::chrono::steady_clock::time_point until,
                                    const std::atomic<int>* stop) = 0;
    // Reads from the disk backing store; bytes past its end read as zero.
    virtual void disk_read(uint64_t offset, std::span<uint8_t> out) = 0;
    // Writes go to the backing store too: the disk is the one input a guest
    // can also change, and a later read must see what it wrote.
    virtual void disk_write(uint64_t offset, std::span<const uint8_t> in) = 0;
};

}  // namespace kvmrr
