#include "replay/dirty_analysis.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "core/machine_layout.h"
#include "record/trace_error.h"
#include "core/vcpu/vm_backend.h"
#include "record/dirty_runs.h"
#include "record/trace_text.h"
#include "replay/dirty_page_state.h"

namespace kvmrr {

namespace {

struct SlotInfo {
    uint64_t gpa = 0, size = 0;
    uint32_t block = 0;
    uint64_t block_offset = 0;
};

struct BlockState {
    uint64_t extent = 0;      // pages any logging slot showed
    BlockPages pages;         // per-page state, by the windows of the slots its dirty logs came through
    std::string name;         // the region it was first dirtied through ("" not yet)
    std::vector<BlockMapping> mappings;
};

// A run in one block, before the dense numbering exists.
struct BlockRun {
    uint32_t block = 0;
    uint64_t first = 0, count = 0;
    bool operator<(const BlockRun& o) const { return block != o.block ? block < o.block : first < o.first; }
};

// Empty epochs drawn between two dirty logs, at most.
constexpr uint64_t kMaxEpochGap = uint64_t{1} << 20;

class Analyser {
public:
    Analyser(TraceReader& r, const DirtyAnalysisOptions& o) : reader_(r), opts_(o), names_(r.header()) {
        rep_.window = std::max<uint64_t>(1, o.window);
    }

    DirtyReport run() {
        // The header sizes the machine that every slot must fit in; a size
        // no machine of kvmrr can have (core/machine_layout.h) is a lie.
        const TraceHeader& h = reader_.header();
        for (const auto& [field, size] : {std::pair{"RAM size", h.ram_size}, std::pair{"ROM size", h.rom_size}})
            if (size > kMaxRamSize)
                throw TraceError(std::string("the trace header's ") + field + " " + hex(size) +
                                 " is more than kvmrr's limit for a machine's memory, " + hex(kMaxRamSize) + " (16 TiB)");
        TraceEvent e;
        while (reader_.next(e)) {
            names_.observe(e);
            if (const auto* m = std::get_if<MemslotEvent>(&e.body)) {
                memslot(*m, e.seq);
            } else if (const auto* t = std::get_if<TopologyEvent>(&e.body)) {
                if (t->space == 0 && !t->view.empty()) view_ = t->view;
            } else if (const auto* d = std::get_if<DirtyEvent>(&e.body)) {
                dirty(*d, e.seq);
            }
        }
        if (open_) close_epoch();
        rep_.damage = reader_.damage();
        finish();
        return std::move(rep_);
    }

private:
    void memslot(const MemslotEvent& m, uint64_t seq) {
        if (m.op == MemslotOp::Delete) {
            slots_.erase(m.slot);
            return;
        }
        // A slot shows part of the machine's memory, which the header sizes:
        // the per-page state grows with what slots show, so a slot larger
        // than the machine is a lie, not a reason for a huge allocation.
        const uint64_t memory = reader_.header().ram_size + reader_.header().rom_size;
        if (m.op == MemslotOp::Add && (m.size > memory || m.block_offset > memory - m.size))
            throw TraceError("event #" + std::to_string(seq) + " (memslot " + std::to_string(m.slot) + ") shows " +
                             hex(m.size) + " bytes at offset " + hex(m.block_offset) + " of RAM block " +
                             std::to_string(m.ram_block) + ", more than the machine's " + hex(memory) + " bytes of memory");
        if (m.op == MemslotOp::Add) slots_[m.slot] = SlotInfo{m.guest_phys, m.size, m.ram_block, m.block_offset};
        if (m.flags & kMemLogDirtyPages) {
            const auto it = slots_.find(m.slot);
            if (it == slots_.end()) return;
            BlockState& b = blocks_[it->second.block];
            b.extent = std::max(b.extent, (it->second.block_offset + it->second.size + kPageSize - 1) / kPageSize);
            const BlockMapping at{it->second.block_offset / kPageSize, (it->second.size + kPageSize - 1) / kPageSize,
                                  it->second.gpa};
            if (std::find(b.mappings.begin(), b.mappings.end(), at) == b.mappings.end()) b.mappings.push_back(at);
        }
    }

