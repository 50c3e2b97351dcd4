// Device replay throughput: replay_devices over a whole trace, in events
// per second and trace MB per second, next to reading the same trace
// without replaying it (the decoder's share).
//
// Traces: pio_loop (100,000 port writes) and mmio_mix (10,000 iterations,
// 90,000 MMIO accesses) recorded here by record_guest on the accelerator
// Auto picks (the emulator where /dev/kvm is missing), and a scripted
// pio_loop-like recording made without any vCPU (100,000 UART scratch
// writes through the real Recorder). The golden traces are too short
// (1,000 iterations) for the machine set-up not to dominate.
//
// Guest replay next to recording: the same pio_loop guest recorded, and
// its trace replayed with the guest re-run, in one process.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "record/dirty_runs.h"
#include "record/record_session.h"
#include "record/trace_writer.h"
#include "replay/device_replay.h"
#include "replay/guest_replay.h"
#include "replay/dirty_analysis.h"
#include "replay/dirty_plot.h"
#include "replay/migration_estimate.h"
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

// Records fixture `guest` with argument `arg` once per process.
std::string recorded(const std::string& guest, uint64_t arg) {
    const std::string path = testing::temp_trace("bench-" + guest);
    if (!std::filesystem::exists(path)) {
        RecordRequest req;
        req.run.guest.fixture = guest;
        req.run.guest.args = {arg};
        req.output = path;
        req.recorder.dirty_interval_exits = 1000;
        record_guest(req);
    }
    return path;
}

std::string pio_loop_trace() { return recorded("pio_loop", 100000); }
std::string mmio_mix_trace() { return recorded("mmio_mix", 10000); }

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

void BM_ReplayScriptedPioLoop(benchmark::State& s) { replay_trace(s, scripted_pio_loop()); }
void BM_ReadScriptedPioLoop(benchmark::State& s) { read_trace(s, scripted_pio_loop()); }
void BM_ReplayPioLoop(benchmark::State& s) { replay_trace(s, pio_loop_trace()); }
void BM_ReadPioLoop(benchmark::State& s) { read_trace(s, pio_loop_trace()); }
void BM_ReplayMmioMix(benchmark::State& s) { replay_trace(s, mmio_mix_trace()); }
void BM_ReadMmioMix(benchmark::State& s) { read_trace(s, mmio_mix_trace()); }

// pio_loop with 200,000 writes (about a second on KVM, so that set-up and
// the trace's close weigh little): recorded, then replayed with its guest.
void BM_RecordPioLoopGuest(benchmark::State& state) {
    const std::string path = testing::temp_trace("bench-record");
    uint64_t exits = 0;
    std::string accel;
    for (auto _ : state) {
        RecordRequest req;
        req.run.guest.fixture = "pio_loop";
        req.run.guest.args = {200000};
        req.output = path;
        req.recorder.dirty_interval_exits = 1000;
        const RecordReport rep = record_guest(req);
        exits += rep.run.result.exits;
        accel = rep.accel;
    }
    std::filesystem::remove(path);
    state.counters["exits/s"] = benchmark::Counter(static_cast<double>(exits), benchmark::Counter::kIsRate);
    state.SetLabel(accel);
}

// The same guest run without recording (issue 4's record overhead is
// BM_RecordPioLoopGuest's exits/s over this one's).
void BM_RunPioLoopGuest(benchmark::State& state) {
    uint64_t exits = 0;
    std::string accel;
    for (auto _ : state) {
        GuestRunRequest req;
        req.guest.fixture = "pio_loop";
        req.guest.args = {200000};
        const GuestRunReport rep = run_guest(req);
        exits += rep.result.exits;
        accel = rep.message.find("emulator") != std::string::npos ? "emu" : "kvm";
    }
    state.counters["exits/s"] = benchmark::Counter(static_cast<double>(exits), benchmark::Counter::kIsRate);
    state.SetLabel(accel);
}

