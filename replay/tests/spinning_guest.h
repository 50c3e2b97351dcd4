// A real recording of timer_irq_spin.bin on the emulator with
// --ticks-between-exits (a guest that waits for ten ticks in a loop that
// makes no exit, so the run loop stops it between exits), and a trace's
// events decoded into a vector to be edited and written again.
#pragma once

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "record/record_session.h"
#include "record/trace_reader.h"
#include "record/trace_writer.h"
#include "vmm/board.h"

namespace kvmrr::testing {

inline std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

struct Decoded {
    TraceHeader header;
    std::vector<TraceEvent> events;
};

inline Decoded decode(const std::string& path) {
    TraceReader r = TraceReader::open(path);
    Decoded d{r.header(), {}};
    TraceEvent e;
    while (r.next(e)) d.events.push_back(e);
    return d;
}

inline void encode(const Decoded& d, const std::string& path) {
    TraceWriter w(path, d.header);
    for (const TraceEvent& e : d.events) w.append(e.vcpu, e.body);
    w.close();
}

// A recording of `firmware` on the pc board, on the emulator, with
// --ticks-between-exits, into `path`.
inline RecordRequest ticks_request(std::vector<uint8_t> firmware, const std::string& name, const std::string& path) {
    RecordRequest req;
    req.run.board = Board::Pc;
    req.run.firmware = std::move(firmware);
    req.run.firmware_name = name;
    req.run.layout = pc_layout(kPcDefaultRam, req.run.firmware.size());
    req.run.ticks_between_exits = true;
    req.run.accel = Accel::Emu;
    req.run.limits.timeout = std::chrono::seconds(60);
    req.output = path;
    return req;
}

// Records the spinning guest into `path`; the guest's exit status is its
// tick count (10 when every tick came).
inline void record_spinning_guest(const std::string& path) {
    std::vector<uint8_t> firmware = read_file(std::string(KVMRR_FIRMWARE_DIR) + "/timer_irq_spin.bin");
    ASSERT_FALSE(firmware.empty());
    const RecordReport rep = record_guest(ticks_request(std::move(firmware), "timer_irq_spin.bin", path));
    ASSERT_EQ(rep.run.exit_status, 10) << rep.run.message;
}

}  // namespace kvmrr::testing
