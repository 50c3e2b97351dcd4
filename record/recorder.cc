#include "record/recorder.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>

#include "core/address_space.h"
#include "core/memory_region.h"
#include "core/ram_block.h"
#include "vmm/machine.h"
#include "record/dirty_runs.h"
#include "record/event_sink.h"

namespace kvmrr {

// Records the FlatView of one address space after each commit that
// changed it (and, on registration, the view as it stands).
class Recorder::TopologyTap final : public MemoryListener {
public:
    TopologyTap(Recorder& r, AddressSpace& as, uint8_t space) : r_(r), as_(as), space_(space) {}
    void commit() override { r_.topology(space_, as_); }
    bool wants_region_nop() const override { return false; }  // it reads the whole view at commit()
    AddressSpace& space() const { return as_; }

private:
    Recorder& r_;
    AddressSpace& as_;
    uint8_t space_;
};

std::vector<ViewRangeRecord> view_record(const FlatView& v, const std::function<uint32_t(const MemoryRegion*)>& id_of) {
    std::vector<ViewRangeRecord> out;
    out.reserve(v.size());
    for (const FlatRange& fr : v.ranges())
        out.push_back({fr.range.start(), fr.range.last(), id_of(fr.mr), fr.offset_in_region, fr.readonly, fr.romd_mode,
                       fr.nonvolatile, fr.dirty_log_mask});
    return out;
}

AccessEvent access_record(const VcpuExit& e) {
    AccessEvent a;
    a.io = e.kind == ExitKind::Io;
    a.addr = e.addr;
    a.size = e.size;
    a.is_write = e.is_write;
    a.count = e.count;
    const size_t n = static_cast<size_t>(e.size) * e.count;
    if (e.count == 1 && e.size <= 8) {
        std::memcpy(&a.value, e.data.data(), e.size);
    } else {
        a.bulk.assign(e.data.begin(), e.data.begin() + static_cast<long>(std::min(n, e.data.size())));
    }
    return a;
}

RegsRecord regs_record(const kvm_regs& g, const kvm_sregs& s) {
    RegsRecord r;
    r.gprs = {g.rax, g.rbx, g.rcx, g.rdx, g.rsi, g.rdi, g.rsp, g.rbp, g.r8,  g.r9,
              g.r10, g.r11, g.r12, g.r13, g.r14, g.r15, g.rip, g.rflags};
    r.cr0 = s.cr0;
    r.cr3 = s.cr3;
    r.cr4 = s.cr4;
    r.efer = s.efer;
    return r;
}

Recorder::Recorder(HostInputs& real, RecorderOptions opts) : real_(real), opts_(opts) {}

Recorder::~Recorder() { detach(); }

void Recorder::detach() {
    sink_ = nullptr;  // first: removing the taps calls them once more
    for (auto& t : taps_) t->space().remove_listener(*t);
    taps_.clear();
    if (slots_) {
        slots_->set_observer({});
        slots_->set_dirty_sink({});
    }
    slots_ = nullptr;
    machine_ = nullptr;
}

void Recorder::emit(EventBody body) {
    if (!sink_) return;  // not started: nothing is being recorded
    if (in_exit_) {
        pending_.push_back(std::move(body));
    } else {
        sink_->append(0, std::move(body));
    }
}

std::vector<RegionRecord> Recorder::describe_regions(Machine& m) {
    std::vector<RegionRecord> out;
    for (const AddressSpace* as : {static_cast<AddressSpace*>(&m.memory_space()), static_cast<AddressSpace*>(&m.io_space())}) {
        for (const FlatRange& fr : as->view()->ranges()) {
            if (region_ids_.count(fr.mr->serial())) continue;
            const auto id = static_cast<uint32_t>(region_ids_.size());
            region_ids_.emplace(fr.mr->serial(), id);
            out.push_back({id, fr.mr->name(), MemoryRegion::kind_name(fr.mr->kind())});
        }
    }
    return out;
}

uint32_t Recorder::region_id(const MemoryRegion* mr) {
    if (!mr) return kNoRegion;
    // Ids are keyed by the region's serial, not its address: a region
    // destroyed during the recording leaves its memory to the next one made.
    const uint64_t serial = mr->serial();
    for (size_t i = 0; i < recent_regions_.size(); ++i) {
        if (recent_regions_[i].mr != mr || recent_regions_[i].serial != serial) continue;
        const RecentRegion hit = recent_regions_[i];
        std::move_backward(recent_regions_.begin(), recent_regions_.begin() + static_cast<long>(i),
                           recent_regions_.begin() + static_cast<long>(i) + 1);
        recent_regions_[0] = hit;
        return hit.id;
    }
    auto remember = [&](uint32_t id) {
        std::move_backward(recent_regions_.begin(), recent_regions_.end() - 1, recent_regions_.end());
        recent_regions_[0] = {mr, serial, id};
        return id;
    };
    auto it = region_ids_.find(serial);
    if (it != region_ids_.end()) return remember(it->second);
    // A region the header did not list (created later): define it before
    // its first use, outside the pending list so that it precedes the access.
    const auto id = static_cast<uint32_t>(region_ids_.size());
    region_ids_.emplace(serial, id);
    if (sink_) sink_->append(0, RegionDefEvent{{id, mr->name(), MemoryRegion::kind_name(mr->kind())}});
    return remember(id);
}

void Recorder::start(EventSink& sink, Machine& m, MemslotListener* slots) {
    sink_ = &sink;
    machine_ = &m;
    slots_ = slots;
    taps_.push_back(std::make_unique<TopologyTap>(*this, m.memory_space(), 0));
    taps_.push_back(std::make_unique<TopologyTap>(*this, m.io_space(), 1));
    for (auto& t : taps_) t->space().add_listener(*t, 1000);  // after the memslot listener
    if (slots_) {
        auto record_slot = [this](MemslotListener::Change c, const MemslotListener::Slot& s) {
            MemslotEvent ev;
            ev.op = c == MemslotListener::Change::Add ? MemslotOp::Add
                    : c == MemslotListener::Change::Delete ? MemslotOp::Delete
                                                           : MemslotOp::Flags;
            ev.slot = s.spec.slot;
            ev.guest_phys = s.spec.guest_phys;
            ev.size = s.spec.size;
            ev.flags = s.spec.flags;
            ev.ram_block = s.mr->ram_block()->id();
            ev.block_offset = s.mr->ram_offset() + s.offset_in_region;
            emit(std::move(ev));
        };
        // The slots that exist already, as additions, then every change.
        for (const auto& [gpa, s] : slots_->slots()) record_slot(MemslotListener::Change::Add, s);
        slots_->set_observer(record_slot);
        slots_->set_dirty_sink([this](const DirtyBitmap& b) {
            if (!sink_) return;
            const auto time_ns = static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started_).count());
            if (!in_exit_) {
                // The sink may defer the encoding (the trace writer does).
                sink_->append_dirty(0, b, epoch_, time_ns);
                return;
            }
            // A slot torn down by the exit being handled: the bitmap must
            // wait with the exit's other consequences, encoded.
            emit(make_dirty_event(b, epoch_, time_ns));
        });
    }
    started_ = last_harvest_ = std::chrono::steady_clock::now();
}

