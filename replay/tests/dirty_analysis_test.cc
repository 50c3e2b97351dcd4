// kvmrr dirty's analysis, heatmap and migration estimate: on a trace
// written by hand whose answer is worked out below, on synthetic reports
// whose migration is computed by hand, and on the dirty_walker guest
// recorded here (on the emulator, so without KVM), whose pattern the
// analysis must give back exactly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "record/dirty_runs.h"
#include "record/trace_error.h"
#include "record/record_session.h"
#include "record/trace_writer.h"
#include "replay/dirty_analysis.h"
#include "replay/dirty_heatmap.h"
#include "replay/guest_replay.h"
#include "replay/migration_estimate.h"
#include "replay/tests/dirty_walker_expect.h"

namespace kvmrr {
namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("kvmrr-dirty-" + std::to_string(getpid()) + "-" + name)).string();
}

DirtyEvent dirty(uint64_t epoch, uint32_t slot, uint64_t gpa, uint64_t pages, std::vector<uint64_t> dirty_pages,
                 uint64_t time_ms) {
    DirtyBitmap b;
    b.slot = slot;
    b.guest_phys = gpa;
    b.pages = pages;
    b.words.assign((pages + 63) / 64, 0);
    for (uint64_t p : dirty_pages) b.words[p / 64] |= 1ull << (p % 64);
    DirtyEvent e = make_dirty_event(b, epoch);
    e.time_ns = time_ms * 1000000;
    return e;
}

MemslotEvent slot_add(uint32_t slot, uint64_t gpa, uint64_t pages, uint32_t block, uint64_t offset) {
    return MemslotEvent{MemslotOp::Add, slot, gpa, pages * 4096, 1, block, offset};
}

TopologyEvent view(std::vector<ViewRangeRecord> ranges) {
    TopologyEvent t;
    t.space = 0;
    t.ranges = static_cast<uint32_t>(ranges.size());
    t.view = std::move(ranges);
    return t;
}

// RAM block 0 (64 pages at 0, region "ram") and block 1 (16 pages, region
// "bank", a window that moves from 0x100000 to 0x200000 in epoch 1).
//   epoch 0, ends at 1 ms: ram 1,2,3; bank 0
//   epoch 1, ends at 3 ms: bank 5 (harvested as the window goes), then
//                          ram 2,3,4 and bank 5,6 through the new window
//   epoch 2, ends at 4 ms: nothing
//   epoch 3, ends at 8 ms: ram 1
std::string hand_trace() {
    const std::string path = temp_path("hand.trace");
    TraceHeader h;
    h.ram_size = 256 << 20;
    h.regions = {{1, "ram", "ram"}, {2, "bank", "ram"}};
    TraceWriter w(path, h);
    w.append(0, slot_add(0, 0, 64, 0, 0));
    w.append(0, slot_add(1, 0x100000, 16, 1, 0));
    w.append(0, view({{0, 0x3ffff, 1, 0, false, false, false, 0}, {0x100000, 0x10ffff, 2, 0, false, false, false, 0}}));
    w.append(0, dirty(0, 0, 0, 64, {1, 2, 3}, 1));
    w.append(0, dirty(0, 1, 0x100000, 16, {0}, 1));
    w.append(0, dirty(1, 1, 0x100000, 16, {5}, 2));
    w.append(0, MemslotEvent{MemslotOp::Delete, 1, 0x100000, 0, 0, 1, 0});
    w.append(0, slot_add(1, 0x200000, 16, 1, 0));
    w.append(0, view({{0, 0x3ffff, 1, 0, false, false, false, 0}, {0x200000, 0x20ffff, 2, 0, false, false, false, 0}}));
    w.append(0, dirty(1, 0, 0, 64, {2, 3, 4}, 3));
    w.append(0, dirty(1, 1, 0x200000, 16, {5, 6}, 3));
    w.append(0, dirty(2, 0, 0, 64, {}, 4));
    w.append(0, dirty(2, 1, 0x200000, 16, {}, 4));
    w.append(0, dirty(3, 0, 0, 64, {1}, 8));
    w.append(0, dirty(3, 1, 0x200000, 16, {}, 8));
    w.close();
    return path;
}

