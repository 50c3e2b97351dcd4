#include "record/record_session.h"

#include <sys/utsname.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "core/kvm/kvm.h"
#include "vmm/real_host_inputs.h"
#include "vmm/session.h"

namespace kvmrr {

TraceHeader make_trace_header(const Machine& m, const GuestImage& image, const std::vector<uint64_t>& args) {
    TraceHeader h;
    h.kvmrr_version = KVMRR_VERSION;
    const MachineLayout& l = m.layout();
    h.ram_size = l.ram_size;
    h.rom_size = l.rom_size;
    h.rom_low_alias = l.rom_low_alias;
    for (const DeviceWindow& w : l.devices)
        h.windows.push_back({w.name, w.space == AddressSpace::Kind::Io, w.addr, w.size});
    for (const Device* d : m.devices()) h.devices.push_back({std::string(d->name()), d->model_version()});
    h.guest_name = image.name;
    h.guest_hash = image.hash;
    h.guest_long_mode = image.mode == CpuMode::Long;
    h.guest_entry = image.entry;
    h.guest_args = args;
    for (const GuestSegment& s : image.segments) h.guest_segments.push_back({s.addr, s.bytes, s.zero_fill});
    utsname u{};
    if (uname(&u) == 0) h.kernel_release = u.release;
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    h.start_time_ns = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
    return h;
}

RecordReport record_guest(const RecordRequest& req) {
    const auto t0 = std::chrono::steady_clock::now();
    const GuestImage image = guest_of(req.run);
    RealHostInputs real(req.run.serial_in_fd, req.run.disk);
    Recorder rec(real, req.recorder);
    Session session(req.run.session_config(), rec, &rec);
    start_guest(session, req.run, image, real);

    TraceHeader h = make_trace_header(session.machine(), image, req.run.guest.args);
    if (req.run.board == Board::Pc) {
        h.board = board_name(Board::Pc);
        h.firmware = req.run.firmware;
        h.disk_sectors = req.run.disk_sectors;
        h.min_reader_version = req.run.disk_sectors ? kTraceDiskVersion : kTraceInterruptVersion;
        if (req.run.disk_sectors && req.run.disk_geometry) {
            h.disk_geometry = req.run.disk_geometry;
            h.min_reader_version = kTraceDiskGeometryVersion;
        }
    }
    h.clock = clock_mode_name(req.run.clock);
    h.stop_at_output = req.run.stop_at_output;
    h.ticks_between_exits = req.run.ticks_between_exits;
    if (h.ticks_between_exits) h.min_reader_version = std::max(h.min_reader_version, kTracePauseVersion);
    h.deterministic_cpu = req.run.deterministic_cpu;
    if (h.deterministic_cpu) h.min_reader_version = std::max(h.min_reader_version, kTraceDeterministicCpuVersion);
    // Which accelerator ran: a guest replay on the other one names it when
    // a dirty bitmap differs (replay_guest).
    h.accelerator = accel_name(session.accel());
    // KVM's API version and capabilities describe KVM only; an emulated run
    // leaves them empty.
    if (KvmSystem* kvm = session.kvm()) {
        h.kvm_api_version = KVM_API_VERSION;
        for (auto [name, cap] : {std::pair{"KVM_CAP_NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS},
                                 std::pair{"KVM_CAP_READONLY_MEM", KVM_CAP_READONLY_MEM},
                                 std::pair{"KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2", KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2},
                                 std::pair{"KVM_CAP_DIRTY_LOG_RING", KVM_CAP_DIRTY_LOG_RING}})
            h.capabilities.emplace_back(name, kvm->check_extension(cap));
    }
    h.manual_dirty_log_protect = session.vm().manual_dirty_log_protect();
    h.max_memslots = session.vm().max_memslots();
    h.dirty_interval_exits = req.recorder.dirty_interval_exits;
    h.dirty_interval_ms = req.recorder.dirty_interval_ms;
    h.dirty_mark_port = req.recorder.dirty_mark_port;
    h.dirty_mode = dirty_log_mode_name(req.run.dirty_mode);
    h.max_exits = req.run.limits.max_exits;
    h.timeout_ms = static_cast<uint64_t>(req.run.limits.timeout.count());
    h.lax_mmio = !req.run.policy.stop_on_unassigned_mmio;
    h.initial_regs.push_back(regs_record(session.vcpu().regs(), session.vcpu().sregs()));
    h.regions = rec.describe_regions(session.machine());

    // A run that fails leaves an existing trace at req.output as it was.
    TraceWriter writer(req.output, h, {.replace_atomically = true});
    rec.start(writer, session.machine(), &session.memslots());
    // If the run throws, the taps must leave the machine before it dies.
    struct StopTaps {
        Recorder& r;
        ~StopTaps() { r.detach(); }
    } stop_taps{rec};
    RunOptions opts = req.run.run_options();
    // Dirty logging for every slot while recording: the trace carries the
    // guest's whole dirty-page behaviour.
    opts.global_dirty_log = true;
    RecordReport rep;
    rep.run.result = session.run(opts);
    rec.finish(rep.run.result);
    writer.close();
    rep.stats = writer.stats();
    rep.run.exit_status = exit_status_for(rep.run.result);
    rep.accel = rep.run.accel = accel_name(session.accel());
    rep.run.message = fallback_note(session.fallback_reason()) + image.name + ": " + rep.run.result.describe();
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

}  // namespace kvmrr

namespace kvmrr {

std::string RecordReport::summary() const {
    char line[256];
    std::string s = prefix_lines(run.message, "kvmrr: ");
    std::snprintf(line, sizeof line, "kvmrr: recorded %llu events in %llu chunks in %.3f s\n",
                  static_cast<unsigned long long>(stats.events), static_cast<unsigned long long>(stats.chunks), seconds);
    s += line;
    for (const auto& [kind, n] : stats.events_by_kind) {
        std::snprintf(line, sizeof line, "kvmrr:   %-12s %llu\n", kind.c_str(), static_cast<unsigned long long>(n));
        s += line;
    }
    const double ratio = stats.bytes_compressed ? static_cast<double>(stats.bytes_uncompressed) / static_cast<double>(stats.bytes_compressed) : 0.0;
    std::snprintf(line, sizeof line, "kvmrr: trace %llu bytes (%llu packed, %llu compressed, ratio %.2f, %.2f bytes/event)\n",
                  static_cast<unsigned long long>(stats.file_bytes), static_cast<unsigned long long>(stats.bytes_uncompressed),
                  static_cast<unsigned long long>(stats.bytes_compressed), ratio,
                  stats.events ? static_cast<double>(stats.file_bytes) / static_cast<double>(stats.events) : 0.0);
    s += line;
    return s;
}

}  // namespace kvmrr
