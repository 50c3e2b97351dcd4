// Trace writer throughput and trace size, on synthetic events (no guest):
// the writer's cost per appended event on the vCPU thread and end to end
// (compression and write included), and the bytes one exit costs in the
// file for a pio_loop-like stream, with LZ4 (the format's codec) next to
// zstd level 1 on the very same packed chunks.
#include <benchmark/benchmark.h>
#include <lz4.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "record/capnp_convert.h"
#include "record/dirty_runs.h"
#include "record/record_session.h"
#include "record/trace_reader.h"
#include "record/trace_writer.h"

namespace kvmrr {
namespace {

std::string temp_path() {
    return (std::filesystem::temp_directory_path() / ("kvmrr-bench-" + std::to_string(getpid()) + ".trace")).string();
}

// What the recorder writes for one iteration of the pio_loop guest: an
// `outb` of (i & 0xff) to the UART scratch register.
AccessEvent pio_loop_event(uint64_t i) {
    AccessEvent a;
    a.io = true;
    a.addr = 0x3ff;
    a.size = 1;
    a.is_write = true;
    a.value = i & 0xff;
    a.region = 12;
    return a;
}

// A mix closer to mmio_mix: MMIO reads of several sizes with varying values,
// entropy, clock reads.
EventBody mixed_event(uint64_t i) {
    switch (i % 4) {
        case 0: {
            AccessEvent a;
            a.addr = 0xfeb00008;
            a.size = static_cast<uint8_t>(1u << ((i / 4) % 4));  // 1, 2, 4, 8
            const uint64_t v = i * 0x9e3779b97f4a7c15ull;
            a.value = a.size == 8 ? v : v & ((1ull << (8 * a.size)) - 1);
            a.region = 4;
            return a;
        }
        case 1: return ClockEvent{static_cast<int64_t>(1'700'000'000'000'000'000 + i * 1000)};
        case 2: return EntropyEvent{{uint8_t(i), uint8_t(i >> 8), uint8_t(i * 7), uint8_t(i * 13)}};
        default: {
            AccessEvent a;
            a.io = true;
            a.addr = 0x71;
            a.size = 1;
            a.value = i % 60;
            a.region = 10;
            return a;
        }
    }
}

TraceHeader header() {
    TraceHeader h;
    h.guest_name = "bench";
    return h;
}

// Appends only: the cost the vCPU thread pays (compression runs behind).
void BM_AppendPioLoop(benchmark::State& state) {
    const std::string path = temp_path();
    TraceWriter w(path, header());
    uint64_t i = 0;
    for (auto _ : state) w.append(0, pio_loop_event(i++));
    w.close();
    const TraceWriterStats s = w.stats();
    state.counters["events/s"] = benchmark::Counter(static_cast<double>(i), benchmark::Counter::kIsRate);
    state.counters["file_bytes/event"] = static_cast<double>(s.file_bytes) / static_cast<double>(s.events);
    std::filesystem::remove(path);
}
BENCHMARK(BM_AppendPioLoop);

// End to end: append N events, close (everything compressed and written).
template <class Make>
void write_n(benchmark::State& state, Make make) {
    const auto n = static_cast<uint64_t>(state.range(0));
    const std::string path = temp_path();
    uint64_t file_bytes = 0;
    for (auto _ : state) {
        TraceWriter w(path, header());
        for (uint64_t i = 0; i < n; ++i) w.append(0, make(i));
        w.close();
        file_bytes = w.stats().file_bytes;
    }
    std::filesystem::remove(path);
    state.counters["events/s"] =
        benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["MB/s"] = benchmark::Counter(static_cast<double>(file_bytes) * static_cast<double>(state.iterations()) / 1e6,
                                                benchmark::Counter::kIsRate);
    state.counters["bytes/event"] = static_cast<double>(file_bytes) / static_cast<double>(n);
}

void BM_WritePioLoop(benchmark::State& state) { write_n(state, [](uint64_t i) { return EventBody(pio_loop_event(i)); }); }
BENCHMARK(BM_WritePioLoop)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

void BM_WriteMixed(benchmark::State& state) { write_n(state, mixed_event); }
BENCHMARK(BM_WriteMixed)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

// One chunk of 8192 events (the writer's default), packed, then LZ4 and
// zstd -1 on the same bytes: size per event and time per chunk.
template <class Make>
std::vector<uint8_t> packed_chunk(Make make) {
    std::vector<TraceEvent> ev(8192);
    for (uint64_t i = 0; i < ev.size(); ++i) ev[i].body = make(i);
    return encode_chunk(ev);
}

template <class Make>
void compress_lz4(benchmark::State& state, Make make) {
    const std::vector<uint8_t> in = packed_chunk(make);
    std::vector<char> out(static_cast<size_t>(LZ4_compressBound(static_cast<int>(in.size()))));
    int n = 0;
    for (auto _ : state)
        n = LZ4_compress_default(reinterpret_cast<const char*>(in.data()), out.data(), static_cast<int>(in.size()),
                                 static_cast<int>(out.size()));
    state.counters["packed_bytes/event"] = static_cast<double>(in.size()) / 8192.0;
    state.counters["compressed_bytes/event"] = static_cast<double>(n) / 8192.0;
}

template <class Make>
void compress_zstd1(benchmark::State& state, Make make) {
    const std::vector<uint8_t> in = packed_chunk(make);
    std::vector<char> out(ZSTD_compressBound(in.size()));
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    size_t n = 0;
    for (auto _ : state) n = ZSTD_compressCCtx(cctx, out.data(), out.size(), in.data(), in.size(), 1);
    ZSTD_freeCCtx(cctx);
    state.counters["packed_bytes/event"] = static_cast<double>(in.size()) / 8192.0;
    state.counters["compressed_bytes/event"] = static_cast<double>(n) / 8192.0;
}

void BM_ChunkLz4PioLoop(benchmark::State& s) { compress_lz4(s, [](uint64_t i) { return EventBody(pio_loop_event(i)); }); }
void BM_ChunkZstd1PioLoop(benchmark::State& s) { compress_zstd1(s, [](uint64_t i) { return EventBody(pio_loop_event(i)); }); }
void BM_ChunkLz4Mixed(benchmark::State& s) { compress_lz4(s, mixed_event); }
void BM_ChunkZstd1Mixed(benchmark::State& s) { compress_zstd1(s, mixed_event); }
BENCHMARK(BM_ChunkLz4PioLoop)->Unit(benchmark::kMicrosecond);

// The userspace half of a recorded harvest, without KVM: a 1 GiB slot's
// bitmap with every k-th page dirty (the KVM harvest benchmarks' pattern;
// the argument is per mille) encoded into a DirtyEvent, and that event
// appended to a trace writer (its checks and its copy into the chunk).
DirtyBitmap gib_bitmap(int permille) {
    const uint64_t pages = (1ull << 30) / 4096;
    DirtyBitmap b{3, 0, pages, std::vector<uint64_t>(pages / 64)};
    if (permille > 0)
        for (uint64_t p = 512; p < pages; p += 1000 / static_cast<uint64_t>(permille)) b.words[p / 64] |= uint64_t{1} << (p % 64);
    return b;
}
void BM_MakeDirtyEvent1GiB(benchmark::State& state) {
    const DirtyBitmap b = gib_bitmap(static_cast<int>(state.range(0)));
    uint64_t pages = 0;
    for (auto _ : state) {
        DirtyEvent e = make_dirty_event(b, 1);
        pages = e.dirty_pages;
        benchmark::DoNotOptimize(e.runs.data());
    }
    state.counters["dirty pages"] = static_cast<double>(pages);
}
BENCHMARK(BM_MakeDirtyEvent1GiB)->Arg(0)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);
void BM_AppendDirtyEvent1GiB(benchmark::State& state) {
    const DirtyEvent e = make_dirty_event(gib_bitmap(static_cast<int>(state.range(0))), 1);
    const std::string path = temp_path() + ".dirty";
    {
        TraceWriter w(path, TraceHeader{});
        for (auto _ : state) w.append(0, e);
        w.close();
    }
    std::filesystem::remove(path);
    state.counters["runs bytes"] = static_cast<double>(e.runs.size());
}
BENCHMARK(BM_AppendDirtyEvent1GiB)->Arg(0)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);
// What the recorder's harvest does now: TraceWriter::append_dirty copies
// the words and leaves the encoding to the writer's thread.
//   BM_AppendDirtyBitmap1GiB        the vCPU's side alone: only the call is
//                                   timed, and the writer is flushed
//                                   (untimed) after each, as when harvests
//                                   are further apart than their encoding;
//                                   an event appended after the flush, as
//                                   exits' events come between harvests,
//                                   puts the call in a chunk in use (the
//                                   first event of a chunk faults in its
//                                   fresh memory: ~1 us more here);
//   BM_AppendDirtyBitmap1GiBSustained  back to back, untimed nothing: the
//                                   writer's thread (encoding, packing, LZ4,
//                                   write) sets the pace once its queue is
//                                   full, so this is the whole cost.
void BM_AppendDirtyBitmap1GiB(benchmark::State& state) {
    const DirtyBitmap b = gib_bitmap(static_cast<int>(state.range(0)));
    const std::string path = temp_path() + ".bitmap";
    {
        TraceWriter w(path, TraceHeader{});
        uint64_t epoch = 0;
        for (auto _ : state) {
            const auto t0 = std::chrono::steady_clock::now();
            w.append_dirty(0, b, epoch++, 0);
            state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            w.flush();
            w.append(0, ClockEvent{static_cast<int64_t>(epoch)});
        }
        w.close();
    }
    std::filesystem::remove(path);
}
BENCHMARK(BM_AppendDirtyBitmap1GiB)->Arg(0)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->UseManualTime()->Unit(benchmark::kMicrosecond);
void BM_AppendDirtyBitmap1GiBSustained(benchmark::State& state) {
    const DirtyBitmap b = gib_bitmap(static_cast<int>(state.range(0)));
    const std::string path = temp_path() + ".bitmaps";
    {
        TraceWriter w(path, TraceHeader{});
        uint64_t epoch = 0;
        for (auto _ : state) w.append_dirty(0, b, epoch++, 0);
        w.close();
    }
    std::filesystem::remove(path);
}
BENCHMARK(BM_AppendDirtyBitmap1GiBSustained)->Arg(0)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ChunkZstd1PioLoop)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ChunkLz4Mixed)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ChunkZstd1Mixed)->Unit(benchmark::kMicrosecond);

