#include "replay/tests/trace_mutator.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/error.h"
#include "record/trace_reader.h"
#include "record/trace_writer.h"

namespace kvmrr::fuzz {

namespace {

using Rng = std::minstd_rand;

uint64_t below(Rng& rng, uint64_t n) { return n == 0 ? 0 : std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); }
bool one_in(Rng& rng, uint64_t n) { return below(rng, n) == 0; }

// A new value for an integer field: a near neighbour, a flipped bit, a
// boundary, a page or size the machine knows, or anything.
uint64_t mutate_int(Rng& rng, uint64_t v) {
    static constexpr std::array<uint64_t, 16> kInteresting = {
        0, 1, 2, 4, 8, 0x7f, 0xff, 0x1000, 0xffff, 0x100000, 0x7fffffff, 0xffffffff, uint64_t{1} << 32,
        uint64_t{1} << 50, uint64_t{1} << 63, ~uint64_t{0}};
    switch (below(rng, 5)) {
    case 0: return v + 1 + below(rng, 16);
    case 1: return v - 1 - below(rng, 16);
    case 2: return v ^ (uint64_t{1} << below(rng, 64));
    case 3: return kInteresting[below(rng, kInteresting.size())];
    default: return (uint64_t{rng()} << 32) ^ rng();
    }
}

template <class T>
void mutate_field(Rng& rng, T& field) {
    if constexpr (std::is_same_v<T, bool>) field = !field;
    else field = static_cast<T>(mutate_int(rng, static_cast<uint64_t>(field)));
}

void mutate_blob(std::vector<uint8_t>& b, Rng& rng, BlobMutator blob) {
    switch (below(rng, 4)) {
    case 0: b.resize(below(rng, b.size() + 17)); return;
    case 1:
        if (!b.empty()) b[below(rng, b.size())] = static_cast<uint8_t>(rng());
        return;
    default: {
        const size_t max = b.size() + 64;
        b.resize(max);
        b.resize(blob(b.data(), max - 64, max));
    }
    }
}

void mutate_text(std::string& s, Rng& rng, std::initializer_list<const char*> known) {
    if (known.size() && !one_in(rng, 4)) {
        s = *(known.begin() + below(rng, known.size()));
    } else if (!s.empty() && one_in(rng, 2)) {
        s[below(rng, s.size())] = static_cast<char>(rng());
    } else {
        s.resize(below(rng, s.size() + 4), 'x');
    }
}

// Removes, repeats or edits one element of a list (edit: `edit(element)`).
template <class T, class Edit>
void mutate_list(std::vector<T>& v, Rng& rng, Edit&& edit) {
    const uint64_t what = below(rng, 4);
    if (v.empty() || what == 0) {
        v.insert(v.begin() + static_cast<std::ptrdiff_t>(below(rng, v.size() + 1)), v.empty() ? T{} : v[below(rng, v.size())]);
    } else if (what == 1) {
        v.erase(v.begin() + static_cast<std::ptrdiff_t>(below(rng, v.size())));
    } else {
        edit(v[below(rng, v.size())]);
    }
}

void mutate_regs(RegsRecord& r, Rng& rng) {
    switch (below(rng, 4)) {
    case 0: mutate_list(r.gprs, rng, [&](uint64_t& g) { mutate_field(rng, g); }); break;
    case 1: mutate_field(rng, r.cr0); break;
    case 2: mutate_field(rng, one_in(rng, 2) ? r.cr3 : r.cr4); break;
    default: mutate_field(rng, r.efer);
    }
}

void mutate_view_range(ViewRangeRecord& r, Rng& rng) {
    switch (below(rng, 6)) {
    case 0: mutate_field(rng, r.start); break;
    case 1: mutate_field(rng, r.last); break;
    case 2: mutate_field(rng, r.region); break;
    case 3: mutate_field(rng, r.offset); break;
    case 4: mutate_field(rng, r.dirty_log); break;
    default: mutate_field(rng, one_in(rng, 3) ? r.readonly : one_in(rng, 2) ? r.romd : r.nonvolatile);
    }
}

// One field of an event's body.
struct EventEdit {
    Rng& rng;
    BlobMutator blob;

