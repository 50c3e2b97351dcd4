#include "record/trace_reader.h"

#include <fcntl.h>
#include <lz4.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY  // XXH64_state_t on the stack
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "record/capnp_convert.h"
#include "record/trace_error.h"
#include "record/trace_format.h"

namespace kvmrr {
namespace {

std::string num(uint64_t v) { return std::to_string(v); }

// The bytes of a trace: a file read with pread, or memory.
class Source {
public:
    virtual ~Source() = default;
    virtual uint64_t size() const = 0;
    // Reads exactly n bytes at off; the caller keeps off + n <= size().
    virtual void read(uint64_t off, uint8_t* buf, size_t n) = 0;
};

class FileSource final : public Source {
public:
    FileSource(int fd, uint64_t size, std::string path) : fd_(fd), size_(size), path_(std::move(path)) {}
    ~FileSource() override { ::close(fd_); }
    uint64_t size() const override { return size_; }
    void read(uint64_t off, uint8_t* buf, size_t n) override {
        while (n > 0) {
            const ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(off));
            if (r < 0) {
                if (errno == EINTR) continue;
                const int err = errno;
                throw Error("reading trace " + path_ + " at byte " + num(off) + " failed: " + std::strerror(err) +
                            " (errno " + num(static_cast<uint64_t>(err)) + ")");
            }
            if (r == 0) throw Error("trace " + path_ + " became shorter while it was read (at byte " + num(off) + ")");
            buf += r;
            n -= static_cast<size_t>(r);
            off += static_cast<uint64_t>(r);
        }
    }

private:
    int fd_;
    uint64_t size_;
    std::string path_;
};

class MemorySource final : public Source {
public:
    explicit MemorySource(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
    uint64_t size() const override { return bytes_.size(); }
    void read(uint64_t off, uint8_t* buf, size_t n) override {
        if (n != 0) std::memcpy(buf, bytes_.data() + off, n);
    }

private:
    std::vector<uint8_t> bytes_;
};

struct Footer {
    uint64_t offset = 0, end = 0, total = 0;
    std::vector<ChunkIndexEntry> index;
};

}  // namespace

struct TraceReader::Impl {
    std::string name;
    std::unique_ptr<Source> src;
    TraceReaderOptions opt;
    uint64_t size = 0;

    uint32_t format_version = 0, min_reader_version = 0;
    TraceHeader header;
    std::vector<std::string> notes;
    uint64_t chunks_start = 0;

    bool has_footer = false;
    Footer footer;

    // The next chunk to read.
    uint64_t pos = 0, chunk_no = 0, expected_seq = 0;
    // The chunk read last.
    struct {
        uint64_t first = 0, end = 0;
        uint32_t count = 0;
    } cur;
    std::vector<TraceEvent> events;
    std::vector<uint64_t> scratch;  // decode_chunk's, kept from chunk to chunk
    size_t event_pos = 0;
    bool stopped = false;
    std::optional<TraceDamage> damage;
    uint64_t events_read = 0;
    std::vector<uint8_t> payload, unpacked;  // reused from chunk to chunk

    [[noreturn]] void header_error(const std::string& what) const {
        throw TraceError("trace " + name + " has a damaged file header: " + what);
    }

