// Render time against region count.
//
// Target (spec): 10, 100, 1,000, 10,000 and 100,000 regions in random
// overlapping trees; 10,000 regions in under 5 ms, growth no worse than
// n log n. Only FlatView::render(root) (and freeing its result) is timed,
// except in the BM_Walk* diagnostics, which time a bare walk of the tree
// or of a compact copy of it (see there); the tree is built once per
// region count, outside the timed loop. BM_Render52/4G(Scratch) render
// one tree back to back; BM_Render52/4GCold render each size from a
// rotation of distinct trees, so that no size finds its tree in the caches
// or its branches learnt (see run_cold).
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "bench/random_tree.h"
#include "core/flat_view.h"
#include "core/memory_system.h"

namespace {

using namespace kvmrr;
using kvmrr::bench::RandomTreeBuilder;
using kvmrr::bench::TrivialOps;

// Minor page faults taken by this process so far (fresh heap pages).
long minor_faults() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

constexpr uint64_t kSeed = 0x6b766d7272ull;  // "kvmrr"

// Seconds per region of one iteration: printed with an SI prefix, e.g.
// "85n" = 85 ns.
benchmark::Counter time_per_region(size_t n) {
    return benchmark::Counter(static_cast<double>(n),
                              benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

struct Tree {
    TrivialOps ops;  // outlives the system and its regions
    MemorySystem sys;
    RandomTreeBuilder gen;
    size_t n;
    uint64_t root_size;

    Tree(size_t regions, uint64_t size) : gen(sys, ops, kSeed ^ regions), n(regions), root_size(size) {
        gen.build(regions, size);
    }
};

// Consecutive runs (iteration probing, repetitions) share one tree; only
// one tree is alive at a time so that 100,000 RAM blocks never pile up.
std::unique_ptr<Tree>& tree_cache() {
    static std::unique_ptr<Tree> cached;
    return cached;
}

struct TreeSet;
std::unique_ptr<TreeSet>& set_cache();

Tree& tree(size_t n, uint64_t root_size) {
    std::unique_ptr<Tree>& cached = tree_cache();
    if (!cached || cached->n != n || cached->root_size != root_size) {
        cached.reset();
        set_cache().reset();
        cached = std::make_unique<Tree>(n, root_size);
    }
    return *cached;
}

// With `scratch`, every render reuses one RenderScratch, as an address
// space does for its own re-renders; without, each render allocates afresh.
void run_render(benchmark::State& state, uint64_t root_size, bool scratch = false) {
    const size_t n = static_cast<size_t>(state.range(0));
    Tree& t = tree(n, root_size);
    if (t.sys.region_count() != n) {
        state.SkipWithError("generator built the wrong number of regions");
        return;
    }
    const MemoryRegion& root = t.gen.root();
    size_t ranges = 0, paints = 0;
    RenderScratch rs;
    RenderScratch* rsp = scratch ? &rs : nullptr;
    // An address space's scratch has grown to its tree's size after the
    // first commit; without this untimed render, a run of few iterations
    // (1,000,000 regions) would time mostly that growth's page faults.
    if (scratch) FlatView::render(root, rsp);
    const long faults0 = minor_faults();
    const size_t hidden0 = rs.hidden_paints, sweeps0 = rs.heap_sweeps;
    for (auto _ : state) {
        auto view = FlatView::render(root, rsp);
        ranges = view->size();
        paints = rs.paints.size();
        benchmark::DoNotOptimize(view.get());
        benchmark::ClobberMemory();
    }
    const long faults = minor_faults() - faults0;
    const double its = static_cast<double>(state.iterations());
    const auto& st = t.gen.stats();
    state.SetComplexityN(static_cast<int64_t>(n));
    state.counters["regions"] = static_cast<double>(n);
    state.counters["ranges"] = static_cast<double>(ranges);
    if (scratch) {
        state.counters["paints"] = static_cast<double>(paints);  // the sweep's input
        // Per render: paints the sweep dropped on arrival (hidden by the
        // winner), and times it swept ended paints from its heap.
        state.counters["hidden"] = static_cast<double>(rs.hidden_paints - hidden0) / its;
        state.counters["sweeps"] = static_cast<double>(rs.heap_sweeps - sweeps0) / its;
    }
    state.counters["depth"] = st.max_depth;
    state.counters["containers"] = static_cast<double>(st.containers);
    state.counters["aliases"] = static_cast<double>(st.alias);
    // Page faults per render: on this VM a minor fault costs ~10 us, so
    // heap growth that glibc gives back and takes again shows up here.
    state.counters["faults/it"] = static_cast<double>(faults) / its;
    state.counters["t_per_region"] = time_per_region(n);
}

void BM_Render52(benchmark::State& state) { run_render(state, 1ull << 52); }

// Diagnostic: k separate 1,000-region trees (the same tree k times, each in
// its own MemorySystem) rendered in turn, one render per iteration. The
// work per render is constant, only the working set grows with k (k = 10
// touches as much memory as one 10,000-region tree), so any growth of the
// time here is the memory hierarchy, not the algorithm.
void BM_Render1000RoundRobin(benchmark::State& state) {
    const size_t k = static_cast<size_t>(state.range(0));
    static std::vector<std::unique_ptr<Tree>> trees;
    if (trees.size() != k) {
        trees.clear();
        tree_cache().reset();
        for (size_t i = 0; i < k; ++i) trees.push_back(std::make_unique<Tree>(1000, 1ull << 52));
    }
    size_t i = 0;
    for (auto _ : state) {
        auto view = FlatView::render(trees[i]->gen.root());
        benchmark::DoNotOptimize(view.get());
        benchmark::ClobberMemory();
        i = i + 1 == k ? 0 : i + 1;
    }
    state.counters["trees"] = static_cast<double>(k);
    state.counters["regions_total"] = static_cast<double>(k * 1000);
}

// `copies` random trees of `n` regions each in one MemorySystem, built one
// after the other (so each lies in the pool as a lone tree would), each
// with its own RenderScratch, as separate address spaces have. With
// `distinct`, tree i is seeded kSeed ^ n ^ i * (an odd constant), so tree 0
// is the tree the other benchmarks render; without, all are that tree.
struct TreeSet {
    TrivialOps ops;  // outlives the system and its regions
    MemorySystem sys;
    std::vector<const MemoryRegion*> roots;
    std::vector<RenderScratch> scratch;
    size_t copies, n;
    uint64_t root_size;
    bool distinct;

    TreeSet(size_t k, size_t regions, uint64_t size, bool different)
        : scratch(k), copies(k), n(regions), root_size(size), distinct(different) {
        for (size_t i = 0; i < k; ++i) {
            const uint64_t seed = kSeed ^ regions ^ (different ? i * 0x9e3779b97f4a7c15ull : 0);
            RandomTreeBuilder gen(sys, ops, seed);
            roots.push_back(&gen.build(regions, size));
        }
    }
};

std::unique_ptr<TreeSet>& set_cache() {
    static std::unique_ptr<TreeSet> cached;
    return cached;
}

TreeSet& tree_set(size_t copies, size_t n, uint64_t root_size, bool distinct) {
    std::unique_ptr<TreeSet>& cached = set_cache();
    if (!cached || cached->copies != copies || cached->n != n || cached->root_size != root_size ||
        cached->distinct != distinct) {
        cached.reset();
        tree_cache().reset();  // one tree or set alive at a time: their RAM blocks add up
        cached = std::make_unique<TreeSet>(copies, n, root_size, distinct);
    }
    return *cached;
}

// Renders the set's trees in turn, one per iteration, each with its own
// scratch (grown by an untimed render of every tree first).
void run_rotation(benchmark::State& state, TreeSet& set) {
    for (size_t i = 0; i < set.copies; ++i) FlatView::render(*set.roots[i], &set.scratch[i]);
    size_t i = 0, ranges = 0;
    for (auto _ : state) {
        auto view = FlatView::render(*set.roots[i], &set.scratch[i]);
        ranges += view->size();
        benchmark::DoNotOptimize(view.get());
        benchmark::ClobberMemory();
        i = i + 1 == set.copies ? 0 : i + 1;
    }
    const double its = static_cast<double>(state.iterations());
    state.SetComplexityN(static_cast<int64_t>(set.n));
    state.counters["regions"] = static_cast<double>(set.n);
    state.counters["trees"] = static_cast<double>(set.copies);
    state.counters["ranges"] = static_cast<double>(ranges) / its;  // mean over the renders
    state.counters["t_per_region"] = time_per_region(set.n);
}

// Render time with every size measured under the same conditions: a
// rotation of distinct random trees of n regions, 200,000 regions in all
// (20,000 trees of 10 regions, ..., two of 100,000). Between two renders
// of one tree, the others have been rendered, so nothing of it is left in
// the caches or in the branch predictor, at any size, as for a commit that
// follows a stretch of guest execution. Rendering one tree back to back
// (BM_Render52Scratch) is the other extreme: up to 10,000 regions its
// lines stay in the cache and the predictor learns its branches, and at
// 100,000 neither holds (bench/README.md §1, "Growth").
constexpr size_t kColdRegions = 200000;
void run_cold(benchmark::State& state, uint64_t root_size) {
    const size_t n = static_cast<size_t>(state.range(0));
    run_rotation(state, tree_set(std::max<size_t>(1, kColdRegions / n), n, root_size, true));
}
void BM_Render52Cold(benchmark::State& state) { run_cold(state, 1ull << 52); }
void BM_Render4GCold(benchmark::State& state) { run_cold(state, 1ull << 32); }

// Diagnostic, args (copies, n, distinct): the back-to-back render of one
// tree split into its two advantages. Copies of one tree in turn keep the
// branches the predictor learnt and lose only the cache; distinct trees
// in turn lose both.
void BM_RenderRotation(benchmark::State& state) {
    run_rotation(state, tree_set(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)),
                                 1ull << 52, state.range(2) != 0));
}

// Diagnostic: the floor under the render's walk, at the issue's larger
// sizes. Each iteration renders the tree untimed (as the commit before
// would have: its arrays then sit in the cache where the tree was) and
// times a walk that only reads what a render reads of every region and
// alias target: in the render's order (depth first, highest priority
// first, the same prefetches, leaf aliases' targets in a batch at the
// end), or breadth first, one level at a time, so that all of a level's
// loads are independent and as many misses as the core allows are in
// flight. No paints, no sort: how this grows from 10,000 to 100,000
// regions is the machine's, not the algorithm's (bench/README.md §1).
void walk_depth_first(const MemoryRegion& mr, uint64_t& acc, std::vector<const MemoryRegion*>& later) {
    if (!mr.enabled()) return;
    acc += mr.addr() + mr.size();
    if (const MemoryRegion* target = mr.alias_target()) {
        if (mr.alias_shows_a_leaf())
            later.push_back(target);
        else
            walk_depth_first(*target, acc, later);
        return;
    }
    const auto kids = mr.subregions_ascending();
    for (const MemoryRegion* child : kids) __builtin_prefetch(child);
    for (auto it = kids.rbegin(); it != kids.rend(); ++it) walk_depth_first(**it, acc, later);
}

struct Walker {
    std::vector<const MemoryRegion*> level, next;
    std::vector<std::span<MemoryRegion* const>> kids;

