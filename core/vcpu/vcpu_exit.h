// VcpuExit and ExitOutcome: a vCPU exit as plain data, and what to do next.
//
// A Vcpu (vcpu.h) returns a VcpuExit from run(), KVM's or the emulator's
// alike; the run loop hands it to handle_exit (exit_handler.h) and applies
// the ExitOutcome. Keeping both as plain data lets unit tests feed made-up
// exits, lets the recorder tap the pair (after dispatch, so a read carries
// the value the device gave), and lets replay feed recorded exits back
// without a vCPU.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace kvmrr {

class MemoryRegion;

enum class ExitKind : uint8_t {
    Io,             // port I/O (in/out, string I/O with count > 1)
    Mmio,           // memory access with no memslot behind it
    Hlt,
    Shutdown,       // triple fault
    FailEntry,      // KVM_EXIT_FAIL_ENTRY
    InternalError,  // KVM_EXIT_INTERNAL_ERROR
    InterruptWindow,  // the guest can take an interrupt now (asked for)
    Debug,          // a debugger's breakpoint or single step (Vcpu::set_debug)
    Unknown,        // any other exit reason
};
const char* exit_kind_name(ExitKind k);

struct VcpuExit {
    ExitKind kind = ExitKind::Unknown;
    bool is_write = false;
    uint8_t size = 0;    // access size: 1/2/4 for I/O, 1..8 for MMIO
    uint32_t count = 1;  // I/O repetitions (string I/O)
    uint64_t addr = 0;   // port or guest-physical address
    // I/O and MMIO data, size * count bytes: written data on input, and the
    // handler fills it with the read data for reads. It lies in a buffer of
    // the vCPU's (for KVM, the run area itself).
    std::span<uint8_t> data;
    uint64_t reason_code = 0;  // fail-entry hardware reason, internal-error suberror, unknown exit reason
    bool interrupts_enabled = false;  // RFLAGS.IF at the exit (a HLT with it set waits for an interrupt)
    // Debug: the watchpoint whose access made the stop (after the
    // instruction that made it), by its address; none for a breakpoint or
    // a step.
    std::optional<uint64_t> watch_hit{};
};

enum class StopReason : uint8_t {
    None,
    GuestExit,         // the guest wrote to the debug-exit port
    Halt,              // HLT with interrupts that can never come
    Shutdown,          // triple fault
    FailEntry,
    InternalError,
    UnassignedAccess,  // MMIO to an address where nothing is mapped
    InvalidAccess,     // an access the device refuses (size, alignment)
    UnknownExit,
    MaxExits,
    Timeout,
    Diverged,          // a guest replay stopped at a difference from its trace
    Reset,             // the guest reset the machine (a PC's reset register, port 0x92, ...)
    OutputMatched,     // the text asked for (--stop-at-output) appeared on the serial port or debug console
    Interrupted,       // kvmrr was asked to stop (Ctrl-C, SIGTERM): the run, and its recording, end cleanly
};
const char* stop_reason_name(StopReason r);

struct ExitOutcome {
    StopReason stop = StopReason::None;  // None: enter the guest again
    uint64_t detail = 0;                  // address, hardware reason, ...
    // For an I/O or MMIO exit, the region that answered its (first) access,
    // as dispatch said (AccessResult::region); null when none did.
    const MemoryRegion* region = nullptr;
};

}  // namespace kvmrr
