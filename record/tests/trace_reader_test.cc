#include "record/trace_reader.h"

#include <gtest/gtest.h>
#include <lz4.h>
#include <xxhash.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <random>

#include "core/error.h"
#include "record/capnp_convert.h"
#include "record/tests/trace_test_util.h"
#include "record/trace_error.h"
#include "record/trace_format.h"
#include "record/trace_writer.h"

namespace kvmrr {
namespace {

using test::sample_event;
using test::sample_header;
using test::TempDir;

std::vector<TraceEvent> read_all(TraceReader& r) {
    std::vector<TraceEvent> out;
    TraceEvent e;
    while (r.next(e)) out.push_back(e);
    return out;
}

struct Trace {
    std::vector<uint8_t> bytes;
    std::vector<TraceEvent> events;
};

// A small trace: `n` sample events in chunks of `chunk_events`, closed.
Trace make_trace(uint64_t n, uint32_t chunk_events, TraceHeader header = sample_header()) {
    TempDir dir;
    Trace t;
    {
        TraceWriter w(dir.file("t"), header, {.chunk_events = chunk_events});
        for (uint64_t i = 0; i < n; ++i) {
            TraceEvent e = sample_event(i);
            w.append(e.vcpu, e.body);
            t.events.push_back(e);
        }
        w.close();
    }
    t.bytes = test::read_file(dir.file("t"));
    return t;
}

// A header without guest data, so that the chunks are most of the file.
TraceHeader small_header() {
    TraceHeader h;
    h.vcpu_count = 2;
    h.kvmrr_version = "t";
    return h;
}

struct Outcome {
    bool opened = false;
    std::string error;
    std::vector<TraceEvent> events;
    std::optional<TraceDamage> damage;
    bool complete = false;
};

Outcome read_bytes(std::vector<uint8_t> bytes) {
    Outcome o;
    try {
        TraceReader r = TraceReader::open_memory(std::move(bytes), "mem.trace");
        o.opened = true;
        o.events = read_all(r);
        o.damage = r.damage_info();
        o.complete = r.complete();
    } catch (const Error& e) {
        o.error = e.what();
    }
    return o;
}

// Exactly a prefix of `all`: the same events, in order, from seq 0.
::testing::AssertionResult is_prefix(const std::vector<TraceEvent>& got, const std::vector<TraceEvent>& all) {
    if (got.size() > all.size()) return ::testing::AssertionFailure() << got.size() << " events, more than written";
    for (size_t i = 0; i < got.size(); ++i)
        if (!(got[i] == all[i])) return ::testing::AssertionFailure() << "event " << i << " differs";
    return ::testing::AssertionSuccess();
}

uint64_t chunks_start(const std::vector<uint8_t>& b) {
    return kFileHeaderFixedBytes + get_le32(b.data() + 16) + kChecksumBytes;
}

uint64_t footer_offset(const std::vector<uint8_t>& b) { return get_le64(b.data() + b.size() - kTrailerBytes); }

TEST(TraceReaderTest, EveryTruncationIsAnErrorOrAnExactPrefixWithDamage) {
    const Trace t = make_trace(40, 6, small_header());
    const uint64_t start = chunks_start(t.bytes), footer = footer_offset(t.bytes);
    ASSERT_LT(t.bytes.size(), 8000u);
    size_t errors = 0, partial = 0;
    for (size_t len = 0; len < t.bytes.size(); ++len) {
        Outcome o = read_bytes(std::vector<uint8_t>(t.bytes.begin(), t.bytes.begin() + static_cast<long>(len)));
        if (!o.opened) {
            // Only a damaged file header is an error.
            EXPECT_LT(len, start) << "cut at " << len << ": " << o.error;
            EXPECT_FALSE(o.error.empty());
            ++errors;
            continue;
        }
        ++partial;
        ASSERT_TRUE(is_prefix(o.events, t.events)) << "cut at " << len;
        ASSERT_TRUE(o.damage) << "cut at " << len;
        EXPECT_FALSE(o.complete);
        EXPECT_EQ(o.damage->events_read, o.events.size());
        EXPECT_LE(o.damage->offset, len);
        EXPECT_EQ(o.damage->offset + o.damage->bytes_after, len);
        if (len >= footer) {
            EXPECT_EQ(o.events.size(), t.events.size()) << "cut at " << len;  // the chunks are all there
        }
        const TraceDamageKind k = o.damage->kind;
        if (len >= t.bytes.size() - kTrailerBytes) {
            EXPECT_EQ(k, TraceDamageKind::TrailerMissing) << "cut at " << len << ": " << o.damage->describe();
        } else {
            EXPECT_TRUE(k == TraceDamageKind::NoFooter || k == TraceDamageKind::CutShort)
                << "cut at " << len << ": " << o.damage->describe();
        }
        // Cut exactly at a chunk boundary: nothing lost, just no footer.
        if (k == TraceDamageKind::NoFooter) {
            EXPECT_EQ(o.damage->bytes_after, 0u);
        }
    }
    EXPECT_EQ(errors, start);
    EXPECT_EQ(partial, t.bytes.size() - start);
    // And the whole file is complete.
    Outcome whole = read_bytes(t.bytes);
    EXPECT_TRUE(whole.complete);
    EXPECT_EQ(whole.events, t.events);
}

TEST(TraceReaderTest, TruncatedFilesOnDiskReadLikeTruncatedMemory) {
    const Trace t = make_trace(40, 6, small_header());
    TempDir dir;
    for (size_t len = chunks_start(t.bytes); len <= t.bytes.size(); len += 37) {
        test::write_file(dir.file("cut"), std::vector<uint8_t>(t.bytes.begin(), t.bytes.begin() + static_cast<long>(len)));
        TraceReader r = TraceReader::open(dir.file("cut"));
        const auto got = read_all(r);
        Outcome mem = read_bytes(std::vector<uint8_t>(t.bytes.begin(), t.bytes.begin() + static_cast<long>(len)));
        EXPECT_EQ(got, mem.events) << len;
        EXPECT_EQ(r.damage(), mem.damage ? std::optional(mem.damage->describe()) : std::nullopt);
    }
}

TEST(TraceReaderTest, EveryBitFlipIsAnErrorOrAnExactPrefixWithDamage) {
    const Trace t = make_trace(40, 6, small_header());
    size_t errors = 0, partial = 0;
    for (size_t off = 0; off < t.bytes.size(); ++off) {
        for (int bit = 0; bit < 8; ++bit) {
            std::vector<uint8_t> b = t.bytes;
            b[off] ^= static_cast<uint8_t>(1u << bit);
            Outcome o = read_bytes(std::move(b));
            if (!o.opened) {
                EXPECT_FALSE(o.error.empty());
                ++errors;
                continue;
            }
            ++partial;
            ASSERT_TRUE(is_prefix(o.events, t.events)) << "flip at " << off << " bit " << bit;
            // A flip anywhere is noticed: never a clean, complete read.
            ASSERT_TRUE(o.damage) << "flip at " << off << " bit " << bit << " went unnoticed";
            EXPECT_FALSE(o.complete);
        }
    }
    EXPECT_GT(errors, 0u);
    EXPECT_GT(partial, 0u);
}

TEST(TraceReaderTest, AFlipInAChunkLosesThatChunkAndTheRestAndSaysSo) {
    const Trace t = make_trace(40, 6, small_header());
    TempDir dir;
    test::write_file(dir.file("ok"), t.bytes);
    const auto index = TraceReader::open(dir.file("ok")).chunk_index();
    ASSERT_EQ(index.size(), 7u);
    std::vector<uint8_t> b = t.bytes;
    b[index[2].offset + kChunkHeaderBytes + 3] ^= 0x10;  // in chunk 2's payload
    TraceReader r = TraceReader::open_memory(b, "flip.trace");
    EXPECT_TRUE(r.has_footer());
    const auto got = read_all(r);
    EXPECT_EQ(got, std::vector<TraceEvent>(t.events.begin(), t.events.begin() + 12));
    ASSERT_TRUE(r.damage_info());
    const TraceDamage& d = *r.damage_info();
    EXPECT_EQ(d.kind, TraceDamageKind::Corrupt);
    EXPECT_EQ(d.offset, index[2].offset);
    EXPECT_EQ(d.events_read, 12u);
    EXPECT_EQ(d.chunks_read, 2u);
    EXPECT_TRUE(d.footer_found);
    EXPECT_EQ(d.footer_events, 40u);
    EXPECT_EQ(d.bytes_after, b.size() - index[2].offset);
    const std::string s = *r.damage();
    EXPECT_NE(s.find("checksum mismatch"), std::string::npos) << s;
    EXPECT_NE(s.find("28 were lost"), std::string::npos) << s;
    EXPECT_NE(s.find("byte " + std::to_string(index[2].offset)), std::string::npos) << s;
    // The index still reaches the chunks after the damage.
    EXPECT_TRUE(r.seek(30));
    TraceEvent e;
    ASSERT_TRUE(r.next(e));
    EXPECT_EQ(e, t.events[30]);
}

TEST(TraceReaderTest, WriterThatDiedReadsEveryCompleteChunk) {
    TempDir dir;
    const std::string path = dir.file("t");
    std::vector<TraceEvent> events;
    TraceWriter w(path, sample_header(), {.chunk_events = 4});
    for (uint64_t i = 0; i < 22; ++i) {
        events.push_back(sample_event(i));
        w.append(events.back().vcpu, events.back().body);
    }
    w.flush();
    for (uint64_t i = 22; i < 25; ++i) w.append(0, ClockEvent{1});  // never flushed: may be lost
    std::filesystem::copy_file(path, dir.file("died"));
    w.close();

    TraceReader r = TraceReader::open(dir.file("died"));
    EXPECT_FALSE(r.has_footer());
    EXPECT_EQ(r.event_count(), std::nullopt);
    const auto got = read_all(r);
    EXPECT_EQ(got, events);
    ASSERT_TRUE(r.damage_info());
    EXPECT_EQ(r.damage_info()->kind, TraceDamageKind::NoFooter);
    EXPECT_EQ(r.damage_info()->chunks_read, 6u);  // 5 full, 1 of 2
    EXPECT_EQ(*r.damage(),
              "cut short: no footer: the writer did not close the trace; read 22 events in 6 complete chunks");

    // Cutting the footer off a closed trace reads the same way.
    std::vector<uint8_t> b = test::read_file(path);
    b.resize(footer_offset(b));
    Outcome o = read_bytes(b);
    EXPECT_EQ(o.events.size(), 25u);
    ASSERT_TRUE(o.damage);
    EXPECT_EQ(o.damage->kind, TraceDamageKind::NoFooter);
}

TEST(TraceReaderTest, TornLastChunkIsReportedWithItsOffset) {
    const Trace t = make_trace(20, 5, small_header());
    TempDir dir;
    test::write_file(dir.file("ok"), t.bytes);
    const auto index = TraceReader::open(dir.file("ok")).chunk_index();
    std::vector<uint8_t> b(t.bytes.begin(), t.bytes.begin() + static_cast<long>(index[3].offset + 50));
    TraceReader r = TraceReader::open_memory(b, "torn.trace");
    EXPECT_EQ(read_all(r).size(), 15u);
    ASSERT_TRUE(r.damage_info());
    EXPECT_EQ(r.damage_info()->kind, TraceDamageKind::CutShort);
    EXPECT_EQ(r.damage_info()->offset, index[3].offset);
    EXPECT_EQ(r.damage_info()->bytes_after, 50u);
    const std::string s = *r.damage();
    EXPECT_EQ(s.rfind("cut short: chunk 3 at byte " + std::to_string(index[3].offset), 0), 0u) << s;
    EXPECT_NE(s.find("read 15 events in 3 complete chunks"), std::string::npos) << s;
    EXPECT_NE(s.find("50 bytes from byte"), std::string::npos) << s;
    EXPECT_NE(s.find("no footer"), std::string::npos) << s;
}

TEST(TraceReaderTest, DamagedTrailerOverAnIntactFooterLosesNothing) {
    const Trace t = make_trace(20, 5, small_header());
    std::vector<uint8_t> b = t.bytes;
    b[b.size() - 1] ^= 1;  // the trailer magic
    TraceReader r = TraceReader::open_memory(b, "t");
    EXPECT_FALSE(r.has_footer());
    EXPECT_EQ(read_all(r), t.events);
    ASSERT_TRUE(r.damage_info());
    EXPECT_EQ(r.damage_info()->kind, TraceDamageKind::TrailerMissing);
    EXPECT_TRUE(r.damage_info()->footer_found);
    EXPECT_NE(r.damage()->find("none lost"), std::string::npos) << *r.damage();

    // The trailer pointing elsewhere: noted, and the chunks are scanned.
    b = t.bytes;
    put_le64(b.data() + b.size() - kTrailerBytes, 24);
    TraceReader r2 = TraceReader::open_memory(b, "t");
    EXPECT_FALSE(r2.has_footer());
    ASSERT_EQ(r2.notes().size(), 1u);
    EXPECT_NE(r2.notes()[0].find("scanned"), std::string::npos);
    EXPECT_EQ(read_all(r2), t.events);
    EXPECT_EQ(r2.damage_info()->kind, TraceDamageKind::TrailerMissing);
}

// Rewrites the footer of `b` (a closed trace) to list only its first
// `keep` chunks, with a correct checksum: a footer that disagrees.
std::vector<uint8_t> with_short_footer(const std::vector<uint8_t>& b, uint32_t keep) {
    const uint64_t fo = footer_offset(b);
    std::vector<uint8_t> out(b.begin(), b.begin() + static_cast<long>(fo));
    std::vector<uint8_t> f(b.begin() + static_cast<long>(fo), b.begin() + static_cast<long>(fo + kFooterFixedBytes));
    uint64_t total = 0;
    for (uint32_t i = 0; i < keep; ++i) {
        const uint8_t* e = b.data() + fo + kFooterFixedBytes + i * kFooterEntryBytes;
        f.insert(f.end(), e, e + kFooterEntryBytes);
        total += get_le32(e + 16);
    }
    put_le32(f.data() + 4, keep);
    put_le64(f.data() + 8, total);
    f.resize(f.size() + 8);
    put_le64(f.data() + f.size() - 8, XXH64(f.data(), f.size() - 8, 0));
    out.insert(out.end(), f.begin(), f.end());
    out.resize(out.size() + kTrailerBytes);
    put_le64(out.data() + out.size() - kTrailerBytes, fo);
    std::memcpy(out.data() + out.size() - 8, kTrailerMagic.data(), 8);
    return out;
}

TEST(TraceReaderTest, FooterThatDisagreesWithTheChunksIsReported) {
    const Trace t = make_trace(20, 5, small_header());
    TraceReader r = TraceReader::open_memory(with_short_footer(t.bytes, 2), "t");
    EXPECT_TRUE(r.has_footer());
    EXPECT_EQ(read_all(r).size(), 10u);
    ASSERT_TRUE(r.damage_info());
    EXPECT_EQ(r.damage_info()->kind, TraceDamageKind::FooterMismatch);
    EXPECT_FALSE(r.complete());
    EXPECT_NE(r.damage()->find("inconsistent"), std::string::npos) << *r.damage();
}

// buffered()/consume(): the decoded events of the current chunk, taken in
// place; the next chunk only once they are all taken; next() continues
// where consume() left off.
TEST(TraceReaderTest, BufferedEventsAreTakenInPlaceChunkByChunk) {
    const Trace t = make_trace(20, 6, small_header());
    TraceReader r = TraceReader::open_memory(t.bytes, "t");
    std::span<TraceEvent> buf = r.buffered();
    ASSERT_EQ(buf.size(), 6u);
    EXPECT_EQ(buf[0], t.events[0]);
    r.consume(2);
    buf = r.buffered();
    ASSERT_EQ(buf.size(), 4u);  // the rest of the first chunk, not the next one
    EXPECT_EQ(buf[0], t.events[2]);
    EXPECT_THROW(r.consume(5), Error);
    TraceEvent moved = std::move(buf[0]);
    EXPECT_EQ(moved, t.events[2]);
    r.consume(4);
    EXPECT_EQ(r.events_read(), 6u);
    TraceEvent e;
    ASSERT_TRUE(r.next(e));
    EXPECT_EQ(e, t.events[6]);
    std::vector<TraceEvent> rest;
    for (buf = r.buffered(); !buf.empty(); buf = r.buffered()) {
        rest.insert(rest.end(), buf.begin(), buf.end());
        r.consume(buf.size());
    }
    EXPECT_EQ(rest, std::vector<TraceEvent>(t.events.begin() + 7, t.events.end()));
    EXPECT_TRUE(r.complete());
    EXPECT_EQ(r.events_read(), 20u);
}

TEST(TraceReaderTest, RefusesATraceThatNeedsANewerReader) {
    Trace t = make_trace(5, 2);
    const uint32_t next = kTraceFormatVersion + 1;
    put_le32(t.bytes.data() + 8, next);   // format_version
    put_le32(t.bytes.data() + 12, next);  // min_reader_version
    Outcome o = read_bytes(t.bytes);
    ASSERT_FALSE(o.opened);
    EXPECT_EQ(o.error, "trace mem.trace needs a reader of format version " + std::to_string(next) +
                           " or newer; this kvmrr reads versions up to " + std::to_string(kTraceFormatVersion));
}

TEST(TraceReaderTest, ReadsANewerTraceThatOlderReadersMayRead) {
    TraceHeader h = sample_header();
    const uint32_t next = kTraceFormatVersion + 1;
    h.format_version = next;  // min_reader_version stays this build's
    const Trace t = make_trace(30, 4, h);
    TraceReader r = TraceReader::open_memory(t.bytes, "new.trace");
    EXPECT_EQ(r.format_version(), next);
    EXPECT_EQ(r.min_reader_version(), kTraceMinReaderVersion);
    ASSERT_EQ(r.notes().size(), 1u);
    EXPECT_EQ(r.notes()[0], "written in format version " + std::to_string(next) + "; this kvmrr reads versions up to " +
                                std::to_string(kTraceFormatVersion) + " and ignores what it does not know");
    EXPECT_EQ(read_all(r), t.events);
    EXPECT_TRUE(r.complete());
}

TEST(TraceReaderTest, VersionFieldsThatDisagreeWithTheHeaderMessageAreDamage) {
    Trace t = make_trace(5, 2);
    // format_version only in the fixed fields (still >= min_reader_version)
    put_le32(t.bytes.data() + 8, kTraceFormatVersion + 1);
    Outcome o = read_bytes(t.bytes);
    ASSERT_FALSE(o.opened);
    EXPECT_NE(o.error.find("damaged file header"), std::string::npos) << o.error;
    EXPECT_NE(o.error.find("the header message says " + std::to_string(kTraceFormatVersion) + ", " +
                           std::to_string(kTraceMinReaderVersion)),
              std::string::npos)
        << o.error;
}

// A header message written by hand (the writer refuses these headers) in
// front of an empty trace: the fixed fields, the message, its checksum.
std::vector<uint8_t> trace_with_header(const TraceHeader& h) {
    const std::vector<uint8_t> msg = encode_header(h);
    std::vector<uint8_t> b(kFileHeaderFixedBytes + msg.size() + 8);
    std::memcpy(b.data(), kFileMagic.data(), 8);
    put_le32(b.data() + 8, h.format_version);
    put_le32(b.data() + 12, h.min_reader_version);
    put_le32(b.data() + 16, static_cast<uint32_t>(msg.size()));
    std::memcpy(b.data() + kFileHeaderFixedBytes, msg.data(), msg.size());
    put_le64(b.data() + kFileHeaderFixedBytes + msg.size(), XXH64(msg.data(), msg.size(), 0));
    return b;
}

// Header fields are checked against known values and sane ranges, by the
// reader (a TraceError: kvmrr exits 3) and by the writer.
TEST(TraceReaderTest, HeaderFieldsOutOfRangeOrUnknownAreRefused) {
    const std::vector<std::pair<std::function<void(TraceHeader&)>, std::string>> lies{
        {[](TraceHeader& h) { h.vcpu_count = 1000000; }, "1000000 vCPUs (at most 4096)"},
        {[](TraceHeader& h) { h.max_memslots = 0xffffffff; }, "4294967295 memslots (at most 32767)"},
        {[](TraceHeader& h) { h.accelerator = "qemu"; }, "accelerator 'qemu' (known: kvm, emu)"},
        {[](TraceHeader& h) { h.dirty_mode = "log"; }, "dirty mode 'log'"},
        {[](TraceHeader& h) { h.board = "vax"; }, "board 'vax'"},
        {[](TraceHeader& h) { h.clock = "sundial"; }, "clock 'sundial'"},
        {[](TraceHeader& h) { h.dirty_mark_port = 70000; }, "dirty mark port 70000"},
        {[](TraceHeader& h) { h.vcpu_count = 1; }, "2 sets of initial registers for 1 vCPU(s)"},
        {[](TraceHeader& h) { h.timeout_ms = uint64_t{1} << 60; }, "time-out of"},
    };
    TempDir dir;
    for (const auto& [lie, why] : lies) {
        TraceHeader h = sample_header();
        lie(h);
        test::write_file(dir.file("lie"), trace_with_header(h));
        try {
            TraceReader::open(dir.file("lie"));
            ADD_FAILURE() << "accepted: " << why;
        } catch (const TraceError& e) {
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
        EXPECT_THROW(TraceWriter(dir.file("w"), h), Error) << why;
    }
    // The sample header itself is fine, and so are the empty values of
    // traces from before each field.
    TraceHeader old = sample_header();
    old.accelerator = old.dirty_mode = old.board = old.clock = "";
    test::write_file(dir.file("old"), trace_with_header(old));
    EXPECT_NO_THROW(TraceReader::open(dir.file("old")));
}

TEST(TraceReaderTest, NonTracesGetAClearError) {
    TempDir dir;
    auto error_of = [&](const std::vector<uint8_t>& bytes) {
        test::write_file(dir.file("f"), bytes);
        try {
            TraceReader::open(dir.file("f"));
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("(opened)");
    };
    const std::string f = dir.file("f");
    EXPECT_EQ(error_of({}), f + " is not a kvmrr trace (empty file)");
    const std::string text = "hello, this is a text file\n";
    EXPECT_EQ(error_of(std::vector<uint8_t>(text.begin(), text.end())), f + " is not a kvmrr trace (bad magic)");
    std::mt19937_64 rng(42);
    for (int i = 0; i < 50; ++i) {
        std::vector<uint8_t> random(1 + rng() % 4096);
        for (uint8_t& x : random) x = static_cast<uint8_t>(rng());
        EXPECT_EQ(error_of(random), f + " is not a kvmrr trace (bad magic)");
    }
    EXPECT_EQ(error_of({'K', 'V', 'M'}), "trace " + f + " is cut short inside its file header (3 of 24 bytes)");
    // Random bytes behind a good magic.
    std::vector<uint8_t> m(kFileMagic.begin(), kFileMagic.end());
    for (int i = 0; i < 200; ++i) {
        std::vector<uint8_t> b = m;
        for (uint64_t k = 0, n = rng() % 300; k < n; ++k) b.push_back(static_cast<uint8_t>(rng()));
        EXPECT_NE(error_of(b), "(opened)");
    }
    try {
        TraceReader::open(dir.file("missing"));
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "cannot open trace " + dir.file("missing") + ": No such file or directory");
    }
    std::filesystem::create_directory(dir.file("d"));
    EXPECT_THROW(TraceReader::open(dir.file("d")), Error);
}

TEST(TraceReaderTest, SeeksWithTheFooterAndWithout) {
    const Trace t = make_trace(50, 7, small_header());
    std::vector<uint8_t> no_footer(t.bytes.begin(), t.bytes.begin() + static_cast<long>(footer_offset(t.bytes)));
    for (const auto& bytes : {t.bytes, no_footer}) {
        TraceReader r = TraceReader::open_memory(bytes, "t");
        // Forwards, backwards, at chunk boundaries and inside chunks.
        for (uint64_t seq : {0, 13, 14, 6, 7, 49, 0, 21, 20, 35}) {
            ASSERT_TRUE(r.seek(seq)) << seq;
            TraceEvent e;
            for (uint64_t s = seq; s < std::min<uint64_t>(seq + 9, 50); ++s) {
                ASSERT_TRUE(r.next(e)) << seq;
                EXPECT_EQ(e, t.events[s]);
            }
        }
        EXPECT_FALSE(r.seek(50));
        TraceEvent e;
        EXPECT_FALSE(r.next(e));
        EXPECT_FALSE(r.seek(1000));
        EXPECT_TRUE(r.seek(48));
        EXPECT_TRUE(r.next(e));
        EXPECT_TRUE(r.next(e));
        EXPECT_FALSE(r.next(e));
        EXPECT_EQ(r.complete(), bytes.size() == t.bytes.size());
    }
}

TEST(TraceReaderTest, SeekStopsAtDamage) {
    const Trace t = make_trace(50, 7, small_header());
    std::vector<uint8_t> b(t.bytes.begin(), t.bytes.begin() + static_cast<long>(footer_offset(t.bytes)));
    b[chunks_start(b) + 3 * 60] ^= 4;  // somewhere in the first few chunks
    TraceReader r = TraceReader::open_memory(b, "t");
    const auto got = read_all(r);
    ASSERT_TRUE(r.damage_info());
    EXPECT_TRUE(is_prefix(got, t.events));
    EXPECT_FALSE(r.seek(got.size() + 7));
    if (!got.empty()) {
        EXPECT_TRUE(r.seek(0));
    }
}

// Assembles a trace by hand around `events` (bypassing the writer's
// checks), to see that the reader checks event contents too.
std::vector<uint8_t> hand_made_trace(const std::vector<TraceEvent>& events) {
    std::vector<uint8_t> b = make_trace(0, 1, small_header()).bytes;
    b.resize(chunks_start(b));
    const std::vector<uint8_t> packed = encode_chunk(events);
    std::vector<uint8_t> c(kChunkHeaderBytes + static_cast<size_t>(LZ4_compressBound(static_cast<int>(packed.size()))));
    const int n = LZ4_compress_default(reinterpret_cast<const char*>(packed.data()),
                                       reinterpret_cast<char*>(c.data() + kChunkHeaderBytes),
                                       static_cast<int>(packed.size()), static_cast<int>(c.size() - kChunkHeaderBytes));
    c.resize(kChunkHeaderBytes + static_cast<size_t>(n));
    std::memcpy(c.data(), kChunkMagic.data(), 4);
    put_le32(c.data() + 4, static_cast<uint32_t>(packed.size()));
    put_le32(c.data() + 8, static_cast<uint32_t>(n));
    put_le32(c.data() + 12, static_cast<uint32_t>(events.size()));
    put_le64(c.data() + 16, 0);
    put_le64(c.data() + 24, 0);
    std::vector<uint8_t> hashed(c.begin(), c.begin() + kChunkHashedHeaderBytes);
    hashed.insert(hashed.end(), c.begin() + kChunkHeaderBytes, c.end());
    put_le64(c.data() + 32, XXH64(hashed.data(), hashed.size(), 0));
    b.insert(b.end(), c.begin(), c.end());
    return b;
}

TEST(TraceReaderTest, AbsurdEventContentsAreDamage) {
    const std::vector<TraceEvent> good = {{0, 0, ClockEvent{1}}, {1, 1, ClockEvent{2}}};
    {
        Outcome o = read_bytes(hand_made_trace(good));
        EXPECT_EQ(o.events, good);
        ASSERT_TRUE(o.damage);
        EXPECT_EQ(o.damage->kind, TraceDamageKind::NoFooter);
    }
    const std::vector<std::pair<EventBody, std::string>> bad = {
        {AccessEvent{true, 0x3f8, 0, true, 1, 0, {}, 1, TraceAccessStatus::Ok}, "access size 0"},
        {AccessEvent{false, 0x1000, 4, true, 2, 0, {1, 2, 3}, 1, TraceAccessStatus::Ok}, "bulk data of 3 bytes"},
        {DirtyEvent{0, 0, 0, 8, 2, {0, 9}}, "past the slot"},
        {SerialInEvent{-2}, "serial input -2"},
        {RegionDefEvent{{kNoRegion, "x", "y"}}, "reserved for none"},
    };
    for (const auto& [body, why] : bad) {
        std::vector<TraceEvent> events = good;
        events.push_back({2, 0, body});
        Outcome o = read_bytes(hand_made_trace(events));
        EXPECT_TRUE(o.events.empty()) << why;  // the chunk holding it is lost, not just the event
        ASSERT_TRUE(o.damage) << why;
        EXPECT_EQ(o.damage->kind, TraceDamageKind::Corrupt);
        EXPECT_NE(o.damage->reason.find("event #2"), std::string::npos) << o.damage->reason;
        EXPECT_NE(o.damage->reason.find(why), std::string::npos) << o.damage->reason;
    }
    // A vCPU the header does not have (small_header has 2).
    Outcome o = read_bytes(hand_made_trace({{0, 5, ClockEvent{1}}}));
    ASSERT_TRUE(o.damage);
    EXPECT_NE(o.damage->reason.find("vCPU 5"), std::string::npos) << o.damage->reason;
}

TEST(TraceReaderTest, ReadsWithoutChecksumsForFuzzing) {
    const Trace t = make_trace(20, 5, small_header());
    TraceReader r = TraceReader::open_memory(t.bytes, "t", {.verify_checksums = false});
    EXPECT_EQ(read_all(r), t.events);
    EXPECT_TRUE(r.complete());
}

}  // namespace
}  // namespace kvmrr