    uint64_t depth_first(const MemoryRegion& root) {
        uint64_t acc = 0;
        next.clear();
        walk_depth_first(root, acc, next);
        for (size_t i = 0; i < next.size(); ++i) {
            if (i + 8 < next.size()) __builtin_prefetch(next[i + 8]);
            acc += next[i]->size() + next[i]->enabled();
        }
        return acc;
    }

    uint64_t breadth_first(const MemoryRegion& root) {
        uint64_t acc = 0;
        level.assign(1, &root);
        while (!level.empty()) {
            // Pass 1: every region's line (asked for when it was queued);
            // ask for its child array.
            kids.resize(level.size());
            next.clear();
            for (size_t i = 0; i < level.size(); ++i) {
                const MemoryRegion& mr = *level[i];
                acc += mr.addr() + mr.size();
                kids[i] = mr.enabled() && !mr.alias_target() ? mr.subregions_ascending()
                                                              : std::span<MemoryRegion* const>{};
                if (!kids[i].empty()) __builtin_prefetch(kids[i].data());
                if (mr.enabled() && mr.alias_target()) next.push_back(mr.alias_target());
            }
            // Pass 2: the child arrays; queue the children.
            for (const auto& k : kids)
                for (const MemoryRegion* child : k) {
                    __builtin_prefetch(child);
                    next.push_back(child);
                }
            level.swap(next);
        }
        return acc;
    }
};

// Times walk() alone, each time after an untimed render of `root`, which
// leaves the cache as the commit before the walk would.
template <class Walk>
void time_after_render(benchmark::State& state, const MemoryRegion& root, Walk walk) {
    RenderScratch rs;
    FlatView::render(root, &rs);  // grows the scratch
    for (auto _ : state) {
        state.PauseTiming();
        {
            auto view = FlatView::render(root, &rs);
            benchmark::DoNotOptimize(view.get());
        }
        state.ResumeTiming();
        benchmark::DoNotOptimize(walk());
    }
}

void run_walk(benchmark::State& state, bool breadth_first) {
    const size_t n = static_cast<size_t>(state.range(0));
    Tree& t = tree(n, 1ull << 52);
    const MemoryRegion& root = t.gen.root();
    Walker w;
    w.depth_first(root);
    w.breadth_first(root);  // grows the walker's arrays
    time_after_render(state, root, [&] { return breadth_first ? w.breadth_first(root) : w.depth_first(root); });
    state.counters["regions"] = static_cast<double>(n);
}
void BM_WalkDepthFirst(benchmark::State& state) { run_walk(state, false); }
void BM_WalkBreadthFirst(benchmark::State& state) { run_walk(state, true); }

// Diagnostic, the cheapest reading of the tree any layout could give: a
// compact copy made outside the timed loop, one 24-byte record per region
// in exactly the order the render visits them (depth first, highest
// priority first; an alias of a leaf carries its target's size and
// state), read front to back with a stack of the open containers' clips.
// No pointer is followed and the reads are one sequential stream. What it
// costs per region at 100,000 against 10,000 is not the memory's, though:
// BM_WalkCompactRotation shows it is the branch predictor's, which learns
// the branches of one 10,000-region copy walked again and again.
struct CompactRecord {
    uint64_t addr, size;
    uint32_t kids;    // records that follow for the subregions (direct ones)
    uint8_t enabled;  // for an alias of a leaf: alias and target both enabled
    uint8_t pad[3];
};
static_assert(sizeof(CompactRecord) == 24);

void copy_compact(const MemoryRegion& mr, std::vector<CompactRecord>& out) {
    CompactRecord r{mr.addr(), mr.size(), 0, mr.enabled(), {}};
    if (const MemoryRegion* target = mr.alias_target()) {
        // The render suite's aliases show leaves (random_tree.h).
        r.enabled = mr.enabled() && target->enabled();
        r.size = std::min(mr.size(), target->size() - std::min(target->size(), mr.alias_offset()));
        out.push_back(r);
        return;
    }
    const auto kids = mr.subregions_ascending();
    r.kids = static_cast<uint32_t>(kids.size());
    out.push_back(r);
    for (auto it = kids.rbegin(); it != kids.rend(); ++it) copy_compact(**it, out);
}

uint64_t walk_compact(const std::vector<CompactRecord>& recs) {
    struct Open {
        uint64_t base, lo, hi;
        uint32_t left;  // subregions still to come
    };
    Open stack[64];
    size_t depth = 0;
    uint64_t acc = 0;
    uint64_t base = 0, lo = 0, hi = UINT64_MAX;
    for (const CompactRecord& r : recs) {
        while (depth > 0 && stack[depth - 1].left == 0) --depth;
        if (depth > 0) {
            Open& o = stack[depth - 1];
            --o.left;
            base = o.base;
            lo = o.lo;
            hi = o.hi;
        }
        const uint64_t start = base + r.addr;
        const uint64_t cs = std::max(start, lo), ce = std::min(start + r.size, hi);
        const bool shows = r.enabled && cs < ce;
        acc += shows ? ce - cs : 0;
        // A region that does not show still has its records to skip:
        // give its subregions an empty clip.
        if (r.kids) stack[depth++] = {start, shows ? cs : 1, shows ? ce : 0, r.kids};
    }
    return acc;
}

void BM_WalkCompactCopy(benchmark::State& state) {
    const size_t n = static_cast<size_t>(state.range(0));
    Tree& t = tree(n, 1ull << 52);
    const MemoryRegion& root = t.gen.root();
    if (t.gen.stats().max_depth >= 64) {
        state.SkipWithError("tree deeper than the walk's stack");
        return;
    }
    std::vector<CompactRecord> recs;
    recs.reserve(n);
    copy_compact(root, recs);
    time_after_render(state, root, [&] { return walk_compact(recs); });
    state.counters["regions"] = static_cast<double>(n);
    state.counters["bytes"] = static_cast<double>(recs.size() * sizeof(CompactRecord));
}

// Diagnostic, args (copies, n, distinct): compact copies of a TreeSet's
// trees walked in turn, no render in between. One copy of 10,000 regions
// against ten copies of the same tree (the same branches, ten times the
// memory) and ten distinct trees (other branches too) shows which of the
// two the compact walk's step at 10,000 -> 100,000 comes from.
void BM_WalkCompactRotation(benchmark::State& state) {
    TreeSet& set = tree_set(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)), 1ull << 52,
                            state.range(2) != 0);
    std::vector<std::vector<CompactRecord>> copies(set.copies);
    for (size_t i = 0; i < set.copies; ++i) copy_compact(*set.roots[i], copies[i]);
    size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(walk_compact(copies[i]));
        i = i + 1 == set.copies ? 0 : i + 1;
    }
    state.counters["t_per_region"] = time_per_region(set.n);
}