    void read_file_header() {
        if (size == 0) throw Error(name + " is not a kvmrr trace (empty file)");
        uint8_t fixed[kFileHeaderFixedBytes];
        const size_t have = static_cast<size_t>(std::min<uint64_t>(size, kFileHeaderFixedBytes));
        src->read(0, fixed, have);
        if (std::memcmp(fixed, kFileMagic.data(), std::min<size_t>(have, kFileMagic.size())) != 0)
            throw Error(name + " is not a kvmrr trace (bad magic)");
        if (have < kFileHeaderFixedBytes)
            throw TraceError("trace " + name + " is cut short inside its file header (" + num(size) + " of " +
                        num(kFileHeaderFixedBytes) + " bytes)");
        format_version = get_le32(fixed + 8);
        min_reader_version = get_le32(fixed + 12);
        const uint32_t header_length = get_le32(fixed + 16);
        const uint32_t reserved = get_le32(fixed + 20);
        if (min_reader_version > kTraceReaderVersion)
            throw Error("trace " + name + " needs a reader of format version " + num(min_reader_version) +
                        " or newer; this kvmrr reads versions up to " + num(kTraceReaderVersion));
        if (format_version == 0 || min_reader_version == 0 || min_reader_version > format_version)
            header_error("format version " + num(format_version) + " with minimum reader version " +
                         num(min_reader_version));
        // Versions 1 and 2 define the field as 0; a later version may use it.
        if (format_version <= kTraceFormatVersion && reserved != 0)
            header_error("reserved field is " + hex(reserved) + ", not 0");
        if (header_length == 0 || header_length % 8 != 0 || header_length > kMaxHeaderBytes)
            header_error("header length " + num(header_length));
        const uint64_t need = kFileHeaderFixedBytes + uint64_t{header_length} + kChecksumBytes;
        if (need > size)
            throw TraceError("trace " + name + " is cut short inside its header (it needs " + num(need) +
                        " bytes, the file has " + num(size) + ")");
        std::vector<uint8_t> msg(header_length + kChecksumBytes);
        src->read(kFileHeaderFixedBytes, msg.data(), msg.size());
        if (opt.verify_checksums && XXH64(msg.data(), header_length, 0) != get_le64(msg.data() + header_length))
            header_error("checksum mismatch in the header message");
        try {
            header = decode_header(std::span<const uint8_t>(msg.data(), header_length));
        } catch (const Error& e) {
            header_error(e.what());
        }
        if (header.format_version != format_version || header.min_reader_version != min_reader_version)
            header_error("the fixed fields say format version " + num(format_version) + ", minimum reader " +
                         num(min_reader_version) + "; the header message says " + num(header.format_version) +
                         ", " + num(header.min_reader_version));
        if (auto why = header_problem(header)) header_error(*why);
        chunks_start = need;
        if (format_version > kTraceReaderVersion)
            notes.push_back("written in format version " + num(format_version) + "; this kvmrr reads versions up to " +
                            num(kTraceReaderVersion) + " and ignores what it does not know");
    }

    // Parses the footer at `off`, which must end at `limit` (exact) or
    // before it. Returns what is wrong, or nothing; *cut_short says the
    // bytes ran out (rather than being wrong).
    std::optional<std::string> parse_footer(uint64_t off, uint64_t limit, bool exact, Footer& f, bool* cut_short) {
        *cut_short = false;
        if (off < chunks_start || off > limit) return "its offset " + num(off) + " is outside the chunk area";
        const uint64_t avail = limit - off;
        const uint64_t min_len = kFooterFixedBytes + kChecksumBytes;
        uint8_t fixed[kFooterFixedBytes];
        src->read(off, fixed, static_cast<size_t>(std::min<uint64_t>(avail, sizeof fixed)));
        if (std::memcmp(fixed, kFooterMagic.data(), static_cast<size_t>(std::min<uint64_t>(avail, 4))) != 0)
            return std::string("bad footer magic");
        if (avail < min_len) {
            *cut_short = !exact;
            return "only " + num(avail) + " bytes where a footer needs at least " + num(min_len);
        }
        const uint32_t n = get_le32(fixed + 4);
        const uint64_t total = get_le64(fixed + 8);
        const uint64_t len = kFooterFixedBytes + uint64_t{n} * kFooterEntryBytes + kChecksumBytes;
        if (len > avail || (exact && len != avail)) {
            *cut_short = len > avail && !exact;
            return "a footer of " + num(n) + " chunks takes " + num(len) + " bytes, " + num(avail) + " are there";
        }
        std::vector<uint8_t> b(static_cast<size_t>(len));
        src->read(off, b.data(), b.size());
        if (opt.verify_checksums && XXH64(b.data(), b.size() - kChecksumBytes, 0) != get_le64(b.data() + b.size() - 8))
            return std::string("footer checksum mismatch");
        f.offset = off;
        f.end = off + len;
        f.total = total;
        f.index.clear();
        f.index.reserve(n);
        uint64_t seq = 0, prev = 0;
        for (uint32_t i = 0; i < n; ++i) {
            const uint8_t* e = b.data() + kFooterFixedBytes + uint64_t{i} * kFooterEntryBytes;
            const ChunkIndexEntry ent{get_le64(e), get_le64(e + 8), get_le32(e + 16)};
            const std::string which = "footer entry " + num(i);
            if (get_le32(e + 20) != 0) return which + ": reserved field not 0";
            if (ent.events == 0 || ent.events > kMaxChunkEvents) return which + ": " + num(ent.events) + " events";
            if (ent.first_seq != seq) return which + " starts at event #" + num(ent.first_seq) + ", not #" + num(seq);
            if (i == 0 ? ent.offset != chunks_start : ent.offset < prev || ent.offset - prev <= kChunkHeaderBytes)
                return which + " puts a chunk at byte " + num(ent.offset) + ", which cannot follow the one before";
            if (ent.offset >= off || off - ent.offset <= kChunkHeaderBytes)
                return which + " puts a chunk at byte " + num(ent.offset) + ", too close to the footer at byte " +
                       num(off);
            seq += ent.events;
            prev = ent.offset;
            f.index.push_back(ent);
        }
        if (seq != total) return "footer entries hold " + num(seq) + " events, the footer says " + num(total);
        return std::nullopt;
    }

