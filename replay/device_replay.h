// Device replay: a trace re-run through fresh device models and a fresh
// memory model, without a vCPU, checked event by event.
//
// The machine is rebuilt from the trace header (layout, devices, guest
// image), and the very Recorder that wrote the trace is put in front of it
// again, writing into memory instead of a file. Every recorded PIO/MMIO
// access is dispatched as the run loop dispatched it, with the
// non-deterministic inputs recorded after it queued for the devices
// (TraceInputs); the events the recorder then produces (the access with
// the value the read returned, topology commits with their flat views,
// memslot changes, DMA writes, the inputs handed out) must equal the ones
// recorded after that access, in order. Dirty bitmaps are skipped (the
// guest's own writes are not replayed here). At the end each device's
// register digest and the guest's exit request must match the end event.
// The first difference stops the replay and is reported with its context.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/kvm/accel.h"
#include "record/trace_reader.h"

namespace kvmrr {

class Machine;

struct Divergence {
    std::optional<uint64_t> seq;   // of the recorded event; none for the header
    uint16_t vcpu = 0;
    std::string kind;              // of the recorded event, or "header"
    std::optional<uint64_t> addr;  // of the access being replayed
    std::string region;            // that answered it in the replay
    std::string device;            // whose window holds the address
    std::string expected, actual;  // the two events as `kvmrr dump` prints them ("" when missing)
    std::string difference;        // which fields differ
    std::string view_diff;         // topology: ranges only expected ("- ") / only replayed ("+ ")
    std::vector<std::string> context;  // the recorded events before it
    std::string describe() const;      // several lines, each ending in '\n'
};

struct ReplayOptions {
    size_t context_events = 8;
    // Told of progress every so many events: (events done, events in the
    // trace if the footer says). Called from the replaying thread.
    std::function<void(uint64_t, std::optional<uint64_t>)> progress;
    uint64_t progress_every = 1 << 16;
    // Called once the machine is built, before anything is replayed. Tests
    // plant a changed device model here (MemoryRegion::replace_ops).
    std::function<void(Machine&)> prepare_machine;
    // Guest replay only: the accelerator, and a limit on the run.
    Accel accel = Accel::Auto;
    std::chrono::milliseconds timeout{60000};
};

struct ReplayReport {
    uint64_t events = 0;     // recorded events replayed or checked
    uint64_t accesses = 0;   // PIO and MMIO accesses dispatched
    uint64_t checked = 0;    // recorded events compared with the replay's
    uint64_t skipped_dirty = 0;
    uint64_t unchecked = 0;  // events of a group that damage cut short
    std::optional<Divergence> divergence;
    std::optional<std::string> damage;  // the trace is not whole: where reading stopped
    bool ended = false;                 // the end event was reached and checked
    std::string end_reason;
    std::string accel;       // guest replay: what ran the guest
    int exit_status = 0;
    bool reproduced() const { return ended && !divergence && !damage; }
    std::string summary() const;  // one line
};

// Replays what `reader` has not read yet (open it fresh). Throws
// kvmrr::Error only when the machine cannot be built from the header.
ReplayReport replay_devices(TraceReader& reader, const ReplayOptions& options = {});

// Guest replay: the guest image itself runs again (on KVM or the
// emulator), and each of its exits must be the recorded one (kind,
// address, size, data written); every read returns the recorded value,
// so the guest sees the recorded clock, entropy and serial input whatever
// the host says now. The devices still run behind the accesses (they
// change the memory topology), fed the recorded inputs, and everything
// they and the recorder produce is matched as in device replay, dirty
// bitmaps included (harvested after the same exits), then the end: reason,
// exit count, registers and every device's full state digest. Throws
// kvmrr::Error when the run cannot start (no accelerator, bad header).
ReplayReport replay_guest(TraceReader& reader, const ReplayOptions& options = {});

}  // namespace kvmrr
