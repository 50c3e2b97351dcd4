#include "record/trace_writer.h"

#include <fcntl.h>
#include <lz4.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY  // XXH64_state_t on the stack
#include <xxhash.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "core/error.h"
#include "record/capnp_convert.h"
#include "record/dirty_runs.h"
#include "record/trace_format.h"

namespace kvmrr {
namespace {

struct IndexEntry {
    uint64_t offset, first_seq;
    uint32_t count;
};

// A dirty event whose runs are still to be encoded from these words.
struct PendingBitmap {
    size_t index = 0;  // of the DirtyEvent in its chunk
    std::vector<uint64_t> words;
};

struct Job {
    uint64_t first_seq = 0;
    std::vector<TraceEvent> events;
    std::vector<PendingBitmap> bitmaps;
};

// Encodes the runs of the chunk's pending dirty events in place.
void encode_pending(Job& job) {
    for (PendingBitmap& p : job.bitmaps) {
        auto& d = std::get<DirtyEvent>(job.events[p.index].body);
        DirtyBitmap b{d.slot, d.guest_phys, d.pages, std::move(p.words)};
        DirtyEvent runs = make_dirty_event(b, d.epoch);
        d.dirty_pages = runs.dirty_pages;
        d.runs = std::move(runs.runs);
        p.words = std::move(b.words);  // back, for reuse
    }
}

// Copies a bitmap into a buffer the writer's thread read last: with
// ordinary stores each cache line would first be taken back from that
// core (4 us a GiB's bitmap, measured, against 0.5 us); streaming stores
// write around the cache. Small bitmaps are copied as usual.
void copy_words(uint64_t* dst, const uint64_t* src, size_t n) {
#if defined(__SSE2__)
    if (n >= 512 && reinterpret_cast<uintptr_t>(dst) % 16 == 0) {
        size_t i = 0;
        for (; i + 2 <= n; i += 2)
            _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i),
                             _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
        if (i < n) dst[i] = src[i];
        _mm_sfence();  // the streamed words are seen before the chunk is handed over
        return;
    }
#endif
    std::memcpy(dst, src, n * sizeof(uint64_t));
}

// Word buffers kept for the next copies: a fresh 32 KiB buffer per GiB
// and harvest, faulted in anew each time, cost more than the copy.
constexpr size_t kSpareBitmaps = 16;

}  // namespace

// Lock order: there is one mutex (mu). The caller's thread owns `current`,
// `next_seq` and `kind_counts`; the background thread owns the encoder;
// everything they share is under mu.
struct TraceWriter::Impl {
    std::string path;
    TraceWriterOptions opt;
    uint32_t vcpu_count = 0;
    uint32_t min_reader_version = 0;
    int fd = -1;
    bool closed = false;
    // replace_atomically: the file has no name yet (O_TMPFILE), or this
    // temporary one where the file system has no O_TMPFILE.
    bool unnamed = false;
    std::string temp_path;

    // The caller's thread.
    std::vector<TraceEvent> current;
    std::vector<PendingBitmap> current_bitmaps;
    uint64_t current_bytes = 0;
    uint64_t current_first = 0;
    uint64_t next_seq = 0;
    std::array<uint64_t, kEventKindNames.size()> kind_counts{};

    // Shared, under mu.
    mutable std::mutex mu;
    std::condition_variable work_cv, space_cv, idle_cv;
    std::deque<Job> queue;
    bool busy = false, stopping = false;
    std::string error;
    std::atomic<bool> failed{false};
    uint64_t offset = 0;  // file bytes written
    std::vector<IndexEntry> index;
    uint64_t bytes_uncompressed = 0, bytes_compressed = 0;
    std::vector<std::vector<uint64_t>> spare_bitmaps;  // the worker's, emptied, for append_dirty's copies

    std::thread worker;

    void fail(const std::string& what) {
        std::lock_guard lk(mu);
        if (error.empty()) error = what;
        failed.store(true, std::memory_order_release);
    }

    void throw_if_failed() const {
        if (!failed.load(std::memory_order_acquire)) return;
        std::lock_guard lk(mu);
        throw Error(error);
    }

