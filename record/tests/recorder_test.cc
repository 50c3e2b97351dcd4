// The recorder's taps, driven without KVM: a real Machine, a fake VM for
// the memslots, and made-up exits handled exactly as the run loop handles
// them (before_exit, handle_exit, on_exit), recorded into a real trace
// that is then read back.
#include "record/recorder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "core/vcpu/exit_handler.h"
#include "core/vcpu/tests/fake_vm.h"
#include "devices/dma_disk.h"
#include "vmm/machine.h"
#include "devices/tests/fake_host_inputs.h"
#include "record/dirty_runs.h"
#include "record/record_session.h"
#include "record/trace_reader.h"
#include "record/trace_writer.h"

namespace kvmrr {
namespace {

struct RecorderFixture : ::testing::Test {
    testing::FakeHostInputs host;
    Recorder rec{host, RecorderOptions{}};
    std::string serial;
    Machine machine{MachineLayout::default_layout(), rec, [this](uint8_t b) { serial.push_back(static_cast<char>(b)); },
                    [this](uint64_t gpa, std::span<const uint8_t> bytes) { rec.dma_write(gpa, bytes); }};
    testing::FakeVm vm;
    MemslotListener slots{vm};
    std::string path = (std::filesystem::temp_directory_path() / ("kvmrr-rec-" + std::to_string(getpid()) + ".trace")).string();
    std::unique_ptr<TraceWriter> writer;
    uint64_t exits = 0;

    void start() {
        machine.memory_space().add_listener(slots);
        GuestImage img;
        img.name = "made-up";
        img.segments.push_back({0x100000, {0xf4}, 0});
        TraceHeader h = make_trace_header(machine, img, {7});
        h.regions = rec.describe_regions(machine);
        TraceWriterOptions o;
        o.chunk_events = 5;  // many chunk boundaries
        o.queue_depth = 2;
        writer = std::make_unique<TraceWriter>(path, h, o);
        rec.start(*writer, machine, &slots);
    }
    void TearDown() override { std::filesystem::remove(path); }

    // One exit as the run loop handles it; returns the data a read gave.
    uint64_t exit(ExitKind kind, bool is_write, uint8_t size, uint64_t addr, uint64_t value = 0) {
        uint8_t data[8];
        std::memcpy(data, &value, 8);
        VcpuExit e{kind, is_write, size, 1, addr, std::span(data), 0};
        rec.before_exit(e);
        const ExitOutcome o = handle_exit(e, {machine.io_space(), machine.memory_space()});
        rec.on_exit(e, o);
        ++exits;
        uint64_t out = 0;
        std::memcpy(&out, data, size);
        return out;
    }

