#include "record/trace_writer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "record/dirty_runs.h"
#include "record/tests/trace_test_util.h"
#include "record/trace_format.h"
#include "record/trace_reader.h"
#include "record/trace_text.h"

namespace kvmrr {
namespace {

using test::sample_body;
using test::sample_event;
using test::sample_header;
using test::TempDir;

std::vector<TraceEvent> read_all(TraceReader& r) {
    std::vector<TraceEvent> out;
    TraceEvent e;
    while (r.next(e)) out.push_back(e);
    return out;
}

std::vector<TraceEvent> write_samples(TraceWriter& w, uint64_t n) {
    std::vector<TraceEvent> written;
    for (uint64_t i = 0; i < n; ++i) {
        TraceEvent e = sample_event(i);
        EXPECT_EQ(w.append(e.vcpu, e.body), i);
        written.push_back(e);
    }
    return written;
}

// The pc board's fields (format 5 and 7) come back as written, and
// `inspect` names them.
TEST(TraceWriterTest, PcBoardFieldsRoundTrip) {
    TempDir dir;
    const std::string path = dir.file("pc.trace");
    TraceHeader header = sample_header();
    header.board = "pc";
    header.firmware = std::vector<uint8_t>(64 << 10, 0xf4);
    header.disk_sectors = 12345;
    header.clock = "virtual";
    header.stop_at_output = "No bootable device";
    header.min_reader_version = kTraceDiskVersion;
    {
        TraceWriter w(path, header);
        w.close();
    }
    TraceReader r = TraceReader::open(path);
    EXPECT_EQ(r.header(), header);
    EXPECT_EQ(r.min_reader_version(), kTraceDiskVersion);
    const std::string text = format_header(r.header());
    EXPECT_NE(text.find("board: pc, firmware 65536 bytes, IDE disk 12345 sectors\n"), std::string::npos) << text;
}

TEST(TraceWriterTest, RoundTripsEveryKindAndFieldAcrossChunkBoundaries) {
    TempDir dir;
    const std::string path = dir.file("t.trace");
    const TraceHeader header = sample_header();
    std::vector<TraceEvent> written;
    {
        TraceWriter w(path, header, {.chunk_events = 7});
        written = write_samples(w, 200);
        w.close();
    }
    TraceReader r = TraceReader::open(path);
    EXPECT_EQ(r.header(), header);
    EXPECT_EQ(r.format_version(), kTraceFormatVersion);
    EXPECT_TRUE(r.notes().empty());
    const std::vector<TraceEvent> got = read_all(r);
    ASSERT_EQ(got.size(), written.size());
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].seq, i);
        EXPECT_EQ(got[i], written[i]) << "event " << i << " (" << event_kind(written[i]) << ")";
    }
    EXPECT_TRUE(r.complete());
    EXPECT_EQ(r.damage(), std::nullopt);
    EXPECT_EQ(r.event_count(), 200u);
    ASSERT_EQ(r.chunk_index().size(), 29u);  // ceil(200 / 7)
    for (size_t i = 0; i < r.chunk_index().size(); ++i) {
        EXPECT_EQ(r.chunk_index()[i].first_seq, 7 * i);
        EXPECT_EQ(r.chunk_index()[i].events, i + 1 < 29 ? 7u : 4u);
    }
}

TEST(TraceWriterTest, RoundTripsAnEmptyTraceAndDefaultValues) {
    TempDir dir;
    const std::string path = dir.file("t.trace");
    TraceHeader header;  // defaults, empty strings and lists
    header.dirty_mode.clear();
    {
        TraceWriter w(path, header);
        w.close();
    }
    TraceReader r = TraceReader::open(path);
    EXPECT_EQ(r.header(), header);
    TraceEvent e;
    EXPECT_FALSE(r.next(e));
    EXPECT_TRUE(r.complete());
    EXPECT_EQ(r.event_count(), 0u);

    // Events whose fields are all defaults (zero, empty) read back equal too.
    {
        TraceWriter w(path, header, {.chunk_events = 3});
        w.append(0, AccessEvent{false, 0, 1, false, 1, 0, {}, 0, TraceAccessStatus::Ok});
        w.append(0, DmaWriteEvent{});
        w.append(0, EntropyEvent{});
        w.append(0, DiskReadEvent{});
        w.append(0, RegionDefEvent{});
        w.append(0, EndEvent{});
        w.append(0, DirtyEvent{});
        w.append(0, ClockEvent{std::numeric_limits<int64_t>::min()});
        w.close();
    }
    TraceReader r2 = TraceReader::open(path);
    const auto got = read_all(r2);
    ASSERT_EQ(got.size(), 8u);
    EXPECT_EQ(std::get<DmaWriteEvent>(got[1].body), DmaWriteEvent{});
    EXPECT_EQ(std::get<EndEvent>(got[5].body), EndEvent{});
    EXPECT_EQ(std::get<ClockEvent>(got[7].body).ns, std::numeric_limits<int64_t>::min());
    EXPECT_TRUE(r2.complete());
}