    void write_all(const uint8_t* p, size_t n, uint64_t at) const {
        const uint64_t start = at;
        while (n > 0) {
            const ssize_t w = ::write(fd, p, n);
            if (w < 0) {
                if (errno == EINTR) continue;
                const int err = errno;
                throw Error("writing trace " + path + " at byte " + std::to_string(at) + " (" + std::to_string(n) +
                            " bytes of a write that started at byte " + std::to_string(start) +
                            ") failed: " + std::strerror(err) + " (errno " + std::to_string(err) + ")");
            }
            p += w;
            n -= static_cast<size_t>(w);
            at += static_cast<uint64_t>(w);
        }
    }

    // The background thread.
    void run() {
        for (;;) {
            Job job;
            {
                std::unique_lock lk(mu);
                work_cv.wait(lk, [&] { return !queue.empty() || stopping; });
                if (queue.empty()) return;
                job = std::move(queue.front());
                queue.pop_front();
                busy = true;
            }
            space_cv.notify_one();
            if (!failed.load(std::memory_order_acquire)) {
                try {
                    write_chunk(job);
                } catch (const std::exception& ex) {
                    fail(ex.what());
                } catch (...) {
                    fail("writing trace " + path + ": unexpected exception");
                }
            }
            job.events = {};  // free outside the lock
            {
                std::lock_guard lk(mu);
                busy = false;
                for (PendingBitmap& p : job.bitmaps)
                    if (spare_bitmaps.size() < kSpareBitmaps) spare_bitmaps.push_back(std::move(p.words));
            }
            job.bitmaps = {};
            idle_cv.notify_all();
        }
    }

    void write_chunk(Job& job) {
        encode_pending(job);
        const std::vector<uint8_t> packed = encode_chunk(job.events);
        if (packed.size() > kMaxChunkBytes)
            throw Error("trace " + path + ": a chunk packs to " + std::to_string(packed.size()) +
                        " bytes, more than the limit of " + std::to_string(kMaxChunkBytes));
        const int bound = LZ4_compressBound(static_cast<int>(packed.size()));
        std::vector<uint8_t> buf(kChunkHeaderBytes + static_cast<size_t>(bound));
        const int csize = LZ4_compress_default(reinterpret_cast<const char*>(packed.data()),
                                               reinterpret_cast<char*>(buf.data() + kChunkHeaderBytes),
                                               static_cast<int>(packed.size()), bound);
        if (csize <= 0) throw Error("trace " + path + ": LZ4 compression of a chunk failed");
        uint8_t* h = buf.data();
        std::memcpy(h, kChunkMagic.data(), 4);
        put_le32(h + 4, static_cast<uint32_t>(packed.size()));
        put_le32(h + 8, static_cast<uint32_t>(csize));
        put_le32(h + 12, static_cast<uint32_t>(job.events.size()));
        put_le64(h + 16, job.first_seq);
        put_le64(h + 24, 0);
        XXH64_state_t st;
        XXH64_reset(&st, 0);
        XXH64_update(&st, h, kChunkHashedHeaderBytes);
        XXH64_update(&st, h + kChunkHeaderBytes, static_cast<size_t>(csize));
        put_le64(h + 32, XXH64_digest(&st));

        uint64_t at;
        {
            std::lock_guard lk(mu);
            at = offset;
        }
        const size_t total = kChunkHeaderBytes + static_cast<size_t>(csize);
        write_all(buf.data(), total, at);
        std::lock_guard lk(mu);
        index.push_back({at, job.first_seq, static_cast<uint32_t>(job.events.size())});
        offset += total;
        bytes_uncompressed += packed.size();
        bytes_compressed += static_cast<uint64_t>(csize);
    }

    // The caller's thread.
    void admit(const TraceEvent& e, uint64_t size) const;
    uint64_t push(TraceEvent&& e, uint64_t size);

    void seal() {
        if (current.empty()) return;
        Job job{current_first, std::move(current), std::move(current_bitmaps)};
        current = {};
        current_bitmaps = {};
        current.reserve(opt.chunk_events);
        current_first = next_seq;
        current_bytes = 0;
        {
            std::unique_lock lk(mu);
            space_cv.wait(lk, [&] { return queue.size() < opt.queue_depth; });
            queue.push_back(std::move(job));
        }
        work_cv.notify_one();
    }

