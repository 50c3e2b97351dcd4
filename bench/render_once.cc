// Profiling helper, not a benchmark: builds the render suite's random tree
// of N regions and renders it R times, so that callgrind or perf see the
// render alone. Instructions per render, for example:
//
//   valgrind --tool=callgrind --toggle-collect='render_tree*' build/bench/kvmrr_render_once 10000 4
//
// then divide callgrind's "Collected" by 4.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/random_tree.h"
#include "core/flat_view.h"
#include "core/memory_system.h"

__attribute__((noinline)) size_t render_tree(const kvmrr::MemoryRegion& root, kvmrr::RenderScratch* scratch) {
    return kvmrr::FlatView::render(root, scratch)->size();
}

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s REGIONS [RENDERS] [ROOT_BITS] [scratch]\n", argv[0]);
        return 2;
    }
    const size_t n = std::strtoul(argv[1], nullptr, 10);
    const int renders = argc > 2 ? std::atoi(argv[2]) : 1;
    const unsigned bits = argc > 3 ? static_cast<unsigned>(std::atoi(argv[3])) : 52;
    // "scratch": reuse one RenderScratch across renders, as an address space does.
    const bool use_scratch = argc > 4 && std::string(argv[4]) == "scratch";
    kvmrr::RenderScratch scratch;
    kvmrr::bench::TrivialOps ops;
    kvmrr::MemorySystem sys;
    kvmrr::bench::RandomTreeBuilder gen(sys, ops, 0x6b766d7272ull ^ n);  // render_bench's seed
    gen.build(n, 1ull << bits);
    size_t ranges = 0;
    for (int i = 0; i < renders; ++i) ranges = render_tree(gen.root(), use_scratch ? &scratch : nullptr);
    std::printf("regions=%zu ranges=%zu renders=%d\n", sys.region_count(), ranges, renders);
    return 0;
}