TEST(TraceWriterTest, SizesOfChunksFollowOptions) {
    TempDir dir;
    for (uint32_t chunk_events : {1u, 2u, 16u, 8192u}) {
        const std::string path = dir.file("t" + std::to_string(chunk_events));
        std::vector<TraceEvent> written;
        {
            TraceWriter w(path, sample_header(), {.chunk_events = chunk_events, .queue_depth = 1});
            written = write_samples(w, 100);
        }  // the destructor closes
        TraceReader r = TraceReader::open(path);
        EXPECT_EQ(read_all(r), written) << chunk_events;
        EXPECT_TRUE(r.complete());
        EXPECT_EQ(r.chunk_index().size(), (100 + chunk_events - 1) / chunk_events);
    }
}

TEST(TraceWriterTest, SealsAChunkEarlyWhenItsDataIsLarge) {
    TempDir dir;
    const std::string path = dir.file("t.trace");
    std::vector<TraceEvent> written;
    {
        TraceWriter w(path, sample_header(), {.chunk_events = 8192, .chunk_bytes = 256 << 10});
        for (uint64_t i = 0; i < 40; ++i) {
            EventBody b = DiskReadEvent{i * 65536, std::vector<uint8_t>(65536, static_cast<uint8_t>(i))};
            w.append(0, b);
            written.push_back({i, 0, b});
        }
        w.close();
        EXPECT_EQ(w.stats().chunks, 10u);  // 4 events of 64 KiB reach 256 KiB
    }
    TraceReader r = TraceReader::open(path);
    EXPECT_EQ(read_all(r), written);
}

TEST(TraceWriterTest, StatsCountEventsByKindAndBytes) {
    TempDir dir;
    TraceWriter w(dir.file("t.trace"), sample_header(), {.chunk_events = 10});
    write_samples(w, 32);
    w.flush();
    TraceWriterStats s = w.stats();
    EXPECT_EQ(s.events, 32u);
    EXPECT_EQ(s.chunks, 4u);
    EXPECT_EQ(s.events_by_kind.at("pio"), 4u);  // samples 0 and 2 of every 16
    EXPECT_EQ(s.events_by_kind.at("mmio"), 4u);
    EXPECT_EQ(s.events_by_kind.at("memslot"), 4u);
    EXPECT_EQ(s.events_by_kind.at("end"), 2u);
    uint64_t total = 0;
    for (const auto& [kind, n] : s.events_by_kind) total += n;
    EXPECT_EQ(total, 32u);
    EXPECT_GT(s.bytes_uncompressed, 0u);
    EXPECT_GT(s.bytes_compressed, 0u);
    EXPECT_EQ(s.file_bytes, std::filesystem::file_size(dir.file("t.trace")));
    w.close();
    EXPECT_GT(w.stats().file_bytes, s.file_bytes);  // footer and trailer
    EXPECT_EQ(w.stats().file_bytes, std::filesystem::file_size(dir.file("t.trace")));
}

// A guest loop repeats its accesses; with the access inline in the event
// (format 4) the repetition survives packing and LZ4 finds it. With the
// access behind a pointer, as in format 3, this stream took 4.2 bytes an
// event; the bound here fails if the layout goes back to that.
TEST(TraceWriterTest, RepeatedAccessesCompressToUnderABytePerEvent) {
    TempDir dir;
    TraceWriter w(dir.file("t.trace"), sample_header());
    constexpr uint64_t kEvents = 100000;
    for (uint64_t i = 0; i < kEvents; ++i)
        w.append(0, AccessEvent{true, 0x3ff, 1, true, 1, i & 0xff, {}, 1, TraceAccessStatus::Ok});
    w.close();
    const TraceWriterStats s = w.stats();
    const double per_event = static_cast<double>(s.bytes_compressed) / kEvents;
    EXPECT_LT(per_event, 1.0) << s.bytes_compressed << " compressed bytes for " << kEvents << " accesses";
    TraceReader r = TraceReader::open(dir.file("t.trace"));
    TraceEvent e;
    uint64_t n = 0;
    while (r.next(e)) {
        const auto& a = std::get<AccessEvent>(e.body);
        ASSERT_EQ(a.value, n & 0xff);
        ++n;
    }
    EXPECT_EQ(n, kEvents);
}

