// TraceEvent: one recorded event as a plain C++ value, and TraceHeader.
//
// These mirror record/trace.capnp field for field. The recorder builds
// them on the vCPU thread (cheap: no Cap'n Proto builder there), the
// writer's compression thread turns a chunk of them into a Cap'n Proto
// message, and the reader turns messages back into them, so tests can
// compare what was written with what was read with ==.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "devices/ide_geometry.h"

namespace kvmrr {

// Versions 2 (topology views, device digests, the accelerator) and 3 (the
// time of each dirty log) added fields only, which a version-1 reader can
// ignore. Version 4 writes accesses as a new event kind (Event.access, the
// access inline), which no older reader can skip: traces of version 4
// need a reader of version 4. Version 5 adds the board, the firmware, the
// clock mode and --stop-at-output to the header (fields: skippable) and
// the interrupt event, which a version-4 reader cannot skip: a trace that
// may hold one (the pc board's) asks for a reader of version 5
// (kTraceInterruptVersion). Version 6 adds --lax-mmio to the header's
// options (a field: skippable; a reader that ignores it replays a lax run
// strictly and reports the divergence at the first unassigned access).
// Version 7 adds the pc board's IDE disk size to the machine (a field; a
// trace with a disk asks for a reader of version 7, kTraceDiskVersion,
// since an older one would build the board without the disk). Version 8
// adds that disk's geometry (fields; a trace with one asks for a reader of
// version 8, kTraceDiskGeometryVersion, since an older one would give the
// firmware other CMOS bytes and maybe another geometry).
// Version 9 adds RunEnd.betweenExits (a field an older reader may
// ignore: its guest replay then compares such an end's registers).
// Version 10 adds --deterministic-cpu to the header's options (a field; a
// trace with it on asks for a reader of version 10,
// kTraceDeterministicCpuVersion, since an older one would replay the guest
// with a CPUID that has the features the recording hid).
// Version 11 changes what a dirty log holds, not the schema: the pages
// written through the VMM's dispatch (a device's DMA) as well as those the
// vCPU wrote. An older reader reads such a trace; only its guest replay
// finds dirty pages that its own harvests lack. A newer reader's guest
// replay of an older trace harvests as that recording did
// (kTraceVmmWritesDirtyVersion).
// Version 12 adds the pause event: where the run loop stopped a guest
// between exits (--ticks-between-exits), with the emulator's instruction
// count, so that guest replay stops it there again. A trace recorded with
// --ticks-between-exits asks for a reader of version 12
// (kTracePauseVersion): an older one cannot read the event.
// This build still reads versions 1 to 3.
constexpr uint32_t kTraceFormatVersion = 12;
constexpr uint32_t kTraceMinReaderVersion = 4;
constexpr uint32_t kTraceInlineAccessVersion = 4;  // the first that writes Event.access
constexpr uint32_t kTraceInterruptVersion = 5;     // the first with interrupt events
constexpr uint32_t kTraceDiskVersion = 7;          // the first with the pc board's IDE disk
constexpr uint32_t kTraceDiskGeometryVersion = 8;  // the first with that disk's geometry
constexpr uint32_t kTraceDeterministicCpuVersion = 10;  // the first with --deterministic-cpu
constexpr uint32_t kTraceVmmWritesDirtyVersion = 11;    // the first whose dirty logs hold DMA-written pages
constexpr uint32_t kTracePauseVersion = 12;             // the first with pause events
constexpr uint32_t kNoRegion = 0xffffffff;

struct RegsRecord {
    std::vector<uint64_t> gprs;  // rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags
    uint64_t cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;
    bool operator==(const RegsRecord&) const = default;
};

struct RegionRecord {
    uint32_t id = 0;
    std::string name;
    std::string kind;
    bool operator==(const RegionRecord&) const = default;
};

enum class TraceAccessStatus : uint8_t { Ok, Unassigned, Invalid };

struct AccessEvent {
    bool io = false;  // port I/O, else MMIO
    uint64_t addr = 0;
    uint8_t size = 0;
    bool is_write = false;
    uint32_t count = 1;
    uint64_t value = 0;          // count == 1
    std::vector<uint8_t> bulk;   // count > 1: all size * count bytes
    uint32_t region = kNoRegion;
    TraceAccessStatus status = TraceAccessStatus::Ok;
    bool operator==(const AccessEvent&) const = default;
};

// One range of a recorded flat view (ViewRange in trace.capnp).
struct ViewRangeRecord {
    uint64_t start = 0;
    uint64_t last = 0;  // inclusive
    uint32_t region = kNoRegion;
    uint64_t offset = 0;
    bool readonly = false, romd = false, nonvolatile = false;
    uint8_t dirty_log = 0;
    bool operator==(const ViewRangeRecord&) const = default;
};

struct TopologyEvent {
    uint8_t space = 0;  // 0 memory, 1 I/O
    uint64_t flat_view_hash = 0;
    uint32_t ranges = 0;
    std::vector<ViewRangeRecord> view;  // empty in traces from before it was recorded
    bool operator==(const TopologyEvent&) const = default;
};

enum class MemslotOp : uint8_t { Add, Delete, Flags };

struct MemslotEvent {
    MemslotOp op = MemslotOp::Add;
    uint32_t slot = 0;
    uint64_t guest_phys = 0;
    uint64_t size = 0;
    uint32_t flags = 0;
    uint32_t ram_block = 0;
    uint64_t block_offset = 0;
    bool operator==(const MemslotEvent&) const = default;
};

struct DirtyEvent {
    uint64_t epoch = 0;
    uint32_t slot = 0;
    uint64_t guest_phys = 0;
    uint64_t pages = 0;
    uint64_t dirty_pages = 0;
    std::vector<uint8_t> runs;  // LEB128 (gap, length) pairs, see dirty_runs.h
    // When the bitmap was read, in ns since the recording started (0: not
    // known, traces before format 3). A host timing, not guest behaviour:
    // replay and diff do not compare it.
    uint64_t time_ns = 0;
    bool operator==(const DirtyEvent&) const = default;
};

struct DmaWriteEvent {
    uint64_t addr = 0;
    std::vector<uint8_t> data;
    bool operator==(const DmaWriteEvent&) const = default;
};

struct ClockEvent {
    int64_t ns = 0;
    bool operator==(const ClockEvent&) const = default;
};

struct EntropyEvent {
    std::vector<uint8_t> bytes;
    bool operator==(const EntropyEvent&) const = default;
};

struct SerialInEvent {
    int16_t byte = -1;  // -1: nothing was waiting
    bool operator==(const SerialInEvent&) const = default;
};

struct DiskReadEvent {
    uint64_t offset = 0;
    std::vector<uint8_t> data;
    bool operator==(const DiskReadEvent&) const = default;
};

struct DiskWriteEvent {
    uint64_t offset = 0;
    uint64_t length = 0;
    bool operator==(const DiskWriteEvent&) const = default;
};

struct RegionDefEvent {
    RegionRecord region;
    bool operator==(const RegionDefEvent&) const = default;
};

struct DeviceDigestRecord {
    std::string name;
    uint64_t digest = 0;           // Device::state_digest()
    uint64_t register_digest = 0;  // Device::register_digest()
    bool operator==(const DeviceDigestRecord&) const = default;
};

struct EndEvent {
    std::string reason;
    int32_t exit_status = 0;
    uint64_t exits = 0;
    uint64_t detail = 0;
    RegsRecord regs;
    std::vector<DeviceDigestRecord> device_digests;
    // A time limit or a signal stopped the guest between two exits, where
    // no replay can stop it again (format 9).
    bool between_exits = false;
    bool operator==(const EndEvent&) const = default;
};

// Each kind, and each record nested in one, is described field by field in
// event_descriptions.h: what the dump shows and what replay compares.
// An external interrupt the VMM delivered (format 5): the vector, the
// number of exits before it (it follows that exit), the rip it arrived at.
struct InterruptEvent {
    uint8_t vector = 0;
    uint64_t exit = 0;
    uint64_t rip = 0;
    bool operator==(const InterruptEvent&) const = default;
};

// What a device read from guest memory by DMA (format 5): device replay,
// which has no guest CPU writing that memory, puts it back before the
// access that read it.
struct DmaReadEvent {
    uint64_t addr = 0;
    std::vector<uint8_t> data;
    bool operator==(const DmaReadEvent&) const = default;
};

// The run loop stopped the guest between two exits, to deliver a timer's
// interrupt that fell due while it ran without any (--ticks-between-exits;
// format 12): after `exit` exits and, where the accelerator counts them
// (`counted`: the emulator), `instructions` instructions. The board's step
// there (a clock reading, maybe an interrupt) follows it.
struct PauseEvent {
    uint64_t exit = 0;
    uint64_t instructions = 0;
    bool counted = false;
    bool operator==(const PauseEvent&) const = default;
};

using EventBody = std::variant<AccessEvent, TopologyEvent, MemslotEvent, DirtyEvent, DmaWriteEvent, ClockEvent,
                               EntropyEvent, SerialInEvent, DiskReadEvent, DiskWriteEvent, RegionDefEvent, EndEvent,
                               InterruptEvent, DmaReadEvent, PauseEvent>;

struct TraceEvent {
    // Written out so that TraceEvent{} and emplace_back() do not zero the
    // whole variant's storage before constructing it (value-initialising a
    // class whose default constructor is implicit does): readers make one
    // of these per event.
    TraceEvent() {}
    // The body is constructed in place from whatever it is given (an
    // EventBody, or one of its alternatives): no extra move of the variant.
    template <class Body>
    TraceEvent(uint64_t s, uint16_t v, Body&& b) : seq(s), vcpu(v), body(std::forward<Body>(b)) {}