void BM_GuestReplayPioLoopGuest(benchmark::State& state) {
    static const std::string trace = [] {
        const std::string p = testing::temp_trace("bench-guest-replay");
        RecordRequest req;
        req.run.guest.fixture = "pio_loop";
        req.run.guest.args = {200000};
        req.output = p;
        req.recorder.dirty_interval_exits = 1000;
        record_guest(req);
        return p;
    }();
    uint64_t exits = 0;
    std::string accel;
    for (auto _ : state) {
        TraceReader r = TraceReader::open(trace);
        const ReplayReport rep = replay_guest(r);
        if (!rep.reproduced()) {
            state.SkipWithError(rep.summary().c_str());
            return;
        }
        exits += rep.accesses;
        accel = rep.accel;
    }
    state.counters["exits/s"] = benchmark::Counter(static_cast<double>(exits), benchmark::Counter::kIsRate);
    state.SetLabel(accel);
}

// kvmrr dirty's whole report on a trace of a 1 GiB guest with 1,000
// epochs of 10 ms: every epoch dirties a hot set (the first 2,048 pages),
// a sequential sweep of 4,096 pages that moves on each epoch, and 4,096
// pages at random: about 10,000 distinct pages an epoch, 10 million in
// all. Timed: the analysis, the text report, the migration estimate
// (1 Gbit/s, 300 ms) and the PNG picture, as `kvmrr dirty --bandwidth`.
std::string dirty_1gib_trace() {
    static const std::string path = [] {
        const std::string p = testing::temp_trace("bench-dirty-1gib");
        TraceHeader h;
        h.ram_size = 1ull << 30;
        h.regions = {{1, "ram", "ram"}};
        TraceWriter w(p, h);
        const uint64_t pages = (1ull << 30) / 4096;
        w.append(0, MemslotEvent{MemslotOp::Add, 0, 0, 1ull << 30, 1, 0, 0});
        TopologyEvent t;
        t.ranges = 1;
        t.view = {{0, (1ull << 30) - 1, 1, 0, false, false, false, 0}};
        w.append(0, t);
        DirtyBitmap b;
        b.pages = pages;
        uint64_t x = 0x6b766d7272;
        for (uint64_t e = 0; e < 1000; ++e) {
            b.words.assign(pages / 64, 0);
            auto set = [&](uint64_t pg) { b.words[pg / 64] |= 1ull << (pg % 64); };
            for (uint64_t pg = 0; pg < 2048; ++pg) set(pg);
            for (uint64_t i = 0; i < 4096; ++i) set((e * 4096 + i) % pages);
            for (uint64_t i = 0; i < 4096; ++i) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                set((x >> 33) % pages);
            }
            DirtyEvent d = make_dirty_event(b, e);
            d.time_ns = (e + 1) * 10000000;
            w.append(0, std::move(d));
        }
        w.close();
        return p;
    }();
    return path;
}

void BM_DirtyReport1GiB1000Epochs(benchmark::State& state) {
    const std::string trace = dirty_1gib_trace();
    const std::string png = testing::temp_trace("bench-dirty-heatmap") + ".png";
    uint64_t epochs = 0;
    for (auto _ : state) {
        TraceReader r = TraceReader::open(trace);
        const DirtyReport rep = analyse_dirty(r);
        const std::string text = dirty_text(rep);
        const MigrationEstimate m = estimate_migration(rep, {parse_bandwidth("1Gbit"), 0.3, 30});
        DirtyPlotInfo info = dirty_plot_info(r);
        info.migration = m;
        write_dirty_plot(rep, info, png);
        benchmark::DoNotOptimize(text.size() + m.trace.pages_sent);
        epochs = rep.epochs.size();
    }
    std::filesystem::remove(png);
    state.counters["epochs"] = static_cast<double>(epochs);
    state.counters["trace MB"] = static_cast<double>(std::filesystem::file_size(trace)) / 1e6;
}

BENCHMARK(BM_ReplayScriptedPioLoop)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadScriptedPioLoop)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplayPioLoop)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadPioLoop)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplayMmioMix)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadMmioMix)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RunPioLoopGuest)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RecordPioLoopGuest)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GuestReplayPioLoopGuest)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DirtyReport1GiB1000Epochs)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kvmrr
