// TraceReader: reads a kvmrr trace file (docs/TRACE_FORMAT.md) back into
// TraceEvents, one chunk in memory at a time, and says what is wrong with
// a trace that is not whole.
//
// open() reads and checks the file header and refuses, with a
// kvmrr::Error naming the file, what cannot be read at all: not a trace,
// a trace that needs a newer reader (the message names both versions), a
// damaged or cut-short header. A trace written by a newer writer that
// older readers may read (min_reader_version <= ours) is read, and
// notes() says so. The footer, when its trailer and checksum are good,
// gives the chunk index (seek() uses it); without one the chunks are
// scanned from the start.
//
// next() stops, without throwing, at the first chunk that is cut short or
// damaged in any way (header, sizes, checksum, LZ4 data, Cap'n Proto
// message, event contents, sequence numbers, disagreement with the
// footer): every event it returned is exactly what was written, and
// damage() then says what was lost and where. A trace whose writer died
// before close() reads back every complete chunk and reports "no footer".
// No length in the file is trusted past the file's size and the limits in
// trace_format.h, so a hostile file costs bounded memory and time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "record/trace_event.h"

namespace kvmrr {

struct TraceReaderOptions {
    // false only for fuzzing: lets mutated inputs past the checksums into
    // the decoder. Everything else is still checked.
    bool verify_checksums = true;
};

enum class TraceDamageKind {
    NoFooter,        // every chunk is complete but there is no footer: the writer did not close the trace
    CutShort,        // the file ends inside a chunk or the footer (a torn write)
    Corrupt,         // bytes that do not check: magic, size, checksum, LZ4 data, message, event, sequence
    FooterMismatch,  // a footer with a good checksum that disagrees with the chunks
    TrailerMissing,  // an intact footer that agrees with the chunks, but no valid trailer after it
};

// Where and why reading stopped before the end of a whole trace.
struct TraceDamage {
    TraceDamageKind kind = TraceDamageKind::Corrupt;
    std::string reason;         // what is wrong at `offset`
    uint64_t offset = 0;        // first byte not read
    uint64_t bytes_after = 0;   // file bytes from `offset` to the end, not read
    uint64_t events_read = 0;   // events in the complete chunks before `offset`
    uint64_t chunks_read = 0;   // complete chunks before `offset`
    bool footer_found = false;  // a valid footer was found (through the trailer, or by scanning)
    std::optional<uint64_t> footer_events;  // the total the footer lists, when it was found
    std::string describe() const;           // one line, for people
};

struct ChunkIndexEntry {
    uint64_t offset = 0;     // of the chunk header in the file
    uint64_t first_seq = 0;  // of its first event
    uint32_t events = 0;
    bool operator==(const ChunkIndexEntry&) const = default;
};

class TraceReader {
public:
    using Options = TraceReaderOptions;

    // Throws kvmrr::Error naming `path` when the file cannot be read as a trace.
    static TraceReader open(const std::string& path, TraceReaderOptions options = {});
    // The same for a trace in memory; `name` stands for the path in messages.
    static TraceReader open_memory(std::vector<uint8_t> bytes, std::string name, TraceReaderOptions options = {});

    TraceReader(TraceReader&&) noexcept;
    TraceReader& operator=(TraceReader&&) noexcept;
    ~TraceReader();

    const TraceHeader& header() const;
    uint32_t format_version() const;      // from the file header
    uint32_t min_reader_version() const;  // from the file header
    // Things worth saying that are not damage (a trace from a newer writer;
    // a trailer that pointed at a damaged footer).
    const std::vector<std::string>& notes() const;

    // The next event, its seq assigned; false at the end of what can be
    // read (see damage()). Throws kvmrr::Error only for an I/O error.
    bool next(TraceEvent& out);
    // The events read from the file and not yet taken: the rest of the
    // current chunk, the next chunk read when none is left; empty where
    // next() would return false. The caller may move events out, and must
    // then take them with consume(n) (the first n) before any other call.
    // Replay reads this way: no call per event.
    std::span<TraceEvent> buffered();
    void consume(size_t n);
    // Positions the reader so that next() returns event `seq`; false if
    // there is no such event (past the end, or behind damage). Uses the
    // footer's index when there is one, else scans from the start
    // (checking each chunk's checksum, decompressing only the one with seq).
    bool seek(uint64_t seq);
    uint64_t events_read() const;  // events next() returned

    bool has_footer() const;  // a valid footer was found through the trailer at open()
    // Events in the trace according to the footer.
    std::optional<uint64_t> event_count() const;
    // The footer's chunk index (empty without a footer).
    const std::vector<ChunkIndexEntry>& chunk_index() const;
    // The trace is whole: footer valid and nothing read contradicts it.
    // Final once next() returned false.
    bool complete() const;
    // What is wrong, once reading reached it (final once next() returned false).
    const std::optional<TraceDamage>& damage_info() const;
    std::optional<std::string> damage() const;

    const std::string& name() const;
    uint64_t file_size() const;

private:
    // The event next() would return, reading the next chunk if need be;
    // nullptr where next() would return false.
    const TraceEvent* peek();
    struct Impl;
    explicit TraceReader(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace kvmrr
