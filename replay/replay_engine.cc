#include "replay/replay_engine.h"

#include "core/guest_image.h"
#include "core/memory_region.h"
#include "record/trace_error.h"
#include "vmm/board.h"

namespace kvmrr {

namespace {

MachineLayout layout_from_header(const TraceHeader& h) {
    MachineLayout l;
    l.ram_size = h.ram_size;
    l.rom_size = h.rom_size;
    l.rom_low_alias = h.rom_low_alias;
    if (h.board == "pc") l.low_ram_limit = pc_low_ram_limit(h.ram_size);
    l.devices.clear();
    for (const WindowRecord& w : h.windows)
        l.devices.push_back({w.name, w.io ? AddressSpace::Kind::Io : AddressSpace::Kind::Memory, w.addr, w.size});
    // Only a machine kvmrr can build was recorded: anything else is a lie.
    if (h.board.empty() || h.board == "kvmrr")
        if (auto p = l.problem()) throw TraceError("the trace header's machine cannot be: " + p->message);
    if (h.disk_sectors) {
        const auto has = [&](const char* name) {
            for (const WindowRecord& w : h.windows)
                if (w.name == name) return true;
            return false;
        };
        if (h.board != "pc" || !has("ide0") || !has("ide0-ctl"))
            throw TraceError("the trace header names an IDE disk, but its machine has no IDE channel");
        if (h.disk_sectors > kDiskMaxSectors)
            throw TraceError("the trace header names an IDE disk of " + std::to_string(h.disk_sectors) +
                             " sectors, past what LBA48 addresses");
        if (const std::optional<IdeGeometry>& g = h.disk_geometry; g && !g->valid())
            throw TraceError("the trace header gives the IDE disk the geometry " + g->chs() + " with translation " +
                             std::to_string(g->translation) + ", which no disk has");
    } else if (h.disk_geometry) {
        throw TraceError("the trace header gives a geometry for an IDE disk it does not have");
    }
    return l;
}

GuestImage image_from_header(const TraceHeader& h) {
    GuestImage img;
    img.name = h.guest_name;
    img.entry = h.guest_entry;
    img.mode = h.guest_long_mode ? CpuMode::Long : CpuMode::Real;
    img.hash = h.guest_hash;
    for (const SegmentRecord& s : h.guest_segments) img.segments.push_back({s.addr, s.data, s.zero_fill});
    return img;
}

}  // namespace

ReplayEngine::ReplayEngine(TraceReader& reader, const ReplayOptions& options, Accel accel, bool compare_dirty,
                           RecorderOptions recorder_options)
    : opts_(options),
      groups_(reader),
      h_(reader.header()),
      matcher_(groups_.names(), compare_dirty, rep_),
      rec_(inputs_, recorder_options) {
    SessionConfig c;
    c.layout = layout_from_header(h_);
    if (!h_.board.empty()) c.board = parse_board(h_.board);
    c.firmware = h_.firmware;
    c.disk_sectors = h_.disk_sectors;
    c.disk_geometry = h_.disk_geometry;
    if (!h_.clock.empty()) c.clock = parse_clock_mode(h_.clock);
    c.deterministic_cpu = h_.deterministic_cpu;
    c.stop_at_output = h_.stop_at_output;  // the recording ended there, and so does the run
    c.serial_out = [](uint8_t) {};
    c.accel = accel;
    c.max_memslots = h_.max_memslots;
    session_ = std::make_unique<Session>(c, rec_, this);
    // The dirty logs compared are harvested as the recording's were.
    session_->memslots().set_vmm_writes_dirty(h_.format_version >= kTraceVmmWritesDirtyVersion);
    // As the recording ran: --lax-mmio (and the pc board, always) let
    // unassigned MMIO read all ones and the run go on.
    if (c.board == Board::Pc || h_.lax_mmio) policy_.stop_on_unassigned_mmio = false;
    matcher_.place = [this] { return ReplayPlace{current_access_, current_group_, current_region_}; };
    matcher_.region_at = [this](bool io, uint64_t addr) -> std::string {
        Machine& m = session_->machine();
        const AddressSpace& as = io ? static_cast<const AddressSpace&>(m.io_space())
                                    : static_cast<const AddressSpace&>(m.memory_space());
        const FlatRange* fr = as.view()->lookup(addr);
        return fr ? fr->mr->name() : std::string();
    };
    matcher_.device_at = [this](bool io, uint64_t addr) -> std::string {
        std::string name;
        const auto kind = io ? AddressSpace::Kind::Io : AddressSpace::Kind::Memory;
        for (const DeviceWindow& w : session_->machine().layout().devices)
            if (w.space == kind && addr >= w.addr && addr - w.addr < w.size) name = w.name;
        return name;
    };
}

ReplayEngine::~ReplayEngine() { rec_.detach(); }

bool ReplayEngine::check_devices() {
    // The machine built from the header's windows has the devices whose
    // windows are there; a recording listed each of them. One missing from
    // the list (an empty list, say) would go unchecked: the header lies.
    for (const Device* dev : session_->machine().devices()) {
        bool listed = false;
        for (const DeviceRecord& d : h_.devices) listed |= d.name == dev->name();
        if (!listed)
            throw TraceError("the trace header lists " + std::to_string(h_.devices.size()) +
                             " device(s) but not '" + std::string(dev->name()) + "', whose window it has");
    }
    for (const DeviceRecord& d : h_.devices) {
        const Device* dev = session_->machine().device(d.name);
        std::string why;
        if (!dev) why = "the trace has device '" + d.name + "', this build does not";
        else if (dev->model_version() != d.model_version)
            why = "device '" + d.name + "' was model version " + std::to_string(d.model_version) + " when recorded, is " +
                  std::to_string(dev->model_version()) + " now";
        if (why.empty()) continue;
        Divergence v;
        v.kind = "header";
        v.device = d.name;
        v.difference = why;
        rep_.divergence = std::move(v);
        return true;
    }
    return false;
}

void ReplayEngine::start() {
    if (opts_.prepare_machine) opts_.prepare_machine(session_->machine());
    if (session_->machine().board() == Board::Pc) {
        if (session_->has_vcpu()) session_->reset_cpu();
    } else {
        session_->load(image_from_header(h_), h_.guest_args);
    }
    for (const RegionRecord& r : rec_.describe_regions(session_->machine())) matcher_.actual_names().add(r);
    rec_.start(matcher_, session_->machine(), &session_->memslots());
}

void ReplayEngine::queue_inputs(std::span<const TraceEvent> group) {
    if (inputs_.pending()) inputs_.clear();  // left over by a device that asked for less
    for (size_t i = 1; i < group.size(); ++i) inputs_.push(group[i].body);
}

void ReplayEngine::board_step(std::span<const TraceEvent> group, bool after_exit) {
    InterruptSource* irq = session_->machine().interrupts();
    if (!irq) return;
    // The run loop ends the run there, before asking the board anything.
    const GuestExitRequest& req = session_->machine().exit_request();
    if (req.requested || req.reset || req.output_matched) return;
    // Exits without an access of their own (a HLT, an interrupt window, a
    // tick between exits) are not in the trace, but the board's step after
    // each read the clock while a timer was armed, and at a tick took the
    // UART's host input, as did a HLT's wait for that input alone: the
    // steps take the group's inputs (after the access's own) in order, and
    // each delivery comes where the recording made it among them, the
    // number of inputs after it telling where. A group may have several:
    // interrupts whose handlers make no access.
    bool pending = false;
    bool asked = false;  // the board was asked since the last delivery
    const auto step = [&] {
        irq->count_exit();
        pending = irq->interrupt_pending();
        if (!pending && irq->take_awaited_input()) pending = irq->interrupt_pending();
        asked = true;
    };
    // After an exit the loop asks the board at once; before the first, it
    // asks only when a kick stopped the guest, which the readings show.
    if (after_exit) step();
    const auto step_until = [&](size_t keep) {
        for (size_t left = inputs_.pending(); left > keep;) {
            step();
            const size_t now_left = inputs_.pending();
            if (now_left >= left) break;  // that step read nothing: no more of them
            left = now_left;
        }
    };
    size_t inputs_after = 0;
    for (size_t i = 1; i < group.size(); ++i) inputs_after += TraceInputs::queues(group[i].body);
    for (size_t i = 1; i < group.size(); ++i) {
        if (TraceInputs::queues(group[i].body)) {
            --inputs_after;
            continue;
        }
        if (const auto* pause = std::get_if<PauseEvent>(&group[i].body)) {
            // Where the recording's loop stopped its guest between exits
            // (device replay has none to stop): the steps before it, then
            // the pause as recorded; the board is asked there again.
            step_until(inputs_after);
            rec_.on_pause(pause->exit, pause->counted ? std::optional(pause->instructions) : std::nullopt);
            asked = false;
            continue;
        }
        const auto* delivered = std::get_if<InterruptEvent>(&group[i].body);
        if (!delivered) continue;
        step_until(inputs_after);
        // Two deliveries with no input between them: the loop asked again
        // at the exit between them, with no timer armed to read the clock.
        if (!asked) step();
        // Acknowledged only where the recording delivered one; the vector
        // the board gives (or none pending) is compared with the recorded.
        const uint8_t vector = pending ? irq->acknowledge() : 0xff;
        rec_.on_interrupt(vector, delivered->exit, delivered->rip);
        asked = false;
    }
    step_until(0);
}

void ReplayEngine::after_end(std::span<const TraceEvent> rest_of_group, bool more_groups) {
    uint64_t n = rest_of_group.size();
    std::optional<TraceEvent> first;
    if (!rest_of_group.empty()) first = rest_of_group.front();
    std::vector<TraceEvent> g;
    while (more_groups) {
        more_groups = groups_.read(g);
        if (!g.empty() && !first) first = g.front();
        n += g.size();
    }
    rep_.events += n;
    if (n == 0) return;
    after_end_ = std::to_string(n) + " event(s) follow the end event, from #" + std::to_string(first->seq) + " (" +
                 event_kind(*first) + "): a recording ends at its end event";
}

ReplayReport ReplayEngine::finish() {
    rec_.detach();
    if (rep_.divergence && rep_.divergence->kind != "header")
        rep_.divergence->context = groups_.context_before(matcher_.context_end(), opts_.context_events);
    if (!rep_.divergence) {
        // Whatever follows a divergence is not read; otherwise say why reading stopped.
        if (!groups_.complete()) rep_.damage = groups_.damage().value_or("the trace ends before its end event");
        else if (!rep_.ended) rep_.damage = "the trace has no end event";
        else if (!after_end_.empty()) rep_.damage = after_end_;
    }
    return std::move(rep_);
}

}  // namespace kvmrr