void Recorder::topology(uint8_t space, const AddressSpace& as) {
    const FlatView& v = *as.view();
    TopologyEvent t{space, v.digest(), static_cast<uint32_t>(v.size()), {}};
    t.view = view_record(v, [this](const MemoryRegion* mr) { return region_id(mr); });
    emit(std::move(t));
}

void Recorder::harvest_round() {
    if (!slots_) return;
    // Epoch k is the k-th interval between harvests (from 0): the round
    // that ends it and a slot harvested before its deletion inside it
    // both tag their bitmaps k.
    slots_->harvest();
    ++epoch_;
    exits_since_harvest_ = 0;
    last_harvest_ = std::chrono::steady_clock::now();
}

int64_t Recorder::wall_clock_ns() {
    const int64_t ns = real_.wall_clock_ns();
    emit(ClockEvent{ns});
    return ns;
}

// The same event as a wall-clock read: both are one time reading, served
// back in order by replay.
int64_t Recorder::monotonic_ns() {
    const int64_t ns = real_.monotonic_ns();
    emit(ClockEvent{ns});
    return ns;
}

void Recorder::entropy(std::span<uint8_t> out) {
    real_.entropy(out);
    emit(EntropyEvent{{out.begin(), out.end()}});
}

std::optional<uint8_t> Recorder::serial_in() {
    const std::optional<uint8_t> b = real_.serial_in();
    emit(SerialInEvent{b ? static_cast<int16_t>(*b) : int16_t{-1}});
    return b;
}

