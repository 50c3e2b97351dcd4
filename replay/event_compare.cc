#include "replay/event_compare.h"

#include <algorithm>
#include <set>

#include "core/error.h"

namespace kvmrr {
namespace {

// Collects "field: expected X, actual Y" parts.
struct Diff {
    std::string out;
    template <typename T, typename F>
    void field(const char* name, const T& a, const T& b, F show) {
        if (a == b) return;
        if (!out.empty()) out += "; ";
        out += std::string(name) + ": expected " + show(a) + ", actual " + show(b);
    }
    void num(const char* name, uint64_t a, uint64_t b) { field(name, a, b, [](uint64_t v) { return std::to_string(v); }); }
    void hx(const char* name, uint64_t a, uint64_t b) { field(name, a, b, [](uint64_t v) { return hex(v); }); }
    void flag(const char* name, bool a, bool b) { field(name, a, b, [](bool v) { return std::string(v ? "yes" : "no"); }); }
    void text(const char* name, const std::string& a, const std::string& b) {
        field(name, a, b, [](const std::string& v) { return "'" + v + "'"; });
    }
    void bytes(const char* name, const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
        if (a == b) return;
        if (!out.empty()) out += "; ";
        if (a.size() != b.size()) {
            out += std::string(name) + ": expected " + std::to_string(a.size()) + " bytes, actual " + std::to_string(b.size());
            return;
        }
        const size_t i = static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin()).first - a.begin());
        out += std::string(name) + ": first difference at byte " + std::to_string(i) + ": expected " + hex(a[i]) +
               ", actual " + hex(b[i]);
    }
};

std::string view_line(const ViewRangeRecord& r, const RegionNames& names) {
    std::string s = hex(r.start) + "-" + hex(r.last) + " " + names.label(r.region) + " @" + hex(r.offset);
    if (r.readonly) s += " ro";
    if (r.romd) s += " romd";
    if (r.nonvolatile) s += " nv";
    if (r.dirty_log) s += " log=" + hex(r.dirty_log);
    return s;
}

struct Compare {
    const RegionNames& en;
    const RegionNames& an;
    Diff& d;

