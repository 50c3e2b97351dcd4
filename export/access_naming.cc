#include "export/access_naming.h"

namespace kvmrr {

const WindowRecord* AccessNaming::window(const AccessEvent& a) const {
    for (const WindowRecord& w : header_.windows)
        if (w.io == a.io && a.addr >= w.addr && a.addr - w.addr < w.size) return &w;
    return nullptr;
}

std::string AccessNaming::device(const AccessEvent& a) const {
    if (a.status == TraceAccessStatus::Unassigned || a.region == kNoRegion) return "unassigned";
    if (const WindowRecord* w = window(a)) return w->name;
    return names_.label(a.region);
}

const char* access_verb(const AccessEvent& a) {
    if (a.io) return a.is_write ? "out" : "in";
    return a.is_write ? "write" : "read";
}

}  // namespace kvmrr
