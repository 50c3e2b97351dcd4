#include "replay/event_groups.h"

namespace kvmrr {

EventGroupReader::EventGroupReader(TraceReader& reader) : reader_(reader), names_(reader.header()) {}

bool EventGroupReader::starts_group(const TraceEvent& e) {
    return std::holds_alternative<AccessEvent>(e.body) || std::holds_alternative<EndEvent>(e.body);
}

bool EventGroupReader::read(std::vector<TraceEvent>& group, bool append) {
    if (!append) group.clear();
    // Straight from the reader's buffer: every event is moved once, into
    // its group, and the next group's head stays in the reader.
    while (TraceEvent* e = next_buffered()) {
        if (starts_group(*e) && (!group.empty() || !prologue_done_)) {
            prologue_done_ = true;
            return true;
        }
        names_.observe(*e);
        group.push_back(std::move(*e));
        ++rpos_;
    }
    prologue_done_ = true;
    return false;
}

std::span<TraceEvent> EventGroupReader::read_in_place(std::vector<TraceEvent>& spill, bool& more) {
    spill.clear();
    if (!next_buffered()) {
        prologue_done_ = true;
        more = false;
        return {};
    }
    const size_t start = rpos_;
    for (size_t k = start; k < rbuf_.size(); ++k) {
        if (starts_group(rbuf_[k]) && (k > start || !prologue_done_)) {
            for (size_t i = start; i < k; ++i) names_.observe(rbuf_[i]);
            rpos_ = k;
            prologue_done_ = true;
            more = true;
            return rbuf_.subspan(start, k - start);
        }
    }
    // It goes on past this chunk: gather it.
    more = read(spill, true);
    return spill;
}

TraceEvent* EventGroupReader::next_buffered() {
    if (rpos_ == rbuf_.size()) {
        sync();
        rbuf_ = reader_.buffered();
        if (rbuf_.empty()) return nullptr;
    }
    return &rbuf_[rpos_];
}

void EventGroupReader::sync() {
    if (rpos_) reader_.consume(rpos_);
    rbuf_ = {};
    rpos_ = 0;
}

std::vector<std::string> EventGroupReader::context_before(uint64_t end, size_t n) {
    sync();
    std::vector<std::string> out;
    if (n == 0 || end == 0) return out;
    if (!reader_.seek(end > n ? end - n : 0)) return out;
    TraceEvent e;
    while (reader_.next(e) && e.seq < end) out.push_back(format_event(e, names_, false));
    return out;
}

}  // namespace kvmrr
