// GuestClock: the time a device's counters count, in nanoseconds since the
// machine started, never going back.
//
// The board decides what it is: host time (each read a non-deterministic
// input, recorded and served back by replay) or virtual time, a function
// of the exit count, identical in every run. Devices never read a host
// clock themselves. A device that wants to act at a time of its own (a
// timer's interrupt) is a TimerDevice: the board asks it when, and tells it
// when that time has come, at exit boundaries.
#pragma once

#include <cstdint>
#include <limits>

namespace kvmrr {

class GuestClock {
public:
    virtual ~GuestClock() = default;
    virtual int64_t now_ns() = 0;
};

class TimerDevice {
public:
    static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
    virtual ~TimerDevice() = default;
    // The guest time at which this device next wants run_timers(), or kNever.
    virtual int64_t next_deadline_ns() const = 0;
    // Time has reached `now_ns` (at least the last deadline asked): raise
    // what is due, and plan the next.
    virtual void run_timers(int64_t now_ns) = 0;
};

}  // namespace kvmrr