TEST(TraceWriterTest, FlushedEventsReadBackFromACopyTakenThen) {
    TempDir dir;
    const std::string path = dir.file("t.trace");
    TraceWriter w(path, sample_header(), {.chunk_events = 5});
    std::vector<TraceEvent> written;
    for (uint64_t round = 0; round < 4; ++round) {
        for (uint64_t i = 0; i < 3 + round * 4; ++i) {
            TraceEvent e = sample_event(written.size());
            w.append(e.vcpu, e.body);
            written.push_back(e);
        }
        w.flush();
        // What a crash right now would leave: the file as it is.
        const std::string copy = dir.file("copy" + std::to_string(round));
        std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
        TraceReader r = TraceReader::open(copy);
        EXPECT_EQ(read_all(r), written) << "round " << round;
        EXPECT_FALSE(r.has_footer());
        EXPECT_FALSE(r.complete());
        ASSERT_TRUE(r.damage_info());
        EXPECT_EQ(r.damage_info()->kind, TraceDamageKind::NoFooter);
        EXPECT_EQ(r.damage_info()->events_read, written.size());
        EXPECT_EQ(r.damage_info()->bytes_after, 0u);
        EXPECT_NE(r.damage()->find("no footer"), std::string::npos) << *r.damage();
    }
    w.close();
    TraceReader r = TraceReader::open(path);
    EXPECT_EQ(read_all(r), written);
    EXPECT_TRUE(r.complete());
}

