// The numbers that define the kvmrr trace container, byte for byte.
//
// docs/TRACE_FORMAT.md is the prose version of this file: a file header
// (magic, versions, the TraceHeader message and its checksum), then chunks
// (a 40-byte header and an LZ4 block of a packed Chunk message), then a
// footer indexing the chunks and a 16-byte trailer. The writer and the
// reader both take their sizes, magics and limits from here, so the two
// cannot drift apart. The limits are what a reader accepts from a file
// before it allocates anything: a length in a file is never trusted past
// them or past the file's size.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <variant>

#include "record/trace_event.h"

namespace kvmrr {

// The newest format version this build reads (and the one it writes).
inline constexpr uint32_t kTraceReaderVersion = kTraceFormatVersion;

// File header: magic, u32 format_version, u32 min_reader_version,
// u32 header_length, u32 reserved (0), then header_length bytes of the
// TraceHeader message (unpacked, flat), then its u64 xxHash64.
inline constexpr std::array<uint8_t, 8> kFileMagic = {'K', 'V', 'M', 'R', 'R', 'T', 'R', 'C'};
inline constexpr size_t kFileHeaderFixedBytes = 24;
inline constexpr size_t kChecksumBytes = 8;

// Chunk header: "KCHK", u32 uncompressed size, u32 compressed size,
// u32 event count, u64 first sequence number, u64 reserved (0), u64
// xxHash64 over the first 32 header bytes followed by the payload.
inline constexpr std::array<uint8_t, 4> kChunkMagic = {'K', 'C', 'H', 'K'};
inline constexpr size_t kChunkHeaderBytes = 40;
inline constexpr size_t kChunkHashedHeaderBytes = 32;

// Footer: "KFTR", u32 chunk count, u64 total events, one 24-byte entry a
// chunk (u64 offset, u64 first seq, u32 event count, u32 reserved), u64
// xxHash64 of all footer bytes before it. Trailer: u64 footer offset,
// "KVMRREND".
inline constexpr std::array<uint8_t, 4> kFooterMagic = {'K', 'F', 'T', 'R'};
inline constexpr size_t kFooterFixedBytes = 16;
inline constexpr size_t kFooterEntryBytes = 24;
inline constexpr std::array<uint8_t, 8> kTrailerMagic = {'K', 'V', 'M', 'R', 'R', 'E', 'N', 'D'};
inline constexpr size_t kTrailerBytes = 16;

// Limits. A chunk's packed and compressed sizes are at most kMaxChunkBytes;
// its unpacked message at most kMaxChunkMessageBytes (the writer seals a
// chunk long before: TraceWriterOptions::chunk_bytes); one event's data at
// most kMaxEventBytes; a chunk at most kMaxChunkEvents events (which also
// bounds what a reader allocates for one chunk's events).
inline constexpr uint32_t kMaxChunkBytes = 64u << 20;
inline constexpr uint64_t kMaxChunkMessageBytes = 32u << 20;
inline constexpr uint64_t kMaxEventBytes = 16u << 20;
inline constexpr uint32_t kMaxChunkEvents = 1u << 18;
inline constexpr uint64_t kMaxHeaderBytes = 256u << 20;
// Header fields a reader believes: KVM_MAX_VCPUS is 4096 on x86 (MAXSMP);
// KVM's memslot table has at most KVM_MEM_SLOTS_NUM (SHRT_MAX) entries,
// and replay sizes its own by the recorded one; a time-out becomes a
// signed count of ms (2^53 ms: 285,000 years).
inline constexpr uint32_t kMaxTraceVcpus = 4096;
inline constexpr uint32_t kMaxTraceMemslots = 32767;
inline constexpr uint64_t kMaxTraceTimeoutMs = uint64_t{1} << 53;
// Cap'n Proto reader limits: the traversal limit bounds the work and the
// memory a message may claim; the nesting limit is far above the schema's
// depth (about 5).
inline constexpr uint64_t kChunkTraversalWords = (2 * kMaxChunkMessageBytes) / 8;
inline constexpr int kMessageNestingLimit = 16;

// Event kinds in a fixed order (the names are event_kind()'s), for
// counting by kind without string keys on the vCPU thread.
inline constexpr std::array<const char*, 16> kEventKindNames = {
    "pio",     "mmio",      "topology",  "memslot",    "dirty",     "dma-write", "clock",   "entropy",
    "serial-in", "disk-read", "disk-write", "region-def", "end",     "interrupt", "dma-read", "pause"};

inline size_t event_kind_index(const TraceEvent& e) {
    const size_t i = e.body.index();
    if (i == 0) return std::get<AccessEvent>(e.body).io ? 0 : 1;
    return i + 1;
}

// Little-endian integers, independent of the host's byte order.
inline void put_le32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_le64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t get_le32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
    return v;
}
inline uint64_t get_le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}

}  // namespace kvmrr