    std::string region_at(uint64_t gpa) const {
        const auto it = std::upper_bound(view_.begin(), view_.end(), gpa,
                                         [](uint64_t a, const ViewRangeRecord& r) { return a < r.start; });
        if (it == view_.begin()) return "unknown";
        const ViewRangeRecord& r = *std::prev(it);
        if (gpa > r.last) return "unknown";
        return names_.label(r.region);
    }

    void dirty(const DirtyEvent& d, uint64_t seq) {
        const std::string event = "event #" + std::to_string(seq) + " (dirty log of slot " + std::to_string(d.slot) + ")";
        // Epochs between logs are drawn as empty epochs, one by one: a jump
        // further than any recording makes is a lie, not a long quiet.
        if (d.epoch >= next_epoch_ + kMaxEpochGap)
            throw TraceError(event + ": epoch " + std::to_string(d.epoch) + " jumps more than " +
                        std::to_string(kMaxEpochGap) + " epochs past epoch " + std::to_string(next_epoch_));
        if (open_ && d.epoch < epoch_.epoch)
            throw Error("dirty log of epoch " + std::to_string(d.epoch) + " after epoch " + std::to_string(epoch_.epoch) +
                        ": epochs must not go back");
        if (open_ && d.epoch != epoch_.epoch) close_epoch();
        if (!open_) {
            // Epochs without a dirty log (no slot was logging) are empty epochs.
            while (next_epoch_ < d.epoch) {
                epoch_ = DirtyEpoch{};
                epoch_.epoch = next_epoch_;
                open_ = true;
                close_epoch();
            }
            epoch_ = DirtyEpoch{};
            epoch_.epoch = d.epoch;
            open_ = true;
        }
        const auto it = slots_.find(d.slot);
        if (it == slots_.end()) {
            if (d.dirty_pages == 0) {  // a clean log of a slot the trace does not show: nothing to place
                epoch_.end_ns = std::max(epoch_.end_ns, d.time_ns);
                if (d.time_ns == 0) untimed_ = true;
                epoch_.by_slot[d.slot] += 0;
                return;
            }
            throw Error("dirty log of slot " + std::to_string(d.slot) + " at " + hex(d.guest_phys) +
                        ", which the trace never added (" + event + ")");
        }
        const SlotInfo& s = it->second;
        // The slot, not the log, says how large it is and where it lies.
        const uint64_t slot_pages = s.size / kPageSize;
        if (d.pages != slot_pages || d.guest_phys != s.gpa)
            throw TraceError(event + " claims " + std::to_string(d.pages) + " pages at " + hex(d.guest_phys) + "; slot " +
                        std::to_string(d.slot) + " has " + std::to_string(slot_pages) + " pages at " +
                        hex(s.gpa));
        epoch_.end_ns = std::max(epoch_.end_ns, d.time_ns);
        if (d.time_ns == 0) untimed_ = true;
        epoch_.by_slot[d.slot] += d.dirty_pages;
        if (d.dirty_pages == 0) return;
        const std::string region = region_at(d.guest_phys);
        epoch_.by_region[region] += d.dirty_pages;
        const auto [rid_it, added] = region_ids_.emplace(region, static_cast<uint32_t>(region_names_.size()));
        if (added) region_names_.push_back(region);
        const uint32_t rid = rid_it->second;
        const uint64_t base = s.block_offset / kPageSize;
        BlockState& b = blocks_[s.block];
        if (b.name.empty()) b.name = region;
        PageSpan& span = b.pages.show(base, slot_pages);
        for (const DirtyRun& r : dirty_runs(d)) {
            pending_.push_back({s.block, base + r.first, r.count});
            const uint64_t at = base + r.first - span.first;
            span.grow(at + r.count);
            // Where the page was mapped and what answered there, for the hottest list.
            for (uint64_t p = 0; p < r.count; ++p) {
                span.gpa[at + p] = d.guest_phys + (r.first + p) * kPageSize;
                span.region[at + p] = rid;
            }
        }
    }

