// A commit that changes one region in a 10,000-region machine, next to a
// full render of the same tree.
//
// The machine is the render suite's random overlapping tree (10,000
// regions, 52-bit space) used as the root of a memory address space with
// one counting MemoryListener attached. Each iteration makes one change to
// one small, visible RAM leaf outside any explicit transaction, so the
// change is its own transaction and its commit re-renders the space, diffs
// the old and new views and calls the listener (region_del / region_add /
// region_nop for every range, begin / commit).
//
//   BM_CommitToggleEnabled  set_enabled(!enabled) on the leaf
//   BM_CommitMove           set_address() between two offsets in its parent
//   ...NoNops               the same with a listener that does not want
//                           region_nop (as kvmrr's memslot listener and
//                           recorder): the diff skips the runs the
//                           re-render copied
//   BM_CommitToggleAliased  set_enabled() on a leaf that an alias also shows:
//                           the commit re-renders both places
//   BM_CommitNoChange       begin(); commit(); with nothing changed
//   BM_FullRender           FlatView::render(root) of the same tree
//   BM_FullRenderScratch    the same with one RenderScratch reused across
//                           renders, as the address space's commit does
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "bench/random_tree.h"
#include "core/address_space.h"
#include "core/flat_view.h"
#include "core/memory_listener.h"
#include "core/memory_system.h"

namespace {

using namespace kvmrr;
using kvmrr::bench::RandomTreeBuilder;
using kvmrr::bench::TrivialOps;

constexpr size_t kRegions = 10000;
constexpr uint64_t kSeed = 0x6b766d7272ull;  // same tree as render_bench's 52-bit 10,000

class CountingListener final : public MemoryListener {
public:
    void begin() override { ++begins; }
    void commit() override { ++commits; }
    void region_add(const MemoryRegionSection&) override { ++adds; }
    void region_del(const MemoryRegionSection&) override { ++dels; }
    void region_nop(const MemoryRegionSection&) override { ++nops; }
    void log_start(const MemoryRegionSection&, uint8_t, uint8_t) override { ++logs; }
    void log_stop(const MemoryRegionSection&, uint8_t, uint8_t) override { ++logs; }
    bool wants_region_nop() const override { return want_nops; }
    uint64_t begins = 0, commits = 0, adds = 0, dels = 0, nops = 0, logs = 0;
    bool want_nops = true;
};

struct Machine {
    TrivialOps ops;
    CountingListener listener;  // outlives the address space
    MemorySystem sys;
    RandomTreeBuilder gen;
    MemoryAddressSpace* as = nullptr;
    MemoryRegion* victim = nullptr;
    uint64_t home = 0, away = 0;  // the two offsets BM_CommitMove alternates
    MemoryRegion* aliased = nullptr;  // a leaf in the tree that an alias in the tree points at

