// TraceWriter: writes a kvmrr trace file (docs/TRACE_FORMAT.md) while a
// guest runs.
//
// The vCPU thread calls append(), which only checks the event and moves it
// into the current chunk (a std::vector); every chunk_events events (or
// chunk_bytes of event data) the chunk is sealed and handed to a single
// background thread through a queue of queue_depth chunks. That thread
// builds the Cap'n Proto message, packs it, compresses it with LZ4, checks
// it with xxHash64 and writes it; append() blocks only while the queue is
// full. flush() seals the partial chunk and waits until every chunk is in
// the file: an event is acknowledged once a flush() after it returned,
// and a trace cut short by a crash still reads back every acknowledged
// event. close() flushes and writes the footer that indexes the chunks.
// append_dirty() copies a harvested bitmap's words and leaves the run
// encoding (dirty_runs.h) to the background thread too: a harvest stalls
// the vCPU, and the copy costs a fraction of the encoding.
// An I/O error on the background thread is remembered and thrown (naming
// the file and errno) from the next append(), flush() or close().
//
// append(), flush(), close() and stats() are called from one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "record/event_sink.h"
#include "record/trace_event.h"

namespace kvmrr {

struct TraceWriterOptions {
    uint32_t chunk_events = 8192;   // seal a chunk after this many events (1 to kMaxChunkEvents)
    uint32_t queue_depth = 4;       // sealed chunks waiting for the background thread (at least 1)
    uint64_t chunk_bytes = 1 << 20;  // ... or once its events' estimated size reaches this
    bool sync = false;               // fdatasync() in flush() and close(), not only write()
    // Write to a file without a name (or a hidden temporary one) in the
    // same directory and give it `path` only in close(): an existing file
    // is replaced by a whole trace or not at all, and a writer destroyed
    // without close() (a failed run) or a process killed leaves no file
    // behind. Off, the trace is written in place, and a process that dies
    // leaves a file whose complete chunks hold every acknowledged event.
    bool replace_atomically = false;
};

struct TraceWriterStats {
    std::map<std::string, uint64_t> events_by_kind;  // event_kind() -> events appended
    uint64_t events = 0;                             // appended
    uint64_t chunks = 0;                             // written to the file
    uint64_t bytes_uncompressed = 0;                 // packed Cap'n Proto bytes of the written chunks
    uint64_t bytes_compressed = 0;                   // their LZ4 payloads
    uint64_t file_bytes = 0;                         // written to the file so far
};

class TraceWriter final : public EventSink {
public:
    using Options = TraceWriterOptions;

    // Creates (or truncates) `path` (or, with replace_atomically, its
    // temporary stand-in) and writes the file header. Throws
    // kvmrr::Error naming the path if it cannot, or if the header or the
    // options make no sense. header.format_version and min_reader_version
    // are written as given (the defaults are this build's version).
    TraceWriter(std::string path, const TraceHeader& header, TraceWriterOptions options = {});
    // close(), swallowing errors: call close() to see them. With
    // replace_atomically the trace is abandoned instead (`path` untouched).
    ~TraceWriter() override;
    TraceWriter(const TraceWriter&) = delete;
    TraceWriter& operator=(const TraceWriter&) = delete;

    // Records one event; returns its sequence number (0, 1, 2, ...).
    // Throws kvmrr::Error for an event a reader would reject (then nothing
    // is recorded and the sequence number is not used), after close(), or
    // for a remembered I/O error.
    uint64_t append(uint16_t vcpu, EventBody body) override;
    // The DirtyEvent make_dirty_event(b, epoch) gives, stamped with
    // time_ns, encoded on the background thread; checked as append()
    // checks, except for its runs, which are well formed by construction.
    uint64_t append_dirty(uint16_t vcpu, const DirtyBitmap& b, uint64_t epoch, uint64_t time_ns) override;
    // Seals the current chunk and waits until everything appended is written.
    void flush();
    // flush(), then footer and trailer, then close the file (with
    // replace_atomically: then rename it to `path`). Idempotent.
    void close();

    TraceWriterStats stats() const;
    const std::string& path() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace kvmrr