    void load_footer() {
        if (size < chunks_start + kTrailerBytes) return;
        uint8_t t[kTrailerBytes];
        src->read(size - kTrailerBytes, t, kTrailerBytes);
        if (std::memcmp(t + 8, kTrailerMagic.data(), 8) != 0) return;
        bool cut_short = false;
        Footer f;
        if (auto why = parse_footer(get_le64(t), size - kTrailerBytes, true, f, &cut_short)) {
            notes.push_back("the trailer points at a footer at byte " + num(get_le64(t)) + " that is not valid (" +
                            *why + "); the chunks were scanned instead");
            return;
        }
        has_footer = true;
        footer = std::move(f);
    }

    // Stops reading here and records why. Returns false, for `return stop(...)`.
    bool stop(TraceDamageKind kind, uint64_t offset, std::string reason, const Footer* found = nullptr) {
        stopped = true;
        if (damage && damage->offset <= offset) return false;  // keep the first damage found
        TraceDamage d;
        d.kind = kind;
        d.reason = std::move(reason);
        d.offset = offset;
        d.bytes_after = size - offset;
        d.events_read = expected_seq;
        d.chunks_read = chunk_no;
        d.footer_found = has_footer || found;
        if (has_footer) d.footer_events = footer.total;
        if (found) d.footer_events = found->total;
        damage = std::move(d);
        return false;
    }

    bool stop_chunk(TraceDamageKind kind, const std::string& what) {
        return stop(kind, pos, "chunk " + num(chunk_no) + " at byte " + num(pos) + ": " + what);
    }

    // Scanning (no footer through the trailer) met the footer magic at a
    // chunk boundary: the end of the chunks, one way or another.
    bool stop_at_footer() {
        Footer f;
        bool cut_short = false;
        if (auto why = parse_footer(pos, size, false, f, &cut_short))
            return stop(cut_short ? TraceDamageKind::CutShort : TraceDamageKind::Corrupt, pos,
                        "the footer at byte " + num(pos) + " is " + (cut_short ? "incomplete (" : "damaged (") + *why + ")");
        if (f.index.size() != chunk_no || f.total != expected_seq)
            return stop(TraceDamageKind::FooterMismatch, pos,
                        "the footer at byte " + num(pos) + " lists " + num(f.index.size()) + " chunks and " +
                            num(f.total) + " events, but the chunks before it hold " + num(chunk_no) + " and " +
                            num(expected_seq),
                        &f);
        return stop(TraceDamageKind::TrailerMissing, f.end,
                    "the footer at byte " + num(pos) + " is intact, but the trailer after it is missing or damaged",
                    &f);
    }