    Machine() : gen(sys, ops, kSeed ^ kRegions) {
        gen.build(kRegions);
        as = &sys.create_memory_space("memory", gen.root());
        as->add_listener(listener);
        // The victim: a RAM leaf below the root's children that is visible
        // in the view, taken from the middle of the address-ordered view.
        const auto& ranges = as->view()->ranges();
        for (size_t k = 0; k < ranges.size() && !victim; ++k) {
            const FlatRange& fr = ranges[(ranges.size() / 2 + k) % ranges.size()];
            MemoryRegion* mr = fr.mr;
            // Seen at its own place, not only through an alias.
            const bool own = fr.range.start() - fr.offset_in_region == mr->absolute_addr();
            if (own && mr->kind() == MemoryRegion::Kind::Ram && mr->parent() && mr->parent() != &gen.root() &&
                mr->parent()->size() >= 2 * mr->size())
                victim = mr;
        }
        for (MemoryRegion* leaf : gen.leaves()) {
            MemoryRegion* t = leaf->alias_target();
            if (t && leaf->parent() && t->parent() && t->enabled() && leaf->enabled()) {
                aliased = t;
                break;
            }
        }
        if (victim) {
            home = victim->addr();
            const uint64_t room = victim->parent()->size() - victim->size();
            away = home >= room / 2 ? home / 2 : home + (room - home) / 2;
            away &= ~uint64_t{4095};
            if (away == home) away = home == 0 ? 4096 : 0;
        }
    }
};

Machine& machine() {
    static Machine m;
    return m;
}

long minor_faults() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

struct Before {
    uint64_t renders, partial, adds, dels, nops, commits;
    long faults;
};

Before snapshot(const Machine& m) {
    return {m.as->render_count(), m.as->partial_render_count(), m.listener.adds, m.listener.dels,
            m.listener.nops,      m.listener.commits,              minor_faults()};
}

void report(benchmark::State& state, const Machine& m, const Before& b) {
    const double it = static_cast<double>(state.iterations());
    state.counters["faults/it"] = static_cast<double>(minor_faults() - b.faults) / it;
    state.counters["regions"] = static_cast<double>(m.sys.region_count());
    state.counters["ranges"] = static_cast<double>(m.as->view()->size());
    state.counters["renders/it"] = static_cast<double>(m.as->render_count() - b.renders) / it;
    // Of those, re-rendered only where the change was (FlatView::rerender).
    state.counters["partial/it"] = static_cast<double>(m.as->partial_render_count() - b.partial) / it;
    state.counters["commits/it"] = static_cast<double>(m.listener.commits - b.commits) / it;
    state.counters["adds/it"] = static_cast<double>(m.listener.adds - b.adds) / it;
    state.counters["dels/it"] = static_cast<double>(m.listener.dels - b.dels) / it;
    state.counters["nops/it"] = static_cast<double>(m.listener.nops - b.nops) / it;
}

bool ready(benchmark::State& state, const Machine& m) {
    if (!m.victim) state.SkipWithError("no visible RAM leaf to change");
    return m.victim != nullptr;
}

// Re-registers the listener wanting region_nop or not (an address space
// asks once, when a listener is added) for the life of this object.
struct NopsOff {
    Machine& m;
    explicit NopsOff(Machine& mm) : m(mm) { set(false); }
    ~NopsOff() { set(true); }
    void set(bool on) {
        m.as->remove_listener(m.listener);
        m.listener.want_nops = on;
        m.as->add_listener(m.listener);
    }
};

void run_toggle(benchmark::State& state, bool nops) {
    Machine& m = machine();
    if (!ready(state, m)) return;
    std::optional<NopsOff> quiet;
    if (!nops) quiet.emplace(m);
    const Before b = snapshot(m);
    for (auto _ : state) m.victim->set_enabled(!m.victim->enabled());
    report(state, m, b);
    if (!m.victim->enabled()) m.victim->set_enabled(true);  // leave the machine as found
}

void run_move(benchmark::State& state, bool nops) {
    Machine& m = machine();
    if (!ready(state, m)) return;
    std::optional<NopsOff> quiet;
    if (!nops) quiet.emplace(m);
    const Before b = snapshot(m);
    for (auto _ : state) m.victim->set_address(m.victim->addr() == m.home ? m.away : m.home);
    report(state, m, b);
    if (m.victim->addr() != m.home) m.victim->set_address(m.home);
}

void BM_CommitToggleEnabled(benchmark::State& state) { run_toggle(state, true); }
void BM_CommitMove(benchmark::State& state) { run_move(state, true); }
void BM_CommitToggleEnabledNoNops(benchmark::State& state) { run_toggle(state, false); }
void BM_CommitMoveNoNops(benchmark::State& state) { run_move(state, false); }

void BM_CommitToggleAliased(benchmark::State& state) {
    Machine& m = machine();
    if (!m.aliased) {
        state.SkipWithError("no aliased leaf");
        return;
    }
    const Before b = snapshot(m);
    for (auto _ : state) m.aliased->set_enabled(!m.aliased->enabled());
    report(state, m, b);
    if (!m.aliased->enabled()) m.aliased->set_enabled(true);
}

void BM_CommitNoChange(benchmark::State& state) {
    Machine& m = machine();
    const Before b = snapshot(m);
    for (auto _ : state) {
        m.sys.begin();
        m.sys.commit();
    }
    report(state, m, b);
}

void BM_FullRender(benchmark::State& state) {
    Machine& m = machine();
    const Before b = snapshot(m);
    for (auto _ : state) {
        auto view = FlatView::render(m.as->root());
        benchmark::DoNotOptimize(view.get());
        benchmark::ClobberMemory();
    }
    report(state, m, b);
}

void BM_FullRenderScratch(benchmark::State& state) {
    Machine& m = machine();
    const Before b = snapshot(m);
    RenderScratch rs;
    for (auto _ : state) {
        auto view = FlatView::render(m.as->root(), &rs);
        benchmark::DoNotOptimize(view.get());
        benchmark::ClobberMemory();
    }
    report(state, m, b);
}

BENCHMARK(BM_CommitToggleEnabled)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CommitMove)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CommitToggleEnabledNoNops)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CommitMoveNoNops)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CommitToggleAliased)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CommitNoChange)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FullRender)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FullRenderScratch)->Unit(benchmark::kMicrosecond);

}  // namespace