void Recorder::disk_read(uint64_t offset, std::span<uint8_t> out) {
    real_.disk_read(offset, out);
    emit(DiskReadEvent{offset, {out.begin(), out.end()}});
}

void Recorder::disk_write(uint64_t offset, std::span<const uint8_t> in) {
    real_.disk_write(offset, in);
    emit(DiskWriteEvent{offset, in.size()});
}

void Recorder::before_exit(const VcpuExit&) {
    in_exit_ = true;
    pending_.clear();
}

void Recorder::on_exit(const VcpuExit& e, const ExitOutcome& o) {
    in_exit_ = false;
    if (sink_ && (e.kind == ExitKind::Io || e.kind == ExitKind::Mmio)) {
        AccessEvent a = access_record(e);
        const bool reserved = !o.region || o.region->kind() == MemoryRegion::Kind::Reservation;
        a.region = region_id(o.region);
        a.status = o.stop == StopReason::InvalidAccess ? TraceAccessStatus::Invalid
                   : reserved                          ? TraceAccessStatus::Unassigned
                                                       : TraceAccessStatus::Ok;
        sink_->append(0, std::move(a));
    }
    for (EventBody& b : pending_) sink_->append(0, std::move(b));
    pending_.clear();

    ++exits_since_harvest_;
    if (opts_.dirty_mark_port >= 0 && e.kind == ExitKind::Io && e.is_write &&
        e.addr == static_cast<uint64_t>(opts_.dirty_mark_port)) {
        harvest_round();
    } else if (opts_.dirty_interval_exits && exits_since_harvest_ >= opts_.dirty_interval_exits) {
        harvest_round();
    } else if (opts_.dirty_interval_ms &&
               std::chrono::steady_clock::now() - last_harvest_ >= std::chrono::milliseconds(opts_.dirty_interval_ms)) {
        harvest_round();
    }
}

void Recorder::on_interrupt(uint8_t vector, uint64_t exit, uint64_t rip) { emit(InterruptEvent{vector, exit, rip}); }

void Recorder::on_pause(uint64_t exit, std::optional<uint64_t> instructions) {
    emit(PauseEvent{exit, instructions.value_or(0), instructions.has_value()});
}

void Recorder::dma_read(uint64_t gpa, std::span<const uint8_t> bytes) {
    emit(DmaReadEvent{gpa, {bytes.begin(), bytes.end()}});
}

void Recorder::dma_write(uint64_t gpa, std::span<const uint8_t> bytes) {
    emit(DmaWriteEvent{gpa, {bytes.begin(), bytes.end()}});
}

void Recorder::finish(const RunResult& r) {
    harvest_round();
    EndEvent end;
    end.reason = stop_reason_name(r.reason);
    end.exit_status = r.exit_status;
    end.exits = r.exits;
    end.detail = r.detail;
    end.regs = regs_record(r.regs, r.sregs);
    end.between_exits = r.between_exits;
    if (machine_)
        for (const Device* d : machine_->devices())
            end.device_digests.push_back({std::string(d->name()), d->state_digest(), d->register_digest()});
    emit(std::move(end));
    detach();
}

}  // namespace kvmrr