    void wait_idle() {
        std::unique_lock lk(mu);
        idle_cv.wait(lk, [&] { return queue.empty() && !busy; });
    }

    void write_footer() {
        std::lock_guard lk(mu);  // the worker is idle; the lock documents that index and offset are shared
        if (index.size() > UINT32_MAX) throw Error("trace " + path + " has too many chunks for a footer");
        std::vector<uint8_t> f(kFooterFixedBytes + index.size() * kFooterEntryBytes + kChecksumBytes + kTrailerBytes);
        uint8_t* p = f.data();
        std::memcpy(p, kFooterMagic.data(), 4);
        put_le32(p + 4, static_cast<uint32_t>(index.size()));
        put_le64(p + 8, next_seq);
        p += kFooterFixedBytes;
        for (const IndexEntry& e : index) {
            put_le64(p, e.offset);
            put_le64(p + 8, e.first_seq);
            put_le32(p + 16, e.count);
            put_le32(p + 20, 0);
            p += kFooterEntryBytes;
        }
        put_le64(p, XXH64(f.data(), static_cast<size_t>(p - f.data()), 0));
        p += kChecksumBytes;
        put_le64(p, offset);
        std::memcpy(p + 8, kTrailerMagic.data(), 8);
        write_all(f.data(), f.size(), offset);
        offset += f.size();
    }

    void sync_file() const {
        if (opt.sync && ::fdatasync(fd) != 0) {
            const int err = errno;
            throw Error("syncing trace " + path + " failed: " + std::strerror(err) + " (errno " + std::to_string(err) +
                        ")");
        }
    }

    // A name beside `path` that is not taken: "DIR/.NAME.kvmrr-XXXXXXXX".
    std::string fresh_temp_name(std::mt19937_64& rng) const {
        const std::filesystem::path p(path);
        char suffix[20];
        std::snprintf(suffix, sizeof suffix, "%08llx", static_cast<unsigned long long>(rng() & 0xffffffffu));
        return (p.parent_path() / ("." + p.filename().string() + ".kvmrr-" + suffix)).string();
    }

    // Opens the file the trace is written to: `path` itself, or with
    // replace_atomically an unnamed file in its directory.
    void open_file() {
        auto fail_create = [&](const std::string& what) {
            const int err = errno;
            throw Error("cannot create trace " + what + ": " + std::strerror(err) + " (errno " + std::to_string(err) + ")");
        };
        if (!opt.replace_atomically) {
            fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0) fail_create(path);
            return;
        }
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) throw Error("cannot create trace " + path + ": it is a directory");
        std::string dir = std::filesystem::path(path).parent_path().string();
        if (dir.empty()) dir = ".";
        fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) {
            unnamed = true;
            return;
        }
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) fail_create(path);
        std::mt19937_64 rng(std::random_device{}());
        for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
            temp_path = fresh_temp_name(rng);
            fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            if (fd < 0 && errno != EEXIST) fail_create(temp_path + " (for " + path + ")");
        }
        if (fd < 0) fail_create(temp_path + " (for " + path + ")");
    }

    // Gives the finished file its name, replacing what `path` held in one
    // rename(). The file is still open (an unnamed one is linked through
    // /proc/self/fd).
    void publish() {
        auto fail = [&](const std::string& what) {
            const int err = errno;
            throw Error(what + ": " + std::strerror(err) + " (errno " + std::to_string(err) + ")");
        };
        if (unnamed) {
            const std::string self = "/proc/self/fd/" + std::to_string(fd);
            std::mt19937_64 rng(std::random_device{}());
            for (int attempt = 0; attempt < 16; ++attempt) {
                temp_path = fresh_temp_name(rng);
                if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temp_path.c_str(), AT_SYMLINK_FOLLOW) == 0) break;
                if (errno != EEXIST) {
                    temp_path.clear();
                    fail("naming trace " + path);
                }
                temp_path.clear();
            }
            if (temp_path.empty()) fail("naming trace " + path);
        }
        if (::rename(temp_path.c_str(), path.c_str()) != 0) fail("renaming " + temp_path + " to " + path);
        temp_path.clear();
    }

    // An abandoned trace leaves nothing behind; never throws.
    void discard() noexcept {
        if (!temp_path.empty()) ::unlink(temp_path.c_str());
        temp_path.clear();
    }

    // Stops the background thread and closes the file; never throws.
    // Returns the errno of close(), or 0.
    int shutdown() noexcept {
        if (worker.joinable()) {
            {
                std::lock_guard lk(mu);
                stopping = true;
            }
            work_cv.notify_all();
            worker.join();
        }
        int err = 0;
        if (fd >= 0 && ::close(fd) != 0) err = errno;
        fd = -1;
        closed = true;
        return err;
    }
};

