// run_guest: what `kvmrr run` does, as a library call — pick the image (a
// built-in fixture or a user's file), build the machine, run it on KVM or
// the emulator and turn the way the run ended into an exit status and a
// message.
//
// Exit statuses: the guest's own byte when it writes the debug-exit port;
// 0 when it halts; kStatusTimeout when the time limit ends it; 128 + the
// signal's number when one ends it (RunLimits::interrupt; 130 for SIGINT);
// and kStatusAbnormal for every other end (triple fault, unmapped memory, exit
// limit, entry failure, ...), with the reason in the message.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/guest_image.h"
#include "core/machine_layout.h"
#include "core/vcpu/dirty_log.h"
#include "vmm/accel.h"
#include "vmm/board.h"
#include "vmm/real_host_inputs.h"
#include "vmm/run_loop.h"
#include "vmm/session.h"

namespace kvmrr {

constexpr int kStatusTimeout = 124;
constexpr int kStatusAbnormal = 125;
constexpr uint64_t kFixtureLoadAddr = 0x100000;

struct GuestSpec {
    std::string fixture;  // built-in guest name, or empty
    std::string image;    // path of a user's image, or empty
    uint64_t load = 0;
    std::optional<uint64_t> entry;  // default: the load address (raw) or e_entry (ELF)
    CpuMode mode = CpuMode::Long;
    std::vector<uint64_t> args;
};

// The directory of the built-in fixture images: $KVMRR_FIXTURE_DIR, else
// the build's fixtures/guests directory.
std::string fixture_dir();
std::vector<std::string> fixture_names();
// Throws kvmrr::Error naming the fixture or file if it cannot be loaded.
GuestImage resolve_guest(const GuestSpec& spec);

struct GuestRunRequest {
    GuestSpec guest;           // kvmrr's board: what to run
    Board board = Board::Kvmrr;
    std::vector<uint8_t> firmware;  // the pc board: what it boots
    std::string firmware_name;      // and its file, for messages and traces
    uint64_t disk_sectors = 0;      // the pc board: --disk's size in sectors (its IDE disk)
    std::optional<IdeGeometry> disk_geometry;  // and its geometry (pc_disk_geometry)
    bool ticks_between_exits = false;  // the pc board: --ticks-between-exits
    bool deterministic_cpu = false;    // --deterministic-cpu (SessionConfig)
    ClockMode clock = ClockMode::Host;
    std::function<void(uint8_t)> debugcon_out;
    std::string stop_at_output;
    MachineLayout layout = MachineLayout::default_layout();
    std::string disk;         // disk image path, or empty
    int serial_in_fd = -1;    // host serial input, or -1
    std::function<void(uint8_t)> serial_out;
    RunLimits limits;
    ExitPolicy policy;
    Accel accel = Accel::Auto;
    // How dirty pages are harvested when something logs them (recording).
    DirtyLogMode dirty_mode = DirtyLogMode::Bitmap;
    uint32_t dirty_ring_entries = kDefaultDirtyRingEntries;

    // The session and the run this request asks for.
    SessionConfig session_config() const;
    RunOptions run_options() const;
};

// The guest as a trace header keeps it: the image (kvmrr's board), or the
// firmware's name and hash with no segments (the pc board, whose firmware
// the header keeps whole).
GuestImage guest_of(const GuestRunRequest& req);
// Builds the session's machine, starts the guest (the image's entry, or the
// reset vector), and on a virtual clock points the host inputs' clocks at it.
void start_guest(Session& session, const GuestRunRequest& req, const GuestImage& image, RealHostInputs& inputs);

struct GuestRunReport {
    RunResult result;
    int exit_status = 0;
    std::string accel;    // "kvm" or "emu": what ran the guest
    std::string message;  // how the run ended; when Auto fell back to the
                          // emulator, a first line says so and why
};

// The line that says Auto fell back to the emulator, given the reason KVM
// cannot be used ("" when it did not fall back).
std::string fallback_note(const std::string& reason);
// `prefix` before every line of `text`, which then ends with a newline
// (how the CLI prints a message: "kvmrr: " on each line).
std::string prefix_lines(const std::string& text, const std::string& prefix);

// Throws kvmrr::Error when the run cannot start (no KVM, bad image, ...).
GuestRunReport run_guest(const GuestRunRequest& req);
int exit_status_for(const RunResult& r);

}  // namespace kvmrr