TEST(TraceWriterTest, RefusesAbsurdEventsWithoutUsingASequenceNumber) {
    TempDir dir;
    TraceWriter w(dir.file("t.trace"), sample_header());
    EXPECT_EQ(w.append(0, ClockEvent{1}), 0u);
    auto refused = [&](EventBody b, uint16_t vcpu, const char* why) {
        try {
            w.append(vcpu, std::move(b));
            ADD_FAILURE() << "accepted an event with " << why;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
    };
    refused(AccessEvent{true, 0x3f8, 0, true, 1, 0, {}, 1, TraceAccessStatus::Ok}, 0, "access size 0");
    refused(AccessEvent{true, 0x3f8, 9, true, 1, 0, {}, 1, TraceAccessStatus::Ok}, 0, "access size 9");
    refused(AccessEvent{true, 0x3f8, 1, true, 1, 0x100, {}, 1, TraceAccessStatus::Ok}, 0, "does not fit");
    refused(AccessEvent{true, 0x3f8, 1, true, 0, 0, {}, 1, TraceAccessStatus::Ok}, 0, "count 0");
    refused(AccessEvent{true, 0x3f8, 2, true, 3, 0, {1, 2, 3}, 1, TraceAccessStatus::Ok}, 0, "bulk data of 3 bytes");
    refused(AccessEvent{true, 0x10000, 1, true, 1, 0, {}, 1, TraceAccessStatus::Ok}, 0, "above 0xffff");
    refused(AccessEvent{false, ~0ull, 2, true, 1, 0, {}, 1, TraceAccessStatus::Ok}, 0, "wraps");
    refused(TopologyEvent{2, 0, 0, {}}, 0, "address space 2");
    refused(TopologyEvent{0, 0, 2, {{0, 10, 0, 0, false, false, false, 0}}}, 0, "1 ranges, 2 announced");
    refused(TopologyEvent{0, 0, 1, {{10, 9, 0, 0, false, false, false, 0}}}, 0, "ends before it starts");
    refused(TopologyEvent{0, 0, 2, {{0, 10, 0, 0, false, false, false, 0}, {10, 20, 0, 0, false, false, false, 0}}}, 0,
            "overlap or are unsorted");
    refused(SerialInEvent{256}, 0, "serial input 256");
    refused(ClockEvent{1}, 2, "vCPU 2 but the trace has 2 vCPUs");
    refused(DirtyEvent{0, 0, 0, 10, 1, {0, 11}}, 0, "past the slot");
    refused(EndEvent{"x", 0, 0, 0, RegsRecord{{1, 2, 3}, 0, 0, 0, 0}, {}}, 0, "3 general registers");
    refused(DmaWriteEvent{0, std::vector<uint8_t>(kMaxEventBytes + 1)}, 0, "more than the limit");
    EXPECT_EQ(w.append(0, ClockEvent{2}), 1u);
    w.close();
}

TEST(TraceWriterTest, RefusesBadOptionsAndHeaders) {
    TempDir dir;
    EXPECT_THROW(TraceWriter(dir.file("a"), sample_header(), {.chunk_events = 0}), Error);
    EXPECT_THROW(TraceWriter(dir.file("a"), sample_header(), {.chunk_events = kMaxChunkEvents + 1}), Error);
    EXPECT_THROW(TraceWriter(dir.file("a"), sample_header(), {.queue_depth = 0}), Error);
    EXPECT_THROW(TraceWriter(dir.file("a"), sample_header(), {.chunk_bytes = 0}), Error);
    TraceHeader h = sample_header();
    h.min_reader_version = kTraceFormatVersion + 1;  // above format_version
    EXPECT_THROW(TraceWriter(dir.file("a"), h), Error);
}

TEST(TraceWriterTest, CreateErrorNamesThePath) {
    const std::string path = "/nonexistent-kvmrr-dir/x.trace";
    try {
        TraceWriter w(path, sample_header());
        FAIL() << "created " << path;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
    }
}

TEST(TraceWriterTest, WriteErrorIsRememberedAndThrownWithPathAndErrno) {
    TempDir dir;
    const std::string path = dir.file("t.trace");
    // Limit the size of files this process writes: the background thread's
    // write() then fails with EFBIG once the header is written.
    struct rlimit old {};
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old;
    lim.rlim_cur = 4096;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    std::string message;
    {
        TraceWriter w(path, sample_header(), {.chunk_events = 4});
        try {
            for (uint64_t i = 0; i < 100000; ++i) w.append(0, DiskReadEvent{0, std::vector<uint8_t>(512, 1)});
            w.flush();
        } catch (const Error& e) {
            message = e.what();
        }
        // Remembered: every later call throws the same error.
        EXPECT_THROW(w.append(0, ClockEvent{}), Error);
        EXPECT_THROW(w.flush(), Error);
        EXPECT_THROW(w.close(), Error);
        w.close();  // already closed: nothing more to say
    }
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("errno"), std::string::npos) << message;
    EXPECT_NE(message.find("File too large"), std::string::npos) << message;
    // What did reach the file reads back as a clean prefix.
    TraceReader r = TraceReader::open(path);
    EXPECT_LE(read_all(r).size(), 100000u);
    EXPECT_TRUE(r.damage());
}

std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

// With replace_atomically an existing file is replaced by a whole trace in
// close(), and only then; a writer that never closes leaves the old file
// as it was and nothing else in the directory.
TEST(TraceWriterTest, ReplacesAtomicallyOrNotAtAll) {
    TempDir dir;
    const std::string path = dir.file("t.trace");
    const std::vector<uint8_t> old{'o', 'l', 'd'};
    test::write_file(path, old);
    {
        TraceWriter w(path, sample_header(), {.chunk_events = 3, .replace_atomically = true});
        write_samples(w, 20);
        w.flush();
        EXPECT_EQ(test::read_file(path), old);  // nothing of the new trace shows yet
    }  // abandoned: a failed run
    EXPECT_EQ(test::read_file(path), old);
    EXPECT_EQ(files_in(dir.file(".")), std::vector<std::string>{"t.trace"});
    {
        TraceWriter w(path, sample_header(), {.chunk_events = 3, .replace_atomically = true});
        write_samples(w, 20);
        w.close();
    }
    EXPECT_EQ(files_in(dir.file(".")), std::vector<std::string>{"t.trace"});
    TraceReader r = TraceReader::open(path);
    EXPECT_EQ(read_all(r).size(), 20u);
    EXPECT_TRUE(r.complete());
    // A new file in a directory works the same way.
    const std::string fresh = dir.file("new.trace");
    {
        TraceWriter w(fresh, sample_header(), {.replace_atomically = true});
        write_samples(w, 2);
        EXPECT_FALSE(std::filesystem::exists(fresh));
        w.close();
    }
    { TraceReader f = TraceReader::open(fresh); EXPECT_EQ(read_all(f).size(), 2u); }
    EXPECT_EQ(files_in(dir.file(".")), (std::vector<std::string>{"new.trace", "t.trace"}));
    EXPECT_THROW(TraceWriter(dir.file("."), sample_header(), {.replace_atomically = true}), Error);
}