TraceWriter::TraceWriter(std::string path, const TraceHeader& header, TraceWriterOptions options)
    : impl_(std::make_unique<Impl>()) {
    Impl& w = *impl_;
    w.path = std::move(path);
    w.opt = options;
    if (options.chunk_events == 0 || options.chunk_events > kMaxChunkEvents)
        throw Error("trace " + w.path + ": chunk_events " + std::to_string(options.chunk_events) + " (1 to " +
                    std::to_string(kMaxChunkEvents) + ")");
    if (options.queue_depth == 0) throw Error("trace " + w.path + ": queue_depth 0 (at least 1)");
    if (options.chunk_bytes == 0 || options.chunk_bytes > kMaxChunkMessageBytes / 2)
        throw Error("trace " + w.path + ": chunk_bytes " + std::to_string(options.chunk_bytes) + " (1 to " +
                    std::to_string(kMaxChunkMessageBytes / 2) + ")");
    if (auto why = header_problem(header)) throw Error("trace " + w.path + ": bad header: " + *why);
    w.vcpu_count = header.vcpu_count;
    w.min_reader_version = header.min_reader_version;

    const std::vector<uint8_t> msg = encode_header(header);
    if (msg.size() > kMaxHeaderBytes)
        throw Error("trace " + w.path + ": the header takes " + std::to_string(msg.size()) +
                    " bytes, more than the limit of " + std::to_string(kMaxHeaderBytes));
    std::vector<uint8_t> buf(kFileHeaderFixedBytes + msg.size() + kChecksumBytes);
    std::memcpy(buf.data(), kFileMagic.data(), 8);
    put_le32(buf.data() + 8, header.format_version);
    put_le32(buf.data() + 12, header.min_reader_version);
    put_le32(buf.data() + 16, static_cast<uint32_t>(msg.size()));
    put_le32(buf.data() + 20, 0);
    std::memcpy(buf.data() + kFileHeaderFixedBytes, msg.data(), msg.size());
    put_le64(buf.data() + kFileHeaderFixedBytes + msg.size(), XXH64(msg.data(), msg.size(), 0));

    w.open_file();
    try {
        w.write_all(buf.data(), buf.size(), 0);
        w.offset = buf.size();
        w.current.reserve(options.chunk_events);
        w.worker = std::thread([&w] { w.run(); });
    } catch (...) {
        w.shutdown();
        w.discard();
        throw;
    }
}

TraceWriter::~TraceWriter() {
    if (impl_->opt.replace_atomically && !impl_->closed) {
        impl_->shutdown();
        impl_->discard();
        return;
    }
    try {
        close();
    } catch (...) {
        // Destructors do not throw; close() reports errors to those who call it.
    }
}

// Throws unless the writer can take `e`, which is estimated to carry
// `size` bytes.
void TraceWriter::Impl::admit(const TraceEvent& e, uint64_t size) const {
    if (closed) throw Error("trace " + path + " is closed");
    throw_if_failed();
    // Accesses are written as Event.access, which a reader older than
    // format 4 cannot skip: a header that admits such readers would lie.
    if (std::holds_alternative<AccessEvent>(e.body) && min_reader_version < kTraceInlineAccessVersion)
        throw Error("trace " + path + ": refusing event #" + std::to_string(e.seq) +
                    " (access): accesses need min_reader_version " + std::to_string(kTraceInlineAccessVersion) +
                    " and the header declares " + std::to_string(min_reader_version));
    if (auto why = event_problem(e, vcpu_count))
        throw Error("trace " + path + ": refusing event #" + std::to_string(e.seq) + " (" + event_kind(e) +
                    "): " + *why);
    if (size > kMaxEventBytes)
        throw Error("trace " + path + ": refusing event #" + std::to_string(e.seq) + " (" + event_kind(e) +
                    "): it carries about " + std::to_string(size) + " bytes, more than the limit of " +
                    std::to_string(kMaxEventBytes));
}

