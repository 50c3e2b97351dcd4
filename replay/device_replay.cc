#include "replay/device_replay.h"

#include <chrono>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/memory_region.h"
#include "core/vcpu/exit_handler.h"
#include "replay/replay_engine.h"

namespace kvmrr {

namespace {

class DeviceReplay final : public ReplayEngine {
public:
    DeviceReplay(TraceReader& r, const ReplayOptions& o)
        : ReplayEngine(r, o, Accel::None, /*compare_dirty=*/false, RecorderOptions{}) {}

    ReplayReport run() {
        if (check_devices()) return finish();
        // The start of a recording, as record_guest does it: taps on, then
        // dirty logging for every slot.
        start();
        session_->memslots().set_global_dirty_log(true);
        const auto started = std::chrono::steady_clock::now();
        bool told = false;
        uint64_t next_progress = 0;

        std::vector<TraceEvent> spill;
        bool more = false;
        std::span<TraceEvent> group = groups_.read_in_place(spill, more);  // the prologue
        if (!more && !groups_.complete()) {
            rep_.unchecked += group.size();  // damage before the first access
            return finish();
        }
        queue_inputs(group);
        board_step(group, /*after_exit=*/false);
        if (!matcher_.match(group)) return finish();
        while (more) {
            group = groups_.read_in_place(spill, more);
            if (group.empty()) break;
            // A group cut short by damage may lack consequences its access
            // had: it is not replayed, only counted.
            if (!more && !groups_.complete()) {
                rep_.unchecked += group.size();
                break;
            }
            if (std::holds_alternative<EndEvent>(group.front().body)) {
                check_end(group);
                if (!rep_.divergence) after_end(group.subspan(1), more);
                break;
            }
            replay_access(group);
            if (rep_.divergence) break;
            if (opts_.progress && rep_.events >= next_progress) {
                next_progress = rep_.events + opts_.progress_every;
                if (told || std::chrono::steady_clock::now() - started > std::chrono::seconds(1)) {
                    told = true;
                    opts_.progress(rep_.events, groups_.event_count());
                }
            }
        }
        return finish();
    }

private:
    void replay_access(std::span<const TraceEvent> group) {
        const TraceEvent& head = group.front();
        const AccessEvent& a = std::get<AccessEvent>(head.body);
        ++rep_.accesses;
        current_access_ = &a;
        current_group_ = group;
        current_region_ = nullptr;
        struct Reset {
            DeviceReplay& e;
            ~Reset() {
                e.current_access_ = nullptr;
                e.current_group_ = {};
                e.current_region_ = nullptr;
            }
        } reset{*this};
        const GuestExitRequest& req = session_->machine().exit_request();
        if (req.requested) {
            matcher_.diverge(head, nullptr, "the replayed guest had already asked to exit (status " +
                                                std::to_string(req.status) + ") before this access");
            return;
        }
        queue_inputs(group);
        restore_dma_reads(group);

        const size_t n = static_cast<size_t>(a.size) * a.count;
        // A single access (nearly all of them) needs no buffer of its own.
        uint64_t word = 0;
        uint8_t* data = reinterpret_cast<uint8_t*>(&word);
        if (n > 8) {
            data_.assign(n, 0);
            data = data_.data();
        }
        if (a.is_write) {
            if (a.count == 1) std::memcpy(data, &a.value, a.size);
            else std::memcpy(data, a.bulk.data(), std::min(n, a.bulk.size()));
        }
        VcpuExit e;
        e.kind = a.io ? ExitKind::Io : ExitKind::Mmio;
        e.is_write = a.is_write;
        e.size = a.size;
        e.count = a.count;
        e.addr = a.addr;
        e.data = std::span(data, a.io ? n : std::max<size_t>(n, 8));
        Machine& m = session_->machine();
        rec_.before_exit(e);
        const ExitOutcome o = handle_exit(e, {m.io_space(), m.memory_space()}, policy_);
        current_region_ = o.region;
        rec_.on_exit(e, o);
        board_step(group);
        matcher_.match(group);
    }

    // What a device read from guest memory during this access (a DMA
    // descriptor) was written there by the guest's CPU, which device replay
    // does not run: put it back first. Only into RAM: a crafted trace
    // cannot make this reach a device.
    void restore_dma_reads(std::span<const TraceEvent> group) {
        MemoryAddressSpace& mem = session_->machine().memory_space();
        for (const TraceEvent& e : group) {
            const auto* d = std::get_if<DmaReadEvent>(&e.body);
            if (!d || d->data.empty()) continue;
            const FlatRange* fr = mem.view()->lookup(d->addr);
            if (!fr || fr->mr->kind() != MemoryRegion::Kind::Ram || fr->readonly ||
                d->data.size() - 1 > fr->range.last() - d->addr)
                continue;
            mem.write_bytes(Gpa(d->addr), d->data);
        }
    }

    void check_end(std::span<const TraceEvent> group) {
        const TraceEvent& ev = group.front();
        const EndEvent& end = std::get<EndEvent>(ev.body);
        ++rep_.events;
        ++rep_.checked;
        rep_.end_reason = end.reason;
        rep_.exit_status = end.exit_status;
        const Machine& m = session_->machine();
        const GuestExitRequest& req = m.exit_request();
        const bool guest_exit = end.reason == stop_reason_name(StopReason::GuestExit);
        if (guest_exit != req.requested) {
            matcher_.diverge(ev, nullptr, guest_exit ? "the recorded guest asked to exit, the replayed devices saw no such request"
                                                     : "the replayed devices saw the guest ask to exit (status " +
                                                           std::to_string(req.status) + "), the recording ended by " + end.reason);
            return;
        }
        if (guest_exit && req.status != end.exit_status) {
            matcher_.diverge(ev, nullptr, "exit status: expected " + std::to_string(end.exit_status) + ", actual " +
                                              std::to_string(req.status));
            return;
        }
        for (const DeviceDigestRecord& d : end.device_digests) {
            const Device* dev = m.device(d.name);
            if (!dev) {
                matcher_.diverge(ev, nullptr, "device '" + d.name + "' is in the end event but not in the replayed machine");
                return;
            }
            if (dev->register_digest() != d.register_digest) {
                Divergence& v = matcher_.diverge(ev, nullptr, "state of device '" + d.name + "': expected digest " +
                                                                  hex(d.register_digest) + ", actual " +
                                                                  hex(dev->register_digest()));
                v.device = d.name;
                return;
            }
        }
        rep_.ended = true;
    }

    std::vector<uint8_t> data_;
};

}  // namespace

ReplayReport replay_devices(TraceReader& reader, const ReplayOptions& options) {
    DeviceReplay r(reader, options);
    return r.run();
}

}  // namespace kvmrr
