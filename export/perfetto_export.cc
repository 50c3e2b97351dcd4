#include "export/perfetto_export.h"

#include <cinttypes>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "export/access_naming.h"
#include "export/event_times.h"
#include "record/text_quote.h"
#include "record/trace_reader.h"

namespace kvmrr {

namespace {

constexpr int kPidVcpus = 1, kPidDevices = 2, kPidMachine = 3;
constexpr uint64_t kRateBucketNs = 1'000'000;  // exits/s counted over 1 ms

// Thread ids of the machine process's instant tracks.
enum MachineTrack : int { kTopology = 1, kMemslots, kHostInputs, kDma, kRun, kMachineTracks };
const char* const kMachineTrackNames[] = {"", "topology commits", "memslot changes", "host inputs", "dma", "run"};

std::string ts_us(uint64_t ns) {
    char b[40];
    std::snprintf(b, sizeof b, "%" PRIu64 ".%03" PRIu64, ns / 1000, ns % 1000);
    return b;
}

std::string hexv(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "\"0x%" PRIx64 "\"", v);
    return b;
}

class Writer {
public:
    Writer(std::ostream& out, const TraceHeader& h, const EventTimes& times, PerfettoExport& result)
        : out_(out), naming_(h), times_(times), r_(result) {}

    void begin(const std::string& trace_name) {
        out_ << "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"trace\":" << json_string(trace_name)
             << ",\"time\":" << json_string(times_.describe()) << "},\n\"traceEvents\":[\n";
        meta("process_name", kPidVcpus, 0, "vCPUs");
        meta("process_name", kPidDevices, 0, "devices");
        meta("process_name", kPidMachine, 0, "machine");
        for (int t = 1; t < kMachineTracks; ++t) meta("thread_name", kPidMachine, t, kMachineTrackNames[t]);
    }

    void event(const TraceEvent& e) {
        naming_.observe(e);
        const uint64_t ns = times_.at(e.seq);
        if (const auto* a = std::get_if<AccessEvent>(&e.body)) {
            close_slice(ns);
            access(e, *a, ns);
        } else if (const auto* t = std::get_if<TopologyEvent>(&e.body)) {
            instant(kTopology, ns, t->space ? "io view" : "memory view",
                    "\"seq\":" + std::to_string(e.seq) + ",\"ranges\":" + std::to_string(t->ranges) +
                        ",\"hash\":" + hexv(t->flat_view_hash));
        } else if (const auto* m = std::get_if<MemslotEvent>(&e.body)) {
            static const char* const ops[] = {"slot add", "slot delete", "slot flags"};
            instant(kMemslots, ns, ops[static_cast<int>(m->op) % 3],
                    "\"seq\":" + std::to_string(e.seq) + ",\"slot\":" + std::to_string(m->slot) +
                        ",\"gpa\":" + hexv(m->guest_phys) + ",\"size\":" + hexv(m->size) + ",\"flags\":" + hexv(m->flags));
        } else if (const auto* d = std::get_if<DirtyEvent>(&e.body)) {
            dirty(*d, ns);
        } else if (const auto* i = std::get_if<InterruptEvent>(&e.body)) {
            vcpu_track(e.vcpu);
            instant_on(kPidVcpus, e.vcpu, "interrupts", ns, "interrupt " + std::to_string(i->vector),
                       "\"seq\":" + std::to_string(e.seq) + ",\"vector\":" + std::to_string(i->vector) +
                           ",\"exit\":" + std::to_string(i->exit) + ",\"rip\":" + hexv(i->rip));
        } else if (const auto* p = std::get_if<PauseEvent>(&e.body)) {
            vcpu_track(e.vcpu);
            std::string args = "\"seq\":" + std::to_string(e.seq) + ",\"exit\":" + std::to_string(p->exit);
            if (p->counted) args += ",\"instructions\":" + std::to_string(p->instructions);
            instant_on(kPidVcpus, e.vcpu, "interrupts", ns, "pause between exits", args);
        } else if (const auto* c = std::get_if<ClockEvent>(&e.body)) {
            const bool mono = EventTimes::is_monotonic_reading(*c);
            instant(kHostInputs, ns, mono ? "clock (monotonic)" : "clock (wall)",
                    "\"seq\":" + std::to_string(e.seq) + ",\"ns\":" + std::to_string(c->ns));
        } else if (const auto* en = std::get_if<EntropyEvent>(&e.body)) {
            instant(kHostInputs, ns, "entropy", "\"seq\":" + std::to_string(e.seq) + ",\"bytes\":" + std::to_string(en->bytes.size()));
        } else if (const auto* s = std::get_if<SerialInEvent>(&e.body)) {
            instant(kHostInputs, ns, "serial in", "\"seq\":" + std::to_string(e.seq) + ",\"byte\":" + std::to_string(s->byte));
        } else if (const auto* dr = std::get_if<DiskReadEvent>(&e.body)) {
            instant(kHostInputs, ns, "disk read",
                    "\"seq\":" + std::to_string(e.seq) + ",\"offset\":" + std::to_string(dr->offset) +
                        ",\"bytes\":" + std::to_string(dr->data.size()));
        } else if (const auto* dw = std::get_if<DmaWriteEvent>(&e.body)) {
            instant(kDma, ns, "dma write", "\"seq\":" + std::to_string(e.seq) + ",\"gpa\":" + hexv(dw->addr) + ",\"bytes\":" + std::to_string(dw->data.size()));
        } else if (const auto* dd = std::get_if<DmaReadEvent>(&e.body)) {
            instant(kDma, ns, "dma read", "\"seq\":" + std::to_string(e.seq) + ",\"gpa\":" + hexv(dd->addr) + ",\"bytes\":" + std::to_string(dd->data.size()));
        } else if (const auto* w = std::get_if<DiskWriteEvent>(&e.body)) {
            instant(kDma, ns, "disk write", "\"seq\":" + std::to_string(e.seq) + ",\"offset\":" + std::to_string(w->offset) + ",\"bytes\":" + std::to_string(w->length));
        } else if (const auto* end = std::get_if<EndEvent>(&e.body)) {
            close_slice(ns);
            instant(kRun, ns, "end: " + end->reason,
                    "\"seq\":" + std::to_string(e.seq) + ",\"status\":" + std::to_string(end->exit_status) +
                        ",\"exits\":" + std::to_string(end->exits));
        }
        // Region definitions only name regions: nothing to draw.
        last_ns_ = ns;
    }

