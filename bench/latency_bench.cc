// The machine, not kvmrr: how long one dependent load takes when the data
// it walks is 64 KiB … 256 MiB, with ordinary 4 KiB pages and with
// transparent huge pages asked for (MADV_HUGEPAGE).
//
// The render figures (bench/README.md §1) change regime where their
// working set leaves the cache: a 10,000-region render touches about
// 1.5 MB, a 100,000-region one about 15 MB. This suite measures where that
// boundary lies on the machine at hand, so that the growth between those
// two sizes can be read against it.
//
// Each iteration follows a random cyclic permutation of 64-byte lines
// (every load depends on the previous one, so the hardware cannot overlap
// them) for a fixed number of steps; the counter is nanoseconds per load.
#include <benchmark/benchmark.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace {

constexpr size_t kLine = 64;
constexpr size_t kHuge = size_t{2} << 20;
constexpr int kSteps = 1 << 20;

struct Arena {
    uint64_t* base = nullptr;
    size_t bytes = 0;
    Arena(size_t size, bool huge) : bytes((size + kHuge - 1) / kHuge * kHuge) {
        void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return;
        // Without the hint, a THP setting of "madvise" (Debian's default)
        // keeps 4 KiB pages; with it the kernel may still refuse.
        madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        base = static_cast<uint64_t*>(p);
    }
    ~Arena() {
        if (base) munmap(base, bytes);
    }
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;
};

void chase(benchmark::State& state, bool huge) {
    const size_t size = static_cast<size_t>(state.range(0)) << 10;
    const size_t lines = size / kLine;
    Arena arena(size, huge);
    if (!arena.base) {
        state.SkipWithError("mmap failed");
        return;
    }
    // One cycle through every line in random order; each line holds the
    // index (in words) of the next.
    std::vector<size_t> order(lines);
    std::iota(order.begin(), order.end(), size_t{0});
    std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
    constexpr size_t kWords = kLine / sizeof(uint64_t);
    for (size_t i = 0; i < lines; ++i) arena.base[order[i] * kWords] = order[(i + 1) % lines] * kWords;
    uint64_t at = 0;
    for (size_t i = 0; i < lines; ++i) at = arena.base[at];  // warm the cache and the TLB
    for (auto _ : state) {
        for (int i = 0; i < kSteps; ++i) at = arena.base[at];
        benchmark::DoNotOptimize(at);
    }
    state.counters["ns_per_load"] = benchmark::Counter(static_cast<double>(kSteps),
                                                       benchmark::Counter::kIsIterationInvariantRate |
                                                           benchmark::Counter::kInvert);
    state.counters["KiB"] = static_cast<double>(size >> 10);
}

void BM_Chase4K(benchmark::State& state) { chase(state, false); }
void BM_ChaseHuge(benchmark::State& state) { chase(state, true); }

BENCHMARK(BM_Chase4K)->RangeMultiplier(2)->Range(64, 256 << 10)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ChaseHuge)->RangeMultiplier(2)->Range(64, 256 << 10)->Unit(benchmark::kMillisecond);

}  // namespace
