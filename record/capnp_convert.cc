#include "record/capnp_convert.h"

#include <capnp/message.h>
#include <capnp/serialize-packed.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "record/trace_format.h"

namespace kvmrr {
namespace {

capnp::Text::Reader text(const std::string& s) { return capnp::Text::Reader(s.c_str(), s.size()); }
capnp::Data::Reader data(const std::vector<uint8_t>& v) { return capnp::Data::Reader(v.data(), v.size()); }
std::string str(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }
std::vector<uint8_t> bytes(capnp::Data::Reader d) { return std::vector<uint8_t>(d.begin(), d.end()); }

// Text and Data are only set when non-empty: an unset pointer reads back
// as empty, and the message is smaller.
template <typename Setter>
void set_text(const std::string& s, Setter set) {
    if (!s.empty()) set(text(s));
}
template <typename Setter>
void set_data(const std::vector<uint8_t>& v, Setter set) {
    if (!v.empty()) set(data(v));
}

void regs_to_capnp(const RegsRecord& r, schema::VcpuRegs::Builder b) {
    auto g = b.initGprs(static_cast<unsigned>(r.gprs.size()));
    for (size_t i = 0; i < r.gprs.size(); ++i) g.set(static_cast<unsigned>(i), r.gprs[i]);
    b.setCr0(r.cr0);
    b.setCr3(r.cr3);
    b.setCr4(r.cr4);
    b.setEfer(r.efer);
}

RegsRecord regs_from_capnp(schema::VcpuRegs::Reader r) {
    RegsRecord out;
    for (uint64_t v : r.getGprs()) out.gprs.push_back(v);
    out.cr0 = r.getCr0();
    out.cr3 = r.getCr3();
    out.cr4 = r.getCr4();
    out.efer = r.getEfer();
    return out;
}

void region_to_capnp(const RegionRecord& r, schema::RegionDesc::Builder b) {
    b.setId(r.id);
    set_text(r.name, [&](auto t) { b.setName(t); });
    set_text(r.kind, [&](auto t) { b.setKind(t); });
}

RegionRecord region_from_capnp(schema::RegionDesc::Reader r) {
    return RegionRecord{r.getId(), str(r.getName()), str(r.getKind())};
}

// The same fields live in schema::Access (formats 1-3, behind a pointer)
// and in the Event::access group (format 4 on), hence templates.
template <class Builder>
void access_to_capnp(const AccessEvent& a, Builder b) {
    b.setAddr(a.addr);
    b.setSize(a.size);
    b.setIsWrite(a.is_write);
    b.setCount(a.count);
    b.setValue(a.value);
    set_data(a.bulk, [&](auto d) { b.setBulk(d); });
    b.setRegion(a.region);
    switch (a.status) {
        case TraceAccessStatus::Ok: b.setStatus(schema::AccessStatus::OK); break;
        case TraceAccessStatus::Unassigned: b.setStatus(schema::AccessStatus::UNASSIGNED); break;
        case TraceAccessStatus::Invalid: b.setStatus(schema::AccessStatus::INVALID); break;
    }
}

template <class Reader>
[[gnu::always_inline]] inline void access_from_capnp(Reader r, bool io, AccessEvent& a) {
    a.io = io;
    a.addr = r.getAddr();
    a.size = r.getSize();
    a.is_write = r.getIsWrite();
    a.count = r.getCount();
    a.value = r.getValue();
    if (r.hasBulk()) a.bulk = bytes(r.getBulk());
    a.region = r.getRegion();
    switch (r.getStatus()) {
        case schema::AccessStatus::OK: a.status = TraceAccessStatus::Ok; break;
        case schema::AccessStatus::UNASSIGNED: a.status = TraceAccessStatus::Unassigned; break;
        case schema::AccessStatus::INVALID: a.status = TraceAccessStatus::Invalid; break;
        default: throw Error("unknown access status " + std::to_string(static_cast<unsigned>(r.getStatus())));
    }
}

struct BodyToCapnp {
    schema::Event::Builder b;
    void operator()(const AccessEvent& a) {
        auto x = b.initAccess();
        x.setIo(a.io);
        access_to_capnp(a, x);
    }
    void operator()(const TopologyEvent& t) {
        auto x = b.initTopology();
        x.setSpace(t.space);
        x.setFlatViewHash(t.flat_view_hash);
        x.setRanges(t.ranges);
        if (t.view.empty()) return;
        auto v = x.initView(static_cast<unsigned>(t.view.size()));
        for (unsigned i = 0; i < t.view.size(); ++i) {
            const ViewRangeRecord& r = t.view[i];
            v[i].setStart(r.start);
            v[i].setLast(r.last);
            v[i].setRegion(r.region);
            v[i].setOffset(r.offset);
            v[i].setReadonly(r.readonly);
            v[i].setRomd(r.romd);
            v[i].setNonvolatile(r.nonvolatile);
            v[i].setDirtyLog(r.dirty_log);
        }
    }
    void operator()(const MemslotEvent& m) {
        auto x = b.initMemslot();
        switch (m.op) {
            case MemslotOp::Add: x.setOp(schema::MemslotOp::ADD); break;
            case MemslotOp::Delete: x.setOp(schema::MemslotOp::DELETE); break;
            case MemslotOp::Flags: x.setOp(schema::MemslotOp::FLAGS); break;
        }
        x.setSlot(m.slot);
        x.setGuestPhys(m.guest_phys);
        x.setSize(m.size);
        x.setFlags(m.flags);
        x.setRamBlock(m.ram_block);
        x.setBlockOffset(m.block_offset);
    }
    void operator()(const DirtyEvent& d) {
        auto x = b.initDirty();
        x.setEpoch(d.epoch);
        x.setSlot(d.slot);
        x.setGuestPhys(d.guest_phys);
        x.setPages(d.pages);
        x.setDirtyPages(d.dirty_pages);
        x.setTimeNs(d.time_ns);
        set_data(d.runs, [&](auto v) { x.setRuns(v); });
    }
    void operator()(const DmaWriteEvent& d) {
        auto x = b.initDmaWrite();
        x.setAddr(d.addr);
        set_data(d.data, [&](auto v) { x.setData(v); });
    }
    void operator()(const ClockEvent& c) { b.setClock(c.ns); }
    void operator()(const DmaReadEvent& d) {
        auto x = b.initDmaRead();
        x.setAddr(d.addr);
        set_data(d.data, [&](auto v) { x.setData(v); });
    }
    void operator()(const InterruptEvent& i) {
        auto x = b.initInterrupt();
        x.setVector(i.vector);
        x.setExit(i.exit);
        x.setRip(i.rip);
    }
    void operator()(const PauseEvent& p) {
        auto x = b.initPause();
        x.setExit(p.exit);
        x.setInstructions(p.instructions);
        x.setCounted(p.counted);
    }
    void operator()(const EntropyEvent& e) { b.setEntropy(data(e.bytes)); }
    void operator()(const SerialInEvent& s) { b.setSerialIn(s.byte); }
    void operator()(const DiskReadEvent& d) {
        auto x = b.initDiskRead();
        x.setOffset(d.offset);
        set_data(d.data, [&](auto v) { x.setData(v); });
    }
    void operator()(const DiskWriteEvent& d) {
        auto x = b.initDiskWrite();
        x.setOffset(d.offset);
        x.setLength(d.length);
    }
    void operator()(const RegionDefEvent& r) { region_to_capnp(r.region, b.initRegionDef()); }
    void operator()(const EndEvent& e) {
        auto x = b.initEnd();
        set_text(e.reason, [&](auto t) { x.setReason(t); });
        x.setExitStatus(e.exit_status);
        x.setExits(e.exits);
        x.setDetail(e.detail);
        regs_to_capnp(e.regs, x.initRegs());
        x.setBetweenExits(e.between_exits);
        if (e.device_digests.empty()) return;
        auto d = x.initDevices(static_cast<unsigned>(e.device_digests.size()));
        for (unsigned i = 0; i < e.device_digests.size(); ++i) {
            set_text(e.device_digests[i].name, [&](auto t) { d[i].setName(t); });
            d[i].setDigest(e.device_digests[i].digest);
            d[i].setRegisterDigest(e.device_digests[i].register_digest);
        }
    }
};

uint64_t padded(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

std::string kj_what(const kj::Exception& e) { return std::string(e.getDescription().cStr()); }

}  // namespace

void header_to_capnp(const TraceHeader& h, schema::TraceHeader::Builder b) {
    b.setFormatVersion(h.format_version);
    b.setMinReaderVersion(h.min_reader_version);
    set_text(h.kvmrr_version, [&](auto t) { b.setKvmrrVersion(t); });

    auto m = b.initMachine();
    m.setRamSize(h.ram_size);
    m.setRomSize(h.rom_size);
    m.setRomLowAlias(h.rom_low_alias);
    auto windows = m.initWindows(static_cast<unsigned>(h.windows.size()));
    for (unsigned i = 0; i < h.windows.size(); ++i) {
        set_text(h.windows[i].name, [&](auto t) { windows[i].setName(t); });
        windows[i].setIo(h.windows[i].io);
        windows[i].setAddr(h.windows[i].addr);
        windows[i].setSize(h.windows[i].size);
    }
    auto devices = m.initDevices(static_cast<unsigned>(h.devices.size()));
    for (unsigned i = 0; i < h.devices.size(); ++i) {
        set_text(h.devices[i].name, [&](auto t) { devices[i].setName(t); });
        devices[i].setModelVersion(h.devices[i].model_version);
    }
    set_text(h.board, [&](auto t) { m.setBoard(t); });
    set_data(h.firmware, [&](auto d) { m.setFirmware(d); });
    m.setDiskSectors(h.disk_sectors);
    if (const std::optional<IdeGeometry>& g = h.disk_geometry) {
        m.setDiskCylinders(g->cylinders);
        m.setDiskHeads(g->heads);
        m.setDiskSecs(g->secs);
        m.setDiskTranslation(g->translation);
    }

    auto g = b.initGuest();
    set_text(h.guest_name, [&](auto t) { g.setName(t); });
    g.setHash(h.guest_hash);
    g.setMode(h.guest_long_mode ? schema::CpuMode::LONG : schema::CpuMode::REAL);
    g.setEntry(h.guest_entry);
    auto args = g.initArgs(static_cast<unsigned>(h.guest_args.size()));
    for (unsigned i = 0; i < h.guest_args.size(); ++i) args.set(i, h.guest_args[i]);
    auto segs = g.initSegments(static_cast<unsigned>(h.guest_segments.size()));
    for (unsigned i = 0; i < h.guest_segments.size(); ++i) {
        segs[i].setAddr(h.guest_segments[i].addr);
        set_data(h.guest_segments[i].data, [&](auto d) { segs[i].setData(d); });
        segs[i].setZeroFill(h.guest_segments[i].zero_fill);
    }

    b.setVcpuCount(h.vcpu_count);
    auto regs = b.initInitialRegs(static_cast<unsigned>(h.initial_regs.size()));
    for (unsigned i = 0; i < h.initial_regs.size(); ++i) regs_to_capnp(h.initial_regs[i], regs[i]);

    auto host = b.initHost();
    set_text(h.kernel_release, [&](auto t) { host.setKernelRelease(t); });
    host.setKvmApiVersion(h.kvm_api_version);
    auto caps = host.initCapabilities(static_cast<unsigned>(h.capabilities.size()));
    for (unsigned i = 0; i < h.capabilities.size(); ++i) {
        set_text(h.capabilities[i].first, [&](auto t) { caps[i].setName(t); });
        caps[i].setValue(h.capabilities[i].second);
    }
    host.setManualDirtyLogProtect(h.manual_dirty_log_protect);
    host.setMaxMemslots(h.max_memslots);

    auto o = b.initOptions();
    o.setDirtyIntervalExits(h.dirty_interval_exits);
    o.setDirtyIntervalMs(h.dirty_interval_ms);
    o.setDirtyMarkPort(h.dirty_mark_port);
    o.setMaxExits(h.max_exits);
    o.setTimeoutMs(h.timeout_ms);
    set_text(h.dirty_mode, [&](auto t) { o.setDirtyMode(t); });
    set_text(h.clock, [&](auto t) { o.setClock(t); });
    set_text(h.stop_at_output, [&](auto t) { o.setStopAtOutput(t); });
    o.setLaxMmio(h.lax_mmio);
    o.setTicksBetweenExits(h.ticks_between_exits);
    o.setDeterministicCpu(h.deterministic_cpu);

    b.setStartTimeNs(h.start_time_ns);
    set_text(h.accelerator, [&](auto t) { b.setAccelerator(t); });
    auto regions = b.initRegions(static_cast<unsigned>(h.regions.size()));
    for (unsigned i = 0; i < h.regions.size(); ++i) region_to_capnp(h.regions[i], regions[i]);
}

TraceHeader header_from_capnp(schema::TraceHeader::Reader r) {
    TraceHeader h;
    h.format_version = r.getFormatVersion();
    h.min_reader_version = r.getMinReaderVersion();
    h.kvmrr_version = str(r.getKvmrrVersion());

    auto m = r.getMachine();
    h.ram_size = m.getRamSize();
    h.rom_size = m.getRomSize();
    h.rom_low_alias = m.getRomLowAlias();
    h.board = str(m.getBoard());
    h.firmware = bytes(m.getFirmware());
    h.disk_sectors = m.getDiskSectors();
    if (m.getDiskCylinders())  // 0: not recorded (format 7)
        h.disk_geometry = IdeGeometry{m.getDiskCylinders(), m.getDiskHeads(), m.getDiskSecs(), m.getDiskTranslation()};
    for (auto w : m.getWindows()) h.windows.push_back({str(w.getName()), w.getIo(), w.getAddr(), w.getSize()});
    for (auto d : m.getDevices()) h.devices.push_back({str(d.getName()), d.getModelVersion()});

    auto g = r.getGuest();
    h.guest_name = str(g.getName());
    h.guest_hash = g.getHash();
    switch (g.getMode()) {
        case schema::CpuMode::REAL: h.guest_long_mode = false; break;
        case schema::CpuMode::LONG: h.guest_long_mode = true; break;
        default: throw Error("unknown guest CPU mode " + std::to_string(static_cast<unsigned>(g.getMode())));
    }
    h.guest_entry = g.getEntry();
    for (uint64_t a : g.getArgs()) h.guest_args.push_back(a);
    for (auto s : g.getSegments()) h.guest_segments.push_back({s.getAddr(), bytes(s.getData()), s.getZeroFill()});

    h.vcpu_count = r.getVcpuCount();
    for (auto regs : r.getInitialRegs()) h.initial_regs.push_back(regs_from_capnp(regs));

    auto host = r.getHost();
    h.kernel_release = str(host.getKernelRelease());
    h.kvm_api_version = host.getKvmApiVersion();
    for (auto c : host.getCapabilities()) h.capabilities.emplace_back(str(c.getName()), c.getValue());
    h.manual_dirty_log_protect = host.getManualDirtyLogProtect();
    h.max_memslots = host.getMaxMemslots();

    auto o = r.getOptions();
    h.dirty_interval_exits = o.getDirtyIntervalExits();
    h.dirty_interval_ms = o.getDirtyIntervalMs();
    h.dirty_mark_port = o.getDirtyMarkPort();
    h.clock = str(o.getClock());
    h.stop_at_output = str(o.getStopAtOutput());
    h.lax_mmio = o.getLaxMmio();
    h.ticks_between_exits = o.getTicksBetweenExits();
    h.deterministic_cpu = o.getDeterministicCpu();
    h.max_exits = o.getMaxExits();
    h.timeout_ms = o.getTimeoutMs();
    h.dirty_mode = str(o.getDirtyMode());

    h.start_time_ns = r.getStartTimeNs();
    for (auto reg : r.getRegions()) h.regions.push_back(region_from_capnp(reg));
    h.accelerator = str(r.getAccelerator());
    return h;
}

void event_to_capnp(const TraceEvent& e, schema::Event::Builder b) {
    b.setVcpu(e.vcpu);
    std::visit(BodyToCapnp{b}, e.body);
}

namespace {

// Inlined into decode_chunk: passing the 48-byte reader to a call, copied
// field by field on the stack, cost more than decoding an access (the
// copy's wide reload waits on its narrow stores).
[[gnu::always_inline]] inline void decode_event(schema::Event::Reader r, uint64_t seq, TraceEvent& e) {
    e.seq = seq;
    e.vcpu = r.getVcpu();
    switch (r.which()) {
        // Accesses are most of a trace: filled in place, no temporary.
        case schema::Event::PIO: access_from_capnp(r.getPio(), true, e.body.emplace<AccessEvent>()); break;
        case schema::Event::MMIO: access_from_capnp(r.getMmio(), false, e.body.emplace<AccessEvent>()); break;
        case schema::Event::ACCESS: {
            auto x = r.getAccess();
            access_from_capnp(x, x.getIo(), e.body.emplace<AccessEvent>());
            break;
        }
        case schema::Event::TOPOLOGY: {
            auto x = r.getTopology();
            TopologyEvent t{x.getSpace(), x.getFlatViewHash(), x.getRanges(), {}};
            for (auto r : x.getView())
                t.view.push_back({r.getStart(), r.getLast(), r.getRegion(), r.getOffset(), r.getReadonly(), r.getRomd(),
                                  r.getNonvolatile(), r.getDirtyLog()});
            e.body = std::move(t);
            break;
        }
        case schema::Event::MEMSLOT: {
            auto x = r.getMemslot();
            MemslotEvent m;
            switch (x.getOp()) {
                case schema::MemslotOp::ADD: m.op = MemslotOp::Add; break;
                case schema::MemslotOp::DELETE: m.op = MemslotOp::Delete; break;
                case schema::MemslotOp::FLAGS: m.op = MemslotOp::Flags; break;
                default: throw Error("unknown memslot operation " + std::to_string(static_cast<unsigned>(x.getOp())));
            }
            m.slot = x.getSlot();
            m.guest_phys = x.getGuestPhys();
            m.size = x.getSize();
            m.flags = x.getFlags();
            m.ram_block = x.getRamBlock();
            m.block_offset = x.getBlockOffset();
            e.body = m;
            break;
        }
        case schema::Event::DIRTY: {
            auto x = r.getDirty();
            e.body = DirtyEvent{x.getEpoch(), x.getSlot(),       x.getGuestPhys(),
                                x.getPages(), x.getDirtyPages(), bytes(x.getRuns()), x.getTimeNs()};
            break;
        }
        case schema::Event::DMA_WRITE: {
            auto x = r.getDmaWrite();
            e.body = DmaWriteEvent{x.getAddr(), bytes(x.getData())};
            break;
        }
        case schema::Event::CLOCK: e.body = ClockEvent{r.getClock()}; break;
        case schema::Event::DMA_READ: {
            auto x = r.getDmaRead();
            e.body = DmaReadEvent{x.getAddr(), bytes(x.getData())};
            break;
        }
        case schema::Event::INTERRUPT: {
            auto x = r.getInterrupt();
            e.body = InterruptEvent{x.getVector(), x.getExit(), x.getRip()};
            break;
        }
        case schema::Event::PAUSE: {
            auto x = r.getPause();
            e.body = PauseEvent{x.getExit(), x.getInstructions(), x.getCounted()};
            break;
        }
        case schema::Event::ENTROPY: e.body = EntropyEvent{bytes(r.getEntropy())}; break;
        case schema::Event::SERIAL_IN: e.body = SerialInEvent{r.getSerialIn()}; break;
        case schema::Event::DISK_READ: {
            auto x = r.getDiskRead();
            e.body = DiskReadEvent{x.getOffset(), bytes(x.getData())};
            break;
        }
        case schema::Event::DISK_WRITE: {
            auto x = r.getDiskWrite();
            e.body = DiskWriteEvent{x.getOffset(), x.getLength()};
            break;
        }
        case schema::Event::REGION_DEF: e.body = RegionDefEvent{region_from_capnp(r.getRegionDef())}; break;
        case schema::Event::END: {
            auto x = r.getEnd();
            EndEvent end{str(x.getReason()), x.getExitStatus(), x.getExits(), x.getDetail(),
                         regs_from_capnp(x.getRegs()), {}};
            for (auto d : x.getDevices())
                end.device_digests.push_back({str(d.getName()), d.getDigest(), d.getRegisterDigest()});
            end.between_exits = x.getBetweenExits();
            e.body = std::move(end);
            break;
        }
        default:
            throw Error("event of unknown kind " + std::to_string(static_cast<unsigned>(r.which())) +
                        " (a newer writer must raise min_reader_version when it adds one)");
    }
}

}  // namespace

namespace {

struct DataSize {
    uint64_t operator()(const AccessEvent& a) const { return padded(a.bulk.size()); }
    uint64_t operator()(const DirtyEvent& d) const { return padded(d.runs.size()); }
    uint64_t operator()(const DmaWriteEvent& d) const { return padded(d.data.size()); }
    uint64_t operator()(const DmaReadEvent& d) const { return padded(d.data.size()); }
    uint64_t operator()(const EntropyEvent& d) const { return padded(d.bytes.size()); }
    uint64_t operator()(const DiskReadEvent& d) const { return padded(d.data.size()); }
    uint64_t operator()(const RegionDefEvent& r) const {
        return padded(r.region.name.size() + 1) + padded(r.region.kind.size() + 1);
    }
    uint64_t operator()(const TopologyEvent& t) const { return 48 * t.view.size(); }
    uint64_t operator()(const EndEvent& x) const {
        uint64_t n = padded(x.reason.size() + 1) + 8 * x.regs.gprs.size() + 64;
        for (const DeviceDigestRecord& d : x.device_digests) n += 32 + padded(d.name.size() + 1);
        return n;
    }
    uint64_t operator()(const auto&) const { return 0; }
};

}  // namespace

uint64_t estimate_event_bytes(const TraceEvent& e) {
    // The Event struct, its body struct and their pointers, then the data.
    return 96 + std::visit(DataSize{}, e.body);
}

std::vector<uint8_t> encode_header(const TraceHeader& h) {
    try {
        capnp::MallocMessageBuilder msg;
        header_to_capnp(h, msg.initRoot<schema::TraceHeader>());
        kj::Array<capnp::word> words = capnp::messageToFlatArray(msg);
        kj::ArrayPtr<const kj::byte> b = words.asBytes();
        return std::vector<uint8_t>(b.begin(), b.end());
    } catch (const kj::Exception& ex) {
        throw Error("cannot encode the trace header: " + kj_what(ex));
    }
}

TraceHeader decode_header(std::span<const uint8_t> b) {
    if (b.size() % sizeof(capnp::word) != 0)
        throw Error("header message of " + std::to_string(b.size()) + " bytes is not a whole number of words");
    try {
        kj::Array<capnp::word> words = kj::heapArray<capnp::word>(b.size() / sizeof(capnp::word));
        if (!b.empty()) std::memcpy(words.begin(), b.data(), b.size());
        capnp::ReaderOptions opts;
        opts.traversalLimitInWords = 2 * words.size() + 1024;
        opts.nestingLimit = kMessageNestingLimit;
        capnp::FlatArrayMessageReader reader(words, opts);
        if (reader.getEnd() != words.end())
            throw Error("header message ends " + std::to_string((words.end() - reader.getEnd()) * sizeof(capnp::word)) +
                        " bytes before its recorded length");
        return header_from_capnp(reader.getRoot<schema::TraceHeader>());
    } catch (const kj::Exception& ex) {
        throw Error("header message: " + kj_what(ex));
    }
}

std::vector<uint8_t> encode_chunk(std::span<const TraceEvent> events) {
    try {
        uint64_t estimate = 64;
        for (const TraceEvent& e : events) estimate += estimate_event_bytes(e);
        const uint64_t first_words = std::min<uint64_t>(estimate, kMaxChunkMessageBytes) / sizeof(capnp::word);
        capnp::MallocMessageBuilder msg(static_cast<unsigned>(first_words));
        auto list = msg.initRoot<schema::Chunk>().initEvents(static_cast<unsigned>(events.size()));
        for (size_t i = 0; i < events.size(); ++i) event_to_capnp(events[i], list[static_cast<unsigned>(i)]);
        const uint64_t message_bytes = msg.sizeInWords() * sizeof(capnp::word);
        if (message_bytes > kMaxChunkMessageBytes)
            throw Error("a chunk of " + std::to_string(events.size()) + " events takes " +
                        std::to_string(message_bytes) + " bytes, more than the limit of " +
                        std::to_string(kMaxChunkMessageBytes));
        kj::VectorOutputStream out(static_cast<size_t>(message_bytes / 2 + 64));
        capnp::writePackedMessage(out, msg);
        kj::ArrayPtr<kj::byte> packed = out.getArray();
        return std::vector<uint8_t>(packed.begin(), packed.end());
    } catch (const kj::Exception& ex) {
        throw Error("cannot encode a chunk: " + kj_what(ex));
    }
}

void decode_chunk(std::span<const uint8_t> packed, uint64_t first_seq, uint32_t count, uint32_t vcpu_count,
                  std::vector<TraceEvent>& out, std::vector<uint64_t>& scratch) {
    out.clear();
    try {
        kj::ArrayInputStream in(kj::ArrayPtr<const kj::byte>(packed.data(), packed.size()));
        capnp::ReaderOptions opts;
        opts.traversalLimitInWords = kChunkTraversalWords;
        opts.nestingLimit = kMessageNestingLimit;
        // A message larger than the scratch gets its own allocation from
        // Cap'n Proto, fresh pages every chunk. Packing shrinks ours 2 to
        // 4 times (accesses, mostly zero bytes, the most), so room for 4x
        // keeps nearly every chunk in the scratch, which is reused.
        const size_t want_words = packed.size() / 2 + 64;
        if (scratch.size() < want_words) scratch.resize(want_words);
        static_assert(sizeof(capnp::word) == sizeof(uint64_t));
        const kj::ArrayPtr<capnp::word> space(reinterpret_cast<capnp::word*>(scratch.data()), scratch.size());
        {
            capnp::PackedMessageReader reader(in, opts, space);
            auto events = reader.getRoot<schema::Chunk>().getEvents();
            if (events.size() != count)
                throw Error("the message holds " + std::to_string(events.size()) + " events, the chunk header says " +
                            std::to_string(count));
            // Room for a whole chunk as the writer makes them (8,192
            // events), so none is moved while decoding; a larger count
            // (up to kMaxChunkEvents) grows as its events pass their checks.
            out.reserve(std::min<uint32_t>(count, 1u << 14));
            for (unsigned i = 0; i < count; ++i) {
                auto seq = [&] { return "event #" + std::to_string(first_seq + i); };
                TraceEvent& e = out.emplace_back();
                try {
                    decode_event(events[i], first_seq + i, e);
                } catch (const Error& err) {
                    throw Error(seq() + ": " + err.what());
                }
                if (auto why = event_problem(e, vcpu_count)) throw Error(seq() + " (" + event_kind(e) + "): " + *why);
            }
        }
        if (size_t left = in.tryGetReadBuffer().size(); left != 0)
            throw Error(std::to_string(left) + " bytes follow the message");
    } catch (const kj::Exception& ex) {
        out.clear();
        throw Error("message: " + kj_what(ex));
    } catch (...) {
        out.clear();
        throw;
    }
}

}  // namespace kvmrr