TEST(DirtyAnalysis, HandWrittenTraceGivesTheWorkedOutAnswer) {
    const std::string path = hand_trace();
    TraceReader r = TraceReader::open(path);
    std::filesystem::remove(path);
    DirtyAnalysisOptions o;
    o.window = 2;
    o.hottest = 4;
    const DirtyReport rep = analyse_dirty(r, o);
    EXPECT_TRUE(rep.timed);
    EXPECT_FALSE(rep.damage);
    EXPECT_EQ(rep.ram_pages, 80u);
    ASSERT_EQ(rep.blocks.size(), 2u);
    EXPECT_EQ(rep.blocks[1].first, 64u);
    // The bands of the heatmap: each block's region and where it was mapped.
    EXPECT_EQ(rep.blocks[0].region, "ram");
    EXPECT_EQ(rep.blocks[0].mappings, (std::vector<BlockMapping>{{0, 64, 0}}));
    EXPECT_EQ(rep.blocks[1].region, "bank");
    EXPECT_EQ(rep.blocks[1].mappings, (std::vector<BlockMapping>{{0, 16, 0x100000}, {0, 16, 0x200000}}));
    ASSERT_EQ(rep.epochs.size(), 4u);
    const std::vector<uint64_t> dirty_n = {4, 5, 0, 1}, ws = {4, 7, 5, 1}, start = {0, 1, 3, 4}, end = {1, 3, 4, 8};
    for (size_t i = 0; i < 4; ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(rep.epochs[i].epoch, i);
        EXPECT_EQ(rep.epochs[i].dirty_pages, dirty_n[i]);  // bank page 5 of epoch 1 counts once
        EXPECT_EQ(rep.epochs[i].working_set, ws[i]);
        EXPECT_EQ(rep.epochs[i].start_ns, start[i] * 1000000);
        EXPECT_EQ(rep.epochs[i].end_ns, end[i] * 1000000);
    }
    EXPECT_EQ(rep.epochs[1].runs, (std::vector<PageRun>{{2, 3}, {64 + 5, 2}}));
    EXPECT_DOUBLE_EQ(rep.epochs[0].pages_per_second(), 4000);
    EXPECT_DOUBLE_EQ(rep.epochs[1].pages_per_second(), 2500);
    EXPECT_DOUBLE_EQ(rep.epochs[3].pages_per_second(), 250);
    EXPECT_EQ(rep.epochs[0].by_region, (std::map<std::string, uint64_t>{{"bank", 1}, {"ram", 3}}));
    EXPECT_EQ(rep.epochs[1].by_region, (std::map<std::string, uint64_t>{{"bank", 3}, {"ram", 3}}));  // as the slots reported
    EXPECT_EQ(rep.epochs[1].by_slot, (std::map<uint32_t, uint64_t>{{0, 3}, {1, 3}}));
    EXPECT_EQ(rep.distinct_pages, 7u);
    EXPECT_EQ(rep.dirty_page_epochs, 10u);
    EXPECT_EQ(rep.peak_working_set, 7u);
    EXPECT_DOUBLE_EQ(rep.mean_pages_per_second(), 10 / 0.008);
    ASSERT_EQ(rep.hottest.size(), 4u);
    // Pages 1, 2, 3 of the RAM were dirty in two epochs; then the first of one epoch.
    EXPECT_EQ(rep.hottest[0].gpa, 0x1000u);
    EXPECT_EQ(rep.hottest[0].epochs, 2u);
    EXPECT_EQ(rep.hottest[0].region, "ram");
    EXPECT_EQ(rep.hottest[2].gpa, 0x3000u);
    EXPECT_EQ(rep.hottest[3].gpa, 0x4000u);
    EXPECT_EQ(rep.hottest[3].epochs, 1u);

    const std::string text = dirty_text(rep), json = dirty_json(rep), csv = dirty_csv(rep);
    EXPECT_NE(text.find("80 pages"), std::string::npos) << text;
    EXPECT_NE(json.find("\"working_set\":7"), std::string::npos) << json;
    EXPECT_NE(csv.find("\n1,1000000,3000000,5,2500.000,10.240000,7,bank=3;ram=3\n"), std::string::npos) << csv;
}

TEST(DirtyAnalysis, ADirtyLogOfASlotTheTraceNeverAddedIsAnError) {
    const std::string path = temp_path("noslot.trace");
    {
        TraceWriter w(path, TraceHeader{});
        w.append(0, dirty(0, 7, 0, 64, {1}, 1));
        w.close();
    }
    TraceReader r = TraceReader::open(path);
    std::filesystem::remove(path);
    try {
        analyse_dirty(r);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("slot 7"), std::string::npos) << e.what();
    }
}