    void operator()(const AccessEvent& a, const AccessEvent& b) {
        d.hx("address", a.addr, b.addr);
        d.num("size", a.size, b.size);
        d.field("direction", a.is_write, b.is_write, [](bool w) { return std::string(w ? "write" : "read"); });
        d.num("count", a.count, b.count);
        d.hx("value", a.value, b.value);
        d.bytes("data", a.bulk, b.bulk);
        d.text("region", en.label(a.region), an.label(b.region));
        d.field("status", a.status, b.status, [](TraceAccessStatus s) {
            return std::string(s == TraceAccessStatus::Ok ? "ok" : s == TraceAccessStatus::Unassigned ? "unassigned" : "invalid");
        });
    }
    void operator()(const TopologyEvent& a, const TopologyEvent& b) {
        d.num("space", a.space, b.space);
        d.hx("flat view hash", a.flat_view_hash, b.flat_view_hash);
        d.num("ranges", a.ranges, b.ranges);
        // The hash covers the host side (regions, offsets); the recorded
        // views say it in names. Either differing is a difference.
        if (!a.view.empty() && !b.view.empty()) {
            const std::string v = view_difference(a, en, b, an);
            if (!v.empty() && d.out.empty()) d.out = "flat view differs";
        }
    }
    void operator()(const MemslotEvent& a, const MemslotEvent& b) {
        d.field("operation", a.op, b.op, [](MemslotOp o) {
            return std::string(o == MemslotOp::Add ? "add" : o == MemslotOp::Delete ? "delete" : "flags");
        });
        d.num("slot", a.slot, b.slot);
        d.hx("guest address", a.guest_phys, b.guest_phys);
        d.hx("size", a.size, b.size);
        d.hx("flags", a.flags, b.flags);
        d.num("RAM block", a.ram_block, b.ram_block);
        d.hx("block offset", a.block_offset, b.block_offset);
    }
    void operator()(const DirtyEvent& a, const DirtyEvent& b) {
        d.num("epoch", a.epoch, b.epoch);
        d.num("slot", a.slot, b.slot);
        d.hx("guest address", a.guest_phys, b.guest_phys);
        d.num("pages", a.pages, b.pages);
        d.num("dirty pages", a.dirty_pages, b.dirty_pages);
        d.bytes("dirty runs", a.runs, b.runs);
    }
    void operator()(const DmaWriteEvent& a, const DmaWriteEvent& b) {
        d.hx("address", a.addr, b.addr);
        d.bytes("data", a.data, b.data);
    }
    void operator()(const ClockEvent& a, const ClockEvent& b) {
        d.field("clock", a.ns, b.ns, [](int64_t v) { return std::to_string(v) + " ns"; });
    }
    void operator()(const EntropyEvent& a, const EntropyEvent& b) { d.bytes("entropy", a.bytes, b.bytes); }
    void operator()(const SerialInEvent& a, const SerialInEvent& b) {
        d.field("serial input", a.byte, b.byte, [](int16_t v) { return v < 0 ? std::string("none") : hex(static_cast<uint64_t>(v)); });
    }
    void operator()(const DiskReadEvent& a, const DiskReadEvent& b) {
        d.num("disk offset", a.offset, b.offset);
        d.bytes("data", a.data, b.data);
    }
    void operator()(const DiskWriteEvent& a, const DiskWriteEvent& b) {
        d.num("disk offset", a.offset, b.offset);
        d.num("length", a.length, b.length);
    }
    void operator()(const RegionDefEvent& a, const RegionDefEvent& b) {
        d.text("name", a.region.name, b.region.name);
        d.text("kind", a.region.kind, b.region.kind);
    }
    void operator()(const EndEvent& a, const EndEvent& b) {
        d.text("reason", a.reason, b.reason);
        d.field("exit status", a.exit_status, b.exit_status, [](int32_t v) { return std::to_string(v); });
        d.num("exits", a.exits, b.exits);
        d.hx("detail", a.detail, b.detail);
        // Every register that differs, by name (rip first: it says where).
        static constexpr const char* kGprNames[] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8",
                                                    "r9",  "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"};
        if (a.regs.gprs.size() == b.regs.gprs.size() && a.regs.gprs.size() >= 17) d.hx("rip", a.regs.gprs[16], b.regs.gprs[16]);
        if (a.regs.gprs.size() != b.regs.gprs.size()) d.num("register count", a.regs.gprs.size(), b.regs.gprs.size());
        for (size_t i = 0; i < std::min(a.regs.gprs.size(), b.regs.gprs.size()); ++i)
            if (i != 16) d.hx(i < std::size(kGprNames) ? kGprNames[i] : ("gpr" + std::to_string(i)).c_str(), a.regs.gprs[i], b.regs.gprs[i]);
        d.hx("cr0", a.regs.cr0, b.regs.cr0);
        d.hx("cr3", a.regs.cr3, b.regs.cr3);
        d.hx("cr4", a.regs.cr4, b.regs.cr4);
        d.hx("efer", a.regs.efer, b.regs.efer);
        d.field("devices", a.device_digests, b.device_digests, [](const std::vector<DeviceDigestRecord>& v) {
            std::string s;
            for (const DeviceDigestRecord& x : v) s += (s.empty() ? "" : ",") + x.name + "=" + hex(x.digest);
            return "[" + s + "]";
        });
    }
    template <typename A, typename B>
    void operator()(const A&, const B&) {}  // different kinds: handled before
};

bool same_region(uint32_t a, const RegionNames& an, uint32_t b, const RegionNames& bn) {
    const RegionRecord* ra = an.find(a);
    const RegionRecord* rb = bn.find(b);
    if (!ra || !rb) return !ra && !rb && a == b;
    return ra->name == rb->name;
}

}  // namespace