    // Merges the epoch's runs (a block seen twice in one epoch, through two
    // slots, counts once), updates per-page state and the working set.
    void close_epoch() {
        std::sort(pending_.begin(), pending_.end());
        std::vector<BlockRun> merged;
        for (const BlockRun& r : pending_) {
            if (!merged.empty() && merged.back().block == r.block && r.first <= merged.back().first + merged.back().count) {
                merged.back().count = std::max(merged.back().first + merged.back().count, r.first + r.count) - merged.back().first;
            } else {
                merged.push_back(r);
            }
        }
        pending_.clear();
        const uint64_t k = epoch_.epoch, w = rep_.window;
        // Pages last dirty in epoch k - w leave the window. Epochs close
        // in order from 0 with none missing (run() fills gaps), so epoch j's
        // pages are block_runs_[j].
        // A run lies inside one span: the windows of the slots its pages
        // were logged through overlap or touch, so they are one span.
        if (k >= w)
            for (const BlockRun& r : block_runs_[k - w]) {
                const PageSpan& span = blocks_[r.block].pages.at(r.first);
                for (uint64_t p = r.first - span.first; p < r.first - span.first + r.count; ++p)
                    if (span.last[p] == k - w + 1) --working_set_;
            }
        uint64_t n = 0;
        for (const BlockRun& r : merged) {
            PageSpan& span = blocks_[r.block].pages.at(r.first);
            for (uint64_t p = r.first - span.first; p < r.first - span.first + r.count; ++p) {
                const uint64_t last = span.last[p];
                if (last == 0) ++rep_.distinct_pages;
                if (last == 0 || last - 1 + w <= k) ++working_set_;  // it was outside the window
                span.last[p] = k + 1;
                ++span.epochs[p];
            }
            n += r.count;
        }
        epoch_.dirty_pages = n;
        epoch_.working_set = working_set_;
        rep_.peak_working_set = std::max(rep_.peak_working_set, working_set_);
        rep_.dirty_page_epochs += n;
        epoch_.start_ns = rep_.epochs.empty() ? 0 : rep_.epochs.back().end_ns;
        if (epoch_.end_ns < epoch_.start_ns) epoch_.end_ns = epoch_.start_ns;
        block_runs_.push_back(std::move(merged));
        rep_.epochs.push_back(std::move(epoch_));
        next_epoch_ = k + 1;
        open_ = false;
    }

    void finish() {
        // Dense numbering: blocks by id, each as large as any slot or dirty page showed.
        uint64_t first = 0;
        std::map<uint32_t, uint64_t> base;
        for (auto& [id, b] : blocks_) {
            const uint64_t pages = std::max<uint64_t>(b.extent, b.pages.reached());
            if (pages == 0) continue;
            std::string name = b.name;
            if (name.empty() && !b.mappings.empty()) name = region_at(b.mappings.front().gpa);
            if (name.empty() || name == "unknown") name = "RAM block " + std::to_string(id);
            rep_.blocks.push_back({id, pages, first, name, b.mappings});
            base[id] = first;
            first += pages;
        }
        rep_.ram_pages = first;
        for (size_t i = 0; i < rep_.epochs.size(); ++i)
            for (const BlockRun& r : block_runs_[i]) rep_.epochs[i].runs.push_back({base[r.block] + r.first, r.count});
        rep_.timed = !rep_.epochs.empty() && !untimed_;
        if (!rep_.timed)
            for (DirtyEpoch& e : rep_.epochs) e.start_ns = e.end_ns = 0;

        // The hottest pages: most epochs, ties by block and page.
        struct Hot {
            uint64_t epochs;
            uint32_t block;
            uint64_t page;
            const PageSpan* span;
        };
        std::vector<Hot> all;
        for (auto& [id, b] : blocks_)
            for (const auto& [first, span] : b.pages.spans())
                for (uint64_t p = 0; p < span.epochs.size(); ++p)
                    if (span.epochs[p]) all.push_back({span.epochs[p], id, first + p, &span});
        const size_t n = std::min(opts_.hottest, all.size());
        std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), [](const Hot& a, const Hot& b) {
            if (a.epochs != b.epochs) return a.epochs > b.epochs;
            return a.block != b.block ? a.block < b.block : a.page < b.page;
        });
        for (size_t i = 0; i < n; ++i) {
            const PageSpan& s = *all[i].span;
            const uint64_t p = all[i].page - s.first;
            rep_.hottest.push_back({s.gpa[p], region_names_[s.region[p]], all[i].block, all[i].page, all[i].epochs});
        }
    }

