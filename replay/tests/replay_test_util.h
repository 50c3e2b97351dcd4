// Scripted recordings for replay tests: a real Machine and the real
// Recorder, set up in the order record_guest uses, driven by made-up exits
// handled exactly as the run loop handles them. No vCPU is needed.
#pragma once

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "core/vcpu/exit_handler.h"
#include "core/vcpu/tests/fake_vm.h"
#include "vmm/machine.h"
#include "devices/tests/fake_host_inputs.h"
#include "record/record_session.h"
#include "record/recorder.h"
#include "record/trace_writer.h"

namespace kvmrr::testing {

inline std::string temp_trace(const std::string& tag) {
    return (std::filesystem::temp_directory_path() / ("kvmrr-" + tag + "-" + std::to_string(getpid()) + ".trace")).string();
}

class ScriptedRecording {
public:
    FakeHostInputs host;
    Recorder rec{host, RecorderOptions{}};
    Machine machine{MachineLayout::default_layout(), rec, [](uint8_t) {},
                    [this](uint64_t gpa, std::span<const uint8_t> bytes) { rec.dma_write(gpa, bytes); }};
    FakeVm vm{509, false};
    MemslotListener slots{vm};
    std::unique_ptr<TraceWriter> writer;
    uint64_t exits = 0;

    // `edit_header` may change the header before it is written.
    // `chunk_events` 0 keeps the writer's default chunking.
    explicit ScriptedRecording(const std::string& path, const std::function<void(TraceHeader&)>& edit_header = {},
                               uint32_t chunk_events = 7) {
        machine.memory_space().add_listener(slots);
        GuestImage img;
        img.name = "scripted";
        img.segments.push_back({0x100000, {0xf4, 0x90}, 0x1000});
        img.load_into(machine.memory_space());
        TraceHeader h = make_trace_header(machine, img, {});
        h.max_memslots = vm.max_memslots();
        h.regions = rec.describe_regions(machine);
        if (edit_header) edit_header(h);
        TraceWriterOptions o;
        if (chunk_events) o.chunk_events = chunk_events;  // small: chunk boundaries inside groups
        writer = std::make_unique<TraceWriter>(path, h, o);
        rec.start(*writer, machine, &slots);
        slots.set_global_dirty_log(true);
    }

    uint64_t exit(ExitKind kind, bool is_write, uint8_t size, uint64_t addr, uint64_t value = 0) {
        uint8_t data[8] = {};
        std::memcpy(data, &value, 8);
        VcpuExit e{kind, is_write, size, 1, addr, std::span(data), 0};
        rec.before_exit(e);
        const ExitOutcome o = handle_exit(e, {machine.io_space(), machine.memory_space()});
        rec.on_exit(e, o);
        ++exits;
        uint64_t out = 0;
        std::memcpy(&out, data, size);
        return out;
    }
    uint64_t in(uint64_t port, uint8_t size = 1) { return exit(ExitKind::Io, false, size, port); }
    void out(uint64_t port, uint64_t v, uint8_t size = 1) { exit(ExitKind::Io, true, size, port, v); }
    uint64_t read(uint64_t gpa, uint8_t size) { return exit(ExitKind::Mmio, false, size, gpa); }
    void write(uint64_t gpa, uint64_t v, uint8_t size) { exit(ExitKind::Mmio, true, size, gpa, v); }

    // Ends the run as the run loop would and closes the trace.
    void finish(StopReason reason = StopReason::GuestExit) {
        RunResult r;
        r.reason = reason;
        r.exits = exits;
        r.exit_status = machine.exit_request().status;
        rec.finish(r);
        writer->close();
    }
};

// A run that touches every device that replay must reproduce: UART output
// and status, the RTC (clock input), entropy, a bank switch (topology),
// the disk (disk input and DMA), and the debug-exit port.
inline void record_device_tour(const std::string& path) {
    ScriptedRecording s(path);
    s.host.clock_ns = 1700000000123456789;
    s.host.disk.assign(4096, 0x5a);
    for (char c : std::string("hi\n")) {
        s.in(0x3fd);  // LSR: transmitter empty?
        s.out(0x3f8, static_cast<uint8_t>(c));
    }
    s.out(0x70, 0x00);  // RTC seconds
    s.in(0x71);
    s.out(0x70, 0x04);  // hours
    s.in(0x71);
    s.read(0xfeb00000, 4);  // entropy
    s.read(0xfeb00000, 4);
    s.write(0xfeb01000, 1, 4);  // bank 1
    s.read(0xe0000000, 4);
    s.write(0xfeb01000, 3, 4);  // bank 3
    s.write(0xfeb03000, 2, 8);         // disk: sector 2
    s.write(0xfeb03008, 0x200000, 8);  // DMA address
    s.write(0xfeb03010, 2, 4);         // 2 sectors
    s.write(0xfeb03014, 1, 4);         // read disk -> guest
    s.read(0xfeb03018, 4);             // status
    s.in(0x3fd);
    s.out(0x3f8, '!');
    s.out(0xf4, 3);  // debug exit, status 3
    s.finish();
}

}  // namespace kvmrr::testing