    uint64_t seq = 0;  // assigned by the writer: contiguous from 0
    uint16_t vcpu = 0;
    EventBody body;
    bool operator==(const TraceEvent&) const = default;
};

// Short kind names, stable (inspect, dump, diff): "pio", "mmio",
// "topology", "memslot", "dirty", "dma-write", "clock", "entropy",
// "serial-in", "disk-read", "disk-write", "region-def", "end".
const char* event_kind(const TraceEvent& e);
bool is_nondeterministic_input(const TraceEvent& e);

struct SegmentRecord {
    uint64_t addr = 0;
    std::vector<uint8_t> data;
    uint64_t zero_fill = 0;
    bool operator==(const SegmentRecord&) const = default;
};

struct WindowRecord {
    std::string name;
    bool io = false;
    uint64_t addr = 0, size = 0;
    bool operator==(const WindowRecord&) const = default;
};

struct DeviceRecord {
    std::string name;
    uint32_t model_version = 0;
    bool operator==(const DeviceRecord&) const = default;
};

struct TraceHeader {
    uint32_t format_version = kTraceFormatVersion;
    uint32_t min_reader_version = kTraceMinReaderVersion;
    std::string kvmrr_version;
    // machine
    uint64_t ram_size = 0, rom_size = 0;
    bool rom_low_alias = true;
    std::vector<WindowRecord> windows;
    std::vector<DeviceRecord> devices;
    std::string board;              // "pc", or "" for kvmrr's own board (format 5)
    std::vector<uint8_t> firmware;  // the pc board's ROM image (format 5)
    uint64_t disk_sectors = 0;      // the pc board's IDE disk, 512-byte sectors; 0 none (format 7)
    // Its geometry and BIOS translation (format 8); none: not recorded,
    // the size's geometry and no CMOS entry, as format-7 traces ran.
    std::optional<IdeGeometry> disk_geometry;
    // guest
    std::string guest_name;
    uint64_t guest_hash = 0;
    bool guest_long_mode = true;
    uint64_t guest_entry = 0;
    std::vector<uint64_t> guest_args;
    std::vector<SegmentRecord> guest_segments;
    uint32_t vcpu_count = 1;
    std::vector<RegsRecord> initial_regs;
    // host
    std::string kernel_release;
    int32_t kvm_api_version = 0;
    std::vector<std::pair<std::string, int64_t>> capabilities;
    bool manual_dirty_log_protect = false;
    uint32_t max_memslots = 0;
    // options
    uint64_t dirty_interval_exits = 0, dirty_interval_ms = 0, max_exits = 0, timeout_ms = 0;
    int32_t dirty_mark_port = -1;  // a harvest after each guest write to this port too (-1: none)
    std::string clock;             // "host" or "virtual"; "" in older traces (host)
    std::string stop_at_output;    // the run ended once this was output ("" none)
    std::string dirty_mode = "bitmap";
    bool lax_mmio = false;         // MMIO to unmapped memory read all ones instead of ending the run (format 6)
    bool ticks_between_exits = false;  // interrupts also came between exits, at pause events (format 7; the events: 12)
    bool deterministic_cpu = false;    // CPUID without the TSC and RDRAND/RDSEED (format 10)
    int64_t start_time_ns = 0;
    std::vector<RegionRecord> regions;
    std::string accelerator;  // "kvm" or "emu"; empty in traces before format 2 (KVM only then)
    bool operator==(const TraceHeader&) const = default;
};

}  // namespace kvmrr
