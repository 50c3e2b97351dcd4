// Device replay throughput: replay_devices over a whole trace, in events
// per second and trace MB per second, next to reading the same trace
// without replaying it (the decoder's share).
//
// Traces: the golden fixture traces (fixtures/traces/pio_loop.trace and
// mmio_mix.trace, from KVMRR_SOURCE_DIR) and, so the suite runs anywhere,
// a scripted pio_loop-like recording made here (100,000 UART scratch
// writes through the real Recorder).
#include <benchmark/benchmark.h>

#include <filesystem>

#include "replay/device_replay.h"
#include "replay/tests/replay_test_util.h"

namespace kvmrr {
namespace {

std::string scripted_pio_loop() {
    static const std::string path = [] {
        const std::string p = testing::temp_trace("bench-pio-loop");
        testing::ScriptedRecording s(p, {}, 0);
        for (int i = 0; i < 100000; ++i) s.out(0x3ff, static_cast<uint8_t>(i));
        s.out(0xf4, 0);
        s.finish();
        return p;
    }();
    return path;
}

void replay_trace(benchmark::State& state, const std::string& path) {
    if (!std::filesystem::exists(path)) {
        state.SkipWithError(("no trace " + path).c_str());
        return;
    }
    const double bytes = static_cast<double>(std::filesystem::file_size(path));
    uint64_t events = 0;
    for (auto _ : state) {
        TraceReader r = TraceReader::open(path);
        const ReplayReport rep = replay_devices(r);
        if (!rep.reproduced()) {
            state.SkipWithError(rep.summary().c_str());
            return;
        }
        events += rep.events;
    }
    state.counters["events/s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
    state.counters["trace MB/s"] =
        benchmark::Counter(bytes * static_cast<double>(state.iterations()) / 1e6, benchmark::Counter::kIsRate);
    state.counters["events"] = static_cast<double>(events / state.iterations());
}

void read_trace(benchmark::State& state, const std::string& path) {
    if (!std::filesystem::exists(path)) {
        state.SkipWithError(("no trace " + path).c_str());
        return;
    }
    uint64_t events = 0;
    for (auto _ : state) {
        TraceReader r = TraceReader::open(path);
        TraceEvent e;
        while (r.next(e)) ++events;
    }
    state.counters["events/s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}

std::string fixture_trace(const char* name) { return std::string(KVMRR_SOURCE_DIR) + "/fixtures/traces/" + name + ".trace"; }

void BM_ReplayScriptedPioLoop(benchmark::State& s) { replay_trace(s, scripted_pio_loop()); }
void BM_ReadScriptedPioLoop(benchmark::State& s) { read_trace(s, scripted_pio_loop()); }
void BM_ReplayPioLoop(benchmark::State& s) { replay_trace(s, fixture_trace("pio_loop")); }
void BM_ReadPioLoop(benchmark::State& s) { read_trace(s, fixture_trace("pio_loop")); }
void BM_ReplayMmioMix(benchmark::State& s) { replay_trace(s, fixture_trace("mmio_mix")); }
void BM_ReadMmioMix(benchmark::State& s) { read_trace(s, fixture_trace("mmio_mix")); }

BENCHMARK(BM_ReplayScriptedPioLoop)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadScriptedPioLoop)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplayPioLoop)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadPioLoop)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplayMmioMix)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadMmioMix)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kvmrr