    void operator()(AccessEvent& a) const {
        switch (below(rng, 9)) {
        case 0: mutate_field(rng, a.io); break;
        case 1: mutate_field(rng, a.addr); break;
        case 2: a.size = one_in(rng, 4) ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(1u << below(rng, 4)); break;
        case 3: mutate_field(rng, a.is_write); break;
        case 4:
            a.count = one_in(rng, 4) ? static_cast<uint32_t>(mutate_int(rng, a.count)) : static_cast<uint32_t>(1 + below(rng, 8));
            if (a.count > 1 && a.bulk.empty()) a.bulk.resize(static_cast<size_t>(a.size) * std::min<uint32_t>(a.count, 4096));
            break;
        case 5: mutate_field(rng, a.value); break;
        case 6: mutate_blob(a.bulk, rng, blob); break;
        case 7: mutate_field(rng, a.region); break;
        default: a.status = static_cast<TraceAccessStatus>(below(rng, 4));
        }
    }
    void operator()(TopologyEvent& t) const {
        switch (below(rng, 4)) {
        case 0: mutate_field(rng, t.space); break;
        case 1: mutate_field(rng, t.flat_view_hash); break;
        case 2: mutate_field(rng, t.ranges); break;
        default: mutate_list(t.view, rng, [&](ViewRangeRecord& r) { mutate_view_range(r, rng); });
        }
    }
    void operator()(MemslotEvent& m) const {
        switch (below(rng, 7)) {
        case 0: m.op = static_cast<MemslotOp>(below(rng, 4)); break;
        case 1: mutate_field(rng, m.slot); break;
        case 2: mutate_field(rng, m.guest_phys); break;
        case 3: m.size = one_in(rng, 2) ? mutate_int(rng, m.size) : (1 + below(rng, 64)) * 4096; break;
        case 4: mutate_field(rng, m.flags); break;
        case 5: mutate_field(rng, m.ram_block); break;
        default: mutate_field(rng, m.block_offset);
        }
    }
    void operator()(DirtyEvent& d) const {
        switch (below(rng, 7)) {
        case 0: mutate_field(rng, d.epoch); break;
        case 1: mutate_field(rng, d.slot); break;
        case 2: mutate_field(rng, d.guest_phys); break;
        case 3: mutate_field(rng, d.pages); break;
        case 4: mutate_field(rng, d.dirty_pages); break;
        case 5: mutate_blob(d.runs, rng, blob); break;
        default: mutate_field(rng, d.time_ns);
        }
    }
    void operator()(DmaWriteEvent& d) const {
        if (one_in(rng, 2)) mutate_field(rng, d.addr);
        else mutate_blob(d.data, rng, blob);
    }
    void operator()(DmaReadEvent& d) const {
        if (one_in(rng, 2)) mutate_field(rng, d.addr);
        else mutate_blob(d.data, rng, blob);
    }
    void operator()(ClockEvent& c) const { mutate_field(rng, c.ns); }
    void operator()(EntropyEvent& e) const { mutate_blob(e.bytes, rng, blob); }
    void operator()(SerialInEvent& s) const { s.byte = static_cast<int16_t>(below(rng, 258)) - 1; }
    void operator()(DiskReadEvent& d) const {
        if (one_in(rng, 2)) mutate_field(rng, d.offset);
        else mutate_blob(d.data, rng, blob);
    }
    void operator()(DiskWriteEvent& d) const { mutate_field(rng, one_in(rng, 2) ? d.offset : d.length); }
    void operator()(RegionDefEvent& r) const {
        switch (below(rng, 3)) {
        case 0: mutate_field(rng, r.region.id); break;
        case 1: mutate_text(r.region.name, rng, {}); break;
        default: mutate_text(r.region.kind, rng, {"ram", "rom", "io", "alias", "container", "mmio"});
        }
    }
    void operator()(EndEvent& e) const {
        switch (below(rng, 6)) {
        case 0:
            mutate_text(e.reason, rng, {"guest-exit", "halt", "shutdown", "timeout", "max-exits", "unassigned-access",
                                        "invalid-access", "reset", "output-matched", "diverged"});
            break;
        case 1: mutate_field(rng, e.exit_status); break;
        case 2: mutate_field(rng, e.exits); break;
        case 3: mutate_field(rng, e.detail); break;
        case 4: mutate_regs(e.regs, rng); break;
        default:
            mutate_list(e.device_digests, rng, [&](DeviceDigestRecord& d) {
                if (one_in(rng, 3)) mutate_text(d.name, rng, {"uart16550", "debug-exit", "entropy", "i8254"});
                else mutate_field(rng, one_in(rng, 2) ? d.digest : d.register_digest);
            });
        }
    }
    void operator()(InterruptEvent& i) const {
        switch (below(rng, 3)) {
        case 0: mutate_field(rng, i.vector); break;
        case 1: mutate_field(rng, i.exit); break;
        default: mutate_field(rng, i.rip);
        }
    }
    void operator()(PauseEvent& p) const {
        switch (below(rng, 3)) {
        case 0: mutate_field(rng, p.exit); break;
        case 1: mutate_field(rng, p.instructions); break;
        default: mutate_field(rng, p.counted);
        }
    }
};

void mutate_header(TraceHeader& h, Rng& rng, BlobMutator blob) {
    switch (below(rng, 22)) {
    case 0: h.ram_size = one_in(rng, 2) ? mutate_int(rng, h.ram_size) : (1 + below(rng, 64)) << 20; break;
    case 1: mutate_field(rng, h.rom_size); break;
    case 2: mutate_field(rng, h.rom_low_alias); break;
    case 3:
        mutate_list(h.windows, rng, [&](WindowRecord& w) {
            switch (below(rng, 4)) {
            case 0: mutate_text(w.name, rng, {"uart16550", "debug-exit", "entropy", "dma-disk", "bank-switch", "framebuffer"}); break;
            case 1: mutate_field(rng, w.io); break;
            case 2: mutate_field(rng, w.addr); break;
            default: mutate_field(rng, w.size);
            }
        });
        break;
    case 4:
        mutate_list(h.devices, rng, [&](DeviceRecord& d) {
            if (one_in(rng, 2)) mutate_text(d.name, rng, {"uart16550", "debug-exit", "entropy", "dma-disk"});
            else mutate_field(rng, d.model_version);
        });
        break;
    case 5: mutate_text(h.board, rng, {"", "kvmrr", "pc"}); break;
    case 6: mutate_blob(h.firmware, rng, blob); break;
    case 7: mutate_field(rng, h.guest_long_mode); break;
    case 8: mutate_field(rng, h.guest_entry); break;
    case 9:
        mutate_list(h.guest_segments, rng, [&](SegmentRecord& s) {
            switch (below(rng, 3)) {
            case 0: mutate_field(rng, s.addr); break;
            case 1: mutate_blob(s.data, rng, blob); break;
            default: mutate_field(rng, s.zero_fill);
            }
        });
        break;
    case 10: h.vcpu_count = static_cast<uint32_t>(one_in(rng, 2) ? mutate_int(rng, h.vcpu_count) : below(rng, 4)); break;
    case 11: mutate_list(h.initial_regs, rng, [&](RegsRecord& r) { mutate_regs(r, rng); }); break;
    case 12: mutate_field(rng, h.max_memslots); break;
    case 13: h.dirty_interval_exits = one_in(rng, 2) ? mutate_int(rng, h.dirty_interval_exits) : below(rng, 8); break;
    case 14: mutate_field(rng, h.dirty_interval_ms); break;
    case 15: mutate_field(rng, one_in(rng, 2) ? h.max_exits : h.timeout_ms); break;
    case 16:  // mostly -1 to 0xffff, the valid ports; the arithmetic unsigned, wrapping into int32_t
        h.dirty_mark_port = static_cast<int32_t>((below(rng, 4) ? below(rng, 0x10001) : mutate_int(rng, 0)) - 1);
        break;
    case 17: mutate_text(h.clock, rng, {"", "host", "virtual"}); break;
    case 18: mutate_text(h.stop_at_output, rng, {"", "hello", "\n"}); break;
    case 19: mutate_text(h.dirty_mode, rng, {"", "bitmap", "ring"}); break;
    case 20: mutate_field(rng, h.lax_mmio); break;
    default:
        mutate_list(h.regions, rng, [&](RegionRecord& r) {
            switch (below(rng, 3)) {
            case 0: mutate_field(rng, r.id); break;
            case 1: mutate_text(r.name, rng, {"ram", "rom", "uart16550", "debug-exit"}); break;
            default: mutate_text(r.kind, rng, {"ram", "rom", "io", "alias", "container", "mmio"});
            }
        });
    }
}

void mutate_events(std::vector<TraceEvent>& ev, Rng& rng, BlobMutator blob) {
    if (ev.empty()) return;
    const auto at = [&] { return static_cast<std::ptrdiff_t>(below(rng, ev.size())); };
    switch (below(rng, 8)) {
    case 0: ev.erase(ev.begin() + at()); break;
    case 1: {
        const TraceEvent copy = ev[static_cast<size_t>(at())];
        ev.insert(ev.begin() + static_cast<std::ptrdiff_t>(below(rng, ev.size() + 1)), copy);
        break;
    }
    case 2: std::swap(ev[static_cast<size_t>(at())], ev[static_cast<size_t>(at())]); break;
    case 3: ev.resize(static_cast<size_t>(at())); break;
    case 4: ev[static_cast<size_t>(at())].vcpu = static_cast<uint16_t>(below(rng, 3) ? 0 : rng()); break;
    default: std::visit(EventEdit{rng, blob}, ev[static_cast<size_t>(at())].body);
    }
}

std::string own_file(const std::string& dir) {
    return (std::filesystem::path(dir) / ("kvmrr-replay-fuzz-" + std::to_string(getpid()) + ".trace")).string();
}

}  // namespace

std::optional<DecodedTrace> decode_trace(const std::vector<uint8_t>& bytes) {
    try {
        TraceReader r = TraceReader::open_memory(bytes, "fuzz input");
        DecodedTrace t{r.header(), {}};
        TraceEvent e;
        while (r.next(e)) t.events.push_back(std::move(e));
        return t;
    } catch (const Error&) {
        return std::nullopt;
    }
}

std::vector<uint8_t> encode_trace(const DecodedTrace& t, uint32_t chunk_events, const std::string& dir) {
    const std::string path = own_file(dir);
    struct Remove {
        const std::string& p;
        ~Remove() { std::filesystem::remove(p); }
    } remove{path};
    {
        TraceWriter w(path, t.header, {.chunk_events = chunk_events});
        for (const TraceEvent& e : t.events) w.append(e.vcpu, e.body);
        w.close();
    }
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void mutate_trace(DecodedTrace& t, Rng& rng, BlobMutator blob) {
    for (uint64_t n = 1 + below(rng, 3); n > 0; --n) {
        if (one_in(rng, 5) || t.events.empty()) mutate_header(t.header, rng, blob);
        else mutate_events(t.events, rng, blob);
    }
}

}  // namespace kvmrr::fuzz
