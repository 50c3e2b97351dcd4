#include "devices/ps2_queue.h"

namespace kvmrr {

namespace {

constexpr int kMask = Ps2Queue::kBufferSize - 1;

}  // namespace

void Ps2Queue::reset() {
    rptr_ = wptr_ = count_ = 0;
    cwptr_ = -1;
}

void Ps2Queue::queue(std::initializer_list<uint8_t> bytes) {
    if (kQueueSize - count_ < static_cast<int>(bytes.size())) return;
    for (uint8_t b : bytes) {
        data_[static_cast<size_t>(wptr_)] = b;
        wptr_ = (wptr_ + 1) & kMask;
        ++count_;
    }
    line_.set_level(true);
}

void Ps2Queue::reply(std::initializer_list<uint8_t> bytes) {
    rptr_ = (rptr_ - static_cast<int>(bytes.size())) & kMask;
    cwptr_ = rptr_;
    for (uint8_t b : bytes) {
        data_[static_cast<size_t>(cwptr_)] = b;
        cwptr_ = (cwptr_ + 1) & kMask;
        ++count_;
    }
    line_.set_level(true);
}

void Ps2Queue::drop_reply() {
    if (cwptr_ == -1) return;
    count_ -= (cwptr_ - rptr_) & kMask;
    rptr_ = cwptr_;
    cwptr_ = -1;
}

uint8_t Ps2Queue::read() {
    if (count_ == 0) return data_[static_cast<size_t>((rptr_ - 1) & kMask)];
    const uint8_t v = data_[static_cast<size_t>(rptr_)];
    rptr_ = (rptr_ + 1) & kMask;
    --count_;
    if (rptr_ == cwptr_) cwptr_ = -1;  // the reply is all read
    line_.set_level(false);
    if (count_) line_.set_level(true);
    return v;
}

void Ps2Queue::append_state(std::vector<uint8_t>& out) const {
    for (int v : {rptr_, wptr_, cwptr_ & 0x1ff, count_}) {
        out.push_back(static_cast<uint8_t>(v));
        out.push_back(static_cast<uint8_t>(v >> 8));
    }
    out.insert(out.end(), data_.begin(), data_.end());
}

}  // namespace kvmrr
