#include "export/qtest_script.h"

#include <cinttypes>
#include <cstdio>
#include <functional>

#include "core/error.h"
#include "export/event_times.h"
#include "record/text_quote.h"
#include "record/trace_reader.h"
#include "replay/event_groups.h"

namespace kvmrr {

namespace {

char size_letter(unsigned size) {
    switch (size) {
    case 1: return 'b';
    case 2: return 'w';
    case 4: return 'l';
    default: return 'q';
    }
}

std::string hexs(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%" PRIx64, v);
    return b;
}

}  // namespace

std::string qtest_command(bool io, bool write, unsigned size, uint64_t addr, uint64_t value) {
    std::string c = io ? (write ? "out" : "in") : (write ? "write" : "read");
    c += size_letter(size);
    c += " " + hexs(addr);
    if (write) c += " " + hexs(value);
    return c;
}

std::string QtestStep::comment() const {
    std::string c = "#" + std::to_string(seq);
    if (kind == Kind::Clock) return c + " recorded time";
    if (kind == Kind::Memory) return c + " dma-read: what the device read from guest memory";
    if (kind == Kind::DmaCheck) return c + " dma-write: what the IDE bus master wrote = " + hexs(recorded);
    c += " " + device + " " + reg;
    if (read) c += " = " + hexs(recorded);
    return c;
}

QtestScript::QtestScript(const TraceHeader& header, bool step_clock) : map_(header), step_clock_(step_clock) {}

void QtestScript::access_steps(const AccessEvent& a, uint64_t seq, const std::string& device, std::vector<QtestStep>& out) {
    for (uint32_t i = 0; i < a.count; ++i) {
        uint64_t v = a.value;
        if (a.count > 1) {
            v = 0;
            for (unsigned b = 0; b < a.size; ++b) v |= uint64_t{a.bulk[size_t{i} * a.size + b]} << (8 * b);
        }
        // A string access to memory moves along; one to a port stays.
        const uint64_t addr = a.io ? a.addr : a.addr + uint64_t{i} * a.size;
        AccessEvent one = a;
        one.addr = addr;
        one.count = 1;
        QtestStep s;
        s.seq = seq;
        s.size = a.size;
        s.device = device;
        s.reg = map_.register_name(one, device);
        if (a.is_write) {
            map_.observe_write(one, device, v);
        } else {
            s.read = true;
            s.recorded = v;
            s.rule = map_.rule(one, device);
            ++reads_;
        }
        map_.observe_access(one, device);
        s.command = qtest_command(a.io, a.is_write, a.size, addr, v);
        s.busy = map_.busy_probe(device);
        out.push_back(std::move(s));
    }
}

void QtestScript::add_group(std::span<const TraceEvent> group, const RegionNames& names, std::vector<QtestStep>& out) {
    if (group.empty()) return;
    const auto* a = std::get_if<AccessEvent>(&group.front().body);
    if (!a) return;  // the prologue (before the first access) or the end
    const std::string region = names.label(a->region);
    if (const auto why = map_.left_out(*a, region)) {
        ++left_out_[*why];
        return;
    }
    const uint64_t seq = group.front().seq;
    if (step_clock_) {
        for (const TraceEvent& e : group) {
            const auto* c = std::get_if<ClockEvent>(&e.body);
            if (!c || !EventTimes::is_monotonic_reading(*c)) continue;
            const auto ns = static_cast<uint64_t>(c->ns);
            if (ns > clock_ns_) {
                QtestStep s;
                s.kind = QtestStep::Kind::Clock;
                s.seq = e.seq;
                s.command = "clock_step " + std::to_string(ns - clock_ns_);
                out.push_back(std::move(s));
                clock_ns_ = ns;
            }
            break;
        }
    }
    for (const TraceEvent& e : group) {
        const auto* d = std::get_if<DmaReadEvent>(&e.body);
        if (!d || d->data.empty()) continue;
        QtestStep s;
        s.kind = QtestStep::Kind::Memory;
        s.seq = e.seq;
        s.command = "write " + hexs(d->addr) + " " + std::to_string(d->data.size()) + " 0x" + hex_bytes(d->data);
        out.push_back(std::move(s));
    }
    const std::string device = map_.device(*a, region);
    access_steps(*a, seq, device, out);
    ++sent_;
    dma_check_steps(group, device, out);
}

void QtestScript::dma_check_steps(std::span<const TraceEvent> group, const std::string& device, std::vector<QtestStep>& out) {
    // Only the IDE bus master's transfers: fw_cfg's items are kvmrr's own.
    const bool ide = device.rfind("ide", 0) == 0 || device.rfind("bmdma", 0) == 0;
    if (!ide) return;
    const unsigned channel = device.find('1') != std::string::npos ? 1 : 0;
    for (const TraceEvent& e : group) {
        const auto* d = std::get_if<DmaWriteEvent>(&e.body);
        if (!d) continue;
        for (size_t at = 0; at < d->data.size();) {
            // readq where 8 bytes remain, else the widest that fits.
            unsigned n = 8;
            while (n > d->data.size() - at) n /= 2;
            uint64_t v = 0;
            for (unsigned b = 0; b < n; ++b) v |= uint64_t{d->data[at + b]} << (8 * b);
            QtestStep s;
            s.kind = QtestStep::Kind::DmaCheck;
            s.seq = e.seq;
            s.read = true;
            s.size = n;
            s.recorded = v;
            s.device = device + " dma-write";
            s.reg = hexs(d->addr + at);
            s.command = qtest_command(false, false, n, d->addr + at, 0);
            s.busy = map_.bus_master_probe(channel);
            out.push_back(std::move(s));
            ++reads_;
            at += n;
        }
    }
}

void QtestScript::add_trace(EventGroupReader& groups, const std::function<void(const QtestStep&)>& each) {
    std::vector<TraceEvent> group;
    std::vector<QtestStep> steps;
    bool more = true;
    while (more) {
        group.clear();
        more = groups.read(group);
        steps.clear();
        add_group(group, groups.names(), steps);
        for (const QtestStep& s : steps) each(s);
    }
}

QtestExport export_qtest(const std::string& path, std::ostream& out) {
    QtestExport r;
    uint64_t disk_sectors = 0;
    auto run = [&](const std::function<void(const QtestStep&)>& each) {
        TraceReader reader = TraceReader::open(path);
        disk_sectors = reader.header().disk_sectors;
        EventGroupReader groups(reader);
        QtestScript script(reader.header(), true);
        script.add_trace(groups, each);
        r.accesses_sent = script.accesses_sent();
        r.reads = script.reads();
        r.left_out = script.left_out();
        r.damage = groups.damage();
    };
    uint64_t commands = 0;
    run([&](const QtestStep&) { ++commands; });
    r.commands = commands;

    out << "# qtest script from kvmrr trace " << path << "\n"
        << "# " << r.accesses_sent << " device accesses as " << commands << " commands, " << r.reads
        << " reads (the recorded value after '=')\n";
    uint64_t left = 0;
    for (const auto& [why, n] : r.left_out) left += n;
    out << "# left out: " << left << " accesses\n";
    for (const auto& [why, n] : r.left_out) out << "#   " << n << " " << why << "\n";
    out << "# clock_step needs QEMU's qtest accelerator (-accel qtest); other builds answer it FAIL\n";
    if (disk_sectors)
        out << "# the pc board had an IDE disk of " << disk_sectors
            << " sectors: QEMU needs it as its first IDE drive (kvmrr qemu-check rebuilds it from the trace)\n";
    if (r.damage) out << "# the trace is not whole: " << *r.damage << "\n";
    run([&](const QtestStep& s) { out << s.command << " # " << s.comment() << "\n"; });
    out.flush();
    if (!out) throw Error("cannot write the qtest script");
    return r;
}

}  // namespace kvmrr