// Real traces: every golden fixture trace (fixtures/traces/, recorded on
// KVM) and a pio_loop of 100,000 writes recorded here (KVM where it can,
// the emulator otherwise), their events re-chunked as the writer chunks
// them and compressed with LZ4 and with zstd -1: bytes per event of the
// file as written, of the packed chunks, and of each codec's output.
void fixture_codecs(benchmark::State& state, const std::string& path) {
    TraceReader r = TraceReader::open(path);
    std::vector<TraceEvent> ev;
    TraceEvent e;
    while (r.next(e)) ev.push_back(e);
    std::vector<std::vector<uint8_t>> chunks;
    for (size_t i = 0; i < ev.size(); i += 8192)
        chunks.push_back(encode_chunk(std::span(ev).subspan(i, std::min<size_t>(8192, ev.size() - i))));
    size_t packed = 0, lz4 = 0, zstd = 0;
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    for (auto _ : state) {
        packed = lz4 = zstd = 0;
        for (const auto& c : chunks) {
            std::vector<char> out(ZSTD_compressBound(c.size()) + static_cast<size_t>(LZ4_compressBound(static_cast<int>(c.size()))));
            packed += c.size();
            lz4 += static_cast<size_t>(LZ4_compress_default(reinterpret_cast<const char*>(c.data()), out.data(),
                                                            static_cast<int>(c.size()), static_cast<int>(out.size())));
            zstd += ZSTD_compressCCtx(cctx, out.data(), out.size(), c.data(), c.size(), 1);
        }
    }
    ZSTD_freeCCtx(cctx);
    const double n = static_cast<double>(ev.size());
    state.counters["events"] = n;
    state.counters["file B/ev"] = static_cast<double>(std::filesystem::file_size(path)) / n;
    state.counters["packed B/ev"] = static_cast<double>(packed) / n;
    state.counters["lz4 B/ev"] = static_cast<double>(lz4) / n;
    state.counters["zstd1 B/ev"] = static_cast<double>(zstd) / n;
    state.SetLabel(r.header().accelerator.empty() ? "" : "recorded on " + r.header().accelerator);
}

