#include "record/trace_text.h"

#include <cstdio>
#include <ctime>

#include "core/error.h"
#include "record/dirty_runs.h"

namespace kvmrr {
namespace {

constexpr size_t kHumanBytes = 32;  // byte strings are cut after this many in the human form
constexpr size_t kGprCount = 18;
constexpr const char* kGprNames[kGprCount] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8",
                                              "r9",  "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"};

std::string hex_bytes(const std::vector<uint8_t>& b, size_t limit = SIZE_MAX) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    const size_t n = std::min(b.size(), limit);
    s.reserve(2 * n + 3);
    for (size_t i = 0; i < n; ++i) {
        s += digits[b[i] >> 4];
        s += digits[b[i] & 15];
    }
    if (n < b.size()) s += "...";
    return s;
}

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t utf8_length(const std::string& s, size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (s.size() - i < n) return 0;
    for (size_t k = 1; k < n; ++k) {
        const auto d = static_cast<unsigned char>(s[i + k]);
        if ((d & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (d & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

// A JSON string literal: always valid JSON, invalid UTF-8 becomes U+FFFD.
std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else if (c >= 0x80) {
            const size_t n = utf8_length(s, i);
            if (n == 0) {
                out += "\\ufffd";
                ++i;
                continue;
            }
            out.append(s, i, n);
            i += n;
            continue;
        } else {
            out += static_cast<char>(c);
        }
        ++i;
    }
    return out + "\"";
}

// A name in the human form: bare if it is one printable word, else quoted.
std::string word(const std::string& s) {
    bool bare = !s.empty();
    for (unsigned char c : s) bare = bare && c > 0x20 && c < 0x7f && c != '"' && c != '\\';
    if (bare) return s;
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

std::string num(uint64_t v) { return std::to_string(v); }
std::string snum(int64_t v) { return std::to_string(v); }
std::string qhex(uint64_t v) { return "\"" + hex(v) + "\""; }

const char* status_name(TraceAccessStatus s) {
    switch (s) {
        case TraceAccessStatus::Ok: return "ok";
        case TraceAccessStatus::Unassigned: return "unassigned";
        case TraceAccessStatus::Invalid: return "invalid";
    }
    return "unknown";
}

const char* memslot_op_name(MemslotOp op) {
    switch (op) {
        case MemslotOp::Add: return "add";
        case MemslotOp::Delete: return "delete";
        case MemslotOp::Flags: return "flags";
    }
    return "unknown";
}

std::string space_name(uint8_t space) {
    if (space == 0) return "memory";
    if (space == 1) return "io";
    return "space" + num(space);
}

// Builds `"key":value` lists and human lines.
struct Json {
    std::string s = "{";
    Json& raw(const char* key, const std::string& value) {
        if (s.size() > 1) s += ',';
        s += '"';
        s += key;
        s += "\":";
        s += value;
        return *this;
    }
    Json& str(const char* key, const std::string& v) { return raw(key, json_string(v)); }
    Json& u(const char* key, uint64_t v) { return raw(key, num(v)); }
    Json& i(const char* key, int64_t v) { return raw(key, snum(v)); }
    Json& h(const char* key, uint64_t v) { return raw(key, qhex(v)); }
    Json& b(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
    Json& bytes(const char* key, const std::vector<uint8_t>& v) { return raw(key, "\"" + hex_bytes(v) + "\""); }
    std::string done() { return s + "}"; }
};

struct Human {
    std::string s;
    Human& w(const std::string& v) {
        if (!s.empty()) s += ' ';
        s += v;
        return *this;
    }
    Human& kv(const char* key, const std::string& v) { return w(key).w(v); }
    Human& bytes(const std::vector<uint8_t>& v) {
        kv("len", num(v.size()));
        if (!v.empty()) kv("data", hex_bytes(v, kHumanBytes));
        return *this;
    }
};

std::string dirty_runs_label(const DirtyEvent& d) {
    if (dirty_runs_problem(d)) return "malformed";
    return num(dirty_runs(d).size());
}

struct FormatHuman {
    const RegionNames& names;
    Human& o;
    void operator()(const AccessEvent& a) const {
        o.w(a.io ? (a.is_write ? "out" : "in") : (a.is_write ? "write" : "read"));
        o.w(hex(a.addr)).kv("size", num(a.size));
        if (a.count == 1) {
            o.kv("value", hex(a.value));
        } else {
            o.kv("count", num(a.count));
            o.kv("data", a.bulk.empty() ? std::string("none") : hex_bytes(a.bulk, kHumanBytes));
        }
        o.w("->").w(word(names.label(a.region))).w(status_name(a.status));
    }
    void operator()(const TopologyEvent& t) const {
        o.w(space_name(t.space)).kv("ranges", num(t.ranges)).kv("hash", hex(t.flat_view_hash));
    }
    void operator()(const MemslotEvent& m) const {
        o.w(memslot_op_name(m.op)).kv("slot", num(m.slot)).kv("gpa", hex(m.guest_phys)).kv("size", hex(m.size));
        o.kv("flags", hex(m.flags)).kv("ram-block", num(m.ram_block)).kv("offset", hex(m.block_offset));
    }
    void operator()(const DirtyEvent& d) const {
        o.kv("epoch", num(d.epoch)).kv("slot", num(d.slot)).kv("gpa", hex(d.guest_phys)).kv("pages", num(d.pages));
        o.kv("dirty", num(d.dirty_pages)).kv("runs", dirty_runs_label(d));
    }
    void operator()(const DmaWriteEvent& d) const { o.w(hex(d.addr)).bytes(d.data); }
    void operator()(const ClockEvent& c) const { o.w(snum(c.ns)); }
    void operator()(const EntropyEvent& e) const { o.bytes(e.bytes); }
    void operator()(const SerialInEvent& s) const { o.w(s.byte < 0 ? std::string("none") : hex(static_cast<uint64_t>(s.byte))); }
    void operator()(const DiskReadEvent& d) const { o.kv("offset", num(d.offset)).bytes(d.data); }
    void operator()(const DiskWriteEvent& d) const { o.kv("offset", num(d.offset)).kv("len", num(d.length)); }
    void operator()(const RegionDefEvent& r) const {
        o.w(num(r.region.id)).w(word(r.region.name)).kv("kind", word(r.region.kind));
    }
    void operator()(const EndEvent& e) const {
        o.kv("reason", word(e.reason)).kv("status", snum(e.exit_status)).kv("exits", num(e.exits));
        o.kv("detail", hex(e.detail));
        if (e.regs.gprs.size() == kGprCount) o.kv("rip", hex(e.regs.gprs[16]));
    }
};

struct FormatJson {
    const RegionNames& names;
    Json& o;
    void region(uint32_t id) const {
        if (id == kNoRegion) {
            o.raw("region", "null").raw("region_name", "null");
            return;
        }
        o.u("region", id);
        if (const RegionRecord* r = names.find(id))
            o.str("region_name", r->name);
        else
            o.raw("region_name", "null");
    }
    void operator()(const AccessEvent& a) const {
        o.h("addr", a.addr).u("size", a.size).b("write", a.is_write).u("count", a.count).h("value", a.value);
        o.bytes("data", a.bulk);
        region(a.region);
        o.str("status", status_name(a.status));
    }
    void operator()(const TopologyEvent& t) const {
        o.str("space", space_name(t.space)).h("flat_view_hash", t.flat_view_hash).u("ranges", t.ranges);
    }
    void operator()(const MemslotEvent& m) const {
        o.str("op", memslot_op_name(m.op)).u("slot", m.slot).h("gpa", m.guest_phys).u("size", m.size);
        o.h("flags", m.flags).u("ram_block", m.ram_block).h("block_offset", m.block_offset);
    }
    void operator()(const DirtyEvent& d) const {
        o.u("epoch", d.epoch).u("slot", d.slot).h("gpa", d.guest_phys).u("pages", d.pages);
        o.u("dirty_pages", d.dirty_pages).bytes("runs", d.runs).u("time_ns", d.time_ns);
    }
    void operator()(const DmaWriteEvent& d) const { o.h("addr", d.addr).bytes("data", d.data); }
    void operator()(const ClockEvent& c) const { o.i("ns", c.ns); }
    void operator()(const EntropyEvent& e) const { o.bytes("data", e.bytes); }
    void operator()(const SerialInEvent& s) const {
        if (s.byte < 0)
            o.raw("byte", "null");
        else
            o.i("byte", s.byte);
    }
    void operator()(const DiskReadEvent& d) const { o.u("offset", d.offset).bytes("data", d.data); }
    void operator()(const DiskWriteEvent& d) const { o.u("offset", d.offset).u("length", d.length); }
    void operator()(const RegionDefEvent& r) const {
        o.u("region", r.region.id).str("region_name", r.region.name).str("region_kind", r.region.kind);
    }
    void operator()(const EndEvent& e) const {
        o.str("reason", e.reason).i("exit_status", e.exit_status).u("exits", e.exits).h("detail", e.detail);
        std::string g = "[";
        for (size_t i = 0; i < e.regs.gprs.size(); ++i) {
            // Appended piecewise: GCC 12 at -O3 warns (-Wrestrict, a false
            // positive) on `const char* + std::string` here.
            if (i) g += ',';
            g += qhex(e.regs.gprs[i]);
        }
        o.raw("gprs", g + "]").h("cr0", e.regs.cr0).h("cr3", e.regs.cr3).h("cr4", e.regs.cr4).h("efer", e.regs.efer);
    }
};

std::string size_label(uint64_t bytes) {
    if (bytes != 0 && bytes % (1ull << 30) == 0) return num(bytes >> 30) + " GiB";
    if (bytes != 0 && bytes % (1ull << 20) == 0) return num(bytes >> 20) + " MiB";
    if (bytes != 0 && bytes % (1ull << 10) == 0) return num(bytes >> 10) + " KiB";
    return num(bytes) + " bytes";
}

std::string time_label(int64_t ns) {
    const time_t secs = static_cast<time_t>(ns / 1000000000);
    const long frac = static_cast<long>(ns % 1000000000);
    struct tm tm {};
    if (ns < 0 || gmtime_r(&secs, &tm) == nullptr) return snum(ns) + " ns";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return buf;
}

std::string regs_line(const RegsRecord& r) {
    std::string s;
    for (size_t i = 0; i < r.gprs.size() && i < kGprCount; ++i) s += std::string(" ") + kGprNames[i] + "=" + hex(r.gprs[i]);
    s += " cr0=" + hex(r.cr0) + " cr3=" + hex(r.cr3) + " cr4=" + hex(r.cr4) + " efer=" + hex(r.efer);
    return s;
}

std::string padded(const std::string& s, size_t width) {
    return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

struct SummaryVisit {
    TraceSummary& s;
    const RegionNames& names;
    void operator()(const AccessEvent& a) const {
        ++s.accesses_by_region[names.label(a.region)];
        s.data_bytes += a.bulk.size();
    }
    void operator()(const DirtyEvent& d) const {
        s.dirty_pages += d.dirty_pages;
        s.data_bytes += d.runs.size();
    }
    void operator()(const DmaWriteEvent& d) const { s.data_bytes += d.data.size(); }
    void operator()(const EntropyEvent& d) const { s.data_bytes += d.bytes.size(); }
    void operator()(const DiskReadEvent& d) const { s.data_bytes += d.data.size(); }
    void operator()(const EndEvent& d) const { s.end = d; }
    void operator()(const auto&) const {}
};

}  // namespace

RegionNames::RegionNames(const TraceHeader& header) {
    for (const RegionRecord& r : header.regions) add(r);
}

void RegionNames::add(const RegionRecord& region) {
    ++generation_;
    if (region.id >= kDenseIds) {
        sparse_[region.id] = region;
        return;
    }
    if (region.id >= dense_.size()) dense_.resize(region.id + 1);
    dense_[region.id] = region;
}

const RegionRecord* RegionNames::find(uint32_t id) const {
    if (id < dense_.size()) return dense_[id] ? &*dense_[id] : nullptr;
    if (id < kDenseIds) return nullptr;
    auto it = sparse_.find(id);
    return it == sparse_.end() ? nullptr : &it->second;
}

std::string RegionNames::label(uint32_t id) const {
    if (id == kNoRegion) return "none";
    if (const RegionRecord* r = find(id)) return r->name;
    return "region#" + num(id);
}

std::string format_event(const TraceEvent& e, const RegionNames& names, bool json) {
    if (json) {
        Json o;
        o.u("seq", e.seq).u("vcpu", e.vcpu).str("kind", event_kind(e));
        std::visit(FormatJson{names, o}, e.body);
        return o.done();
    }
    Human o;
    o.w("#" + num(e.seq)).w("vcpu" + num(e.vcpu)).w(event_kind(e));
    std::visit(FormatHuman{names, o}, e.body);
    return o.s;
}

std::string format_event(const TraceEvent& e, const TraceHeader& header, bool json) {
    return format_event(e, RegionNames(header), json);
}

std::string format_header(const TraceHeader& h) {
    std::string s;
    auto line = [&](const std::string& l) { s += l + "\n"; };
    line("format version: " + num(h.format_version) + " (readers from version " + num(h.min_reader_version) + ")");
    line("kvmrr version: " + word(h.kvmrr_version));
    line("recorded at: " + time_label(h.start_time_ns));
    line("machine: ram " + size_label(h.ram_size) + ", rom " + size_label(h.rom_size) + ", rom low alias " +
         (h.rom_low_alias ? "on" : "off"));
    for (const WindowRecord& w : h.windows)
        line("  window " + word(w.name) + (w.io ? " io " : " mmio ") + hex(w.addr) + " size " + hex(w.size));
    for (const DeviceRecord& d : h.devices) line("  device " + word(d.name) + " model " + num(d.model_version));
    std::string args;
    for (uint64_t a : h.guest_args) args += (args.empty() ? "" : " ") + hex(a);
    line("guest: " + word(h.guest_name) + ", hash " + hex(h.guest_hash) + ", " +
         (h.guest_long_mode ? "long" : "real") + " mode, entry " + hex(h.guest_entry) +
         (args.empty() ? "" : ", args " + args));
    for (const SegmentRecord& g : h.guest_segments)
        line("  segment " + hex(g.addr) + " " + num(g.data.size()) + " bytes" +
             (g.zero_fill ? " + " + num(g.zero_fill) + " zero" : ""));
    line("vcpus: " + num(h.vcpu_count));
    for (size_t i = 0; i < h.initial_regs.size(); ++i) line("  vcpu" + num(i) + regs_line(h.initial_regs[i]));
    line("host: accelerator " + word(h.accelerator.empty() ? std::string("kvm") : h.accelerator) + ", kernel " +
         word(h.kernel_release) + ", KVM API " + snum(h.kvm_api_version) +
         ", manual dirty log protect " + (h.manual_dirty_log_protect ? "on" : "off") + ", max memslots " +
         num(h.max_memslots));
    for (const auto& [name, value] : h.capabilities) line("  capability " + word(name) + " " + snum(value));
    line("options: dirty log " + word(h.dirty_mode) + ", every " + num(h.dirty_interval_exits) + " exits and " +
         num(h.dirty_interval_ms) + " ms (0: off)" +
         (h.dirty_mark_port >= 0 ? ", at writes to port " + hex(static_cast<uint64_t>(h.dirty_mark_port)) : std::string()) +
         ", max exits " + num(h.max_exits) + ", timeout " +
         num(h.timeout_ms) + " ms");
    line("regions: " + num(h.regions.size()) + " at the start");
    for (const RegionRecord& r : h.regions) line("  " + num(r.id) + " " + word(r.name) + " " + word(r.kind));
    return s;
}

TraceSummary::TraceSummary(const TraceHeader& header) : names_(header) {}

void TraceSummary::add(const TraceEvent& e) {
    names_.observe(e);
    ++events;
    ++by_kind[event_kind(e)];
    if (!first_seq) first_seq = e.seq;
    last_seq = e.seq;
    std::visit(SummaryVisit{*this, names_}, e.body);
}

std::string TraceSummary::format() const {
    std::string s = "events: " + num(events);
    if (first_seq) s += " (#" + num(*first_seq) + " to #" + num(*last_seq) + ")";
    s += "\n";
    for (const auto& [kind, n] : by_kind) s += "  " + padded(kind, 12) + " " + num(n) + "\n";
    if (!accesses_by_region.empty()) {
        s += "accesses by region:\n";
        for (const auto& [region, n] : accesses_by_region) s += "  " + padded(word(region), 16) + " " + num(n) + "\n";
    }
    s += "data bytes: " + num(data_bytes) + "\n";
    s += "dirty pages: " + num(dirty_pages) + "\n";
    if (end)
        s += "end: " + word(end->reason) + ", status " + snum(end->exit_status) + ", " + num(end->exits) + " exits\n";
    else
        s += "end: none recorded\n";
    return s;
}

}  // namespace kvmrr