    // Reads the chunk at pos: header, payload, checksum and, when decode,
    // its events into `events`. On the end of the chunks or on damage it
    // records why and returns false. Does not advance pos.
    bool read_next_chunk(bool decode) {
        if (stopped) return false;
        const uint64_t limit = has_footer ? footer.offset : size;
        if (has_footer) {
            if (chunk_no == footer.index.size()) {
                if (pos != footer.offset)
                    return stop(TraceDamageKind::FooterMismatch, pos,
                                "the footer lists " + num(footer.index.size()) + " chunks ending before byte " +
                                    num(pos) + ", but it starts at byte " + num(footer.offset));
                stopped = true;
                return false;
            }
            const ChunkIndexEntry& ent = footer.index[chunk_no];
            if (ent.offset != pos)
                return stop(TraceDamageKind::FooterMismatch, pos,
                            "the footer puts chunk " + num(chunk_no) + " at byte " + num(ent.offset) +
                                ", but the chunk before it ends at byte " + num(pos));
        } else {
            if (pos == size) {
                stop(TraceDamageKind::NoFooter, pos, "no footer: the writer did not close the trace");
                return false;
            }
            uint8_t m[4];
            const size_t n = static_cast<size_t>(std::min<uint64_t>(size - pos, 4));
            src->read(pos, m, n);
            if (std::memcmp(m, kFooterMagic.data(), n) == 0) {
                if (n == 4) return stop_at_footer();
                if (std::memcmp(m, kChunkMagic.data(), n) != 0)
                    return stop(TraceDamageKind::CutShort, pos,
                                "the footer at byte " + num(pos) + " is cut short (" + num(n) + " bytes)");
            }
        }

        const uint64_t avail = limit - pos;
        uint8_t h[kChunkHeaderBytes];
        src->read(pos, h, static_cast<size_t>(std::min<uint64_t>(avail, kChunkHeaderBytes)));
        if (std::memcmp(h, kChunkMagic.data(), static_cast<size_t>(std::min<uint64_t>(avail, 4))) != 0)
            return stop_chunk(TraceDamageKind::Corrupt, "bad chunk magic");
        if (avail < kChunkHeaderBytes)
            return stop_chunk(has_footer ? TraceDamageKind::Corrupt : TraceDamageKind::CutShort,
                              "the chunk header is cut short (" + num(avail) + " of " + num(kChunkHeaderBytes) +
                                  " bytes)");
        const uint32_t usize = get_le32(h + 4), csize = get_le32(h + 8), count = get_le32(h + 12);
        const uint64_t first = get_le64(h + 16), reserved = get_le64(h + 24), sum = get_le64(h + 32);
        if (usize == 0 || usize > kMaxChunkBytes)
            return stop_chunk(TraceDamageKind::Corrupt, "uncompressed size " + num(usize) + " is out of range");
        if (csize == 0 || csize > static_cast<uint64_t>(LZ4_compressBound(static_cast<int>(usize))))
            return stop_chunk(TraceDamageKind::Corrupt, "compressed size " + num(csize) + " does not fit " +
                                                            num(usize) + " uncompressed bytes");
        // LZ4 expands at most about 255 times: a bigger claim is damage,
        // and is not allowed to cost a large buffer.
        if (uint64_t{usize} > 256 * uint64_t{csize})
            return stop_chunk(TraceDamageKind::Corrupt, "uncompressed size " + num(usize) + " is more than " +
                                                            num(csize) + " bytes of LZ4 data can hold");
        if (count == 0 || count > kMaxChunkEvents)
            return stop_chunk(TraceDamageKind::Corrupt, "event count " + num(count) + " is out of range");
        if (reserved != 0) return stop_chunk(TraceDamageKind::Corrupt, "reserved field is not 0");
        if (csize > avail - kChunkHeaderBytes)
            return stop_chunk(has_footer ? TraceDamageKind::Corrupt : TraceDamageKind::CutShort,
                              "the chunk needs " + num(kChunkHeaderBytes + uint64_t{csize}) + " bytes, " +
                                  num(avail) + (has_footer ? " are before the footer" : " remain"));
        payload.resize(csize);
        src->read(pos + kChunkHeaderBytes, payload.data(), csize);
        if (opt.verify_checksums) {
            XXH64_state_t st;
            XXH64_reset(&st, 0);
            XXH64_update(&st, h, kChunkHashedHeaderBytes);
            XXH64_update(&st, payload.data(), payload.size());
            if (XXH64_digest(&st) != sum) return stop_chunk(TraceDamageKind::Corrupt, "checksum mismatch");
        }
        if (first != expected_seq)
            return stop_chunk(TraceDamageKind::Corrupt,
                              "it starts at event #" + num(first) + ", the one before ends at #" + num(expected_seq));
        if (has_footer && footer.index[chunk_no].events != count)
            return stop(TraceDamageKind::FooterMismatch, pos,
                        "the footer says chunk " + num(chunk_no) + " holds " + num(footer.index[chunk_no].events) +
                            " events, the chunk says " + num(count));
        cur.first = first;
        cur.count = count;
        cur.end = pos + kChunkHeaderBytes + csize;
        if (!decode) return true;

        unpacked.resize(usize);
        const int got = LZ4_decompress_safe(reinterpret_cast<const char*>(payload.data()),
                                            reinterpret_cast<char*>(unpacked.data()), static_cast<int>(csize),
                                            static_cast<int>(usize));
        if (got < 0) return stop_chunk(TraceDamageKind::Corrupt, "the LZ4 data is damaged");
        if (static_cast<uint32_t>(got) != usize)
            return stop_chunk(TraceDamageKind::Corrupt, "the LZ4 data expands to " + num(static_cast<uint64_t>(got)) +
                                                            " bytes, the header says " + num(usize));
        try {
            decode_chunk(unpacked, first, count, header.vcpu_count, events, scratch);
        } catch (const Error& e) {
            events.clear();
            return stop_chunk(TraceDamageKind::Corrupt, e.what());
        }
        event_pos = 0;
        return true;
    }