bool same_access_but_region(const AccessEvent& a, const AccessEvent& b) {
    return a.io == b.io && a.addr == b.addr && a.size == b.size && a.is_write == b.is_write && a.count == b.count &&
           a.value == b.value && a.status == b.status && a.bulk == b.bulk;
}

bool same_event(const TraceEvent& x, const RegionNames& xn, const TraceEvent& y, const RegionNames& yn) {
    if (x.vcpu != y.vcpu || x.body.index() != y.body.index()) return false;
    if (const auto* a = std::get_if<AccessEvent>(&x.body)) {
        const auto& b = std::get<AccessEvent>(y.body);
        return same_access_but_region(*a, b) && same_region(a->region, xn, b.region, yn);
    }
    if (const auto* a = std::get_if<TopologyEvent>(&x.body)) {
        const auto& b = std::get<TopologyEvent>(y.body);
        if (a->space != b.space || a->flat_view_hash != b.flat_view_hash || a->ranges != b.ranges) return false;
        if (a->view.empty() || b.view.empty()) return true;  // an older trace keeps only the hash
        if (a->view.size() != b.view.size()) return false;
        for (size_t i = 0; i < a->view.size(); ++i) {
            ViewRangeRecord ra = a->view[i], rb = b.view[i];
            if (!same_region(ra.region, xn, rb.region, yn)) return false;
            ra.region = rb.region = 0;
            if (!(ra == rb)) return false;
        }
        return true;
    }
    if (const auto* a = std::get_if<RegionDefEvent>(&x.body)) {
        const auto& b = std::get<RegionDefEvent>(y.body);
        return a->region.name == b.region.name && a->region.kind == b.region.kind;
    }
    if (const auto* a = std::get_if<DirtyEvent>(&x.body)) {
        // Everything but time_ns: when the host read it is not the guest's doing.
        const auto& b = std::get<DirtyEvent>(y.body);
        return a->epoch == b.epoch && a->slot == b.slot && a->guest_phys == b.guest_phys && a->pages == b.pages &&
               a->dirty_pages == b.dirty_pages && a->runs == b.runs;
    }
    return x.body == y.body;
}

std::optional<std::string> event_difference(const TraceEvent& expected, const RegionNames& en, const TraceEvent& actual,
                                            const RegionNames& an) {
    Diff d;
    if (same_event(expected, en, actual, an)) return std::nullopt;
    if (expected.body.index() != actual.body.index())
        return std::string("expected a ") + event_kind(expected) + " event, actual " + event_kind(actual);
    // pio and mmio share a type: the kind names tell them apart.
    if (std::string(event_kind(expected)) != event_kind(actual))
        return std::string("expected a ") + event_kind(expected) + " event, actual " + event_kind(actual);
    d.num("vcpu", expected.vcpu, actual.vcpu);
    std::visit(Compare{en, an, d}, expected.body, actual.body);
    if (d.out.empty()) return std::string("the events differ");  // a field Compare does not name
    return d.out;
}

std::string view_difference(const TopologyEvent& expected, const RegionNames& en, const TopologyEvent& actual,
                            const RegionNames& an) {
    std::vector<std::string> a, b;
    for (const ViewRangeRecord& r : expected.view) a.push_back(view_line(r, en));
    for (const ViewRangeRecord& r : actual.view) b.push_back(view_line(r, an));
    const std::multiset<std::string> sa(a.begin(), a.end()), sb(b.begin(), b.end());
    std::string out;
    // In address order, as the views list them.
    for (const std::string& l : a)
        if (!sb.count(l)) out += "- " + l + "\n";
    for (const std::string& l : b)
        if (!sa.count(l)) out += "+ " + l + "\n";
    return out;
}

}  // namespace kvmrr
