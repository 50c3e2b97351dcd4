// Scripted HostInputs for device tests: a settable clock, entropy from a
// counter, a queue of serial bytes and an in-memory disk; and the run
// control and an interrupt pin that only note what they were asked.
#pragma once

#include <algorithm>
#include <cstring>
#include <deque>
#include <vector>

#include "devices/device.h"
#include "devices/host_inputs.h"
#include "devices/irq.h"

namespace kvmrr::testing {

class FakeHostInputs final : public HostInputs {
public:
    int64_t clock_ns = 0;
    uint8_t next_entropy = 0;
    std::deque<uint8_t> serial;
    std::vector<uint8_t> disk;
    int clock_reads = 0;

    int64_t wall_clock_ns() override {
        ++clock_reads;
        return clock_ns;
    }
    int64_t monotonic_ns() override {
        ++clock_reads;
        return monotonic;
    }
    int64_t monotonic = 0;
    void entropy(std::span<uint8_t> out) override {
        for (uint8_t& b : out) b = next_entropy++;
    }
    std::optional<uint8_t> serial_in() override {
        if (serial.empty()) return std::nullopt;
        uint8_t b = serial.front();
        serial.pop_front();
        return b;
    }
    // Ready at once: the queue holds all the input there will be.
    bool wait_for_serial_in(std::chrono::steady_clock::time_point, const std::atomic<int>*) override { return true; }
    void disk_read(uint64_t offset, std::span<uint8_t> out) override {
        for (size_t i = 0; i < out.size(); ++i) out[i] = offset + i < disk.size() ? disk[offset + i] : 0;
    }
    void disk_write(uint64_t offset, std::span<const uint8_t> in) override {
        if (disk.size() < offset + in.size()) disk.resize(offset + in.size());
        std::copy(in.begin(), in.end(), disk.begin() + static_cast<long>(offset));
    }
};

class FakeRunControl final : public RunControl {
public:
    std::vector<int> exits;
    int resets = 0;
    void request_exit(int status) override { exits.push_back(status); }
    void request_reset() override { ++resets; }
};

// An interrupt line's far end: its level, and how many times it rose.
class FakeIrqPin final : public IrqSink {
public:
    void set_irq(unsigned, bool level) override {
        if (level && !up) ++edges;
        up = level;
    }
    bool up = false;
    int edges = 0;
};

}  // namespace kvmrr::testing
