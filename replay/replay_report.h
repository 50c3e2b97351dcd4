// What a replay is asked (ReplayOptions) and what it says (ReplayReport,
// with the first Divergence), for both engines: device replay
// (device_replay.h) and guest replay (guest_replay.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "replay/gdb_arch.h"
#include "vmm/accel.h"

namespace kvmrr {

class Machine;
class TraceReader;

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
    // plant a changed device model here (RegionTestHook::replace_ops).
    std::function<void(Machine&)> prepare_machine;
    // Guest replay only: the accelerator, and a limit on the run's time
    // (default: 60 s, or the recording's time-out when that is longer;
    // a recording that timed out is stopped where it was, by its exits,
    // whatever this says).
    Accel accel = Accel::Auto;
    std::optional<std::chrono::milliseconds> timeout;
    // Guest replay only: a GDB stub on this loopback port (0: a free one),
    // which holds the guest before its first instruction, or with
    // `gdb_after_event` right after the exit whose recorded group holds
    // that event (the first after it, where it is in none), until a
    // debugger connects and lets it run (replay/gdb_server.h), showing GDB
    // the registers as `gdb_arch` says (default: as the guest's mode there
    // wants). `gdb_listening` is told where and how before the wait; a
    // replay that ends before the event never waits.
    std::optional<uint16_t> gdb_port;
    std::optional<GdbArch> gdb_arch;
    std::optional<uint64_t> gdb_after_event;
    struct GdbListening {
        uint16_t port;
        GdbArch arch;
        std::optional<uint64_t> after_event;  // the access event whose exit the guest made last; none: before the first instruction
    };
    std::function<void(const GdbListening&)> gdb_listening;
    // The trace again from its start, for a debugger's reverse steps and
    // continues (each runs the replay again up to where it goes back to);
    // without it, or on KVM (which counts no instructions), GDB cannot go
    // backwards.
    std::function<TraceReader()> reopen_trace;
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
    // Guest replay: the recording's time limit or signal stopped its guest
    // between exits, where no replay can stop it again; the end's
    // registers, and the pages dirtied after the last exit, were not
    // compared.
    bool end_between_exits = false;
    std::string accel;       // guest replay: what ran the guest
    int exit_status = 0;
    bool reproduced() const { return ended && !divergence && !damage; }
    std::string summary() const;  // one line
};

}  // namespace kvmrr
