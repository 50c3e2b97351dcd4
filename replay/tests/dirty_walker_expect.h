// The dirty_walker guest's working set as the tests of `kvmrr dirty`
// compare it: what an analysed epoch holds, and what the pattern writes.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "fixtures/guests/dirty_walker_pattern.h"
#include "replay/dirty_analysis.h"

namespace kvmrr::testing {

// The pages of the working set (indices from DIRTY_WALKER_BASE) dirty in
// an analysed epoch. Main RAM is RAM block 0, first in the analysis' page
// numbering, so a page number there is the guest page number.
inline std::set<uint64_t> walker_pages_seen(const DirtyEpoch& e, uint32_t pages) {
    const uint64_t base = DIRTY_WALKER_BASE / DIRTY_WALKER_PAGE_SIZE;
    std::set<uint64_t> got;
    for (const PageRun& run : e.runs)
        for (uint64_t p = run.first; p < run.first + run.count; ++p)
            if (p >= base && p < base + pages) got.insert(p - base);
    return got;
}

// The pages the pattern writes in epoch `e`.
inline std::set<uint64_t> walker_pages_written(uint32_t pattern, uint32_t pages, uint32_t e) {
    std::vector<uint32_t> want(pages);
    const uint32_t n = dirty_walker_pages(pattern, pages, e, want.data(), pages);
    return {want.begin(), want.begin() + n};
}

}  // namespace kvmrr::testing
