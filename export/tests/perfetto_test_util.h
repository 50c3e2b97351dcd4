// Checks a Perfetto export against the trace: its structure (a JSON
// object with traceEvents, named tracks, slices that do not overlap on a
// track) and its counts against `kvmrr inspect`'s counts of the trace.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "export/tests/export_test_util.h"
#include "record/trace_reader.h"

namespace kvmrr::testing {

// `kvmrr inspect`'s "events: N" block: kind -> events.
inline std::map<std::string, uint64_t> inspect_counts(const std::string& out) {
    std::map<std::string, uint64_t> m;
    std::istringstream in(out);
    bool in_block = false;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("events: ", 0) == 0) {
            in_block = true;
            continue;
        }
        if (!in_block) continue;
        if (line.rfind("  ", 0) != 0) break;
        std::istringstream w(line);
        std::string kind;
        uint64_t n = 0;
        w >> kind >> n;
        m[kind] = n;
    }
    return m;
}

inline uint64_t count(const std::map<std::string, uint64_t>& m, const std::string& k) {
    const auto it = m.find(k);
    return it == m.end() ? 0 : it->second;
}

inline void check_perfetto(const std::string& trace, const std::string& json_text, const std::string& inspect_out) {
    SCOPED_TRACE(trace);
    const nlohmann::json j = nlohmann::json::parse(json_text);  // throws on anything that is not JSON
    ASSERT_TRUE(j.is_object());
    ASSERT_TRUE(j.at("traceEvents").is_array());
    EXPECT_TRUE(j.at("otherData").at("time").is_string());
    EXPECT_TRUE(j.at("kvmrrDamage").is_null());
    const auto kinds = inspect_counts(inspect_out);
    ASSERT_FALSE(kinds.empty()) << inspect_out;

    std::map<int, uint64_t> slices_by_pid;
    std::map<std::string, uint64_t> instants;
    std::map<std::string, uint64_t> counters;
    std::set<std::pair<int, int>> named;
    std::map<std::pair<int, int>, double> track_end;  // where the last slice on a track ended
    for (const auto& e : j["traceEvents"]) {
        const std::string ph = e.at("ph");
        const int pid = e.at("pid"), tid = e.at("tid");
        if (ph == "M") {
            if (e.at("name") == "thread_name") named.insert({pid, tid});
            continue;
        }
        const double ts = e.at("ts");
        EXPECT_GE(ts, 0.0);
        if (ph == "X") {
            ++slices_by_pid[pid];
            const double dur = e.at("dur");
            EXPECT_GE(dur, 0.0);
            EXPECT_TRUE(e.at("args").contains("device"));
            EXPECT_TRUE(e.at("args").contains("region"));
            EXPECT_TRUE(named.count({pid, tid})) << "a slice on an unnamed track: " << e.dump();
            double& end = track_end[{pid, tid}];
            EXPECT_GE(ts + 1e-3, end) << "overlapping slices: " << e.dump();
            end = ts + dur;
        } else if (ph == "i") {
            ++instants[e.at("cat")];
        } else if (ph == "C") {
            ++counters[e.at("name")];
        } else {
            ADD_FAILURE() << "unexpected phase " << e.dump();
        }
    }
    const uint64_t accesses = count(kinds, "pio") + count(kinds, "mmio");
    EXPECT_EQ(slices_by_pid[1], accesses);  // vCPU tracks
    EXPECT_EQ(slices_by_pid[2], accesses);  // device tracks
    EXPECT_EQ(instants["topology commits"], count(kinds, "topology"));
    EXPECT_EQ(instants["memslot changes"], count(kinds, "memslot"));
    EXPECT_EQ(instants["interrupts"], count(kinds, "interrupt") + count(kinds, "pause"));
    EXPECT_EQ(instants["host inputs"],
              count(kinds, "clock") + count(kinds, "entropy") + count(kinds, "serial-in") + count(kinds, "disk-read"));
    EXPECT_EQ(instants["dma"], count(kinds, "dma-write") + count(kinds, "dma-read") + count(kinds, "disk-write"));
    EXPECT_EQ(instants["run"], count(kinds, "end"));
    // One "dirty pages" sample per harvest epoch.
    std::set<uint64_t> epochs;
    TraceReader r = TraceReader::open(trace);
    TraceEvent ev;
    while (r.next(ev))
        if (const auto* d = std::get_if<DirtyEvent>(&ev.body)) epochs.insert(d->epoch);
    EXPECT_EQ(counters["dirty pages"], epochs.size());
    if (accesses) {
        EXPECT_GT(counters["exits/s"], 0u);
    }
    EXPECT_TRUE(named.count({1, 0})) << "no vcpu0 track";
}

}  // namespace kvmrr::testing
