#include "replay/migration_estimate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace kvmrr {

namespace {

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

// The pages dirtied in the time window (t0, t1], the recording looped as
// often as the window needs: the distinct pages of every epoch inside the
// window, plus, for an epoch the window only overlaps, the overlapping
// share of its pages that are not already counted (the recording does not
// say when inside an epoch a page was written, so evenly).
class DirtiedBetween {
public:
    explicit DirtiedBetween(const DirtyReport& r) : r_(r) {
        length_ = r.epochs.empty() ? 0 : static_cast<double>(r.epochs.back().end_ns) / 1e9;
    }
    double length() const { return length_; }

    double operator()(double t0, double t1) {
        runs_.clear();
        partial_.clear();
        if (t1 - t0 >= length_) {
            for (const DirtyEpoch& e : r_.epochs) add(e);
        } else {
            for (double c = std::floor(t0 / length_); c * length_ < t1; c += 1) {
                const double lo = t0 - c * length_, hi = t1 - c * length_;  // the window in this cycle's time
                for (const DirtyEpoch& e : r_.epochs) {
                    const double s = static_cast<double>(e.start_ns) / 1e9, f = static_cast<double>(e.end_ns) / 1e9;
                    if (f <= lo || s >= hi) continue;
                    if (s >= lo && f <= hi) {
                        add(e);
                    } else {
                        partial_.push_back({&e, (std::min(f, hi) - std::max(s, lo)) / (f - s)});
                    }
                }
            }
        }
        // The whole epochs' pages, counted once.
        double total = static_cast<double>(merge_runs(runs_, merged_));
        if (partial_.empty()) return total;
        for (const auto& [e, share] : partial_) total += share * static_cast<double>(not_covered(*e));
        // Never more than all the pages those epochs dirtied together.
        for (const auto& [e, share] : partial_) add(*e);
        return std::min(total, static_cast<double>(merge_runs(runs_, all_)));
    }

private:
    void add(const DirtyEpoch& e) { runs_.insert(runs_.end(), e.runs.begin(), e.runs.end()); }

    // Sorts `runs` and merges them into `out` (ascending, disjoint);
    // returns the pages they cover.
    static uint64_t merge_runs(std::vector<PageRun>& runs, std::vector<PageRun>& out) {
        std::sort(runs.begin(), runs.end(), [](const PageRun& a, const PageRun& b) { return a.first < b.first; });
        out.clear();
        uint64_t n = 0;
        for (const PageRun& p : runs) {
            if (!out.empty() && p.first <= out.back().first + out.back().count) {
                const uint64_t end = std::max(out.back().first + out.back().count, p.first + p.count);
                n += end - (out.back().first + out.back().count);
                out.back().count = end - out.back().first;
            } else {
                out.push_back(p);
                n += p.count;
            }
        }
        return n;
    }

    // Pages of e outside the merged runs (both ascending).
    uint64_t not_covered(const DirtyEpoch& e) const {
        uint64_t n = 0;
        size_t m = 0;
        for (const PageRun& r : e.runs) {
            uint64_t p = r.first;
            const uint64_t end = r.first + r.count;
            while (p < end) {
                while (m < merged_.size() && merged_[m].first + merged_[m].count <= p) ++m;
                if (m == merged_.size() || merged_[m].first >= end) {
                    n += end - p;
                    break;
                }
                if (merged_[m].first > p) n += merged_[m].first - p;
                p = merged_[m].first + merged_[m].count;
            }
        }
        return n;
    }

    const DirtyReport& r_;
    double length_ = 0;
    std::vector<PageRun> runs_, merged_, all_;  // all_: whole and cut epochs together
    std::vector<std::pair<const DirtyEpoch*, double>> partial_;
};

// The round loop shared by both estimates: `next(pages, t, seconds)` gives
// what the round that sent `pages` from time t for `seconds` left dirty.
template <class Next>
MigrationOutcome simulate(double ram_pages, double pages_per_s, const MigrationParams& p, Next&& next) {
    MigrationOutcome o;
    double to_send = ram_pages, t = 0, sent = 0;
    int not_shrinking = 0;
    for (;;) {
        const double seconds = to_send / pages_per_s;
        // Stop and copy once what is left fits the downtime; all of RAM may
        // fit at once, before any pre-copy round.
        if (seconds <= p.downtime_s) {
            o.converges = true;
            break;
        }
        if (o.rounds >= p.max_rounds || not_shrinking >= 3) break;
        o.round_pages.push_back(static_cast<uint64_t>(std::llround(to_send)));
        ++o.rounds;
        sent += to_send;
        o.total_s += seconds;
        const double left = next(to_send, t, seconds);
        t += seconds;
        not_shrinking = left >= to_send ? not_shrinking + 1 : 0;
        to_send = left;
    }
    o.final_pages = static_cast<uint64_t>(std::llround(to_send));
    o.downtime_s = to_send / pages_per_s;
    o.total_s += o.downtime_s;
    o.pages_sent = static_cast<uint64_t>(std::llround(sent + to_send));
    return o;
}

std::string outcome_text(const MigrationOutcome& o, uint64_t page_size) {
    std::string s = o.converges ? "converges" : "does NOT converge";
    s += " after " + std::to_string(o.rounds) + " pre-copy round(s); total " + fixed(o.total_s, 3) + " s, downtime " +
         fixed(o.downtime_s * 1e3, 1) + " ms (" + std::to_string(o.final_pages) + " pages), sent " +
         fixed(static_cast<double>(o.pages_sent) * static_cast<double>(page_size) / 1e6, 1) + " MB";
    return s;
}

std::string outcome_json(const MigrationOutcome& o) {
    std::string s = "{\"converges\":" + std::string(o.converges ? "true" : "false") + ",\"rounds\":" + std::to_string(o.rounds) +
                    ",\"total_s\":" + fixed(o.total_s, 6) + ",\"downtime_s\":" + fixed(o.downtime_s, 6) +
                    ",\"pages_sent\":" + std::to_string(o.pages_sent) + ",\"final_pages\":" + std::to_string(o.final_pages) +
                    ",\"round_pages\":[";
    for (size_t i = 0; i < o.round_pages.size(); ++i) s += (i ? "," : "") + std::to_string(o.round_pages[i]);
    return s + "]}";
}

}  // namespace

