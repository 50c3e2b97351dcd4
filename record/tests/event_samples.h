// For every event kind: an event with every member, and every member of
// the records nested in it, set to a value of its own (never the
// default), and for every member a change to it, saying where the change
// must show. The description tests (record/tests/event_descriptions_test.cc,
// replay/tests/event_compare_test.cc) apply each change: a member that no
// row of the descriptions reads changes nothing there and fails them. And
// member_count() fails them when a struct gains a member that no change
// here covers, so a new member cannot be left out of the descriptions
// unnoticed.
#pragma once

#include <cstddef>
#include <variant>
#include <vector>

#include "record/dirty_runs.h"
#include "record/tests/trace_test_util.h"
#include "record/trace_event.h"

namespace kvmrr::test {

// How many members an aggregate has: the most initialisers T{...} takes.
struct AnyMember {
    template <class T>
    operator T() const;  // never called: only asked whether it converts
};
template <class T, class... Seen>
constexpr size_t member_count() {
    if constexpr (requires { T{Seen{}..., AnyMember{}}; })
        return member_count<T, Seen..., AnyMember>();
    else
        return sizeof...(Seen);
}

struct Change {
    const char* record;      // the struct whose member changes
    const char* member;
    const char* difference;  // the fields event_difference names, "; "-separated ("kind" when the
                             // kind changes); nullptr: no difference
    bool json;               // the JSON line changes
    bool human;              // the human line changes
    void (*apply)(EventBody&);
};

struct KindSample {
    const char* record;  // the struct's name, as in Change::record
    size_t members;      // member_count() of the struct
    EventBody full;
    std::vector<Change> changes;
};

// Every nested record type, with its member count (the kinds' own counts
// are in KindSample).
struct NestedRecord {
    const char* record;
    size_t members;
};
inline std::vector<NestedRecord> nested_records() {
    return {{"ViewRangeRecord", member_count<ViewRangeRecord>()},
            {"RegionRecord", member_count<RegionRecord>()},
            {"RegsRecord", member_count<RegsRecord>()},
            {"DeviceDigestRecord", member_count<DeviceDigestRecord>()}};
}

template <class E>
KindSample kind_sample(const char* record, E full, std::vector<Change> changes) {
    return {record, member_count<E>(), EventBody(std::move(full)), std::move(changes)};
}

// Region ids refer to sample_header()'s regions: 1 uart16550, 2 ram, 3 entropy.
inline std::vector<KindSample> kind_samples() {
    using A = AccessEvent;
    using T = TopologyEvent;
    using M = MemslotEvent;
    using D = DirtyEvent;
    using E = EndEvent;
    const char* view = "flat view differs";
    std::vector<KindSample> s;
    s.push_back(kind_sample<A>(
        "AccessEvent", A{true, 0x1f0, 2, true, 3, 0x1234, {1, 2, 3, 4, 5, 6}, 3, TraceAccessStatus::Unassigned},
        {
            // The kind's name says it: pio or mmio.
            {"AccessEvent", "io", "kind", true, true, [](EventBody& b) { std::get<A>(b).io = false; }},
            {"AccessEvent", "addr", "address", true, true, [](EventBody& b) { std::get<A>(b).addr = 0x2f0; }},
            {"AccessEvent", "size", "size", true, true, [](EventBody& b) { std::get<A>(b).size = 1; }},
            {"AccessEvent", "is_write", "direction", true, true, [](EventBody& b) { std::get<A>(b).is_write = false; }},
            {"AccessEvent", "count", "count", true, true, [](EventBody& b) { std::get<A>(b).count = 4; }},
            // The human line shows the bulk data of a repeated access, not its value.
            {"AccessEvent", "value", "value", true, false, [](EventBody& b) { std::get<A>(b).value = 0x99; }},
            {"AccessEvent", "bulk", "data", true, true, [](EventBody& b) { std::get<A>(b).bulk[0] = 0xff; }},
            {"AccessEvent", "region", "region", true, true, [](EventBody& b) { std::get<A>(b).region = 2; }},
            {"AccessEvent", "status", "status", true, true,
             [](EventBody& b) { std::get<A>(b).status = TraceAccessStatus::Invalid; }},
        }));
    s.push_back(kind_sample<T>(
        "TopologyEvent",
        T{1, 0xabcdef, 2,
          {{0x100, 0xfff, 1, 0x10, true, true, true, 3}, {0x1000, 0x1fff, 2, 0x20, false, false, false, 0}}},
        {
            {"TopologyEvent", "space", "space", true, true, [](EventBody& b) { std::get<T>(b).space = 0; }},
            {"TopologyEvent", "flat_view_hash", "flat view hash", true, true,
             [](EventBody& b) { std::get<T>(b).flat_view_hash = 7; }},
            {"TopologyEvent", "ranges", "ranges", true, true, [](EventBody& b) { std::get<T>(b).ranges = 3; }},
            {"TopologyEvent", "view", view, false, false, [](EventBody& b) { std::get<T>(b).view.pop_back(); }},
            {"ViewRangeRecord", "start", view, false, false,
             [](EventBody& b) { std::get<T>(b).view[0].start = 0x200; }},
            {"ViewRangeRecord", "last", view, false, false, [](EventBody& b) { std::get<T>(b).view[0].last = 0xeff; }},
            {"ViewRangeRecord", "region", view, false, false, [](EventBody& b) { std::get<T>(b).view[0].region = 3; }},
            {"ViewRangeRecord", "offset", view, false, false, [](EventBody& b) { std::get<T>(b).view[0].offset = 0; }},
            {"ViewRangeRecord", "readonly", view, false, false,
             [](EventBody& b) { std::get<T>(b).view[0].readonly = false; }},
            {"ViewRangeRecord", "romd", view, false, false, [](EventBody& b) { std::get<T>(b).view[0].romd = false; }},
            {"ViewRangeRecord", "nonvolatile", view, false, false,
             [](EventBody& b) { std::get<T>(b).view[0].nonvolatile = false; }},
            {"ViewRangeRecord", "dirty_log", view, false, false,
             [](EventBody& b) { std::get<T>(b).view[0].dirty_log = 1; }},
        }));
    s.push_back(kind_sample<M>(
        "MemslotEvent", M{MemslotOp::Delete, 3, 0x100000, 0x2000, 1, 4, 0x3000},
        {
            {"MemslotEvent", "op", "operation", true, true, [](EventBody& b) { std::get<M>(b).op = MemslotOp::Flags; }},
            {"MemslotEvent", "slot", "slot", true, true, [](EventBody& b) { std::get<M>(b).slot = 9; }},
            {"MemslotEvent", "guest_phys", "guest address", true, true,
             [](EventBody& b) { std::get<M>(b).guest_phys = 0x200000; }},
            {"MemslotEvent", "size", "size", true, true, [](EventBody& b) { std::get<M>(b).size = 0x1000; }},
            {"MemslotEvent", "flags", "flags", true, true, [](EventBody& b) { std::get<M>(b).flags = 2; }},
            {"MemslotEvent", "ram_block", "RAM block", true, true, [](EventBody& b) { std::get<M>(b).ram_block = 5; }},
            {"MemslotEvent", "block_offset", "block offset", true, true,
             [](EventBody& b) { std::get<M>(b).block_offset = 0x4000; }},
        }));
    s.push_back(kind_sample<D>(
        "DirtyEvent", make_dirty_event(DirtyBitmap{2, 0x200000, 64, {0b1011}}, 5, 777),
        {
            {"DirtyEvent", "epoch", "epoch", true, true, [](EventBody& b) { std::get<D>(b).epoch = 6; }},
            {"DirtyEvent", "slot", "slot", true, true, [](EventBody& b) { std::get<D>(b).slot = 3; }},
            {"DirtyEvent", "guest_phys", "guest address", true, true,
             [](EventBody& b) { std::get<D>(b).guest_phys = 0x300000; }},
            {"DirtyEvent", "pages", "pages", true, true, [](EventBody& b) { std::get<D>(b).pages = 128; }},
            {"DirtyEvent", "dirty_pages", "dirty pages", true, true,
             [](EventBody& b) { std::get<D>(b).dirty_pages = 4; }},
            {"DirtyEvent", "runs", "dirty runs", true, true, [](EventBody& b) { std::get<D>(b).runs.clear(); }},
            // When the host read the bitmap: shown to scripts, never compared.
            {"DirtyEvent", "time_ns", nullptr, true, false, [](EventBody& b) { std::get<D>(b).time_ns = 778; }},
        }));
    s.push_back(kind_sample<DmaWriteEvent>(
        "DmaWriteEvent", DmaWriteEvent{0x8000, {1, 2, 3}},
        {
            {"DmaWriteEvent", "addr", "address", true, true,
             [](EventBody& b) { std::get<DmaWriteEvent>(b).addr = 0x9000; }},
            {"DmaWriteEvent", "data", "data", true, true, [](EventBody& b) { std::get<DmaWriteEvent>(b).data[1] = 9; }},
        }));
    s.push_back(kind_sample<ClockEvent>(
        "ClockEvent", ClockEvent{-5},
        {{"ClockEvent", "ns", "clock", true, true, [](EventBody& b) { std::get<ClockEvent>(b).ns = 6; }}}));
    s.push_back(kind_sample<EntropyEvent>(
        "EntropyEvent", EntropyEvent{{1, 2, 3}},
        {{"EntropyEvent", "bytes", "entropy", true, true,
          [](EventBody& b) { std::get<EntropyEvent>(b).bytes[0] = 9; }}}));
    s.push_back(kind_sample<SerialInEvent>(
        "SerialInEvent", SerialInEvent{0x41},
        {{"SerialInEvent", "byte", "serial input", true, true,
          [](EventBody& b) { std::get<SerialInEvent>(b).byte = -1; }}}));
    s.push_back(kind_sample<DiskReadEvent>(
        "DiskReadEvent", DiskReadEvent{512, {1, 2, 3}},
        {
            {"DiskReadEvent", "offset", "disk offset", true, true,
             [](EventBody& b) { std::get<DiskReadEvent>(b).offset = 1024; }},
            {"DiskReadEvent", "data", "data", true, true, [](EventBody& b) { std::get<DiskReadEvent>(b).data[2] = 9; }},
        }));
    s.push_back(kind_sample<DiskWriteEvent>(
        "DiskWriteEvent", DiskWriteEvent{1024, 512},
        {
            {"DiskWriteEvent", "offset", "disk offset", true, true,
             [](EventBody& b) { std::get<DiskWriteEvent>(b).offset = 2048; }},
            {"DiskWriteEvent", "length", "length", true, true,
             [](EventBody& b) { std::get<DiskWriteEvent>(b).length = 256; }},
        }));
    s.push_back(kind_sample<RegionDefEvent>(
        "RegionDefEvent", RegionDefEvent{{7, "dyn", "alias"}},
        {
            {"RegionDefEvent", "region", "name; kind", true, true,
             [](EventBody& b) { std::get<RegionDefEvent>(b).region = {8, "other", "ram"}; }},
            // Ids are each trace's own numbering: shown, not compared.
            {"RegionRecord", "id", nullptr, true, true,
             [](EventBody& b) { std::get<RegionDefEvent>(b).region.id = 8; }},
            {"RegionRecord", "name", "name", true, true,
             [](EventBody& b) { std::get<RegionDefEvent>(b).region.name = "other"; }},
            {"RegionRecord", "kind", "kind", true, true,
             [](EventBody& b) { std::get<RegionDefEvent>(b).region.kind = "ram"; }},
        }));
    s.push_back(kind_sample<E>(
        "EndEvent", E{"debug-exit", 3, 100, 0xf4, sample_regs(1), {{"uart", 5, 6}, {"rtc", 7, 8}}, true},
        {
            {"EndEvent", "reason", "reason", true, true, [](EventBody& b) { std::get<E>(b).reason = "hlt"; }},
            {"EndEvent", "exit_status", "exit status", true, true,
             [](EventBody& b) { std::get<E>(b).exit_status = -1; }},
            {"EndEvent", "exits", "exits", true, true, [](EventBody& b) { std::get<E>(b).exits = 101; }},
            {"EndEvent", "detail", "detail", true, true, [](EventBody& b) { std::get<E>(b).detail = 0xf5; }},
            {"EndEvent", "regs", "register count; cr0; cr3; cr4; efer", true, true,
             [](EventBody& b) { std::get<E>(b).regs = RegsRecord{}; }},
            {"EndEvent", "device_digests", "devices", false, false,
             [](EventBody& b) { std::get<E>(b).device_digests.pop_back(); }},
            {"EndEvent", "between_exits", "stopped between exits", true, true,
             [](EventBody& b) { std::get<E>(b).between_exits = false; }},
            // The human line shows rip, where the guest stopped, and no other register.
            {"RegsRecord", "gprs", "rip", true, true, [](EventBody& b) { std::get<E>(b).regs.gprs[16] = 0x42; }},
            {"RegsRecord", "gprs", "rax", true, false, [](EventBody& b) { std::get<E>(b).regs.gprs[0] = 0x42; }},
            {"RegsRecord", "gprs", "register count", true, true,
             [](EventBody& b) { std::get<E>(b).regs.gprs.pop_back(); }},
            {"RegsRecord", "cr0", "cr0", true, false, [](EventBody& b) { std::get<E>(b).regs.cr0 = 1; }},
            {"RegsRecord", "cr3", "cr3", true, false, [](EventBody& b) { std::get<E>(b).regs.cr3 = 1; }},
            {"RegsRecord", "cr4", "cr4", true, false, [](EventBody& b) { std::get<E>(b).regs.cr4 = 1; }},
            {"RegsRecord", "efer", "efer", true, false, [](EventBody& b) { std::get<E>(b).regs.efer = 1; }},
            {"DeviceDigestRecord", "name", "devices", false, false,
             [](EventBody& b) { std::get<E>(b).device_digests[0].name = "rtc2"; }},
            {"DeviceDigestRecord", "digest", "devices", false, false,
             [](EventBody& b) { std::get<E>(b).device_digests[0].digest = 9; }},
            {"DeviceDigestRecord", "register_digest", "devices", false, false,
             [](EventBody& b) { std::get<E>(b).device_digests[0].register_digest = 9; }},
        }));
    using I = InterruptEvent;
    s.push_back(kind_sample<I>("InterruptEvent", I{0x08, 1234, 0xfe3a1},
                               {
                                   {"InterruptEvent", "vector", "vector", true, true,
                                    [](EventBody& b) { std::get<I>(b).vector = 0x09; }},
                                   {"InterruptEvent", "exit", "exit", true, true,
                                    [](EventBody& b) { std::get<I>(b).exit = 1235; }},
                                   {"InterruptEvent", "rip", "rip", true, true,
                                    [](EventBody& b) { std::get<I>(b).rip = 0xfe3a2; }},
                               }));
    using DR = DmaReadEvent;
    s.push_back(kind_sample<DR>("DmaReadEvent", DR{0x6f50, {1, 2, 3, 4}},
                                {
                                    {"DmaReadEvent", "addr", "address", true, true,
                                     [](EventBody& b) { std::get<DR>(b).addr = 0x6f58; }},
                                    {"DmaReadEvent", "data", "data", true, true,
                                     [](EventBody& b) { std::get<DR>(b).data[0] = 9; }},
                                }));
    using P = PauseEvent;
    s.push_back(kind_sample<P>("PauseEvent", P{812, 3'141'592, true},
                               {
                                   {"PauseEvent", "exit", "exit", true, true, [](EventBody& b) { std::get<P>(b).exit = 813; }},
                                   {"PauseEvent", "instructions", "instructions", true, true,
                                    [](EventBody& b) { std::get<P>(b).instructions = 3'141'593; }},
                                   {"PauseEvent", "counted", "instructions counted", true, true,
                                    [](EventBody& b) { std::get<P>(b).counted = false; }},
                               }));
    return s;
}

}  // namespace kvmrr::test
