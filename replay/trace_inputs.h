// TraceInputs: HostInputs served from a trace instead of the host.
//
// Replay hands a device, during one access, exactly the inputs the trace
// recorded for that access, in order. The replayer queues them before it
// dispatches the access. A device that asks for something else than what
// comes next (a clock read where the trace has entropy, or an input the
// trace does not have) gets a neutral answer (zeros, no serial byte) and
// the queue is left alone: the recorder in front of these inputs logs what
// was really handed out, so the comparison with the trace reports the
// difference at that event.
#pragma once

#include <deque>

#include "devices/host_inputs.h"
#include "record/trace_event.h"

namespace kvmrr {

class TraceInputs final : public HostInputs {
public:
    // Queues one recorded input event (clock, entropy, serial-in, disk-read
    // or disk-write); other kinds are ignored.
    void push(const EventBody& input);
    // Whether push() queues an event of this kind.
    static bool queues(const EventBody& event);
    void clear() { queue_.clear(); }
    size_t pending() const { return queue_.size(); }

    int64_t wall_clock_ns() override;
    int64_t monotonic_ns() override { return wall_clock_ns(); }  // one kind of clock event serves both
    void entropy(std::span<uint8_t> out) override;
    std::optional<uint8_t> serial_in() override;
    // Where the recording's wait ended with input asked for, a serial-in
    // comes next; anything else is a wait cut short by a limit or a signal.
    bool wait_for_serial_in(std::chrono::steady_clock::time_point, const std::atomic<int>*) override {
        return front<SerialInEvent>() != nullptr;
    }
    void disk_read(uint64_t offset, std::span<uint8_t> out) override;
    void disk_write(uint64_t offset, std::span<const uint8_t> in) override;

private:
    template <typename T>
    const T* front() const {
        return queue_.empty() ? nullptr : std::get_if<T>(&queue_.front());
    }
    std::deque<EventBody> queue_;
};

}  // namespace kvmrr