const int kRegisterFixtureCodecs = [] {
    const std::filesystem::path dir = std::filesystem::path(KVMRR_SOURCE_DIR) / "fixtures" / "traces";
    std::vector<std::string> traces;
    for (const auto& f : std::filesystem::directory_iterator(dir))
        if (f.path().extension() == ".trace") traces.push_back(f.path().string());
    std::sort(traces.begin(), traces.end());
    for (const std::string& t : traces)
        benchmark::RegisterBenchmark(("BM_FixtureCodecs/" + std::filesystem::path(t).stem().string()).c_str(),
                                     [t](benchmark::State& s) { fixture_codecs(s, t); })
            ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("BM_FixtureCodecs/pio_loop_100000", [](benchmark::State& s) {
        const std::string path = temp_path() + ".pio100k";
        RecordRequest req;
        req.run.guest.fixture = "pio_loop";
        req.run.guest.args = {100000};
        req.run.serial_out = [](uint8_t) {};
        req.output = path;
        const RecordReport rep = record_guest(req);
        fixture_codecs(s, path);
        s.counters["file B/exit"] = static_cast<double>(std::filesystem::file_size(path)) / static_cast<double>(rep.run.result.exits);
        std::filesystem::remove(path);
    })->Unit(benchmark::kMicrosecond)->Iterations(3);
    return 0;
}();

}  // namespace
}  // namespace kvmrr
