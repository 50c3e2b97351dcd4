// ReplayEngine: what device replay and guest replay share — the machine
// rebuilt from a trace header through a Session, the very Recorder that
// wrote the trace put in front of it again (writing into the matcher
// instead of a file), the recorded inputs served to its devices, the
// groups read from the trace and the matcher that compares them.
//
// The engines (DeviceReplay, GuestReplay) drive it; this is internal to
// replay/.
#pragma once

#include <memory>
#include <optional>
#include <span>

#include "record/recorder.h"
#include "record/trace_reader.h"
#include "replay/event_groups.h"
#include "replay/event_matcher.h"
#include "replay/replay_report.h"
#include "replay/trace_inputs.h"
#include "vmm/session.h"

namespace kvmrr {

class ReplayEngine : public SessionObserver {
protected:
    // Builds the machine from the header (throws kvmrr::Error if it cannot
    // be), on `accel` (Accel::None: no vCPU).
    ReplayEngine(TraceReader& reader, const ReplayOptions& options, Accel accel, bool compare_dirty,
                 RecorderOptions recorder_options);
    ~ReplayEngine() override;

    // The header's devices must be this build's, at the same model
    // versions; else a divergence "in the header" (true).
    bool check_devices();
    // Writes the guest image into memory and (with a vCPU) sets it up,
    // hands the test hook the machine, and starts the recorder.
    void start();
    // Hands the devices the inputs recorded after the group's access.
    void queue_inputs(std::span<const TraceEvent> group);
    // What the board did after the exit of `group` as the recording's run
    // loop did it: its timers (reading the clock the trace serves, taking
    // the UART's input at ticks) and, at each delivery the group records,
    // the acknowledge, told to the recorder with the vector the replayed
    // board gives. The prologue (`after_exit` false) has steps only where a
    // kick stopped the guest before its first exit (--ticks-between-exits).
    void board_step(std::span<const TraceEvent> group, bool after_exit = true);
    // The one rule for a trace's ending, in both engines: the run ends at
    // the first end event, and a recorder writes nothing after it. Given
    // what followed the end in its group (and whether more groups may
    // follow), reads the rest of the trace and, if anything is there (a
    // second end, any event), notes it: the replay is then not whole
    // (exit 3), whatever it matched before.
    void after_end(std::span<const TraceEvent> rest_of_group, bool more_groups);
    // Ends the replay: the recorder leaves the machine, the divergence gets
    // its context, or the report says why reading stopped (damage, no end
    // event, events after the end).
    ReplayReport finish();

    // SessionObserver: what a device writes by DMA goes to the recorder.
    // Exits are told to the recorder by the engines themselves, around
    // their own matching.
    void before_exit(const VcpuExit&) override {}
    void on_exit(const VcpuExit&, const ExitOutcome&) override {}
    void dma_write(uint64_t gpa, std::span<const uint8_t> bytes) override { rec_.dma_write(gpa, bytes); }
    void dma_read(uint64_t gpa, std::span<const uint8_t> bytes) override { rec_.dma_read(gpa, bytes); }
    // Interrupts the replayed board delivers (guest replay) are recorded again.
    void on_interrupt(uint8_t vector, uint64_t exit, uint64_t rip) override { rec_.on_interrupt(vector, exit, rip); }
    // So are its stops between exits, where the recording's were.
    void on_pause(uint64_t exit, std::optional<uint64_t> instructions) override { rec_.on_pause(exit, instructions); }

    const ReplayOptions& opts_;
    EventGroupReader groups_;
    const TraceHeader& h_;
    ReplayReport rep_;
    EventMatcher matcher_;
    TraceInputs inputs_;
    Recorder rec_;
    std::unique_ptr<Session> session_;
    // How the recording answered accesses that hit nothing: on the pc board
    // unassigned memory reads all ones and the run goes on.
    ExitPolicy policy_;
    // Where the replay stands, for a divergence report.
    const AccessEvent* current_access_ = nullptr;
    std::span<const TraceEvent> current_group_;
    const MemoryRegion* current_region_ = nullptr;
    std::string after_end_;  // what follows the end event, if anything
};

}  // namespace kvmrr