MigrationEstimate estimate_migration(const DirtyReport& r, const MigrationParams& p) {
    if (!(p.bandwidth_bytes_per_s > 0)) throw Error("migration estimate: the bandwidth must be positive");
    if (!(p.downtime_s >= 0)) throw Error("migration estimate: the downtime limit must not be negative");
    if (!r.timed || r.recorded_ns() == 0)
        throw Error("migration estimate: the trace has no epoch times (recorded before trace format 3?), so its "
                    "bitmaps cannot be replayed in time");
    if (r.ram_pages == 0) throw Error("migration estimate: the trace has no logged RAM");
    MigrationEstimate m;
    m.params = p;
    m.page_size = r.page_size;
    m.ram_pages = r.ram_pages;
    m.dirty_pages_per_s = r.mean_pages_per_second();
    const double pages_per_s = p.bandwidth_bytes_per_s / static_cast<double>(r.page_size);
    m.lambda = m.dirty_pages_per_s / pages_per_s;

    DirtiedBetween dirtied(r);
    double furthest = 0;
    m.trace = simulate(static_cast<double>(r.ram_pages), pages_per_s, p, [&](double, double t, double seconds) {
        furthest = std::max(furthest, t + seconds);
        return dirtied(t, t + seconds);
    });
    m.looped = furthest > dirtied.length();
    m.geometric = simulate(static_cast<double>(r.ram_pages), pages_per_s, p,
                           [&](double pages, double, double) { return pages * m.lambda; });
    return m;
}

std::string migration_text(const MigrationEstimate& m) {
    std::string s = "pre-copy migration over " + fixed(m.params.bandwidth_bytes_per_s * 8 / 1e6, 1) + " Mbit/s, downtime limit " +
                    fixed(m.params.downtime_s * 1e3, 1) + " ms, " + std::to_string(m.ram_pages) + " pages of RAM:\n";
    s += "  from the recorded bitmaps: " + outcome_text(m.trace, m.page_size) + "\n";
    s += "  geometric model (lambda = " + fixed(m.lambda, 4) + "): " + outcome_text(m.geometric, m.page_size) + "\n";
    const double dt = m.geometric.total_s - m.trace.total_s;
    s += "  difference (model - trace): total " + fixed(dt, 3) + " s, downtime " +
         fixed((m.geometric.downtime_s - m.trace.downtime_s) * 1e3, 1) + " ms, sent " +
         fixed((static_cast<double>(m.geometric.pages_sent) - static_cast<double>(m.trace.pages_sent)) *
                   static_cast<double>(m.page_size) / 1e6,
               1) +
         " MB";
    if (m.trace.converges != m.geometric.converges)
        s += std::string("; the model says it ") + (m.geometric.converges ? "converges" : "does not converge") + ", the trace that it " +
             (m.trace.converges ? "does" : "does not");
    s += "\n";
    if (m.looped) s += "  (the migration outlasts the recording: the estimate loops the recorded epochs)\n";
    return s;
}

std::string migration_json(const MigrationEstimate& m) {
    return "{\"bandwidth_bytes_per_s\":" + fixed(m.params.bandwidth_bytes_per_s, 3) +
           ",\"downtime_limit_s\":" + fixed(m.params.downtime_s, 6) + ",\"ram_pages\":" + std::to_string(m.ram_pages) +
           ",\"dirty_pages_per_s\":" + fixed(m.dirty_pages_per_s, 3) + ",\"lambda\":" + fixed(m.lambda, 6) +
           ",\"looped\":" + (m.looped ? "true" : "false") + ",\"trace\":" + outcome_json(m.trace) +
           ",\"geometric\":" + outcome_json(m.geometric) + "}";
}

double parse_bandwidth(const std::string& text) {
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    std::string unit = text.substr(used);
    for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (unit.size() > 2 && unit.compare(unit.size() - 2, 2, "/s") == 0) unit.resize(unit.size() - 2);
    if (unit.size() > 2 && unit.compare(unit.size() - 2, 2, "ps") == 0) unit.resize(unit.size() - 2);
    static const std::pair<const char*, double> units[] = {
        {"", 1},          {"b", 1},          {"kb", 1e3},       {"mb", 1e6},        {"gb", 1e9},
        {"kbit", 1e3 / 8}, {"mbit", 1e6 / 8}, {"gbit", 1e9 / 8}, {"kib", 1024.0},   {"mib", 1048576.0},
        {"gib", 1073741824.0}};
    if (used > 0 && v > 0)
        for (const auto& [name, scale] : units)
            if (unit == name) return v * scale;
    throw Error("bandwidth '" + text + "': expected a positive number with a unit such as 1Gbit, 100Mbit, 125MB or 1GiB (per second)");
}

}  // namespace kvmrr
