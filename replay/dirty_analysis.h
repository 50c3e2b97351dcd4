// Dirty-page analysis of a trace: what `kvmrr dirty` reports.
//
// The recorded dirty logs are regrouped by epoch (see docs/TRACE_FORMAT.md:
// epoch k is the k-th interval between harvests). A page is a page of RAM,
// named by its RAM block and its index in the block, so a bank of memory
// seen through a moving window is one page wherever it was mapped; its
// guest-physical address is where it was mapped when last dirtied.
//
// One pass over the trace, with memory that follows the pages the logging
// slots show (a few bytes per page of the slots' windows, allocated as far
// as dirty logs reach into them; never sized by the header's RAM size or by
// where in a block a slot lies) plus the dirty runs of every epoch, kept
// for the migration estimate (migration_estimate.h) and the heatmap.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/vcpu/dirty_log.h"
#include "record/trace_reader.h"

namespace kvmrr {

struct DirtyAnalysisOptions {
    uint64_t window = 8;  // epochs in the working-set window
    size_t hottest = 10;  // pages in the hottest-pages list
};

// A run of dirty pages in the analysis' dense page numbering (RAM blocks
// one after another, in block-id order).
struct PageRun {
    uint64_t first = 0;
    uint64_t count = 0;
    bool operator==(const PageRun&) const = default;
};

struct DirtyEpoch {
    uint64_t epoch = 0;
    uint64_t start_ns = 0, end_ns = 0;  // host time since recording started; both 0 when not known
    uint64_t dirty_pages = 0;           // distinct RAM pages dirtied in the epoch
    uint64_t working_set = 0;           // distinct pages dirtied in the window of epochs ending here
    std::map<uint32_t, uint64_t> by_slot;       // dirty pages as each slot reported them
    std::map<std::string, uint64_t> by_region;  // the same by the region behind the slot
    std::vector<PageRun> runs;                  // the distinct pages, ascending (dense numbering)

    bool timed() const { return end_ns > start_ns; }
    double seconds() const { return static_cast<double>(end_ns - start_ns) / 1e9; }
    double pages_per_second() const { return timed() ? static_cast<double>(dirty_pages) / seconds() : 0; }
    double mb_per_second(uint64_t page_size) const { return pages_per_second() * static_cast<double>(page_size) / 1e6; }
};

struct HotPage {
    uint64_t gpa = 0;       // where it was mapped when last dirtied
    std::string region;     // the region there
    uint32_t ram_block = 0;
    uint64_t block_page = 0;
    uint64_t epochs = 0;    // epochs in which it was dirty
};

// Where a logging slot showed some of a RAM block's pages.
struct BlockMapping {
    uint64_t page = 0;   // the first, in the block
    uint64_t pages = 0;
    uint64_t gpa = 0;    // the guest-physical address of `page`
    bool operator==(const BlockMapping&) const = default;
};

struct RamBlockPages {
    uint32_t id = 0;
    uint64_t pages = 0;  // the largest extent any slot showed
    uint64_t first = 0;  // where its pages start in the dense numbering
    // The region its pages were first dirtied through (else the one mapped
    // where it was first logged; "RAM block N" when the trace never says),
    // and every distinct place logging slots mapped it, in the order seen:
    // what the heatmap names its bands with.
    std::string region;
    std::vector<BlockMapping> mappings;
};

struct DirtyReport {
    uint64_t page_size = kPageSize;
    bool timed = false;           // every epoch has a time (format 3 and later)
    uint64_t window = 0;          // the working-set window, in epochs
    uint64_t ram_pages = 0;       // pages of every RAM block logging slots showed: what a migration copies
    uint64_t distinct_pages = 0;  // pages dirtied at least once
    uint64_t dirty_page_epochs = 0;  // the sum of every epoch's dirty pages
    uint64_t peak_working_set = 0;
    std::vector<RamBlockPages> blocks;
    std::vector<DirtyEpoch> epochs;
    std::vector<HotPage> hottest;  // most epochs first, then by block and page
    std::optional<std::string> damage;  // the trace was not whole: what was lost

    uint64_t recorded_ns() const { return epochs.empty() ? 0 : epochs.back().end_ns; }
    // Mean dirty rate over the timed epochs, pages per second (0 untimed).
    double mean_pages_per_second() const;
};

// Reads what `reader` has not read yet (open it fresh). Throws kvmrr::Error
// on a dirty log whose slot the trace never added (a malformed trace), and
// TraceError on a header whose RAM or ROM size is more than a machine of
// kvmrr can have (kMaxRamSize, 16 TiB) or a slot larger than that machine.
DirtyReport analyse_dirty(TraceReader& reader, const DirtyAnalysisOptions& options = {});

// The report as a table for people, as JSON, and as CSV (one row per epoch).
std::string dirty_text(const DirtyReport& r);
std::string dirty_json(const DirtyReport& r);
std::string dirty_csv(const DirtyReport& r);

}  // namespace kvmrr
