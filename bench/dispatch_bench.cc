// Dispatch lookup on a view of 1,000 ranges.
//
// Target (spec): median under 20 ns per lookup, random addresses.
//
// The view is rendered from 1,000 regions (500 RAM, 500 I/O, alternating)
// of random sizes, one in each 1/1000th slice of a 4 GiB space with a hole
// after it, so the view has exactly 1,000 ranges and about as many holes.
// 65,536 addresses are drawn up front (90% inside a random range, 10%
// uniform over the space, i.e. mostly in holes) and walked in order, one
// lookup per benchmark iteration, so "Time" is nanoseconds per lookup.
//
// BM_Lookup lets consecutive lookups overlap in the pipeline (throughput);
// BM_LookupDependent makes each address depend on the previous result, so
// it measures the latency of one lookup. For context, BM_ReadRam and
// BM_ReadIo run a whole MemoryAddressSpace::read(Gpa, 4) (lookup, split
// check, stats, host load or RegionOps call).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "bench/random_tree.h"
#include "core/address_space.h"
#include "core/flat_view.h"
#include "core/memory_system.h"

namespace {

using namespace kvmrr;
using kvmrr::bench::TrivialOps;

constexpr size_t kRegions = 1000;
constexpr uint64_t kSpace = 1ull << 32;
constexpr size_t kAddrs = 1 << 16;  // power of two: the index wraps with a mask
constexpr uint64_t kSeed = 20240601;

struct DispatchMachine {
    TrivialOps ops;
    MemorySystem sys;
    MemoryAddressSpace* as = nullptr;
    std::vector<MemoryRegion*> regions;
    std::vector<uint64_t> any_addrs, ram_addrs, io_addrs;

    DispatchMachine() {
        std::mt19937_64 rng(kSeed);
        auto uniform = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
        constexpr uint64_t page = 4096;
        const uint64_t slot = (kSpace / kRegions) & ~(page - 1);
        {
            Transaction t(sys);
            MemoryRegion& root = sys.create_container("system", kSpace);
            for (size_t i = 0; i < kRegions; ++i) {
                // 1 .. 256 pages, placed so that a hole always follows it.
                const uint64_t size = uniform(1, 256) * page;
                const uint64_t off = i * slot + uniform(0, (slot - size) / page - 1) * page;
                MemoryRegion& mr = (i % 2 == 0) ? sys.create_ram("ram" + std::to_string(i), size)
                                                : sys.create_io("io" + std::to_string(i), size, ops);
                root.add_subregion(off, mr);
                regions.push_back(&mr);
            }
            as = &sys.create_memory_space("memory", root);
            t.commit();
        }
        auto inside = [&](const MemoryRegion& mr, unsigned align) {
            const uint64_t start = mr.addr();
            return start + uniform(0, (mr.size() - 4) / align) * align;
        };
        for (size_t i = 0; i < kAddrs; ++i) {
            any_addrs.push_back(uniform(0, 9) == 0 ? uniform(0, kSpace - 1)
                                                   : inside(*regions[uniform(0, kRegions - 1)], 1));
            ram_addrs.push_back(inside(*regions[2 * uniform(0, kRegions / 2 - 1)], 4));
            io_addrs.push_back(inside(*regions[2 * uniform(0, kRegions / 2 - 1) + 1], 4));
        }
    }
};

DispatchMachine& machine() {
    static DispatchMachine m;
    return m;
}

bool check_view(benchmark::State& state, const FlatView& view) {
    state.counters["ranges"] = static_cast<double>(view.size());
    if (view.size() != kRegions) {
        state.SkipWithError("the view does not have 1,000 ranges");
        return false;
    }
    return true;
}

void BM_Lookup(benchmark::State& state) {
    DispatchMachine& m = machine();
    const FlatView& view = *m.as->view();
    if (!check_view(state, view)) return;
    const uint64_t* addrs = m.any_addrs.data();
    size_t i = 0, hits = 0;
    for (auto _ : state) {
        const FlatRange* r = view.lookup(addrs[i]);
        benchmark::DoNotOptimize(r);
        hits += r != nullptr;
        i = (i + 1) & (kAddrs - 1);
    }
    state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(state.iterations());
}

void BM_LookupDependent(benchmark::State& state) {
    DispatchMachine& m = machine();
    const FlatView& view = *m.as->view();
    if (!check_view(state, view)) return;
    const uint64_t* addrs = m.any_addrs.data();
    uint64_t zero = 0;
    benchmark::DoNotOptimize(zero);  // the compiler cannot know it is zero
    uintptr_t prev = 0;
    size_t i = 0;
    for (auto _ : state) {
        const FlatRange* r = view.lookup(addrs[i] + (prev & zero));
        prev = reinterpret_cast<uintptr_t>(r);
        i = (i + 1) & (kAddrs - 1);
    }
    benchmark::DoNotOptimize(prev);
}

void run_read(benchmark::State& state, const std::vector<uint64_t>& addrs) {
    DispatchMachine& m = machine();
    if (!check_view(state, *m.as->view())) return;
    for (uint64_t a : addrs) {
        if (m.as->read(Gpa(a), 4).status != AccessStatus::Ok) {
            state.SkipWithError("read did not return Ok");
            return;
        }
    }
    size_t i = 0;
    for (auto _ : state) {
        AccessResult r = m.as->read(Gpa(addrs[i]), 4);
        benchmark::DoNotOptimize(r);
        i = (i + 1) & (kAddrs - 1);
    }
}

void BM_ReadRam(benchmark::State& state) { run_read(state, machine().ram_addrs); }
void BM_ReadIo(benchmark::State& state) { run_read(state, machine().io_addrs); }

BENCHMARK(BM_Lookup)->Repetitions(10)->ReportAggregatesOnly(true);
BENCHMARK(BM_LookupDependent)->Repetitions(10)->ReportAggregatesOnly(true);
BENCHMARK(BM_ReadRam)->Repetitions(10)->ReportAggregatesOnly(true);
BENCHMARK(BM_ReadIo)->Repetitions(10)->ReportAggregatesOnly(true);

}  // namespace
