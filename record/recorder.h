// Recorder: the taps that turn one run into trace events.
//
// It is handed to a Session (vmm/session.h) as two things: the machine's
// HostInputs (wrapping the real ones, it logs every clock read, entropy
// byte, serial poll and disk read it hands on) and its SessionObserver
// (every PIO and MMIO exit after the device answered, so a read carries
// its value, with the region that dispatch says answered; every DMA write
// into guest memory). Once started it also listens to both address spaces
// (the FlatView after every commit) and is the memslot listener's observer
// and dirty sink (every slot change and every harvested bitmap).
//
// What a device does while handling an exit (a topology change, a clock
// read, a DMA write) is recorded right after that exit's access event:
// causes come before their consequences, which is the order replay needs.
// Dirty bitmaps are harvested every N exits or M milliseconds, before a
// logging slot goes away, and at the end.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/memory_listener.h"
#include "core/vcpu/memslot_listener.h"
#include "devices/host_inputs.h"
#include "record/trace_event.h"
#include "vmm/session.h"

namespace kvmrr {

class Machine;
class EventSink;

// A flat view as a trace keeps it, naming regions by `id_of`.
std::vector<ViewRangeRecord> view_record(const FlatView& v, const std::function<uint32_t(const MemoryRegion*)>& id_of);

// An I/O or MMIO exit as an access event: its data as it stands (written
// data, or after handling the data a read returned); region and status
// are left to the caller.
AccessEvent access_record(const VcpuExit& e);

// The registers a trace keeps (header initial state, end event).
RegsRecord regs_record(const kvm_regs& g, const kvm_sregs& s);

struct RecorderOptions {
    uint64_t dirty_interval_exits = 0;  // 0: off
    uint64_t dirty_interval_ms = 0;     // 0: off
    // Also a harvest right after each guest write to this I/O port: a
    // guest that marks its own phases (dirty_walker writes its epoch to the
    // UART scratch register, 0x3ff) gets epochs that match them. -1: none.
    int32_t dirty_mark_port = -1;
};

class Recorder final : public SessionObserver, public HostInputs {
public:
    Recorder(HostInputs& real, RecorderOptions opts);
    ~Recorder() override;
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    // Region descriptions for the trace header (ids assigned here, in the
    // order of the machine's flat views); call before start().
    std::vector<RegionRecord> describe_regions(Machine& m);
    // Starts logging into `sink`: registers the taps, and records the
    // current topology and memslots (`slots` may be null: no slots).
    void start(EventSink& sink, Machine& m, MemslotListener* slots);
    // Harvests dirty logs one last time, records the end, detaches.
    void finish(const RunResult& r);
    // Stops recording and removes every tap (finish() does this). Call it
    // before the machine goes away if finish() may not run: the recorder
    // is the machine's HostInputs, so it is made first and dies last.
    void detach();
    uint64_t dirty_epoch() const { return epoch_; }

    // HostInputs: answers from the real inputs, each logged.
    int64_t wall_clock_ns() override;
    int64_t monotonic_ns() override;
    void entropy(std::span<uint8_t> out) override;
    std::optional<uint8_t> serial_in() override;
    // Passed through, unlogged: what follows it is.
    bool wait_for_serial_in(std::chrono::steady_clock::time_point until, const std::atomic<int>* stop) override {
        return real_.wait_for_serial_in(until, stop);
    }
    void disk_read(uint64_t offset, std::span<uint8_t> out) override;
    void disk_write(uint64_t offset, std::span<const uint8_t> in) override;

    // SessionObserver
    void before_exit(const VcpuExit& e) override;
    void on_exit(const VcpuExit& e, const ExitOutcome& o) override;
    void dma_write(uint64_t gpa, std::span<const uint8_t> bytes) override;
    void on_interrupt(uint8_t vector, uint64_t exit, uint64_t rip) override;
    void on_pause(uint64_t exit, std::optional<uint64_t> instructions) override;
    void dma_read(uint64_t gpa, std::span<const uint8_t> bytes) override;

private:
    class TopologyTap;
    void emit(EventBody body);
    uint32_t region_id(const MemoryRegion* mr);
    void harvest_round();
    void topology(uint8_t space, const AddressSpace& as);

    HostInputs& real_;
    RecorderOptions opts_;
    EventSink* sink_ = nullptr;
    Machine* machine_ = nullptr;
    MemslotListener* slots_ = nullptr;
    std::vector<std::unique_ptr<TopologyTap>> taps_;
    std::unordered_map<uint64_t, uint32_t> region_ids_;  // MemoryRegion::serial() -> id
    // The last few answers of region_id(), newest first: a guest's exits go
    // to a few devices at a time.
    struct RecentRegion {
        const MemoryRegion* mr = nullptr;
        uint64_t serial = 0;
        uint32_t id = kNoRegion;
    };
    std::array<RecentRegion, 4> recent_regions_{};
    bool in_exit_ = false;
    std::vector<EventBody> pending_;  // consequences of the exit being handled
    uint64_t epoch_ = 0;
    uint64_t exits_since_harvest_ = 0;
    std::chrono::steady_clock::time_point last_harvest_{};
    std::chrono::steady_clock::time_point started_{};  // dirty logs' times count from here
};

}  // namespace kvmrr
