// libFuzzer target for what reads a decoded trace: device replay and the
// dirty-page analysis of `kvmrr dirty` (with its heatmap and migration
// estimate). Whatever a trace says, each
// either reports (a divergence, damage, a trace that does not end) or
// throws kvmrr::Error, never crashes, never reads out of bounds, never
// allocates without bound, never hangs. Built with -DKVMRR_FUZZ=ON under
// clang; docs/FUZZING.md says how to run it, tools/check.sh runs it briefly.
//
// The input is a trace file, so that a crash's input is a trace that
// `kvmrr replay` and `kvmrr dirty` read as well. Its checksums would stop
// almost every byte mutation before replay, so the custom mutator below
// decodes the trace, edits what it says and writes it again with the
// project's writer (trace_mutator.h); now and then it damages the result,
// or mutates bytes as libFuzzer does, for the paths of damaged traces.
// Seeds: the golden traces of fixtures/traces/ and trace_fuzz_seeds'.
//
// Guest replay is not fuzzed here: on the emulator each replay that ran
// guest code ends with a full flush of Unicorn's translations, which zeroes
// its whole 1 GiB code buffer (1.1 GiB resident, 1.5 to 7 s per input under
// ASan on this machine), past the fuzzer's limits. docs/FUZZING.md.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "core/error.h"
#include "record/trace_format.h"
#include "record/trace_reader.h"
#include "replay/device_replay.h"
#include "replay/dirty_analysis.h"
#include "replay/dirty_heatmap.h"
#include "replay/migration_estimate.h"
#include "replay/tests/trace_mutator.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using namespace kvmrr;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

void check_report(const ReplayReport& rep) {
    (void)rep.summary();
    if (rep.divergence) (void)rep.divergence->describe();
    if (rep.damage) check(!rep.reproduced());
    if (rep.reproduced()) check(rep.ended);
}

void replay_devices_of(const std::vector<uint8_t>& bytes) {
    TraceReader r = TraceReader::open_memory(bytes, "fuzz");
    try {
        check_report(replay_devices(r));
    } catch (const Error&) {
        // A machine that cannot be built from the header: a clear error.
    }
}

void analyse_dirty_of(const std::vector<uint8_t>& bytes) {
    TraceReader r = TraceReader::open_memory(bytes, "fuzz");
    DirtyReport rep;
    try {
        rep = analyse_dirty(r);
    } catch (const Error&) {
        return;
    }
    (void)dirty_text(rep);
    (void)dirty_json(rep);
    (void)dirty_csv(rep);
    const HeatmapGrid g = heatmap_grid(rep, 64, 64, 2);
    check(g.share.size() == g.rows * g.cols);
    try {
        (void)migration_text(estimate_migration(rep, MigrationParams{125e6, 0.3, 30}));
    } catch (const Error&) {
        // No epoch times, or no logged RAM: nothing to estimate.
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<uint8_t> bytes(data, data + size);
    try {
        (void)TraceReader::open_memory(bytes, "fuzz");
    } catch (const Error&) {
        return 0;  // not a trace: trace_reader_fuzz covers that
    }
    replay_devices_of(bytes);
    analyse_dirty_of(bytes);
    return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
    std::minstd_rand rng(seed);
    if (rng() % 16 == 0) return LLVMFuzzerMutate(data, size, max_size);
    const std::optional<fuzz::DecodedTrace> decoded = fuzz::decode_trace(std::vector<uint8_t>(data, data + size));
    if (!decoded) return LLVMFuzzerMutate(data, size, max_size);
    for (int attempt = 0; attempt < 4; ++attempt) {
        fuzz::DecodedTrace t = *decoded;
        fuzz::mutate_trace(t, rng, LLVMFuzzerMutate);
        std::vector<uint8_t> out;
        try {
            const uint32_t chunk_events = rng() % 4 == 0 ? 8192 : 1 + static_cast<uint32_t>(rng() % 16);
            out = fuzz::encode_trace(t, chunk_events, std::filesystem::temp_directory_path().string());
        } catch (const Error&) {
            continue;  // the writer refuses what no reader would read: try another edit
        }
        // Damage now and then: a flipped byte, no footer, a cut tail.
        switch (rng() % 16) {
        case 0:
            if (!out.empty()) out[rng() % out.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
            break;
        case 1:
            if (out.size() >= 16) out.resize(std::min<uint64_t>(out.size(), get_le64(out.data() + out.size() - 16)));
            break;
        case 2: out.resize(out.size() - rng() % (out.size() / 4 + 1)); break;
        default: break;
        }
        if (out.size() > max_size) continue;
        std::memcpy(data, out.data(), out.size());
        return out.size();
    }
    return LLVMFuzzerMutate(data, size, max_size);
}
