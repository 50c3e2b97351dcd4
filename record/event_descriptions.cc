#include "record/event_descriptions.h"

#include <algorithm>

#include "core/error.h"
#include "record/dirty_runs.h"
#include "record/text_quote.h"
#include "record/trace_text.h"

namespace kvmrr {
namespace {

// Columns of every table: JSON key, human label, name in a difference, format.

// ---- Access ---------------------------------------------------------------

constexpr const char* kStatusNames[] = {"ok", "unassigned", "invalid"};
constexpr const char* kDirectionNames[] = {"read", "write"};

const char* access_kind(const void* body) { return static_cast<const AccessEvent*>(body)->io ? "pio" : "mmio"; }

// The access reads as a sentence, `out 0x3f8 size 1 value 0x41 -> uart16550
// ok`, with the single value or the bulk data, whichever the access has.
std::string access_line(const void* body, const RegionNames& names) {
    const auto& a = *static_cast<const AccessEvent*>(body);
    std::string s = a.io ? (a.is_write ? "out" : "in") : (a.is_write ? "write" : "read");
    s += " " + hex(a.addr) + " size " + std::to_string(a.size);
    if (a.count == 1)
        s += " value " + hex(a.value);
    else
        s += " count " + std::to_string(a.count) + " data " +
             (a.bulk.empty() ? std::string("none") : hex_bytes(a.bulk, kHumanBytes));
    const auto status = static_cast<size_t>(a.status);
    s += " -> " + word(names.label(a.region)) + " ";
    s += status < std::size(kStatusNames) ? kStatusNames[status] : "unknown";
    return s;
}

// The human line is access_line(), so no row has a human label.
constexpr Field kAccessFields[] = {
    // The kind's name says it (pio or mmio), before any field is compared.
    field<&AccessEvent::io>(nullptr, nullptr, "port I/O", Format::Flag),
    field<&AccessEvent::addr>("addr", nullptr, "address", Format::Hex),
    field<&AccessEvent::size>("size", nullptr, "size", Format::Dec),
    field<&AccessEvent::is_write>("write", nullptr, "direction", Format::Flag, {.names = kDirectionNames}),
    field<&AccessEvent::count>("count", nullptr, "count", Format::Dec),
    field<&AccessEvent::value>("value", nullptr, "value", Format::Hex),
    field<&AccessEvent::bulk>("data", nullptr, "data", Format::Bytes),
    field<&AccessEvent::region>("region", nullptr, "region", Format::Region),
    field<&AccessEvent::status>("status", nullptr, "status", Format::Enum, {.names = kStatusNames}),
};
constexpr Description kAccess{.fields = kAccessFields, .kind_of = access_kind, .human_line = access_line};

// ---- Topology -------------------------------------------------------------

constexpr const char* kSpaceNames[] = {"memory", "io"};

// Said only when nothing else is: the divergence report lists the ranges
// that differ (view_difference), which says it better.
void say_view(const FieldValue&, const FieldValue&, Differences& out) {
    if (out.text.empty()) out.add("flat view differs");
}

// Compared only: a divergence report shows ranges its own way (view_difference).
constexpr Field kViewRangeFields[] = {
    field<&ViewRangeRecord::start>(nullptr, nullptr, "start", Format::Hex),
    field<&ViewRangeRecord::last>(nullptr, nullptr, "last", Format::Hex),
    field<&ViewRangeRecord::region>(nullptr, nullptr, "region", Format::Region),
    field<&ViewRangeRecord::offset>(nullptr, nullptr, "offset", Format::Hex),
    field<&ViewRangeRecord::readonly>(nullptr, nullptr, "readonly", Format::Flag),
    field<&ViewRangeRecord::romd>(nullptr, nullptr, "romd", Format::Flag),
    field<&ViewRangeRecord::nonvolatile>(nullptr, nullptr, "nonvolatile", Format::Flag),
    field<&ViewRangeRecord::dirty_log>(nullptr, nullptr, "dirty log", Format::Hex),
};
constexpr Description kViewRange{.fields = kViewRangeFields};

constexpr Field kTopologyFields[] = {
    // A difference gives the space's number, as it always has.
    field<&TopologyEvent::space>("space", "", "space", Format::Enum,
                                 {.names = kSpaceNames, .unknown_prefix = "space", .number_in_difference = true}),
    field<&TopologyEvent::flat_view_hash>("flat_view_hash", nullptr, "flat view hash", Format::Hex),
    field<&TopologyEvent::ranges>("ranges", "ranges", "ranges", Format::Dec),
    // The hash again, for the human line alone, which says it last.
    field<&TopologyEvent::flat_view_hash>(nullptr, "hash", nullptr, Format::Hex),
    // Traces from before views were recorded keep only the hash.
    field<&TopologyEvent::view>(nullptr, nullptr, "flat view", Format::List,
                                {.empty_is_unrecorded = true, .nested = &kViewRange, .say_difference = say_view}),
};
constexpr Description kTopology{.fields = kTopologyFields, .kind = "topology"};

// ---- Memslot --------------------------------------------------------------

constexpr const char* kMemslotOps[] = {"add", "delete", "flags"};

constexpr Field kMemslotFields[] = {
    field<&MemslotEvent::op>("op", "", "operation", Format::Enum, {.names = kMemslotOps}),
    field<&MemslotEvent::slot>("slot", "slot", "slot", Format::Dec),
    field<&MemslotEvent::guest_phys>("gpa", "gpa", "guest address", Format::Hex),
    // A size: hex for people, a number for scripts to compute with.
    field<&MemslotEvent::size>("size", "size", "size", Format::Hex, {.json_number = true}),
    field<&MemslotEvent::flags>("flags", "flags", "flags", Format::Hex),
    field<&MemslotEvent::ram_block>("ram_block", "ram-block", "RAM block", Format::Dec),
    field<&MemslotEvent::block_offset>("block_offset", "offset", "block offset", Format::Hex),
};
constexpr Description kMemslot{.fields = kMemslotFields, .kind = "memslot"};

// ---- Dirty ----------------------------------------------------------------

// People want to know how many runs there are, not their encoding.
std::string dirty_runs_text(const void* record) {
    const auto& d = *static_cast<const DirtyEvent*>(record);
    if (dirty_runs_problem(d)) return "malformed";
    return std::to_string(dirty_runs(d).size());
}

// Which pages differ, not which byte of the encoding.
void say_dirty_runs(const FieldValue& expected, const FieldValue& actual, Differences& out) {
    if (const auto d = dirty_runs_difference(*expected.bytes, *actual.bytes)) out.add("dirty runs: " + *d);
    else out.add("dirty runs: differ (malformed)");
}

constexpr Field kDirtyFields[] = {
    field<&DirtyEvent::epoch>("epoch", "epoch", "epoch", Format::Dec),
    field<&DirtyEvent::slot>("slot", "slot", "slot", Format::Dec),
    field<&DirtyEvent::guest_phys>("gpa", "gpa", "guest address", Format::Hex),
    field<&DirtyEvent::pages>("pages", "pages", "pages", Format::Dec),
    field<&DirtyEvent::dirty_pages>("dirty_pages", "dirty", "dirty pages", Format::Dec),
    field<&DirtyEvent::runs>("runs", "runs", "dirty runs", Format::Bytes,
                                 {.human_value = dirty_runs_text, .say_difference = say_dirty_runs}),
    // When the host read the bitmap is not the guest's doing: not compared.
    field<&DirtyEvent::time_ns>("time_ns", nullptr, nullptr, Format::Dec),
};
constexpr Description kDirty{.fields = kDirtyFields, .kind = "dirty"};

// ---- Inputs and DMA -------------------------------------------------------

constexpr Field kDmaWriteFields[] = {
    field<&DmaWriteEvent::addr>("addr", "", "address", Format::Hex),
    field<&DmaWriteEvent::data>("data", "data", "data", Format::Bytes),
};
constexpr Description kDmaWrite{.fields = kDmaWriteFields, .kind = "dma-write"};

constexpr Field kDmaReadFields[] = {
    field<&DmaReadEvent::addr>("addr", "", "address", Format::Hex),
    field<&DmaReadEvent::data>("data", "data", "data", Format::Bytes),
};
constexpr Description kDmaRead{.fields = kDmaReadFields, .kind = "dma-read"};

constexpr Field kClockFields[] = {
    field<&ClockEvent::ns>("ns", "", "clock", Format::Nanoseconds),
};
constexpr Description kClock{.fields = kClockFields, .kind = "clock", .nondeterministic_input = true};

constexpr Field kEntropyFields[] = {
    field<&EntropyEvent::bytes>("data", "data", "entropy", Format::Bytes),
};
constexpr Description kEntropy{.fields = kEntropyFields, .kind = "entropy", .nondeterministic_input = true};

constexpr Field kSerialInFields[] = {
    // -1 when nothing was waiting; a byte is a number in JSON.
    field<&SerialInEvent::byte>("byte", "", "serial input", Format::Hex,
                                {.json_number = true, .negative_is_none = true}),
};
constexpr Description kSerialIn{.fields = kSerialInFields, .kind = "serial-in", .nondeterministic_input = true};

constexpr Field kDiskReadFields[] = {
    field<&DiskReadEvent::offset>("offset", "offset", "disk offset", Format::Dec),
    field<&DiskReadEvent::data>("data", "data", "data", Format::Bytes),
};
constexpr Description kDiskRead{.fields = kDiskReadFields, .kind = "disk-read", .nondeterministic_input = true};

// What the guest stored: its data came from the guest, so it is no input.
constexpr Field kDiskWriteFields[] = {
    field<&DiskWriteEvent::offset>("offset", "offset", "disk offset", Format::Dec),
    field<&DiskWriteEvent::length>("length", "len", "length", Format::Dec),
};
constexpr Description kDiskWrite{.fields = kDiskWriteFields, .kind = "disk-write"};

// ---- Region definitions ---------------------------------------------------

constexpr Field kRegionFields[] = {
    // Ids are each trace's own numbering: regions are compared by name.
    field<&RegionRecord::id>("region", "", nullptr, Format::Dec),
    field<&RegionRecord::name>("region_name", "", "name", Format::Text),
    field<&RegionRecord::kind>("region_kind", "kind", "kind", Format::Text),
};
constexpr Description kRegion{.fields = kRegionFields};

// A nested record's row has empty labels: its own rows name its fields.
constexpr Field kRegionDefFields[] = {
    field<&RegionDefEvent::region>("", "", "", Format::Record, {.nested = &kRegion}),
};
constexpr Description kRegionDef{.fields = kRegionDefFields, .kind = "region-def"};

// ---- End ------------------------------------------------------------------

// The human line says where the guest stopped, and no more.
std::string rip_text(const void* record) {
    const auto& r = *static_cast<const RegsRecord*>(record);
    return r.gprs.size() == kGprNames.size() ? hex(r.gprs[16]) : std::string();
}

// Every register that differs, by name, rip first: it says where.
void say_registers(const FieldValue& expected, const FieldValue& actual, Differences& out) {
    const std::vector<uint64_t>& a = *expected.words;
    const std::vector<uint64_t>& b = *actual.words;
    auto say = [&](const std::string& name, uint64_t x, uint64_t y) {
        if (x != y) out.add(name.c_str(), hex(x), hex(y));
    };
    if (a.size() == b.size() && a.size() >= 17) say("rip", a[16], b[16]);
    if (a.size() != b.size()) out.add("register count", std::to_string(a.size()), std::to_string(b.size()));
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        if (i != 16) say(i < kGprNames.size() ? kGprNames[i] : "gpr" + std::to_string(i), a[i], b[i]);
}

constexpr Field kRegsFields[] = {
    field<&RegsRecord::gprs>("gprs", "rip", "registers", Format::Words,
                             {.human_value = rip_text, .say_difference = say_registers}),
    field<&RegsRecord::cr0>("cr0", nullptr, "cr0", Format::Hex),
    field<&RegsRecord::cr3>("cr3", nullptr, "cr3", Format::Hex),
    field<&RegsRecord::cr4>("cr4", nullptr, "cr4", Format::Hex),
    field<&RegsRecord::efer>("efer", nullptr, "efer", Format::Hex),
};
constexpr Description kRegs{.fields = kRegsFields};

constexpr Field kDeviceDigestFields[] = {
    field<&DeviceDigestRecord::name>(nullptr, nullptr, "name", Format::Text),
    field<&DeviceDigestRecord::digest>(nullptr, nullptr, "digest", Format::Hex),
    field<&DeviceDigestRecord::register_digest>(nullptr, nullptr, "register digest", Format::Hex),
};
constexpr Description kDeviceDigest{.fields = kDeviceDigestFields};

std::string digests_text(const FieldValue& list) {
    std::string s;
    for (size_t i = 0; i < list.count; ++i) {
        const auto& d = *static_cast<const DeviceDigestRecord*>(list.element(i));
        s += (s.empty() ? "" : ",") + d.name + "=" + hex(d.digest);
    }
    return "[" + s + "]";
}

// The whole lists, by device name and state digest.
void say_digests(const FieldValue& expected, const FieldValue& actual, Differences& out) {
    out.add("devices", digests_text(expected), digests_text(actual));
}

// Said only when true: most runs end at an exit.
std::string between_exits_text(const void* end) {
    return static_cast<const EndEvent*>(end)->between_exits ? "between exits" : "";
}

constexpr Field kEndFields[] = {
    field<&EndEvent::reason>("reason", "reason", "reason", Format::Text),
    field<&EndEvent::exit_status>("exit_status", "status", "exit status", Format::Signed),
    field<&EndEvent::exits>("exits", "exits", "exits", Format::Dec),
    field<&EndEvent::detail>("detail", "detail", "detail", Format::Hex),
    field<&EndEvent::regs>("", "", "", Format::Record, {.nested = &kRegs}),
    // Digests mean nothing to read: compared only.
    field<&EndEvent::device_digests>(nullptr, nullptr, "devices", Format::List,
                                     {.nested = &kDeviceDigest, .say_difference = say_digests}),
    field<&EndEvent::between_exits>("between_exits", "", "stopped between exits", Format::Flag,
                                    {.human_value = between_exits_text}),
};
constexpr Description kEnd{.fields = kEndFields, .kind = "end"};

// ---- Interrupts ------------------------------------------------------------

constexpr Field kInterruptFields[] = {
    field<&InterruptEvent::vector>("vector", "vector", "vector", Format::Hex),
    field<&InterruptEvent::exit>("exit", "after exit", "exit", Format::Dec),
    field<&InterruptEvent::rip>("rip", "rip", "rip", Format::Hex),
};
constexpr Description kInterrupt{.fields = kInterruptFields, .kind = "interrupt"};

// ---- Pauses ----------------------------------------------------------------

// The count only where there is one (KVM counts none).
std::string instructions_text(const void* pause) {
    const auto* p = static_cast<const PauseEvent*>(pause);
    return p->counted ? std::to_string(p->instructions) : "";
}
std::string counted_text(const void* pause) {
    return static_cast<const PauseEvent*>(pause)->counted ? "" : "instructions not counted";
}

constexpr Field kPauseFields[] = {
    field<&PauseEvent::exit>("exit", "after exit", "exit", Format::Dec),
    field<&PauseEvent::instructions>("instructions", "instructions", "instructions", Format::Dec,
                                     {.human_value = instructions_text}),
    field<&PauseEvent::counted>("counted", "", "instructions counted", Format::Flag, {.human_value = counted_text}),
};
constexpr Description kPause{.fields = kPauseFields, .kind = "pause"};

}  // namespace

const Description& describe(const AccessEvent&) { return kAccess; }
const Description& describe(const InterruptEvent&) { return kInterrupt; }
const Description& describe(const DmaReadEvent&) { return kDmaRead; }
const Description& describe(const PauseEvent&) { return kPause; }
const Description& describe(const TopologyEvent&) { return kTopology; }
const Description& describe(const MemslotEvent&) { return kMemslot; }
const Description& describe(const DirtyEvent&) { return kDirty; }
const Description& describe(const DmaWriteEvent&) { return kDmaWrite; }
const Description& describe(const ClockEvent&) { return kClock; }
const Description& describe(const EntropyEvent&) { return kEntropy; }
const Description& describe(const SerialInEvent&) { return kSerialIn; }
const Description& describe(const DiskReadEvent&) { return kDiskRead; }
const Description& describe(const DiskWriteEvent&) { return kDiskWrite; }
const Description& describe(const RegionDefEvent&) { return kRegionDef; }
const Description& describe(const EndEvent&) { return kEnd; }
const Description& describe(const ViewRangeRecord&) { return kViewRange; }
const Description& describe(const RegionRecord&) { return kRegion; }
const Description& describe(const RegsRecord&) { return kRegs; }
const Description& describe(const DeviceDigestRecord&) { return kDeviceDigest; }

DescribedBody described(const EventBody& body) {
    return std::visit([](const auto& b) { return DescribedBody{&describe(b), &b}; }, body);
}

}  // namespace kvmrr
