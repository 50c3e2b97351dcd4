#include "record/trace_text.h"

#include <cstdio>
#include <ctime>

#include "core/error.h"
#include "record/event_descriptions.h"
#include "record/text_quote.h"

namespace kvmrr {
namespace {

std::string num(uint64_t v) { return std::to_string(v); }
std::string snum(int64_t v) { return std::to_string(v); }
std::string qhex(uint64_t v) { return "\"" + hex(v) + "\""; }

// Builds `"key":value` lists and human lines.
struct Json {
    std::string s = "{";
    Json& raw(std::string_view key, const std::string& value) {
        if (s.size() > 1) s += ',';
        s += '"';
        s += key;
        s += "\":";
        s += value;
        return *this;
    }
    Json& str(std::string_view key, const std::string& v) { return raw(key, json_string(v)); }
    Json& u(std::string_view key, uint64_t v) { return raw(key, num(v)); }
    Json& i(std::string_view key, int64_t v) { return raw(key, snum(v)); }
    Json& h(std::string_view key, uint64_t v) { return raw(key, qhex(v)); }
    Json& b(std::string_view key, bool v) { return raw(key, v ? "true" : "false"); }
    Json& bytes(std::string_view key, const std::vector<uint8_t>& v) { return raw(key, "\"" + hex_bytes(v) + "\""); }
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
    Human& bytes(const char* label, const std::vector<uint8_t>& v) {
        kv("len", num(v.size()));
        if (!v.empty()) kv(label, hex_bytes(v, kHumanBytes));
        return *this;
    }
};

// ---- The human line and the JSON object, from the descriptions -----------

std::string hex_list(const std::vector<uint64_t>& words, const char* quote) {
    std::string s;
    for (size_t i = 0; i < words.size(); ++i) {
        // Appended piecewise: GCC 12 at -O3 warns (-Wrestrict, a false
        // positive) on `const char* + std::string` here.
        if (i) s += ',';
        s += quote;
        s += hex(words[i]);
        s += quote;
    }
    return s;
}

// One value in the human line; "" leaves the field out.
std::string human_value(const Field& f, const void* record, const RegionNames& names) {
    if (f.options.human_value) return f.options.human_value(record);
    const FieldValue v = f.read(record);
    switch (f.format) {
        case Format::Dec: return num(v.number);
        case Format::Signed:
        case Format::Nanoseconds: return snum(v.signed_number());
        case Format::Hex: return f.options.negative_is_none && v.signed_number() < 0 ? "none" : hex(v.number);
        case Format::Flag:
        case Format::Enum: return name_of(f, v.number);
        case Format::Region: return word(names.label(static_cast<uint32_t>(v.number)));
        case Format::Text: return word(*v.text);
        case Format::Words: return hex_list(*v.words, "");
        case Format::Bytes:
        case Format::Record:
        case Format::List: break;  // human_fields() says these
    }
    return "";
}

void human_fields(const Description& d, const void* record, const RegionNames& names, Human& o) {
    for (const Field& f : d.fields) {
        if (!f.human) continue;
        if (f.format == Format::Record) {
            human_fields(*f.options.nested, f.read(record).record, names, o);
        } else if (f.format == Format::Bytes && !f.options.human_value) {
            o.bytes(f.human, *f.read(record).bytes);
        } else if (const std::string v = human_value(f, record, names); !v.empty()) {
            if (*f.human) o.w(f.human);
            o.w(v);
        }
    }
}

void json_fields(const Description& d, const void* record, const RegionNames& names, Json& o) {
    for (const Field& f : d.fields) {
        if (!f.json) continue;
        const FieldValue v = f.read(record);
        switch (f.format) {
            case Format::Dec: o.u(f.json, v.number); break;
            case Format::Signed:
            case Format::Nanoseconds: o.i(f.json, v.signed_number()); break;
            case Format::Hex:
                if (f.options.negative_is_none && v.signed_number() < 0)
                    o.raw(f.json, "null");
                else if (f.options.json_number)
                    o.u(f.json, v.number);
                else
                    o.h(f.json, v.number);
                break;
            case Format::Flag: o.b(f.json, v.number != 0); break;
            case Format::Enum: o.str(f.json, name_of(f, v.number)); break;
            case Format::Region: {
                // The id and the region's name: null for none, the name null for an unknown id.
                const auto id = static_cast<uint32_t>(v.number);
                const RegionRecord* r = id == kNoRegion ? nullptr : names.find(id);
                o.raw(f.json, id == kNoRegion ? "null" : num(id));
                o.raw(std::string(f.json) + "_name", r ? json_string(r->name) : "null");
                break;
            }
            case Format::Text: o.str(f.json, *v.text); break;
            case Format::Bytes: o.bytes(f.json, *v.bytes); break;
            case Format::Words: o.raw(f.json, "[" + hex_list(*v.words, "\"") + "]"); break;
            case Format::Record: json_fields(*f.options.nested, v.record, names, o); break;
            case Format::List: break;  // field<>() gives a list no JSON key
        }
    }
}

// Every byte string the record carries.
uint64_t carried_bytes(const Description& d, const void* record) {
    uint64_t n = 0;
    for (const Field& f : d.fields) {
        if (f.format == Format::Bytes) n += f.read(record).bytes->size();
        if (f.format == Format::Record) n += carried_bytes(*f.options.nested, f.read(record).record);
    }
    return n;
}

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
    for (size_t i = 0; i < r.gprs.size() && i < kGprNames.size(); ++i)
        s += std::string(" ") + kGprNames[i] + "=" + hex(r.gprs[i]);
    s += " cr0=" + hex(r.cr0) + " cr3=" + hex(r.cr3) + " cr4=" + hex(r.cr4) + " efer=" + hex(r.efer);
    return s;
}

std::string padded(const std::string& s, size_t width) {
    return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

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
    const DescribedBody body = described(e.body);
    if (json) {
        Json o;
        o.u("seq", e.seq).u("vcpu", e.vcpu).str("kind", event_kind(e));
        json_fields(*body.description, body.record, names, o);
        return o.done();
    }
    Human o;
    o.w("#" + num(e.seq)).w("vcpu" + num(e.vcpu)).w(event_kind(e));
    if (body.description->human_line)
        o.w(body.description->human_line(body.record, names));
    else
        human_fields(*body.description, body.record, names, o);
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
    if (!h.board.empty())
        line("board: " + word(h.board) + (h.firmware.empty() ? std::string() : ", firmware " + num(h.firmware.size()) + " bytes") +
             (h.disk_sectors ? ", IDE disk " + num(h.disk_sectors) + " sectors" : std::string()) +
             (h.disk_geometry ? ", CHS " + h.disk_geometry->chs() + ", BIOS translation " + num(h.disk_geometry->translation)
                              : std::string()));
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
         num(h.timeout_ms) + " ms" + (h.clock.empty() ? std::string() : ", clock " + word(h.clock)) +
         (h.stop_at_output.empty() ? std::string() : ", stop at output " + word(h.stop_at_output)) +
         (h.lax_mmio ? ", lax MMIO" : "") + (h.ticks_between_exits ? ", ticks between exits" : "") +
         (h.deterministic_cpu ? ", deterministic CPU" : ""));
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
    const DescribedBody body = described(e.body);
    data_bytes += carried_bytes(*body.description, body.record);
    if (const auto* a = std::get_if<AccessEvent>(&e.body)) ++accesses_by_region[names_.label(a->region)];
    if (const auto* d = std::get_if<DirtyEvent>(&e.body)) dirty_pages += d->dirty_pages;
    if (const auto* x = std::get_if<EndEvent>(&e.body)) end = *x;
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
