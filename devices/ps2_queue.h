// Ps2Queue: the byte queue of a PS/2 device (keyboard or mouse) as QEMU's
// hw/input/ps2.c keeps it, because what a driver reads depends on its
// details: a ring of 256 bytes holding at most 16 queued bytes, with the
// replies to the last command put in front of them (so they come first)
// and dropped unread when the next command arrives; a read of an empty
// queue gives the ring's byte before the read position again. The device's
// interrupt request goes to `line`: raised when bytes are queued, lowered
// and raised again (an edge) on each read that leaves bytes behind.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace kvmrr {

class Ps2Line {
public:
    virtual void set_level(bool level) = 0;

protected:
    ~Ps2Line() = default;
};

class Ps2Queue {
public:
    static constexpr int kBufferSize = 256;  // QEMU's PS2_BUFFER_SIZE
    static constexpr int kQueueSize = 16;    // PS2_QUEUE_SIZE: bytes a device may queue

    explicit Ps2Queue(Ps2Line& line) : line_(line) {}

    // Empties the queue (the device's reset); the request line is untouched.
    void reset();
    // Queues `bytes` behind the rest, all or (short of room) none, and
    // raises the request.
    void queue(std::initializer_list<uint8_t> bytes);
    // Puts a command's reply in front of everything queued, and raises the
    // request.
    void reply(std::initializer_list<uint8_t> bytes);
    // Drops what is left unread of the last command's reply (a new command
    // has come).
    void drop_reply();
    // The next byte (and a fresh edge if more wait), or with nothing queued
    // the ring's byte before the read position.
    uint8_t read();

    // Everything a digest needs, in a fixed order.
    void append_state(std::vector<uint8_t>& out) const;

private:
    Ps2Line& line_;
    std::array<uint8_t, kBufferSize> data_{};
    int rptr_ = 0, wptr_ = 0;
    int cwptr_ = -1;  // end of the command reply in front; -1 none
    int count_ = 0;
};

}  // namespace kvmrr
