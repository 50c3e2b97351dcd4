// Conversion between the plain C++ trace values (trace_event.h) and the
// Cap'n Proto messages of record/trace.capnp.
//
// The writer's compression thread calls encode_chunk(); the reader calls
// decode_chunk() and decode_header(). Everything that comes out of a file
// passes through here, so these are where malformed content is caught:
// Cap'n Proto's own errors (kj::Exception: out-of-bounds pointers, limits)
// and absurd values (an access of size 0, bulk data that does not match
// size * count, a dirty run past its slot, an unknown event kind or enum)
// come out as kvmrr::Error with a message saying what was wrong
// (trace_checks.h). The writer applies the same checks (event_problem())
// when an event is appended, so it never writes what a reader would reject.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "record/trace.capnp.h"
#include "record/trace_checks.h"
#include "record/trace_event.h"

namespace kvmrr {

void header_to_capnp(const TraceHeader& h, schema::TraceHeader::Builder b);
TraceHeader header_from_capnp(schema::TraceHeader::Reader r);  // throws Error, kj::Exception
void event_to_capnp(const TraceEvent& e, schema::Event::Builder b);

// An upper bound (roughly) of the bytes e takes in an unpacked message.
uint64_t estimate_event_bytes(const TraceEvent& e);

// The TraceHeader as an unpacked single-segment-table flat array
// (capnp::messageToFlatArray): a multiple of 8 bytes.
std::vector<uint8_t> encode_header(const TraceHeader& h);
// Throws kvmrr::Error saying what is wrong (never kj::Exception).
TraceHeader decode_header(std::span<const uint8_t> bytes);

// A packed Chunk message holding `events` (their seq are not stored).
// Throws kvmrr::Error if the message would pass kMaxChunkMessageBytes.
std::vector<uint8_t> encode_chunk(std::span<const TraceEvent> events);
// Decodes a packed Chunk message that must hold exactly `count` events,
// numbered from first_seq, each passing event_problem(); replaces `out`.
// `scratch` is memory kept between calls for the unpacked message (it
// grows as needed), so reading chunk after chunk does not map fresh pages
// for each one. Throws kvmrr::Error saying what is wrong (never kj::Exception).
void decode_chunk(std::span<const uint8_t> packed, uint64_t first_seq, uint32_t count, uint32_t vcpu_count,
                  std::vector<TraceEvent>& out, std::vector<uint64_t>& scratch);

}  // namespace kvmrr
