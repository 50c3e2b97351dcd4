#include "replay/event_compare.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/vcpu/vcpu_exit.h"
#include "record/dirty_runs.h"
#include "record/event_descriptions.h"

namespace kvmrr {
namespace {

std::string view_line(const ViewRangeRecord& r, const RegionNames& names) {
    std::string s = hex(r.start) + "-" + hex(r.last) + " " + names.label(r.region) + " @" + hex(r.offset);
    if (r.readonly) s += " ro";
    if (r.romd) s += " romd";
    if (r.nonvolatile) s += " nv";
    if (r.dirty_log) s += " log=" + hex(r.dirty_log);
    return s;
}

bool same_region(uint32_t a, const RegionNames& an, uint32_t b, const RegionNames& bn) {
    const RegionRecord* ra = an.find(a);
    const RegionRecord* rb = bn.find(b);
    if (!ra || !rb) return !ra && !rb && a == b;
    return ra->name == rb->name;
}

// A value as a difference says it.
std::string said(const Field& f, const FieldValue& v, const RegionNames& names) {
    switch (f.format) {
        case Format::Dec: return std::to_string(v.number);
        case Format::Signed: return std::to_string(v.signed_number());
        case Format::Nanoseconds: return std::to_string(v.signed_number()) + " ns";
        case Format::Hex: return f.options.negative_is_none && v.signed_number() < 0 ? "none" : hex(v.number);
        case Format::Flag: return name_of(f, v.number);
        case Format::Enum: return f.options.number_in_difference ? std::to_string(v.number) : name_of(f, v.number);
        case Format::Region: return "'" + names.label(static_cast<uint32_t>(v.number)) + "'";
        case Format::Text: return "'" + *v.text + "'";
        case Format::Words: {
            std::string s;
            for (uint64_t w : *v.words) s += (s.empty() ? "" : ",") + hex(w);
            return "[" + s + "]";
        }
        case Format::Bytes:
        case Format::Record:
        case Format::List: break;  // compare_records() says these
    }
    return "";
}

// Byte strings can be long: the lengths, or the first byte that differs.
void say_bytes(const char* name, const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, Differences& out) {
    if (a.size() != b.size()) {
        out.add(std::string(name) + ": expected " + std::to_string(a.size()) + " bytes, actual " +
                std::to_string(b.size()));
        return;
    }
    const size_t i = static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin()).first - a.begin());
    out.add(std::string(name) + ": first difference at byte " + std::to_string(i) + ": expected " + hex(a[i]) +
            ", actual " + hex(b[i]));
}

// Two records that `d` describes, field by field (the rows with a name for
// differences). Without `out`, stops at the first difference and builds no
// text (replay asks this of every event); with it, says every difference.
bool compare_records(const Description& d, const void* a, const RegionNames& an, const void* b, const RegionNames& bn,
                     Differences* out) {
    bool same = true;
    for (const Field& f : d.fields) {
        if (!f.compare) continue;
        const FieldValue va = f.read(a);
        const FieldValue vb = f.read(b);
        bool alike = true;
        switch (f.format) {
            case Format::Record:
                // The nested rows say their own differences.
                if (compare_records(*f.options.nested, va.record, an, vb.record, bn, out)) continue;
                if (!out) return false;
                same = false;
                continue;
            case Format::List:
                if (f.options.empty_is_unrecorded && (va.count == 0 || vb.count == 0)) break;
                alike = va.count == vb.count;
                for (size_t i = 0; alike && i < va.count; ++i)
                    alike = compare_records(*f.options.nested, va.element(i), an, vb.element(i), bn, nullptr);
                break;
            case Format::Region:
                alike = same_region(static_cast<uint32_t>(va.number), an, static_cast<uint32_t>(vb.number), bn);
                break;
            case Format::Text: alike = *va.text == *vb.text; break;
            case Format::Bytes: alike = *va.bytes == *vb.bytes; break;
            case Format::Words: alike = *va.words == *vb.words; break;
            default: alike = va.number == vb.number; break;
        }
        if (alike) continue;
        if (!out) return false;
        same = false;
        if (f.options.say_difference)
            f.options.say_difference(va, vb, *out);
        else if (f.format == Format::Bytes)
            say_bytes(f.compare, *va.bytes, *vb.bytes, *out);
        else if (f.format == Format::List)
            out->add(std::string(f.compare) + " differs");
        else
            out->add(f.compare, said(f, va, an), said(f, vb, bn));
    }
    return same;
}

}  // namespace

bool same_access_but_region(const AccessEvent& a, const AccessEvent& b) {
    return a.io == b.io && a.addr == b.addr && a.size == b.size && a.is_write == b.is_write && a.count == b.count &&
           a.value == b.value && a.status == b.status && a.bulk == b.bulk;
}

bool same_described(const TraceEvent& x, const RegionNames& xn, const TraceEvent& y, const RegionNames& yn) {
    if (x.vcpu != y.vcpu || x.body.index() != y.body.index()) return false;
    const DescribedBody a = described(x.body);
    return compare_records(*a.description, a.record, xn, described(y.body).record, yn, nullptr);
}

bool same_event(const TraceEvent& x, const RegionNames& xn, const TraceEvent& y, const RegionNames& yn) {
    if (x.vcpu != y.vcpu || x.body.index() != y.body.index()) return false;
    // Most events are accesses: compared without walking the description
    // (event_compare_test checks that both agree).
    if (const auto* a = std::get_if<AccessEvent>(&x.body)) {
        const auto& b = std::get<AccessEvent>(y.body);
        return same_access_but_region(*a, b) && same_region(a->region, xn, b.region, yn);
    }
    return same_described(x, xn, y, yn);
}

