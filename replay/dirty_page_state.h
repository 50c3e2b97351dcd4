// The dirty analysis' per-page state of one RAM block (dirty_analysis.h):
// for each page, the epochs it was dirty in, the last one, and where it was
// mapped then. It is kept per span of pages that logging slots show
// (windows that overlap or touch are one span) and allocated only as far
// as dirty logs reach into a span, so it follows the pages a trace's slots
// show: a small slot at the far end of a large block (or of the RAM a
// lying header claims) costs its own pages, not the block's.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace kvmrr {

struct PageSpan {
    uint64_t first = 0;            // the block page of index 0
    uint64_t pages = 0;            // the windows' extent from `first`; the state grows up to it
    std::vector<uint32_t> epochs;  // epochs the page was dirty in
    std::vector<uint64_t> last;    // last epoch it was dirty in, plus 1 (0: never)
    std::vector<uint64_t> gpa;     // where it was mapped then
    std::vector<uint32_t> region;  // the region there (an index kept by the analysis)

    uint64_t end() const { return first + pages; }
    // State for the first n pages of the span (n <= pages).
    void grow(uint64_t n);
};

class BlockPages {
public:
    // The span holding the `pages` pages from block page `first`, made
    // (merging, state and all, the spans they overlap or touch) if none
    // holds them yet. References to other spans may then dangle.
    PageSpan& show(uint64_t first, uint64_t pages);
    // The span holding block page `page`, which must be in one shown.
    PageSpan& at(uint64_t page);
    const std::map<uint64_t, PageSpan>& spans() const { return spans_; }
    // One past the last block page with state (that a dirty log reached).
    uint64_t reached() const;
    // Pages of state held, in all spans.
    uint64_t allocated() const;

private:
    std::map<uint64_t, PageSpan> spans_;  // by first page; none overlap or touch
};

}  // namespace kvmrr