    void finish() {
        close_slice(last_ns_);
        flush_dirty();
        flush_rate(UINT64_MAX);
        out_ << "\n]";
    }

private:
    void sep() {
        out_ << (first_ ? "" : ",\n");
        first_ = false;
    }
    void meta(const char* what, int pid, int tid, const std::string& name) {
        sep();
        out_ << "{\"ph\":\"M\",\"pid\":" << pid << ",\"tid\":" << tid << ",\"name\":\"" << what
             << "\",\"args\":{\"name\":" << json_string(name) << "}}";
    }
    void vcpu_track(uint16_t vcpu) {
        if (vcpu < vcpus_named_.size() && vcpus_named_[vcpu]) return;
        if (vcpu >= vcpus_named_.size()) vcpus_named_.resize(vcpu + 1u, false);
        vcpus_named_[vcpu] = true;
        meta("thread_name", kPidVcpus, vcpu, "vcpu" + std::to_string(vcpu));
    }
    int device_track(const std::string& device) {
        auto [it, fresh] = device_tids_.try_emplace(device, static_cast<int>(device_tids_.size()) + 1);
        if (fresh) meta("thread_name", kPidDevices, it->second, device);
        return it->second;
    }
    void instant(int tid, uint64_t ns, const std::string& name, const std::string& args) {
        instant_on(kPidMachine, tid, kMachineTrackNames[tid], ns, name, args);
    }
    void instant_on(int pid, int tid, const std::string& track, uint64_t ns, const std::string& name, const std::string& args) {
        sep();
        out_ << "{\"ph\":\"i\",\"s\":\"t\",\"pid\":" << pid << ",\"tid\":" << tid << ",\"ts\":" << ts_us(ns)
             << ",\"name\":" << json_string(name) << ",\"cat\":" << json_string(track) << ",\"args\":{" << args << "}}";
        ++r_.instants;
        ++r_.instants_by_track[track];
    }
    void counter(const char* name, uint64_t ns, const std::string& key, uint64_t value) {
        sep();
        out_ << "{\"ph\":\"C\",\"pid\":" << kPidMachine << ",\"tid\":0,\"ts\":" << ts_us(ns) << ",\"name\":\"" << name
             << "\",\"args\":{\"" << key << "\":" << value << "}}";
    }

