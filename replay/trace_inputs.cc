#include "replay/trace_inputs.h"

#include <algorithm>

namespace kvmrr {

bool TraceInputs::queues(const EventBody& b) {
    return std::holds_alternative<ClockEvent>(b) || std::holds_alternative<EntropyEvent>(b) ||
           std::holds_alternative<SerialInEvent>(b) || std::holds_alternative<DiskReadEvent>(b) ||
           std::holds_alternative<DiskWriteEvent>(b);
}

void TraceInputs::push(const EventBody& b) {
    if (queues(b)) queue_.push_back(b);
}

int64_t TraceInputs::wall_clock_ns() {
    const ClockEvent* c = front<ClockEvent>();
    if (!c) return 0;
    const int64_t ns = c->ns;
    queue_.pop_front();
    return ns;
}

void TraceInputs::entropy(std::span<uint8_t> out) {
    const EntropyEvent* e = front<EntropyEvent>();
    std::fill(out.begin(), out.end(), 0);
    // A request of another size is a different input: leave it queued.
    if (!e || e->bytes.size() != out.size()) return;
    std::copy(e->bytes.begin(), e->bytes.end(), out.begin());
    queue_.pop_front();
}

std::optional<uint8_t> TraceInputs::serial_in() {
    const SerialInEvent* s = front<SerialInEvent>();
    if (!s) return std::nullopt;
    const int16_t b = s->byte;
    queue_.pop_front();
    if (b < 0) return std::nullopt;
    return static_cast<uint8_t>(b);
}

void TraceInputs::disk_read(uint64_t offset, std::span<uint8_t> out) {
    const DiskReadEvent* d = front<DiskReadEvent>();
    std::fill(out.begin(), out.end(), 0);
    if (!d || d->offset != offset || d->data.size() != out.size()) return;
    std::copy(d->data.begin(), d->data.end(), out.begin());
    queue_.pop_front();
}

void TraceInputs::disk_write(uint64_t offset, std::span<const uint8_t> in) {
    // The data came from the guest; what matters is that the write happens
    // where the trace says, which the recorder's own disk-write event shows.
    const DiskWriteEvent* d = front<DiskWriteEvent>();
    if (d && d->offset == offset && d->length == in.size()) queue_.pop_front();
}

}  // namespace kvmrr
