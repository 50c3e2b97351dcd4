#include "export/access_naming.h"

namespace kvmrr {

const WindowRecord* window_at(const TraceHeader& header, const AccessEvent& a) {
    for (const WindowRecord& w : header.windows)
        if (w.io == a.io && a.addr >= w.addr && a.addr - w.addr < w.size) return &w;
    return nullptr;
}

std::string device_name(const TraceHeader& header, const AccessEvent& a, const std::string& region_label) {
    if (a.status == TraceAccessStatus::Unassigned || a.region == kNoRegion) return "unassigned";
    if (const WindowRecord* w = window_at(header, a)) return w->name;
    return region_label;
}

const WindowRecord* AccessNaming::window(const AccessEvent& a) const { return window_at(header_, a); }

std::string AccessNaming::device(const AccessEvent& a) const { return device_name(header_, a, names_.label(a.region)); }

const char* access_verb(const AccessEvent& a) {
    if (a.io) return a.is_write ? "out" : "in";
    return a.is_write ? "write" : "read";
}

}  // namespace kvmrr