    // An access is written once the next one (or the end) gives its length.
    void access(const TraceEvent& e, const AccessEvent& a, uint64_t ns) {
        vcpu_track(e.vcpu);
        char addr[24];
        std::snprintf(addr, sizeof addr, a.io ? "0x%" PRIx64 : "0x%08" PRIx64, a.addr);
        const std::string device = naming_.device(a);
        Pending p;
        p.ns = ns;
        p.vcpu = e.vcpu;
        p.device_tid = device_track(device);
        p.name = device + " " + access_verb(a) + " " + addr;
        p.args = "\"seq\":" + std::to_string(e.seq) + ",\"device\":" + json_string(device) +
                 ",\"region\":" + json_string(naming_.regions().label(a.region)) + ",\"addr\":" + hexv(a.addr) +
                 ",\"size\":" + std::to_string(a.size) + ",\"count\":" + std::to_string(a.count) +
                 (a.count == 1 ? ",\"value\":" + hexv(a.value) : std::string()) + ",\"status\":\"" +
                 (a.status == TraceAccessStatus::Ok ? "ok" : a.status == TraceAccessStatus::Unassigned ? "unassigned" : "invalid") +
                 "\"";
        pending_ = std::move(p);
        flush_rate(ns);
        ++bucket_count_;
    }
    void close_slice(uint64_t ns) {
        if (!pending_) return;
        const Pending& p = *pending_;
        const std::string dur = ts_us(ns - p.ns);
        for (const auto& [pid, tid] : {std::pair{kPidVcpus, int{p.vcpu}}, std::pair{kPidDevices, p.device_tid}}) {
            sep();
            out_ << "{\"ph\":\"X\",\"pid\":" << pid << ",\"tid\":" << tid << ",\"ts\":" << ts_us(p.ns) << ",\"dur\":" << dur
                 << ",\"name\":" << json_string(p.name) << ",\"cat\":\"exit\",\"args\":{" << p.args << "}}";
        }
        ++r_.slices;
        pending_.reset();
    }

    // Counts accesses in kRateBucketNs buckets; a bucket's rate is written
    // when an access falls past it, with one zero after a quiet stretch
    // (a counter holds its value until the next sample).
    void flush_rate(uint64_t ns) {
        const uint64_t bucket = ns == UINT64_MAX ? UINT64_MAX : ns / kRateBucketNs;
        if (bucket_ && bucket == *bucket_) return;
        if (bucket_) {
            counter("exits/s", *bucket_ * kRateBucketNs, "exits", bucket_count_ * (1'000'000'000 / kRateBucketNs));
            ++r_.rate_counters;
            if (bucket != UINT64_MAX && bucket > *bucket_ + 1) {
                counter("exits/s", (*bucket_ + 1) * kRateBucketNs, "exits", 0);
                ++r_.rate_counters;
            }
        }
        bucket_ = bucket;
        bucket_count_ = 0;
    }

    void dirty(const DirtyEvent& d, uint64_t ns) {
        if (epoch_ && *epoch_ != d.epoch) flush_dirty();
        epoch_ = d.epoch;
        epoch_pages_ += d.dirty_pages;
        epoch_ns_ = ns;
    }
    void flush_dirty() {
        if (!epoch_) return;
        counter("dirty pages", epoch_ns_, "pages", epoch_pages_);
        ++r_.dirty_counters;
        epoch_.reset();
        epoch_pages_ = 0;
    }

    struct Pending {
        uint64_t ns = 0;
        uint16_t vcpu = 0;
        int device_tid = 0;
        std::string name, args;
    };

    std::ostream& out_;
    AccessNaming naming_;
    const EventTimes& times_;
    PerfettoExport& r_;
    bool first_ = true;
    std::vector<bool> vcpus_named_;
    std::map<std::string, int> device_tids_;
    std::optional<Pending> pending_;
    std::optional<uint64_t> bucket_;
    uint64_t bucket_count_ = 0;
    std::optional<uint64_t> epoch_;
    uint64_t epoch_pages_ = 0, epoch_ns_ = 0, last_ns_ = 0;
};

}  // namespace

PerfettoExport export_perfetto(const std::string& path, std::ostream& out) {
    PerfettoExport r;
    EventTimes times;
    {
        TraceReader pass1 = TraceReader::open(path);
        TraceEvent e;
        while (pass1.next(e)) times.observe(e);
    }
    times.finish();
    r.placement = times.describe();

    TraceReader reader = TraceReader::open(path);
    Writer w(out, reader.header(), times, r);
    w.begin(std::filesystem::path(path).filename().string());
    TraceEvent e;
    while (reader.next(e)) {
        w.event(e);
        ++r.events;
    }
    w.finish();
    r.damage = reader.damage();
    out << ",\n\"kvmrrDamage\":" << (r.damage ? json_string(*r.damage) : std::string("null")) << "}\n";
    out.flush();
    if (!out) throw Error("cannot write the Perfetto JSON");
    return r;
}

}  // namespace kvmrr
