// TraceMutator: the structure-aware mutation of replay_fuzz.cc (a libFuzzer
// custom mutator). A trace is chunked, checksummed Cap'n Proto in LZ4
// (docs/TRACE_FORMAT.md), so a flipped byte almost always stops at a
// checksum and replay never sees it. This decodes the trace, changes what
// it says (a field of the header or of an event, events dropped, repeated,
// moved, the order of a group), and writes it again with the project's
// TraceWriter, so every checksum is right and the change reaches replay.
// Now and then it also damages the re-encoded file (a flipped byte, the
// footer cut off, the tail cut off) so that replay's handling of damage is
// fuzzed as well.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "record/trace_event.h"

namespace kvmrr::fuzz {

// A trace as values: what the mutator edits.
struct DecodedTrace {
    TraceHeader header;
    std::vector<TraceEvent> events;
};

// The header and every event that reads back whole; nothing when the bytes
// are not a trace at all (kvmrr::Error from open()).
std::optional<DecodedTrace> decode_trace(const std::vector<uint8_t>& bytes);

// The trace written with TraceWriter (chunks of `chunk_events`), through a
// file of this process' own in `dir`. Throws kvmrr::Error when the writer
// refuses the header or an event.
std::vector<uint8_t> encode_trace(const DecodedTrace& t, uint32_t chunk_events, const std::string& dir);

// Byte mutation for blobs inside the trace (bulk data, images, runs):
// libFuzzer's own LLVMFuzzerMutate in the fuzzer, something plainer in tests.
using BlobMutator = size_t (*)(uint8_t* data, size_t size, size_t max_size);

// One to a few random edits of `t`, drawn from `rng`.
void mutate_trace(DecodedTrace& t, std::minstd_rand& rng, BlobMutator blob);

}  // namespace kvmrr::fuzz