    TraceReader& reader_;
    DirtyAnalysisOptions opts_;
    RegionNames names_;
    DirtyReport rep_;
    std::map<uint32_t, SlotInfo> slots_;
    std::map<uint32_t, BlockState> blocks_;
    std::vector<ViewRangeRecord> view_;
    std::map<std::string, uint32_t> region_ids_;
    std::vector<std::string> region_names_;
    DirtyEpoch epoch_;
    bool open_ = false;
    bool untimed_ = false;
    uint64_t next_epoch_ = 0;
    uint64_t working_set_ = 0;
    std::vector<BlockRun> pending_;
    std::vector<std::vector<BlockRun>> block_runs_;  // every epoch's pages, by block; index = epoch
};

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string json_text(const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            o += buf;
        } else {
            o += c;
        }
    }
    return o + "\"";
}

std::string csv_text(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
}

}  // namespace

double DirtyReport::mean_pages_per_second() const {
    if (!timed || recorded_ns() == 0) return 0;
    return static_cast<double>(dirty_page_epochs) / (static_cast<double>(recorded_ns()) / 1e9);
}

DirtyReport analyse_dirty(TraceReader& reader, const DirtyAnalysisOptions& options) {
    return Analyser(reader, options).run();
}

std::string dirty_text(const DirtyReport& r) {
    std::string s;
    const double mib = static_cast<double>(r.page_size) / (1024.0 * 1024.0);
    s += "RAM: " + std::to_string(r.ram_pages) + " pages (" + fixed(static_cast<double>(r.ram_pages) * mib, 1) +
         " MiB) in " + std::to_string(r.blocks.size()) + " block(s); " + std::to_string(r.epochs.size()) + " epochs";
    if (r.timed) s += " over " + fixed(static_cast<double>(r.recorded_ns()) / 1e6, 3) + " ms";
    s += "\n";
    s += "dirtied: " + std::to_string(r.distinct_pages) + " distinct pages, " + std::to_string(r.dirty_page_epochs) +
         " page-epochs; peak working set " + std::to_string(r.peak_working_set) + " pages over " +
         std::to_string(r.window) + " epochs";
    if (r.timed)
        s += "; mean rate " + fixed(r.mean_pages_per_second(), 0) + " pages/s (" +
             fixed(r.mean_pages_per_second() * static_cast<double>(r.page_size) / 1e6, 2) + " MB/s)";
    s += "\n";
    if (!r.timed) s += "(no epoch times in this trace: rates need a trace of format 3 or later)\n";
    s += "\n epoch      time ms   dirty   pages/s      MB/s  working set  by region\n";
    for (const DirtyEpoch& e : r.epochs) {
        char line[160];
        std::snprintf(line, sizeof line, "%6llu %12s %7llu %9s %9s %12llu  ", static_cast<unsigned long long>(e.epoch),
                      r.timed ? fixed(static_cast<double>(e.end_ns) / 1e6, 3).c_str() : "-",
                      static_cast<unsigned long long>(e.dirty_pages),
                      r.timed ? fixed(e.pages_per_second(), 0).c_str() : "-",
                      r.timed ? fixed(e.mb_per_second(r.page_size), 2).c_str() : "-",
                      static_cast<unsigned long long>(e.working_set));
        s += line;
        bool first = true;
        for (const auto& [region, n] : e.by_region) {
            if (n == 0) continue;
            s += (first ? "" : ", ") + region + " " + std::to_string(n);
            first = false;
        }
        s += "\n";
    }
    if (!r.hottest.empty()) {
        s += "\nhottest pages (epochs dirty / " + std::to_string(r.epochs.size()) + "):\n";
        for (const HotPage& h : r.hottest)
            s += "  " + hex(h.gpa) + "  " + h.region + " page " + std::to_string(h.block_page) + " (RAM block " +
                 std::to_string(h.ram_block) + "): " + std::to_string(h.epochs) + "\n";
    }
    if (r.damage) s += "\ntrace damaged: " + *r.damage + " (the analysis covers what was whole)\n";
    return s;
}