uint64_t TraceWriter::Impl::push(TraceEvent&& e, uint64_t size) {
    ++kind_counts[event_kind_index(e)];
    current.push_back(std::move(e));
    current_bytes += size;
    const uint64_t seq = next_seq++;
    if (current.size() >= opt.chunk_events || current_bytes >= opt.chunk_bytes) seal();
    return seq;
}

uint64_t TraceWriter::append(uint16_t vcpu, EventBody body) {
    Impl& w = *impl_;
    TraceEvent e{w.next_seq, vcpu, std::move(body)};
    const uint64_t size = estimate_event_bytes(e);
    w.admit(e, size);
    return w.push(std::move(e), size);
}

uint64_t TraceWriter::append_dirty(uint16_t vcpu, const DirtyBitmap& b, uint64_t epoch, uint64_t time_ns) {
    Impl& w = *impl_;
    // Each varint of the runs takes at most as many bytes as the pages it
    // counts, but for a first gap of 0 pages: the runs need at most
    // pages + 1 bytes. That bound counts towards the chunk's size, so a
    // chunk never packs past its limit; a slot whose runs could pass the
    // event limit is encoded here, where the refusal can still be thrown.
    const uint64_t runs_bound = b.pages + 1;
    if (runs_bound > kMaxEventBytes) return EventSink::append_dirty(vcpu, b, epoch, time_ns);
    TraceEvent e{w.next_seq, vcpu, dirty_event_header(b, epoch, time_ns)};
    // A clean bitmap has no runs: its event is complete as it is, and a
    // scan for a dirty word is cheaper than the copy.
    if (!b.any()) {
        const uint64_t size = estimate_event_bytes(e);
        w.admit(e, size);
        return w.push(std::move(e), size);
    }
    const uint64_t size = estimate_event_bytes(e) + runs_bound;
    w.admit(e, size);
    // Words past the slot's last page are not the slot's (make_dirty_event
    // ignores them); missing ones are clean.
    const size_t words = static_cast<size_t>(std::min<uint64_t>(b.words.size(), (b.pages + 63) / 64));
    std::vector<uint64_t> copy;
    {
        std::lock_guard lk(w.mu);
        if (!w.spare_bitmaps.empty()) {
            copy = std::move(w.spare_bitmaps.back());
            w.spare_bitmaps.pop_back();
        }
    }
    copy.resize(words);
    copy_words(copy.data(), b.words.data(), words);
    w.current_bitmaps.push_back({w.current.size(), std::move(copy)});
    return w.push(std::move(e), size);
}

void TraceWriter::flush() {
    Impl& w = *impl_;
    if (w.closed) throw Error("trace " + w.path + " is closed");
    w.throw_if_failed();
    w.seal();
    w.wait_idle();
    w.throw_if_failed();
    w.sync_file();
}

void TraceWriter::close() {
    Impl& w = *impl_;
    if (w.closed) return;
    try {
        flush();
        w.write_footer();
        w.sync_file();
        if (w.opt.replace_atomically) w.publish();
    } catch (...) {
        w.shutdown();
        w.discard();
        throw;
    }
    if (const int err = w.shutdown())
        throw Error("closing trace " + w.path + " failed: " + std::strerror(err) + " (errno " + std::to_string(err) +
                    ")");
}

TraceWriterStats TraceWriter::stats() const {
    const Impl& w = *impl_;
    TraceWriterStats s;
    for (size_t i = 0; i < w.kind_counts.size(); ++i)
        if (w.kind_counts[i] != 0) s.events_by_kind[kEventKindNames[i]] = w.kind_counts[i];
    s.events = w.next_seq;
    std::lock_guard lk(w.mu);
    s.chunks = w.index.size();
    s.bytes_uncompressed = w.bytes_uncompressed;
    s.bytes_compressed = w.bytes_compressed;
    s.file_bytes = w.offset;
    return s;
}

const std::string& TraceWriter::path() const { return impl_->path; }

}  // namespace kvmrr
