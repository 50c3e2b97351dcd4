// Pre-copy live migration, estimated from recorded dirty bitmaps.
//
// The simulation replays the recorded epochs as the guest's behaviour in
// time: round 0 sends all RAM; each later round sends the distinct pages
// dirtied while the previous round was being sent (every epoch inside its
// time window, and the overlapping share of the new pages of an epoch the
// window cuts: the trace does not say when inside an epoch a page was
// written); when what is left can be sent within the downtime limit the
// guest stops and that last copy is the downtime. A
// migration that outlasts the recording loops it (the guest is assumed to
// go on as recorded). It does not converge when the rounds reach
// `max_rounds`, or stop shrinking for three rounds.
//
// Next to it, the textbook geometric model: with M pages of RAM, dirty
// rate D and bandwidth B (pages/s), round i sends M·λ^i with λ = D/B; it
// converges when λ < 1 (or all RAM fits the downtime). It counts every
// dirtied page as new, so it overestimates a guest that keeps dirtying
// the same pages; the difference between the two says how much.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "replay/dirty_analysis.h"

namespace kvmrr {

struct MigrationParams {
    double bandwidth_bytes_per_s = 0;  // the link
    double downtime_s = 0;             // the longest acceptable stop
    uint64_t max_rounds = 30;
};

struct MigrationOutcome {
    bool converges = false;
    uint64_t rounds = 0;          // pre-copy rounds before the stop (round 0, the full copy, included)
    double total_s = 0;           // pre-copy plus the final stop-and-copy
    double downtime_s = 0;        // the stop-and-copy
    uint64_t pages_sent = 0;      // in all rounds and the stop
    uint64_t final_pages = 0;     // sent while stopped
    std::vector<uint64_t> round_pages;  // pages sent by each pre-copy round
};

struct MigrationEstimate {
    MigrationParams params;
    uint64_t page_size = kPageSize;
    uint64_t ram_pages = 0;
    double dirty_pages_per_s = 0;  // the recording's mean
    double lambda = 0;             // dirty rate / bandwidth
    bool looped = false;           // the simulation ran past the end of the recording
    MigrationOutcome trace;        // from the recorded bitmaps
    MigrationOutcome geometric;    // from the mean rate alone
};

// Throws kvmrr::Error when the analysis has no epoch times (nothing to
// replay in time) or the parameters are not positive.
MigrationEstimate estimate_migration(const DirtyReport& r, const MigrationParams& p);
std::string migration_text(const MigrationEstimate& m);
std::string migration_json(const MigrationEstimate& m);

// "1Gbit", "100Mbit", "125MB", "10GB", "1000000" (bytes) per second.
double parse_bandwidth(const std::string& text);

}  // namespace kvmrr