TEST(TraceWriterTest, AppendAfterCloseThrowsAndCloseIsIdempotent) {
    TempDir dir;
    TraceWriter w(dir.file("t.trace"), sample_header());
    w.append(0, ClockEvent{1});
    w.close();
    w.close();
    EXPECT_THROW(w.append(0, ClockEvent{2}), Error);
    EXPECT_THROW(w.flush(), Error);
}

TEST(TraceWriterTest, WritesWhatAnotherVersionDeclares) {
    TempDir dir;
    TraceHeader h = sample_header();
    h.format_version = 2;
    h.min_reader_version = 1;  // no accesses below, so nothing of format 4
    {
        TraceWriter w(dir.file("t.trace"), h);
        w.append(0, ClockEvent{5});
    }
    TraceReader r = TraceReader::open(dir.file("t.trace"));
    EXPECT_EQ(r.format_version(), 2u);
    EXPECT_EQ(r.header(), h);
}

// Accesses are written inline (format 4): a header that lets older readers
// in must not get one, while events those readers know are still fine.
TEST(TraceWriterTest, RefusesAnAccessWhenTheHeaderAdmitsOlderReaders) {
    TempDir dir;
    TraceHeader h = sample_header();
    h.format_version = 3;
    h.min_reader_version = 3;
    TraceWriter w(dir.file("t.trace"), h);
    w.append(0, ClockEvent{5});
    try {
        w.append(0, AccessEvent{true, 0x3f8, 1, true, 1, 0x41, {}, 1, TraceAccessStatus::Ok});
        FAIL() << "an access was accepted under min_reader_version 3";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("accesses need min_reader_version 4 and the header declares 3"),
                  std::string::npos)
            << e.what();
    }
    w.close();
    TraceReader r = TraceReader::open(dir.file("t.trace"));
    EXPECT_EQ(read_all(r).size(), 1u);
}

TEST(TraceWriterTest, ManyChunksThroughAShallowQueue) {
    TempDir dir;
    const std::string path = dir.file("t.trace");
    std::vector<TraceEvent> written;
    {
        TraceWriter w(path, sample_header(), {.chunk_events = 3, .queue_depth = 1, .sync = true});
        written = write_samples(w, 3000);
        w.flush();
        EXPECT_EQ(w.stats().chunks, 1000u);
        w.close();
    }
    TraceReader r = TraceReader::open(path);
    EXPECT_EQ(read_all(r), written);
    EXPECT_TRUE(r.complete());
}

