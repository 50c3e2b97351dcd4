// Whether an event or a trace header makes sense: the checks every trace
// read passes through (decode_chunk, decode_header) and every event
// written (TraceWriter::append).
#include "record/trace_checks.h"

#include <algorithm>
#include <initializer_list>

#include "core/error.h"
#include "record/dirty_runs.h"
#include "record/trace_format.h"

namespace kvmrr {
namespace {

constexpr size_t kGprCount = 18;

bool sum_overflows(uint64_t a, uint64_t b) { return a + b < a; }

std::optional<std::string> regs_problem(const RegsRecord& r) {
    if (!r.gprs.empty() && r.gprs.size() != kGprCount)
        return std::to_string(r.gprs.size()) + " general registers (0 or " + std::to_string(kGprCount) + " expected)";
    return std::nullopt;
}

struct BodyProblem {
    std::optional<std::string> operator()(const AccessEvent& a) const {
        if (a.size == 0 || a.size > 8) return "access size " + std::to_string(a.size) + " (must be 1 to 8)";
        if (a.count == 0) return std::string("access count 0");
        if (a.count == 1) {
            if (!a.bulk.empty())
                return "single access carries " + std::to_string(a.bulk.size()) + " bytes of bulk data";
            if (a.size < 8 && (a.value >> (8 * a.size)) != 0)
                return "value " + hex(a.value) + " does not fit an access of " + std::to_string(a.size) + " bytes";
        } else if (a.bulk.size() != uint64_t{a.size} * a.count) {
            return "bulk data of " + std::to_string(a.bulk.size()) + " bytes for " + std::to_string(a.count) +
                   " accesses of " + std::to_string(a.size) + " bytes";
        }
        if (a.io && a.addr > 0xffff) return "port " + hex(a.addr) + " is above 0xffff";
        if (!a.io && sum_overflows(a.addr, a.size - 1u)) return "access at " + hex(a.addr) + " wraps around";
        if (static_cast<unsigned>(a.status) > static_cast<unsigned>(TraceAccessStatus::Invalid))
            return "unknown access status " + std::to_string(static_cast<unsigned>(a.status));
        return std::nullopt;
    }
    std::optional<std::string> operator()(const TopologyEvent& t) const {
        if (t.space > 1) return "address space " + std::to_string(t.space) + " (0 memory or 1 I/O)";
        if (!t.view.empty() && t.view.size() != t.ranges)
            return "flat view of " + std::to_string(t.view.size()) + " ranges, " + std::to_string(t.ranges) + " announced";
        for (size_t i = 0; i < t.view.size(); ++i) {
            if (t.view[i].last < t.view[i].start) return "flat view range " + std::to_string(i) + " ends before it starts";
            if (i && t.view[i].start <= t.view[i - 1].last) return "flat view ranges " + std::to_string(i) + " overlap or are unsorted";
        }
        return std::nullopt;
    }
    std::optional<std::string> operator()(const MemslotEvent& m) const {
        if (static_cast<unsigned>(m.op) > static_cast<unsigned>(MemslotOp::Flags))
            return "unknown memslot operation " + std::to_string(static_cast<unsigned>(m.op));
        if (sum_overflows(m.guest_phys, m.size)) return "memslot at " + hex(m.guest_phys) + " wraps around";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const DirtyEvent& d) const {
        if (d.pages > (~uint64_t{0} - d.guest_phys) / kPageSize)
            return "dirty slot of " + std::to_string(d.pages) + " pages at " + hex(d.guest_phys) + " wraps around";
        if (auto why = dirty_runs_problem(d)) return "dirty runs: " + *why;
        return std::nullopt;
    }
    std::optional<std::string> operator()(const DmaWriteEvent& d) const {
        if (sum_overflows(d.addr, d.data.size())) return "DMA write at " + hex(d.addr) + " wraps around";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const ClockEvent&) const { return std::nullopt; }
    std::optional<std::string> operator()(const InterruptEvent&) const { return std::nullopt; }
    std::optional<std::string> operator()(const PauseEvent&) const { return std::nullopt; }
    std::optional<std::string> operator()(const DmaReadEvent& d) const {
        if (sum_overflows(d.addr, d.data.size())) return "DMA read at " + hex(d.addr) + " wraps around";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const EntropyEvent&) const { return std::nullopt; }
    std::optional<std::string> operator()(const SerialInEvent& s) const {
        if (s.byte < -1 || s.byte > 255) return "serial input " + std::to_string(s.byte) + " (a byte or -1)";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const DiskReadEvent& d) const {
        if (sum_overflows(d.offset, d.data.size())) return "disk read at " + std::to_string(d.offset) + " wraps around";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const DiskWriteEvent& d) const {
        if (sum_overflows(d.offset, d.length)) return "disk write at " + std::to_string(d.offset) + " wraps around";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const RegionDefEvent& r) const {
        if (r.region.id == kNoRegion) return "region id " + hex(kNoRegion) + " is reserved for none";
        return std::nullopt;
    }
    std::optional<std::string> operator()(const EndEvent& e) const { return regs_problem(e.regs); }
};

}  // namespace

std::optional<std::string> event_problem(const TraceEvent& e, uint32_t vcpu_count) {
    if (vcpu_count != 0 && e.vcpu >= vcpu_count)
        return "vCPU " + std::to_string(e.vcpu) + " but the trace has " + std::to_string(vcpu_count) + " vCPUs";
    return std::visit(BodyProblem{}, e.body);
}

std::optional<std::string> header_problem(const TraceHeader& h) {
    if (h.format_version == 0 || h.min_reader_version == 0 || h.min_reader_version > h.format_version)
        return "format version " + std::to_string(h.format_version) + " with minimum reader version " +
               std::to_string(h.min_reader_version);
    auto one_of = [](const std::string& v, std::initializer_list<const char*> known,
                     const char* field) -> std::optional<std::string> {
        std::string list;
        for (const char* k : known) {
            if (v == k) return std::nullopt;
            if (*k) list += std::string(list.empty() ? "" : ", ") + k;
        }
        return std::string(field) + " '" + v + "' (known: " + list + ")";
    };
    // Text fields are enums: "" is what traces from before the field hold.
    if (auto why = one_of(h.accelerator, {"", "kvm", "emu"}, "accelerator")) return why;
    if (auto why = one_of(h.dirty_mode, {"", "bitmap", "ring"}, "dirty mode")) return why;
    if (auto why = one_of(h.board, {"", "kvmrr", "pc"}, "board")) return why;
    if (auto why = one_of(h.clock, {"", "host", "virtual"}, "clock")) return why;
    if (h.vcpu_count > kMaxTraceVcpus)
        return std::to_string(h.vcpu_count) + " vCPUs (at most " + std::to_string(kMaxTraceVcpus) + ")";
    if (h.max_memslots > kMaxTraceMemslots)
        return std::to_string(h.max_memslots) + " memslots (at most " + std::to_string(kMaxTraceMemslots) + ")";
    if (h.initial_regs.size() > std::max<uint32_t>(h.vcpu_count, 1))
        return std::to_string(h.initial_regs.size()) + " sets of initial registers for " +
               std::to_string(h.vcpu_count) + " vCPU(s)";
    if (h.dirty_mark_port < -1 || h.dirty_mark_port > 0xffff)
        return "dirty mark port " + std::to_string(h.dirty_mark_port) + " (-1 or 0 to 0xffff)";
    if (h.timeout_ms > kMaxTraceTimeoutMs) return "time-out of " + std::to_string(h.timeout_ms) + " ms";
    for (size_t i = 0; i < h.initial_regs.size(); ++i)
        if (auto why = regs_problem(h.initial_regs[i])) return "initial registers of vCPU " + std::to_string(i) + ": " + *why;
    for (const RegionRecord& r : h.regions)
        if (r.id == kNoRegion) return "region id " + hex(kNoRegion) + " is reserved for none";
    return std::nullopt;
}

}  // namespace kvmrr