void BM_Render4G(benchmark::State& state) { run_render(state, 1ull << 32); }
void BM_Render52Scratch(benchmark::State& state) { run_render(state, 1ull << 52, true); }
void BM_Render4GScratch(benchmark::State& state) { run_render(state, 1ull << 32, true); }

// The issue's sizes: 10, 100, ..., 100,000 regions.
void issue_sizes(benchmark::internal::Benchmark* b) {
    for (int64_t n = 10; n <= 100000; n *= 10) b->Arg(n);
    b->Unit(benchmark::kMicrosecond)->Complexity(benchmark::oNLogN);
}

BENCHMARK(BM_Render52)->Apply(issue_sizes);
BENCHMARK(BM_Render4G)->Apply(issue_sizes);
// One decade past the issue's sizes: 100,000 regions is the first size
// whose working set leaves this machine's cache (see latency_bench.cc), so
// 100,000 -> 1,000,000 is the first step measured with both ends in the
// same memory regime since 1,000 -> 10,000.
BENCHMARK(BM_Render52Scratch)->Apply(issue_sizes)->Arg(1000000);
BENCHMARK(BM_Render4GScratch)->Apply(issue_sizes);

BENCHMARK(BM_Render52Cold)->Apply(issue_sizes);
BENCHMARK(BM_Render4GCold)->Apply(issue_sizes);
BENCHMARK(BM_RenderRotation)
    ->Args({1, 10000, 0})
    ->Args({10, 10000, 0})
    ->Args({10, 10000, 1})
    ->Args({1, 1000, 0})
    ->Args({100, 1000, 0})
    ->Args({100, 1000, 1})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_Render1000RoundRobin)->Arg(1)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_WalkDepthFirst)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_WalkBreadthFirst)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_WalkCompactCopy)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_WalkCompactRotation)
    ->Args({1, 10000, 0})
    ->Args({10, 10000, 0})
    ->Args({10, 10000, 1})
    ->Args({1, 100000, 0})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