    void open() {
        size = src->size();
        read_file_header();
        load_footer();
        pos = chunks_start;
    }

    void advance() {
        pos = cur.end;
        ++chunk_no;
        expected_seq = cur.first + cur.count;
    }
};

std::string TraceDamage::describe() const {
    std::string s;
    switch (kind) {
        case TraceDamageKind::NoFooter: s = "cut short: "; break;
        case TraceDamageKind::CutShort: s = "cut short: "; break;
        case TraceDamageKind::Corrupt: s = "damaged: "; break;
        case TraceDamageKind::FooterMismatch: s = "inconsistent: "; break;
        case TraceDamageKind::TrailerMissing: s = "incomplete: "; break;
    }
    s += reason;
    s += "; read " + num(events_read) + (events_read == 1 ? " event in " : " events in ") + num(chunks_read) +
         (chunks_read == 1 ? " complete chunk" : " complete chunks");
    if (bytes_after != 0) s += "; " + num(bytes_after) + " bytes from byte " + num(offset) + " on were not read";
    if (footer_events) {
        s += "; the footer lists " + num(*footer_events) + " events";
        s += *footer_events > events_read ? ", so " + num(*footer_events - events_read) + " were lost" : ", none lost";
    } else if (kind != TraceDamageKind::NoFooter) {
        s += "; no footer";
    }
    return s;
}

TraceReader::TraceReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TraceReader::TraceReader(TraceReader&&) noexcept = default;
TraceReader& TraceReader::operator=(TraceReader&&) noexcept = default;
TraceReader::~TraceReader() = default;

TraceReader TraceReader::open(const std::string& path, TraceReaderOptions options) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        throw Error("cannot open trace " + path + ": " + std::strerror(err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(path + " is not a kvmrr trace (not a regular file)");
    }
    auto impl = std::make_unique<Impl>();
    impl->name = path;
    impl->opt = options;
    impl->src = std::make_unique<FileSource>(fd, static_cast<uint64_t>(st.st_size), path);
    impl->open();
    return TraceReader(std::move(impl));
}

TraceReader TraceReader::open_memory(std::vector<uint8_t> bytes, std::string name, TraceReaderOptions options) {
    auto impl = std::make_unique<Impl>();
    impl->name = std::move(name);
    impl->opt = options;
    impl->src = std::make_unique<MemorySource>(std::move(bytes));
    impl->open();
    return TraceReader(std::move(impl));
}

const TraceHeader& TraceReader::header() const { return impl_->header; }
uint32_t TraceReader::format_version() const { return impl_->format_version; }
uint32_t TraceReader::min_reader_version() const { return impl_->min_reader_version; }
const std::vector<std::string>& TraceReader::notes() const { return impl_->notes; }

const TraceEvent* TraceReader::peek() {
    Impl& r = *impl_;
    while (r.event_pos >= r.events.size()) {
        r.events.clear();
        r.event_pos = 0;
        if (!r.read_next_chunk(true)) return nullptr;
        r.advance();
    }
    return &r.events[r.event_pos];
}

bool TraceReader::next(TraceEvent& out) {
    if (!peek()) return false;
    Impl& r = *impl_;
    out = std::move(r.events[r.event_pos++]);
    ++r.events_read;
    return true;
}

std::span<TraceEvent> TraceReader::buffered() {
    if (!peek()) return {};
    Impl& r = *impl_;
    return std::span<TraceEvent>(r.events).subspan(r.event_pos);
}

void TraceReader::consume(size_t n) {
    Impl& r = *impl_;
    if (n > r.events.size() - r.event_pos) throw Error("trace " + r.name + ": consume(" + std::to_string(n) + ") past the buffered events");
    r.event_pos += n;
    r.events_read += n;
}

bool TraceReader::seek(uint64_t seq) {
    Impl& r = *impl_;
    r.events.clear();
    r.event_pos = 0;
    r.stopped = false;
    if (r.has_footer) {
        const auto& index = r.footer.index;
        if (seq >= r.footer.total) {
            r.pos = r.footer.offset;
            r.chunk_no = index.size();
            r.expected_seq = r.footer.total;
            r.read_next_chunk(false);  // records a mismatch, if any
            return false;
        }
        auto it = std::upper_bound(index.begin(), index.end(), seq,
                                   [](uint64_t s, const ChunkIndexEntry& e) { return s < e.first_seq; });
        --it;  // index[0].first_seq is 0, so it is not begin()
        r.chunk_no = static_cast<uint64_t>(it - index.begin());
        r.pos = it->offset;
        r.expected_seq = it->first_seq;
    } else if (seq < r.expected_seq) {
        r.pos = r.chunks_start;
        r.chunk_no = 0;
        r.expected_seq = 0;
    }
    for (;;) {
        if (!r.read_next_chunk(false)) return false;
        if (seq < r.cur.first + r.cur.count) {
            if (!r.read_next_chunk(true)) return false;
            r.advance();
            r.event_pos = static_cast<size_t>(seq - r.cur.first);
            return true;
        }
        r.advance();
    }
}

uint64_t TraceReader::events_read() const { return impl_->events_read; }
bool TraceReader::has_footer() const { return impl_->has_footer; }
std::optional<uint64_t> TraceReader::event_count() const {
    if (!impl_->has_footer) return std::nullopt;
    return impl_->footer.total;
}
const std::vector<ChunkIndexEntry>& TraceReader::chunk_index() const { return impl_->footer.index; }
bool TraceReader::complete() const { return impl_->has_footer && !impl_->damage; }
const std::optional<TraceDamage>& TraceReader::damage_info() const { return impl_->damage; }
std::optional<std::string> TraceReader::damage() const {
    if (!impl_->damage) return std::nullopt;
    return impl_->damage->describe();
}
const std::string& TraceReader::name() const { return impl_->name; }
uint64_t TraceReader::file_size() const { return impl_->size; }

}  // namespace kvmrr
