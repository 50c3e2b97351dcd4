#include "record/trace_event.h"

namespace kvmrr {

const char* event_kind(const TraceEvent& e) {
    struct Name {
        const char* operator()(const AccessEvent& a) const { return a.io ? "pio" : "mmio"; }
        const char* operator()(const TopologyEvent&) const { return "topology"; }
        const char* operator()(const MemslotEvent&) const { return "memslot"; }
        const char* operator()(const DirtyEvent&) const { return "dirty"; }
        const char* operator()(const DmaWriteEvent&) const { return "dma-write"; }
        const char* operator()(const ClockEvent&) const { return "clock"; }
        const char* operator()(const EntropyEvent&) const { return "entropy"; }
        const char* operator()(const SerialInEvent&) const { return "serial-in"; }
        const char* operator()(const DiskReadEvent&) const { return "disk-read"; }
        const char* operator()(const DiskWriteEvent&) const { return "disk-write"; }
        const char* operator()(const RegionDefEvent&) const { return "region-def"; }
        const char* operator()(const EndEvent&) const { return "end"; }
    };
    return std::visit(Name{}, e.body);
}

bool is_nondeterministic_input(const TraceEvent& e) {
    return std::holds_alternative<ClockEvent>(e.body) || std::holds_alternative<EntropyEvent>(e.body) ||
           std::holds_alternative<SerialInEvent>(e.body) || std::holds_alternative<DiskReadEvent>(e.body);
}

}  // namespace kvmrr