// append_dirty() leaves the encoding to the writer's thread: what reads
// back must be exactly what make_dirty_event() gives, whatever the bitmap
// (clean, sparse, dense, full, bits past the slot, words missing) and
// wherever chunks are sealed, and the caller's words may change as soon as
// the call returns.
TEST(TraceWriterTest, DirtyBitmapsReadBackAsTheEventsTheyEncodeTo) {
    const uint64_t gib_pages = (1ull << 30) / 4096;
    std::vector<DirtyBitmap> bitmaps;
    bitmaps.push_back({1, 0x100000, gib_pages, std::vector<uint64_t>(gib_pages / 64)});  // clean
    DirtyBitmap stride{1, 0x100000, gib_pages, std::vector<uint64_t>(gib_pages / 64)};
    for (uint64_t p = 7; p < gib_pages; p += 100) stride.words[p / 64] |= uint64_t{1} << (p % 64);
    bitmaps.push_back(stride);
    bitmaps.push_back({1, 0x100000, gib_pages, std::vector<uint64_t>(gib_pages / 64, ~uint64_t{0})});  // all dirty
    bitmaps.push_back({2, 0xfffe0000, 130, {0, 1, ~uint64_t{0}}});  // bits past page 130 do not count
    bitmaps.push_back({3, 0x2000, 1000, {0x8000000000000001ull, 3}});  // words past the second are missing
    std::mt19937_64 rng(42);
    DirtyBitmap random{4, 0x40000000, 100000, std::vector<uint64_t>(100000 / 64 + 1)};
    for (uint64_t& w : random.words) w = rng() & rng() & rng();  // runs of all lengths
    bitmaps.push_back(random);
    bitmaps.push_back({5, 0, 64 * 600, std::vector<uint64_t>(600, 0x5555555555555555ull)});  // a run every other page

    TempDir dir;
    const std::string path = dir.file("t.trace");
    std::vector<TraceEvent> written;
    {
        TraceWriter w(path, sample_header(), {.chunk_events = 3, .chunk_bytes = 100000});
        for (uint64_t round = 0; round < 3; ++round) {
            for (size_t i = 0; i < bitmaps.size(); ++i) {
                TraceEvent e = sample_event(written.size());
                EXPECT_EQ(w.append(e.vcpu, e.body), written.size());
                written.push_back(e);
                DirtyBitmap b = bitmaps[i];
                const uint64_t epoch = round * 10 + i, time_ns = 1000 * written.size();
                DirtyEvent d = make_dirty_event(b, epoch);
                d.time_ns = time_ns;
                EXPECT_EQ(w.append_dirty(1, b, epoch, time_ns), written.size());
                written.push_back(TraceEvent{written.size(), 1, d});
                for (uint64_t& word : b.words) word = ~word;  // the writer kept its own copy
            }
            w.flush();
            // Acknowledged: a copy of the file taken now reads them all.
            const std::string copy = dir.file("copy");
            std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
            TraceReader r = TraceReader::open(copy);
            EXPECT_EQ(read_all(r), written) << "round " << round;
        }
        w.close();
    }
    TraceReader r = TraceReader::open(path);
    const std::vector<TraceEvent> got = read_all(r);
    ASSERT_EQ(got.size(), written.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], written[i]) << "event " << i;
    EXPECT_TRUE(r.complete());
}

// A GiB's runs take at most 262,145 bytes, and that bound is what a
// pending bitmap counts towards its chunk: four of them fill the default
// 1 MiB chunk, so a chunk can never pack past its limit once encoded.
TEST(TraceWriterTest, PendingBitmapsCountTheirLargestEncodingTowardsTheChunk) {
    const uint64_t pages = (1ull << 30) / 4096;
    DirtyBitmap b{1, 0, pages, std::vector<uint64_t>(pages / 64)};
    b.words[5] = 1;
    TempDir dir;
    TraceWriter w(dir.file("t.trace"), sample_header());
    for (int i = 0; i < 4; ++i) w.append_dirty(0, b, i, 0);
    w.append(0, ClockEvent{1});
    w.flush();
    EXPECT_EQ(w.stats().chunks, 2u);  // sealed after the fourth bitmap, and by the flush
    w.close();
}

// A slot so large that its runs could pass the event limit is encoded at
// once, so that an event which does pass it is refused from the call, as
// append() refuses, and not later from the writer's thread.
TEST(TraceWriterTest, ADirtyBitmapTooLargeToEncodeIsRefusedFromTheCall) {
    const uint64_t pages = kMaxEventBytes + 64;
    DirtyBitmap b{1, 0, pages, std::vector<uint64_t>(pages / 64, 0x5555555555555555ull)};
    TempDir dir;
    const std::string path = dir.file("t.trace");
    {
        TraceWriter w(path, sample_header());
        EXPECT_EQ(w.append(0, ClockEvent{1}), 0u);
        try {
            w.append_dirty(0, b, 1, 0);
            ADD_FAILURE() << "accepted a dirty event of " << pages / 2 << " runs";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("more than the limit"), std::string::npos) << e.what();
        }
        std::fill(b.words.begin(), b.words.end(), 0);
        b.words[100] = 0xf0;
        EXPECT_EQ(w.append_dirty(0, b, 2, 0), 1u);  // same slot, few runs: taken
        w.close();
    }
    TraceReader r = TraceReader::open(path);
    const std::vector<TraceEvent> got = read_all(r);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(std::get<DirtyEvent>(got[1].body), make_dirty_event(b, 2));
}

}  // namespace
}  // namespace kvmrr