    std::vector<TraceEvent> read_all() {
        TraceReader r = TraceReader::open(path);
        std::vector<TraceEvent> out;
        TraceEvent e;
        while (r.next(e)) out.push_back(e);
        EXPECT_TRUE(r.complete()) << r.damage().value_or("");
        return out;
    }
};

template <class T>
const T& as(const TraceEvent& e) {
    return std::get<T>(e.body);
}

TEST_F(RecorderFixture, RecordsAccessesWithValuesAndTheirConsequencesInOrder) {
    host.serial = {'x'};
    host.clock_ns = 1'700'000'000'000'000'000;
    host.disk.assign(1024, 0);
    for (size_t i = 0; i < host.disk.size(); ++i) host.disk[i] = static_cast<uint8_t>(i);
    start();

    exit(ExitKind::Io, true, 1, 0x3f8, 'A');                    // UART THR
    EXPECT_EQ(exit(ExitKind::Io, false, 1, 0x3fd), 0x61u);      // LSR: data ready + THRE... pulls 'x'
    exit(ExitKind::Io, true, 1, 0x70, 0x00);                    // RTC index: seconds
    const uint64_t secs = exit(ExitKind::Io, false, 1, 0x71);   // reads the clock
    const uint64_t rnd = exit(ExitKind::Mmio, false, 8, 0xfeb00000);
    exit(ExitKind::Mmio, true, 4, 0xfeb01000, 2);               // bank 2: topology change
    exit(ExitKind::Mmio, true, 8, 0xfeb03000, 1);               // DMA: sector 1
    exit(ExitKind::Mmio, true, 8, 0xfeb03008, 0x200000);        //      to 2 MiB
    exit(ExitKind::Mmio, true, 4, 0xfeb03010, 1);               //      one sector
    exit(ExitKind::Mmio, true, 4, 0xfeb03014, DmaDisk::kCmdRead);
    vm.mark_dirty(0x200000);
    RunResult end;
    end.reason = StopReason::GuestExit;
    end.exit_status = 3;
    end.exits = exits;
    rec.finish(end);
    writer->close();
    EXPECT_EQ(serial, "A");

    const std::vector<TraceEvent> ev = read_all();
    for (size_t i = 0; i < ev.size(); ++i) ASSERT_EQ(ev[i].seq, i);
    std::vector<std::string> kinds;
    for (const TraceEvent& e : ev) kinds.push_back(event_kind(e));
    std::string all;
    for (const std::string& k : kinds) all += k + " ";
    SCOPED_TRACE("events: " + all);

    // Start: the topology of both spaces, then the memslots that exist.
    EXPECT_EQ(kinds[0], "topology");
    EXPECT_EQ(kinds[1], "topology");
    size_t i = 2;
    while (kinds[i] == "memslot") ++i;
    EXPECT_EQ(i, 2u + 6u);  // RAM below/above the BIOS alias, the alias, bank window, framebuffer, BIOS

    auto next = [&](const char* kind) -> const TraceEvent& {
        EXPECT_LT(i, ev.size());
        EXPECT_EQ(kinds[i], kind) << "event " << i;
        return ev[i++];
    };
    const auto& thr = as<AccessEvent>(next("pio"));
    EXPECT_TRUE(thr.is_write);
    EXPECT_EQ(thr.addr, 0x3f8u);
    EXPECT_EQ(thr.value, 'A');
    EXPECT_EQ(thr.status, TraceAccessStatus::Ok);
    const auto& lsr = as<AccessEvent>(next("pio"));
    EXPECT_FALSE(lsr.is_write);
    EXPECT_EQ(lsr.value, 0x61u);  // the value the device returned
    // Consequences after their cause: the UART pulls host input until none
    // is waiting, and both answers are input that replay must serve.
    EXPECT_EQ(as<SerialInEvent>(next("serial-in")).byte, 'x');
    EXPECT_EQ(as<SerialInEvent>(next("serial-in")).byte, -1);
    next("pio");
    EXPECT_EQ(as<AccessEvent>(next("pio")).value, secs);
    EXPECT_EQ(as<ClockEvent>(next("clock")).ns, host.clock_ns);
    const auto& ent = as<AccessEvent>(next("mmio"));
    EXPECT_EQ(ent.value, rnd);
    const auto& bytes = as<EntropyEvent>(next("entropy")).bytes;
    ASSERT_EQ(bytes.size(), 8u);
    uint64_t rv = 0;
    std::memcpy(&rv, bytes.data(), 8);
    EXPECT_EQ(rv, rnd);
    // The bank switch: the access, then its memslot changes, then the commit.
    next("mmio");
    EXPECT_EQ(as<MemslotEvent>(next("memslot")).op, MemslotOp::Delete);
    const auto& add = as<MemslotEvent>(next("memslot"));
    EXPECT_EQ(add.op, MemslotOp::Add);
    EXPECT_EQ(add.guest_phys, 0xe0000000u);
    EXPECT_EQ(add.block_offset, 2 * 64 * 1024u);
    EXPECT_EQ(as<TopologyEvent>(next("topology")).flat_view_hash, machine.memory_space().view()->digest());
    next("mmio");
    next("mmio");
    next("mmio");
    next("mmio");  // CMD
    const auto& disk = as<DiskReadEvent>(next("disk-read"));
    EXPECT_EQ(disk.offset, 512u);
    ASSERT_EQ(disk.data.size(), 512u);
    EXPECT_EQ(disk.data[0], host.disk[512]);
    const auto& dma = as<DmaWriteEvent>(next("dma-write"));
    EXPECT_EQ(dma.addr, 0x200000u);
    EXPECT_EQ(dma.data, disk.data);
    // The end: a last harvest (global logging was off, so no slot logs), the end.
    const auto& e = as<EndEvent>(ev.back());
    EXPECT_EQ(e.reason, "guest-exit");
    EXPECT_EQ(e.exit_status, 3);
    EXPECT_EQ(e.exits, exits);
}

TEST_F(RecorderFixture, RegionNamesAndUnassignedAccesses) {
    start();
    exit(ExitKind::Mmio, true, 4, 0x40000000, 1);  // nothing there
    exit(ExitKind::Io, false, 1, 0x3f8);           // RBR
    rec.finish(RunResult{});
    writer->close();
    TraceReader r = TraceReader::open(path);
    const TraceHeader& h = r.header();
    TraceEvent e;
    std::vector<AccessEvent> acc;
    while (r.next(e))
        if (auto* a = std::get_if<AccessEvent>(&e.body)) acc.push_back(*a);
    ASSERT_EQ(acc.size(), 2u);
    EXPECT_EQ(acc[0].region, kNoRegion);
    EXPECT_EQ(acc[0].status, TraceAccessStatus::Unassigned);
    ASSERT_LT(acc[1].region, h.regions.size());
    EXPECT_EQ(h.regions[acc[1].region].name, "uart16550");
    EXPECT_EQ(h.guest_name, "made-up");
    EXPECT_EQ(h.guest_args, std::vector<uint64_t>{7});
    ASSERT_EQ(h.guest_segments.size(), 1u);
    EXPECT_EQ(h.guest_segments[0].data, std::vector<uint8_t>{0xf4});
    EXPECT_FALSE(h.devices.empty());
}

// A region destroyed during a recording gives its pool slot to the next
// region made: that one must get an id and a definition of its own, not
// inherit the old region's.
TEST_F(RecorderFixture, ARegionMadeInADestroyedOnesSlotGetsItsOwnId) {
    struct Constant final : RegionOps {
        uint64_t value;
        explicit Constant(uint64_t v) : value(v) {}
        uint64_t read(uint64_t, unsigned) override { return value; }
        void write(uint64_t, uint64_t, unsigned) override {}
    } first_ops(0x11), second_ops(0x22);
    MemorySystem& sys = machine.memory_system();
    MemoryRegion& io_root = machine.io_space().root();
    start();
    MemoryRegion* first = &sys.create_io("hotplug-a", 4, first_ops);
    io_root.add_subregion_overlap(0x510, *first, 10);
    EXPECT_EQ(exit(ExitKind::Io, false, 1, 0x510), 0x11u);
    io_root.del_subregion(*first);
    const void* old_slot = first;
    sys.destroy(*first);
    MemoryRegion& second = sys.create_io("hotplug-b", 4, second_ops);
    ASSERT_EQ(static_cast<const void*>(&second), old_slot) << "the pool did not reuse the slot: the test proves nothing";
    io_root.add_subregion_overlap(0x510, second, 10);
    EXPECT_EQ(exit(ExitKind::Io, false, 1, 0x510), 0x22u);
    rec.finish(RunResult{});
    writer->close();

    std::map<uint32_t, std::string> names;
    std::vector<uint32_t> ids;
    TraceReader r = TraceReader::open(path);
    for (const RegionRecord& rr : r.header().regions) names[rr.id] = rr.name;
    TraceEvent e;
    while (r.next(e)) {
        if (auto* d = std::get_if<RegionDefEvent>(&e.body)) names[d->region.id] = d->region.name;
        if (auto* a = std::get_if<AccessEvent>(&e.body)) ids.push_back(a->region);
    }
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_NE(ids[0], ids[1]);
    EXPECT_EQ(names[ids[0]], "hotplug-a");
    EXPECT_EQ(names[ids[1]], "hotplug-b");
}

TEST_F(RecorderFixture, DirtyLogsAreHarvestedEveryNExitsAndBeforeASlotGoes) {
    RecorderOptions opts;
    opts.dirty_interval_exits = 2;
    Recorder rec2(host, opts);
    Machine m2(MachineLayout::default_layout(), rec2, nullptr);
    testing::FakeVm vm2;
    MemslotListener slots2(vm2);
    m2.memory_space().add_listener(slots2);
    slots2.set_global_dirty_log(true);
    GuestImage img;
    img.name = "x";
    TraceHeader h = make_trace_header(m2, img, {});
    h.regions = rec2.describe_regions(m2);
    TraceWriter w(path, h);
    rec2.start(w, m2, &slots2);
    auto exit2 = [&](ExitKind k, bool wr, uint8_t size, uint64_t addr, uint64_t v) {
        uint8_t data[8];
        std::memcpy(data, &v, 8);
        VcpuExit e{k, wr, size, 1, addr, std::span(data), 0};
        rec2.before_exit(e);
        rec2.on_exit(e, handle_exit(e, {m2.io_space(), m2.memory_space()}));
    };
    vm2.mark_dirty(0x5000);
    vm2.mark_dirty(0x6000);
    vm2.mark_dirty(0x200000);
    exit2(ExitKind::Io, true, 1, 0x3ff, 0);
    exit2(ExitKind::Io, true, 1, 0x3ff, 0);  // second exit: the harvest that closes epoch 0
    vm2.mark_dirty(0xe0000000);              // the bank window, about to move
    exit2(ExitKind::Mmio, true, 4, 0xfeb01000, 1);  // its slot is deleted: harvested first, inside epoch 1
    rec2.finish(RunResult{});
    w.close();

    TraceReader r = TraceReader::open(path);
    TraceEvent e;
    std::vector<uint64_t> interval_pages;
    std::vector<std::string> after_switch;  // kinds from the bank-switch access on
    bool seen_switch = false;
    while (r.next(e)) {
        if (auto* a = std::get_if<AccessEvent>(&e.body); a && a->addr == 0xfeb01000) seen_switch = true;
        if (seen_switch) after_switch.push_back(event_kind(e));
        auto* d = std::get_if<DirtyEvent>(&e.body);
        if (!d) continue;
        for (uint64_t p : dirty_pages(*d)) {
            const uint64_t gpa = d->guest_phys + p * 4096;
            // Epoch k is the k-th interval between harvests, whichever
            // harvest (a round, or a slot about to go) read the page.
            EXPECT_EQ(d->epoch, seen_switch ? 1u : 0u) << std::hex << gpa;
            if (seen_switch) {
                EXPECT_EQ(gpa, 0xe0000000u);
            } else {
                interval_pages.push_back(gpa);
            }
        }
    }
    // The harvest after the second exit saw the pages dirtied before it.
    std::sort(interval_pages.begin(), interval_pages.end());
    EXPECT_EQ(interval_pages, (std::vector<uint64_t>{0x5000, 0x6000, 0x200000}));
    // The window's slot was harvested before it was deleted, and both
    // follow the access that caused them.
    ASSERT_GE(after_switch.size(), 4u);
    EXPECT_EQ(after_switch[0], "mmio");
    EXPECT_EQ(after_switch[1], "dirty");
    EXPECT_EQ(after_switch[2], "memslot");
    EXPECT_EQ(after_switch[3], "memslot");
}

// The recorder outlives its machine (it is the machine's HostInputs): after
// detach() nothing of it is left on the machine, and later changes record
// nothing.
TEST(RecorderLifetime, DetachRemovesEveryTapBeforeTheMachineGoes) {
    testing::FakeHostInputs host;
    Recorder rec(host, RecorderOptions{});
    const std::string path =
        (std::filesystem::temp_directory_path() / ("kvmrr-rec-life-" + std::to_string(getpid()) + ".trace")).string();
    uint64_t events = 0;
    {
        Machine m(MachineLayout::default_layout(), rec, nullptr);
        testing::FakeVm vm;
        MemslotListener slots(vm);
        m.memory_space().add_listener(slots);
        GuestImage img;
        img.name = "x";
        TraceWriter w(path, make_trace_header(m, img, {}));
        rec.start(w, m, &slots);
        rec.detach();
        const uint64_t before = w.stats().events;
        m.memory_system().begin();
        m.memory().system->set_enabled(false);
        m.memory_system().commit();
        EXPECT_EQ(w.stats().events, before);  // nothing recorded after detach
        w.close();
        events = w.stats().events;
    }
    EXPECT_GT(events, 0u);  // the start was recorded
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace kvmrr