// A dirty log is believed only as far as the memslot it names: a 16-page
// slot whose log claims 2^26 pages (or another address, or an epoch far
// ahead) is refused at once, naming the event, before anything is sized by
// the claim.
TEST(DirtyAnalysis, ALogThatLiesAboutItsSlotIsRefusedNamingTheEvent) {
    auto error_of = [](const DirtyEvent& lie) {
        const std::string path = temp_path("lie.trace");
        {
            TraceHeader h;
            h.ram_size = 256 << 20;
            TraceWriter w(path, h);
            w.append(0, slot_add(3, 0x100000, 16, 0, 0x100000));
            w.append(0, dirty(0, 3, 0x100000, 16, {1}, 1));
            w.append(0, lie);
            w.close();
        }
        TraceReader r = TraceReader::open(path);
        std::filesystem::remove(path);
        try {
            analyse_dirty(r);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const auto t0 = std::chrono::steady_clock::now();
    std::string e = error_of(dirty(1, 3, 0x100000, uint64_t{1} << 26, {(uint64_t{1} << 26) - 1}, 2));
    EXPECT_NE(e.find("event #2"), std::string::npos) << e;
    EXPECT_NE(e.find("67108864 pages"), std::string::npos) << e;
    EXPECT_NE(e.find("16 pages"), std::string::npos) << e;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    e = error_of(dirty(1, 3, 0x200000, 16, {1}, 2));
    EXPECT_NE(e.find("event #2"), std::string::npos) << e;
    EXPECT_NE(e.find("0x200000"), std::string::npos) << e;
    e = error_of(dirty(uint64_t{1} << 40, 3, 0x100000, 16, {1}, 2));
    EXPECT_NE(e.find("event #2"), std::string::npos) << e;
    EXPECT_NE(e.find("epoch"), std::string::npos) << e;
}

// The slot itself is believed only as far as the machine in the header: a
// slot larger than its memory, or lying past its end, is refused, naming
// the event, before any per-page state is sized by it.
TEST(DirtyAnalysis, ASlotLargerThanTheMachineIsRefusedNamingTheEvent) {
    const std::pair<uint64_t, uint64_t> lies[] = {{uint64_t{1} << 50, 0}, {uint64_t{16} << 12, uint64_t{1} << 60}};
    for (const auto& [size, offset] : lies) {
        const std::string path = temp_path("bigslot.trace");
        {
            TraceHeader h;
            h.ram_size = 256 << 20;
            TraceWriter w(path, h);
            w.append(0, slot_add(3, 0x100000, size / 4096, 0, offset));
            w.close();
        }
        TraceReader r = TraceReader::open(path);
        std::filesystem::remove(path);
        try {
            analyse_dirty(r);
            ADD_FAILURE() << "no error for a slot of " << size << " bytes at offset " << offset;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("event #0 (memslot 3)"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("more than the machine's"), std::string::npos) << e.what();
        }
    }
}

// The header is believed only as far as a machine kvmrr can build: a RAM
// or ROM size past kvmrr's limit is refused, naming the field, whatever
// the slots say.
TEST(DirtyAnalysis, AHeaderClaimingMoreMemoryThanAnyMachineIsRefusedNamingTheField) {
    for (const bool rom : {false, true}) {
        const std::string path = temp_path("bigheader.trace");
        {
            TraceHeader h;
            h.ram_size = 256 << 20;
            (rom ? h.rom_size : h.ram_size) = uint64_t{1} << 50;
            TraceWriter w(path, h);
            w.append(0, slot_add(3, 0x100000, 16, 0, 0));
            w.append(0, dirty(0, 3, 0x100000, 16, {1}, 1));
            w.close();
        }
        TraceReader r = TraceReader::open(path);
        std::filesystem::remove(path);
        try {
            analyse_dirty(r);
            ADD_FAILURE() << "no error for a header of 2^50 bytes of " << (rom ? "ROM" : "RAM");
        } catch (const TraceError& e) {
            const std::string want = std::string(rom ? "ROM size" : "RAM size") + " 0x4000000000000 is more than kvmrr's limit";
            EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
        }
    }
}

// A slot at the far end of the RAM the header claims: its pages are
// numbered where they are, and the hottest list finds them there (what it
// costs, its own 16 pages of state, dirty_page_state_test checks; 64 GiB
// here keeps a regression that sizes the state by the block to 384 MiB).
TEST(DirtyAnalysis, ASlotAtTheFarEndOfTheRamIsAnalysedWhereItIs) {
    constexpr uint64_t kRam = uint64_t{64} << 30;
    const std::string path = temp_path("farslot.trace");
    {
        TraceHeader h;
        h.ram_size = kRam;
        h.regions = {{1, "ram", "ram"}};
        TraceWriter w(path, h);
        w.append(0, slot_add(3, 0x100000, 16, 0, kRam - 16 * 4096));
        w.append(0, view({{0x100000, 0x10ffff, 1, 0, false, false, false, 1}}));
        w.append(0, dirty(0, 3, 0x100000, 16, {0, 15}, 1));
        w.append(0, dirty(1, 3, 0x100000, 16, {15}, 2));
        w.close();
    }
    TraceReader r = TraceReader::open(path);
    std::filesystem::remove(path);
    const DirtyReport rep = analyse_dirty(r);
    EXPECT_EQ(rep.ram_pages, kRam / 4096);  // the block is as large as the slot's end says
    EXPECT_EQ(rep.distinct_pages, 2u);
    ASSERT_EQ(rep.hottest.size(), 2u);
    EXPECT_EQ(rep.hottest[0].block_page, kRam / 4096 - 1);
    EXPECT_EQ(rep.hottest[0].gpa, 0x10f000u);
    EXPECT_EQ(rep.hottest[0].epochs, 2u);
    EXPECT_EQ(rep.hottest[1].block_page, kRam / 4096 - 16);
    EXPECT_EQ(rep.hottest[1].region, "ram");
}

// Slots that show overlapping parts of one block share their pages' state,
// also when the second appears after the first's pages were dirtied; a
// slot far away in the same block keeps its own.
TEST(DirtyAnalysis, OverlappingSlotsOfOneBlockShareTheirPages) {
    const std::string path = temp_path("overlap.trace");
    {
        TraceHeader h;
        h.ram_size = 256 << 20;
        TraceWriter w(path, h);
        w.append(0, slot_add(1, 0x100000, 16, 0, 0));
        w.append(0, slot_add(3, 0x900000, 1, 0, 1000 * 4096));
        w.append(0, dirty(0, 1, 0x100000, 16, {3, 15}, 1));
        w.append(0, dirty(0, 3, 0x900000, 1, {0}, 1));
        w.append(0, slot_add(2, 0x200000, 16, 0, 8 * 4096));  // block pages 8 to 23
        w.append(0, dirty(1, 2, 0x200000, 16, {7, 10}, 2));  // block pages 15 and 18
        w.append(0, dirty(2, 1, 0x100000, 16, {15}, 3));
        w.close();
    }
    TraceReader r = TraceReader::open(path);
    std::filesystem::remove(path);
    const DirtyReport rep = analyse_dirty(r);
    EXPECT_EQ(rep.distinct_pages, 4u);
    EXPECT_EQ(rep.ram_pages, 1001u);
    ASSERT_EQ(rep.epochs.size(), 3u);
    EXPECT_EQ(rep.epochs[1].runs, (std::vector<PageRun>{{15, 1}, {18, 1}}));
    ASSERT_EQ(rep.hottest.size(), 4u);
    const std::vector<std::pair<uint64_t, uint64_t>> want = {{15, 3}, {3, 1}, {18, 1}, {1000, 1}};
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(rep.hottest[i].block_page, want[i].first) << i;
        EXPECT_EQ(rep.hottest[i].epochs, want[i].second) << i;
    }
    EXPECT_EQ(rep.hottest[0].gpa, 0x10f000u);  // last dirtied through slot 1
    EXPECT_EQ(rep.hottest[2].gpa, 0x20a000u);  // through slot 2
    EXPECT_EQ(rep.hottest[3].gpa, 0x900000u);
}

// Ten epochs of one second over 1,000 pages of RAM, each dirtying the
// pages `pages(k)` gives.
DirtyReport synthetic(uint64_t ram, const std::function<PageRun(uint64_t)>& pages) {
    DirtyReport r;
    r.timed = true;
    r.ram_pages = ram;
    r.blocks = {{0, ram, 0, "ram", {}}};
    for (uint64_t k = 0; k < 10; ++k) {
        DirtyEpoch e;
        e.epoch = k;
        e.start_ns = k * 1000000000;
        e.end_ns = (k + 1) * 1000000000;
        e.runs = {pages(k)};
        e.dirty_pages = e.runs[0].count;
        r.dirty_page_epochs += e.dirty_pages;
        r.epochs.push_back(e);
    }
    return r;
}

constexpr double kPagesPerSecond = 500;
MigrationParams link(double downtime_s) { return {kPagesPerSecond * 4096, downtime_s, 30}; }

TEST(MigrationEstimate, HotSetComputedByHand) {
    // The same 100 pages every second; 500 pages/s; 250 ms downtime.
    // Trace: round 0 sends 1,000 pages in 2 s, during which the hot set
    // (100 pages) was dirtied: 0.2 s, within the limit -> stop.
    // Model: lambda = 100/500 = 0.2: 1000, 200 (0.4 s > 0.25), then 40
    // (0.08 s) -> stop after two rounds.
    const MigrationEstimate m = estimate_migration(synthetic(1000, [](uint64_t) { return PageRun{0, 100}; }), link(0.25));
    EXPECT_DOUBLE_EQ(m.lambda, 0.2);
    EXPECT_TRUE(m.trace.converges);
    EXPECT_EQ(m.trace.rounds, 1u);
    EXPECT_EQ(m.trace.round_pages, std::vector<uint64_t>{1000});
    EXPECT_EQ(m.trace.final_pages, 100u);
    EXPECT_NEAR(m.trace.downtime_s, 0.2, 1e-12);
    EXPECT_NEAR(m.trace.total_s, 2.2, 1e-12);
    EXPECT_EQ(m.trace.pages_sent, 1100u);
    EXPECT_TRUE(m.geometric.converges);
    EXPECT_EQ(m.geometric.rounds, 2u);
    EXPECT_EQ(m.geometric.round_pages, (std::vector<uint64_t>{1000, 200}));
    EXPECT_EQ(m.geometric.final_pages, 40u);
    EXPECT_NEAR(m.geometric.downtime_s, 0.08, 1e-12);
    EXPECT_NEAR(m.geometric.total_s, 2.48, 1e-12);
    EXPECT_EQ(m.geometric.pages_sent, 1240u);
    EXPECT_FALSE(m.looped);
    EXPECT_NE(migration_text(m).find("converges after 1 pre-copy round"), std::string::npos) << migration_text(m);
}

TEST(MigrationEstimate, FreshPagesEverySecondAgreeWithTheModel) {
    // 100 new pages every second: nothing is dirtied twice, which is what
    // the geometric model assumes. Round 0: 2 s, epochs 0 and 1 -> 200
    // pages (0.4 s); round 1 over (2, 2.4]: 40% of epoch 2's 100 -> 40
    // pages (0.08 s) -> stop. The model: 1000, 200, 40. Both 2.48 s.
    const MigrationEstimate m = estimate_migration(synthetic(1000, [](uint64_t k) { return PageRun{k * 100, 100}; }), link(0.25));
    EXPECT_TRUE(m.trace.converges);
    EXPECT_EQ(m.trace.round_pages, (std::vector<uint64_t>{1000, 200}));
    EXPECT_EQ(m.trace.final_pages, 40u);
    EXPECT_NEAR(m.trace.total_s, 2.48, 1e-9);
    EXPECT_NEAR(m.trace.total_s, m.geometric.total_s, 1e-9);
    EXPECT_EQ(m.trace.pages_sent, m.geometric.pages_sent);
}

TEST(MigrationEstimate, ADirtyRateAboveTheLinkDoesNotConverge) {
    // 600 pages a second over a 500 pages/s link: lambda 1.2.
    const MigrationEstimate m = estimate_migration(synthetic(1000, [](uint64_t) { return PageRun{0, 600}; }), link(0.25));
    EXPECT_DOUBLE_EQ(m.lambda, 1.2);
    EXPECT_FALSE(m.trace.converges);
    EXPECT_FALSE(m.geometric.converges);
    EXPECT_NE(migration_text(m).find("does NOT converge"), std::string::npos);
}

TEST(MigrationEstimate, RamThatFitsTheDowntimeStopsAtOnce) {
    const MigrationEstimate m = estimate_migration(synthetic(100, [](uint64_t) { return PageRun{0, 10}; }), link(0.25));
    EXPECT_TRUE(m.trace.converges);
    EXPECT_EQ(m.trace.rounds, 0u);
    EXPECT_NEAR(m.trace.downtime_s, 0.2, 1e-12);
    EXPECT_EQ(m.trace.pages_sent, 100u);
}

TEST(MigrationEstimate, ALongMigrationLoopsTheRecording) {
    // 10,000 pages at 500 pages/s: round 0 alone takes 20 s of a 10 s recording.
    const MigrationEstimate m = estimate_migration(synthetic(10000, [](uint64_t) { return PageRun{0, 100}; }), link(0.25));
    EXPECT_TRUE(m.looped);
    EXPECT_EQ(m.trace.final_pages, 100u);  // the hot set, however often the recording loops
}

TEST(MigrationEstimate, BadInputIsAClearError) {
    DirtyReport untimed = synthetic(1000, [](uint64_t) { return PageRun{0, 1}; });
    untimed.timed = false;
    EXPECT_THROW(estimate_migration(untimed, link(0.25)), Error);
    EXPECT_THROW(estimate_migration(synthetic(1000, [](uint64_t) { return PageRun{0, 1}; }), {0, 0.25, 30}), Error);
    EXPECT_DOUBLE_EQ(parse_bandwidth("1Gbit"), 125e6);
    EXPECT_DOUBLE_EQ(parse_bandwidth("100Mbit/s"), 12.5e6);
    EXPECT_DOUBLE_EQ(parse_bandwidth("125MB"), 125e6);
    EXPECT_DOUBLE_EQ(parse_bandwidth("1GiB"), 1073741824.0);
    EXPECT_DOUBLE_EQ(parse_bandwidth("4096"), 4096);
    EXPECT_THROW(parse_bandwidth("fast"), Error);
    EXPECT_THROW(parse_bandwidth("10 parsecs"), Error);
    EXPECT_THROW(parse_bandwidth("-5MB"), Error);
}

TEST(DirtyHeatmap, CellsHoldTheShareOfDirtyPages) {
    // 1,000 pages in 10 rows of 100; 10 epochs in 5 columns of 2.
    const DirtyReport r = synthetic(1000, [](uint64_t k) { return PageRun{k * 100, 100}; });
    const HeatmapGrid g = heatmap_grid(r, 10, 5);
    ASSERT_EQ(g.rows, 10u);
    ASSERT_EQ(g.cols, 5u);
    // Epoch k dirties row k entirely: column k/2 holds half of that row.
    for (uint64_t row = 0; row < 10; ++row)
        for (uint64_t col = 0; col < 5; ++col) EXPECT_DOUBLE_EQ(g.at(row, col), row / 2 == col ? 0.5 : 0.0) << row << "," << col;
}

TEST(DirtyHeatmap, ASmallBlockGetsABandOfItsOwn) {
    // 1,000 pages of RAM and a 16-page bank: in 100 rows the bank's share
    // would be 1.6 rows; it gets 14 (one or two pages each), the RAM 86.
    DirtyReport r = synthetic(1000, [](uint64_t k) { return PageRun{k * 100, 100}; });
    r.blocks.push_back({1, 16, 1000, "bank", {}});
    r.ram_pages = 1016;
    r.epochs[0].runs.push_back({1000 + 15, 1});  // the bank's last page
    const HeatmapGrid g = heatmap_grid(r, 100, 10, 14);
    ASSERT_EQ(g.bands.size(), 2u);
    EXPECT_EQ(g.bands[0].rows, 86u);
    EXPECT_EQ(g.bands[1].first_row, 86u);
    EXPECT_EQ(g.bands[1].rows, 14u);
    EXPECT_EQ(g.rows, 100u);
    // Rows cover the pages once each, in order.
    uint64_t next = 0;
    for (uint64_t row = 86; row < 100; ++row) {
        const auto [first, end] = g.row_pages(g.bands[1], 16, row);
        EXPECT_EQ(first, next);
        EXPECT_GE(end, first + 1);
        next = end;
    }
    EXPECT_EQ(next, 16u);
    const auto [first, end] = g.row_pages(g.bands[1], 16, 99);
    EXPECT_DOUBLE_EQ(g.at(99, 0), 1.0 / static_cast<double>(end - first));
    EXPECT_DOUBLE_EQ(g.at(98, 0), 0.0);
    // Epoch 0 dirtied RAM pages 0-99: the first rows of the RAM band.
    EXPECT_DOUBLE_EQ(g.at(0, 0), 1.0);
    EXPECT_DOUBLE_EQ(g.at(85, 0), 0.0);
    // A block that fits gets its share and no more than a row per page.
    EXPECT_EQ(heatmap_grid(r, 2000, 10, 14).bands[1].rows, 16u);
}

// The dirty_walker guest recorded with a harvest at each of its epoch
// marks: every epoch's pages inside its working set are exactly the ones
// its pattern writes.
class DirtyWalker : public ::testing::TestWithParam<uint32_t> {};

TEST_P(DirtyWalker, AnalysisGivesBackThePatternExactly) {
    const uint32_t pattern = GetParam(), pages = 512, epochs = 6;
    const std::string path = temp_path("walker-" + std::to_string(pattern) + ".trace");
    RecordRequest req;
    req.run.guest.fixture = "dirty_walker";
    req.run.guest.args = {pattern, pages, epochs};
    req.run.accel = Accel::Emu;
    req.run.limits.timeout = std::chrono::seconds(60);
    req.run.serial_out = [](uint8_t) {};
    req.output = path;
    req.recorder.dirty_mark_port = 0x3ff;  // the guest writes its epoch there after each epoch's writes
    const RecordReport rec = record_guest(req);
    ASSERT_EQ(rec.run.exit_status, 0) << rec.run.message;
    TraceReader r = TraceReader::open(path);
    std::filesystem::remove(path);
    const DirtyReport rep = analyse_dirty(r);
    ASSERT_GE(rep.epochs.size(), epochs);
    ASSERT_FALSE(rep.blocks.empty());
    ASSERT_EQ(rep.blocks[0].id, 0u);  // main RAM: block page = guest page
    for (uint32_t e = 0; e < epochs; ++e)
        EXPECT_EQ(testing::walker_pages_seen(rep.epochs[e], pages), testing::walker_pages_written(pattern, pages, e)) << e;
    // After the last mark the guest only prints: no page of the set.
    for (size_t e = epochs; e < rep.epochs.size(); ++e) EXPECT_TRUE(testing::walker_pages_seen(rep.epochs[e], pages).empty());
}

// dma_disk fills its buffer by the disk's DMA and only reads it: those
// pages are dirty in the trace all the same (a migration must send them),
// and a guest replay of the trace finds them dirty again.
TEST(DmaDirty, PagesADeviceWroteAreInTheTraceAndGuestReplayAgrees) {
    const std::string path = temp_path("dma-dirty.trace"), disk = temp_path("dma-dirty.disk");
    std::ofstream(disk, std::ios::binary) << std::string(16 * 512, 'x');
    RecordRequest req;
    req.run.guest.fixture = "dma_disk";
    req.run.disk = disk;
    req.run.accel = Accel::Emu;
    req.run.limits.timeout = std::chrono::seconds(60);
    req.run.serial_out = [](uint8_t) {};
    req.output = path;
    const RecordReport rec = record_guest(req);
    std::filesystem::remove(disk);
    ASSERT_EQ(rec.run.exit_status, 0) << rec.run.message;
    TraceReader r = TraceReader::open(path);
    const DirtyReport rep = analyse_dirty(r);
    ASSERT_FALSE(rep.blocks.empty());
    ASSERT_EQ(rep.blocks[0].id, 0u);  // main RAM: block page = guest page
    std::set<uint64_t> buffer;
    for (const DirtyEpoch& e : rep.epochs)
        for (const PageRun& run : e.runs)
            for (uint64_t p = run.first; p < run.first + run.count; ++p)
                if (p >= 0x2000 && p < 0x2100) buffer.insert(p);
    EXPECT_EQ(buffer, (std::set<uint64_t>{0x2000, 0x2001}));
    TraceReader again = TraceReader::open(path);
    ReplayOptions o;
    o.accel = Accel::Emu;
    const ReplayReport replayed = replay_guest(again, o);
    std::filesystem::remove(path);
    EXPECT_TRUE(replayed.reproduced()) << replayed.summary() << "\n"
                                       << (replayed.divergence ? replayed.divergence->describe() : "");
    EXPECT_EQ(replayed.skipped_dirty, 0u);
}

INSTANTIATE_TEST_SUITE_P(Patterns, DirtyWalker,
                         ::testing::Values(DIRTY_WALKER_SEQUENTIAL, DIRTY_WALKER_RANDOM, DIRTY_WALKER_HOT_COLD));

}  // namespace
}  // namespace kvmrr