std::optional<std::string> event_difference(const TraceEvent& expected, const RegionNames& en, const TraceEvent& actual,
                                            const RegionNames& an) {
    if (same_event(expected, en, actual, an)) return std::nullopt;
    if (expected.body.index() != actual.body.index())
        return std::string("expected a ") + event_kind(expected) + " event, actual " + event_kind(actual);
    // pio and mmio share a type: the kind names tell them apart.
    if (std::string(event_kind(expected)) != event_kind(actual))
        return std::string("expected a ") + event_kind(expected) + " event, actual " + event_kind(actual);
    Differences d;
    if (expected.vcpu != actual.vcpu) d.add("vcpu", std::to_string(expected.vcpu), std::to_string(actual.vcpu));
    const DescribedBody a = described(expected.body);
    compare_records(*a.description, a.record, en, described(actual.body).record, an, &d);
    if (d.text.empty()) return std::string("the events differ");  // a hook that said nothing
    return d.text;
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

bool tsc_unrecorded(const TraceHeader& h) { return h.accelerator != "emu" || h.clock != "virtual"; }

bool writes_to_same_place(const AccessEvent& a, const AccessEvent& b) {
    return a.is_write && b.is_write && a.io == b.io && a.addr == b.addr;
}

bool same_harvest(const DirtyEvent& a, const DirtyEvent& b) {
    return a.epoch == b.epoch && a.slot == b.slot && a.guest_phys == b.guest_phys && a.pages == b.pages;
}

bool dirty_within(const DirtyEvent& sub, const DirtyEvent& super) {
    if (!same_harvest(sub, super)) return false;
    if (dirty_runs_problem(sub) || dirty_runs_problem(super)) return false;
    const std::vector<DirtyRun> in = dirty_runs(sub), out = dirty_runs(super);
    // Both ascending: each run of `sub` must lie inside one of `super`
    // (runs are maximal, so a covered run is never split between two).
    size_t j = 0;
    for (const DirtyRun& r : in) {
        while (j < out.size() && out[j].first + out[j].count <= r.first) ++j;
        if (j == out.size() || out[j].first > r.first || out[j].first + out[j].count < r.first + r.count) return false;
    }
    return true;
}

namespace {

bool is_kvm(const std::string& accel) { return accel.empty() || accel == "kvm"; }

bool shutdown_end(const TraceEvent& e) {
    const auto* end = std::get_if<EndEvent>(&e.body);
    return end && end->reason == "shutdown (triple fault)";
}

// An end at an exit that was not handled.
bool stopped_end(const TraceEvent& e) {
    const auto* end = std::get_if<EndEvent>(&e.body);
    return end && (end->reason == stop_reason_name(StopReason::Timeout) ||
                   end->reason == stop_reason_name(StopReason::Interrupted));
}

constexpr size_t kRipIndex = 16;  // in RegsRecord::gprs

}  // namespace

AcrossAccelerators::AcrossAccelerators(std::string a_accel, std::string b_accel)
    : a_(is_kvm(a_accel) ? "kvm" : std::move(a_accel)), b_(is_kvm(b_accel) ? "kvm" : std::move(b_accel)) {}

bool AcrossAccelerators::only_allowed_difference(const TraceEvent& a, const TraceEvent& b) const {
    if (!differ() || a.vcpu != b.vcpu) return false;
    const auto* da = std::get_if<DirtyEvent>(&a.body);
    const auto* db = std::get_if<DirtyEvent>(&b.body);
    if (da && db) return a_ == "kvm" ? dirty_within(*db, *da) : b_ == "kvm" && dirty_within(*da, *db);
    if (shutdown_end(a) && shutdown_end(b)) {
        EndEvent ea = std::get<EndEvent>(a.body), eb = std::get<EndEvent>(b.body);
        ea.regs = eb.regs = RegsRecord{};
        return ea == eb;
    }
    if (stopped_end(a) && stopped_end(b)) {
        EndEvent ea = std::get<EndEvent>(a.body), eb = std::get<EndEvent>(b.body);
        if (ea.regs.gprs.size() > kRipIndex && eb.regs.gprs.size() > kRipIndex) ea.regs.gprs[kRipIndex] = eb.regs.gprs[kRipIndex];
        return ea == eb;
    }
    return false;
}

bool same_but_where_it_stopped(const TraceEvent& expected, const TraceEvent& actual) {
    if (expected.vcpu != actual.vcpu) return false;
    const auto* de = std::get_if<DirtyEvent>(&expected.body);
    const auto* da = std::get_if<DirtyEvent>(&actual.body);
    if (de && da) return same_harvest(*de, *da);  // whatever its pages
    if (!stopped_end(expected) || !stopped_end(actual)) return false;
    const EndEvent& e = std::get<EndEvent>(expected.body);
    if (!e.between_exits) return false;
    EndEvent a = std::get<EndEvent>(actual.body);
    a.regs = e.regs;
    a.between_exits = e.between_exits;
    if (a.reason == stop_reason_name(StopReason::Timeout)) a.detail = e.detail;  // the replay's own limit may have ended it
    return a == e;
}

bool AcrossAccelerators::same(const TraceEvent& a, const RegionNames& an, const TraceEvent& b,
                              const RegionNames& bn) const {
    return same_event(a, an, b, bn) || only_allowed_difference(a, b);
}

}  // namespace kvmrr