std::string dirty_json(const DirtyReport& r) {
    std::string s = "{";
    s += "\"page_size\":" + std::to_string(r.page_size) + ",\"timed\":" + (r.timed ? "true" : "false") +
         ",\"window\":" + std::to_string(r.window) + ",\"ram_pages\":" + std::to_string(r.ram_pages) +
         ",\"distinct_pages\":" + std::to_string(r.distinct_pages) +
         ",\"dirty_page_epochs\":" + std::to_string(r.dirty_page_epochs) +
         ",\"peak_working_set\":" + std::to_string(r.peak_working_set) +
         ",\"recorded_ns\":" + std::to_string(r.recorded_ns()) +
         ",\"mean_pages_per_second\":" + fixed(r.mean_pages_per_second(), 3) + ",\"blocks\":[";
    for (size_t i = 0; i < r.blocks.size(); ++i)
        s += std::string(i ? "," : "") + "{\"id\":" + std::to_string(r.blocks[i].id) +
             ",\"pages\":" + std::to_string(r.blocks[i].pages) + "}";
    s += "],\"epochs\":[";
    for (size_t i = 0; i < r.epochs.size(); ++i) {
        const DirtyEpoch& e = r.epochs[i];
        s += std::string(i ? "," : "") + "{\"epoch\":" + std::to_string(e.epoch) +
             ",\"start_ns\":" + std::to_string(e.start_ns) + ",\"end_ns\":" + std::to_string(e.end_ns) +
             ",\"dirty_pages\":" + std::to_string(e.dirty_pages) + ",\"working_set\":" + std::to_string(e.working_set) +
             ",\"pages_per_second\":" + fixed(e.pages_per_second(), 3) +
             ",\"mb_per_second\":" + fixed(e.mb_per_second(r.page_size), 6) + ",\"by_slot\":{";
        bool first = true;
        for (const auto& [slot, n] : e.by_slot) {
            s += std::string(first ? "" : ",") + "\"" + std::to_string(slot) + "\":" + std::to_string(n);
            first = false;
        }
        s += "},\"by_region\":{";
        first = true;
        for (const auto& [region, n] : e.by_region) {
            s += std::string(first ? "" : ",") + json_text(region) + ":" + std::to_string(n);
            first = false;
        }
        s += "}}";
    }
    s += "],\"hottest\":[";
    for (size_t i = 0; i < r.hottest.size(); ++i) {
        const HotPage& h = r.hottest[i];
        s += std::string(i ? "," : "") + "{\"gpa\":" + std::to_string(h.gpa) + ",\"region\":" + json_text(h.region) +
             ",\"ram_block\":" + std::to_string(h.ram_block) + ",\"block_page\":" + std::to_string(h.block_page) +
             ",\"epochs\":" + std::to_string(h.epochs) + "}";
    }
    s += "]";
    if (r.damage) s += ",\"damage\":" + json_text(*r.damage);
    return s + "}\n";
}

std::string dirty_csv(const DirtyReport& r) {
    std::string s = "epoch,start_ns,end_ns,dirty_pages,pages_per_second,mb_per_second,working_set,by_region\n";
    for (const DirtyEpoch& e : r.epochs) {
        std::string regions;
        for (const auto& [region, n] : e.by_region) {
            if (n == 0) continue;
            regions += (regions.empty() ? "" : ";") + region + "=" + std::to_string(n);
        }
        s += std::to_string(e.epoch) + "," + std::to_string(e.start_ns) + "," + std::to_string(e.end_ns) + "," +
             std::to_string(e.dirty_pages) + "," + fixed(e.pages_per_second(), 3) + "," +
             fixed(e.mb_per_second(r.page_size), 6) + "," + std::to_string(e.working_set) + "," + csv_text(regions) + "\n";
    }
    return s;
}

}  // namespace kvmrr
