// The golden traces in fixtures/traces/ (recorded from the fixture guests,
// see fixtures/traces/record.sh) replayed as regression fixtures: each
// must reproduce through the current device models and memory model, on
// its own (device replay) and with its guest re-run on the emulator (guest
// replay); and a model changed on purpose must be caught at the right
// event, which shows the fixtures can fail.
#include <gtest/gtest.h>

#include <filesystem>

#include "vmm/machine.h"
#include "core/tests/region_test_hook.h"
#include "replay/tests/planted_ops.h"
#include "replay/device_replay.h"
#include "replay/guest_replay.h"

namespace kvmrr {
namespace {

using testing::PlantedRead;
using testing::PlantedWrite;
using testing::region_at;

std::string golden(const std::string& name) { return std::string(KVMRR_SOURCE_DIR) + "/fixtures/traces/" + name + ".trace"; }

std::vector<std::string> golden_names() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(std::string(KVMRR_SOURCE_DIR) + "/fixtures/traces"))
        if (e.path().extension() == ".trace") out.push_back(e.path().stem().string());
    std::sort(out.begin(), out.end());
    return out;
}

// The first recorded access matching, and its sequence number.
uint64_t first_access(const std::string& trace, bool io, uint64_t addr, bool is_write) {
    TraceReader r = TraceReader::open(trace);
    TraceEvent e;
    while (r.next(e))
        if (const auto* a = std::get_if<AccessEvent>(&e.body); a && a->io == io && a->addr == addr && a->is_write == is_write)
            return e.seq;
    ADD_FAILURE() << "no such access in " << trace;
    return ~0ull;
}

// Traces written in format 3, before accesses moved inline: this build
// must still read and replay them, PIO and MMIO alike.
TEST(OlderFormat, Format3TracesStillReplay) {
    for (const char* name : {"hello", "rom_shadow"}) {
        SCOPED_TRACE(name);
        const std::string path = std::string(KVMRR_SOURCE_DIR) + "/fixtures/traces/format3/" + name + ".trace";
        TraceReader counter = TraceReader::open(path);
        EXPECT_EQ(counter.format_version(), 3u);
        EXPECT_EQ(counter.min_reader_version(), 1u);
        uint64_t pio = 0, mmio = 0;
        TraceEvent e;
        while (counter.next(e)) {
            if (const auto* a = std::get_if<AccessEvent>(&e.body)) ++(a->io ? pio : mmio);
        }
        EXPECT_TRUE(counter.complete());
        EXPECT_GT(pio, 40u);
        if (std::string(name) == "rom_shadow") {
            EXPECT_GT(mmio, 20u);
        }
        TraceReader r = TraceReader::open(path);
        const ReplayReport rep = replay_devices(r);
        EXPECT_TRUE(rep.reproduced()) << rep.summary();
        EXPECT_EQ(rep.accesses, pio + mmio);
    }
}

class GoldenTrace : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTrace, DeviceReplayReproducesIt) {
    TraceReader r = TraceReader::open(golden(GetParam()));
    EXPECT_TRUE(r.complete() || r.has_footer());
    const ReplayReport rep = replay_devices(r);
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << "\n" << (rep.divergence ? rep.divergence->describe() : "");
    EXPECT_GE(rep.accesses, 10u);
}

TEST_P(GoldenTrace, GuestReplayOnTheEmulatorReproducesIt) {
    TraceReader r = TraceReader::open(golden(GetParam()));
    ReplayOptions o;
    o.accel = Accel::Emu;
    const ReplayReport rep = replay_guest(r, o);
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << "\n" << (rep.divergence ? rep.divergence->describe() : "");
    EXPECT_EQ(rep.skipped_dirty, 0u);  // every bitmap was compared
    EXPECT_EQ(rep.accel, "emu");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTrace, ::testing::ValuesIn(golden_names()));

TEST(GoldenTraces, EveryFixtureGuestHasOne) {
    const std::vector<std::string> names = golden_names();
    for (const char* g : {"hello", "pio_loop", "mmio_mix", "bank_switch", "rom_shadow", "dirty_walker", "nondet", "dma_disk", "dma_code",
                          "nondet_bug", "timer_irq_real", "timer_irq_prot", "timer_irq_long", "string_io", "device_walk", "pc_walk",
                          "ide_walk", "ide_dma", "idle_hlt_masked", "idle_hlt_in_service", "serial_echo",
                          "serial_echo_aeoi", "serial_echo_no_tick", "timer_irq_spin"})
        EXPECT_NE(std::find(names.begin(), names.end(), g), names.end()) << g;
    for (const std::string& n : names) EXPECT_LT(std::filesystem::file_size(golden(n)), 300u * 1024) << n;
}

struct PlantedModel : ::testing::Test {
    std::vector<std::unique_ptr<RegionOps>> planted;
    ReplayReport replay(const std::string& name, bool guest, std::function<void(Machine&)> plant) {
        TraceReader r = TraceReader::open(golden(name));
        ReplayOptions o;
        o.accel = Accel::Emu;
        o.prepare_machine = std::move(plant);
        return guest ? replay_guest(r, o) : replay_devices(r, o);
    }
    void plant_read(Machine& m, bool io, uint64_t addr, std::function<uint64_t(uint64_t, uint64_t)> f) {
        MemoryRegion& mr = region_at(m, io, addr);
        planted.push_back(std::make_unique<PlantedRead>(*mr.ops(), std::move(f)));
        RegionTestHook::replace_ops(mr, *planted.back());
    }
    void plant_write(Machine& m, bool io, uint64_t addr, std::function<uint64_t(uint64_t, uint64_t)> f) {
        MemoryRegion& mr = region_at(m, io, addr);
        planted.push_back(std::make_unique<PlantedWrite>(*mr.ops(), std::move(f)));
        RegionTestHook::replace_ops(mr, *planted.back());
    }
};

TEST_F(PlantedModel, UartStatusBitIsCaughtAtTheFirstStatusRead) {
    for (bool guest : {false, true}) {
        const ReplayReport rep = replay("hello", guest, [&](Machine& m) {
            plant_read(m, true, 0x3fd, [](uint64_t off, uint64_t v) { return off == 5 ? v & ~0x20ull : v; });
        });
        ASSERT_TRUE(rep.divergence) << guest;
        EXPECT_EQ(rep.divergence->seq, first_access(golden("hello"), true, 0x3fd, false)) << guest;
        EXPECT_EQ(rep.divergence->device, "uart16550");
        EXPECT_NE(rep.divergence->difference.find("value"), std::string::npos) << rep.divergence->difference;
    }
}

TEST_F(PlantedModel, RtcRegisterIsCaughtAtItsRead) {
    const ReplayReport rep = replay("nondet", false, [&](Machine& m) {
        plant_read(m, true, 0x71, [](uint64_t off, uint64_t v) { return off == 1 ? v ^ 0x10 : v; });
    });
    ASSERT_TRUE(rep.divergence);
    EXPECT_EQ(rep.divergence->seq, first_access(golden("nondet"), true, 0x71, false));
    EXPECT_EQ(rep.divergence->device, "cmos-rtc");
}

TEST_F(PlantedModel, BankSwitchOffsetIsCaughtAtTheBankSelect) {
    for (bool guest : {false, true}) {
        const ReplayReport rep = replay("bank_switch", guest, [&](Machine& m) {
            plant_write(m, false, 0xfeb01000, [](uint64_t off, uint64_t v) { return off == 0 ? (v + 1) % 4 : v; });
        });
        ASSERT_TRUE(rep.divergence) << guest;
        const Divergence& d = *rep.divergence;
        EXPECT_EQ(d.addr, 0xfeb01000u);
        EXPECT_EQ(d.device, "bank-switch");
        // The guest selects bank 0 first, which changes nothing when
        // recorded; the changed model maps bank 1 there: the replay's
        // change of the bank window's slot (with the guest, the harvest of
        // its dirty log before it goes) is the difference.
        EXPECT_EQ(*d.seq, first_access(golden("bank_switch"), false, 0xfeb01000, true)) << d.describe();
        EXPECT_NE(d.actual.find(guest ? "dirty" : "memslot"), std::string::npos) << d.describe();
        EXPECT_NE(d.actual.find("0xe0000000"), std::string::npos) << d.describe();
    }
}

// The pc board's timer path: a PIT that takes the divisor's low byte as
// half of it ticks at another rate. Guest replay: the first interrupt after
// the guest programs it comes at another exit than recorded. Device replay
// (which acknowledges interrupts where they were recorded, and cannot tell
// an early one from a late one while the line stays raised): the PIT's
// state at the end.
TEST_F(PlantedModel, PitDivisorIsCaught) {
    for (const char* name : {"timer_irq_real", "timer_irq_prot", "timer_irq_long"}) {
        for (bool guest : {false, true}) {
            SCOPED_TRACE(std::string(name) + (guest ? " guest" : " devices"));
            const ReplayReport rep = replay(name, guest, [&](Machine& m) {
                plant_write(m, true, 0x40, [](uint64_t off, uint64_t v) { return off == 0 ? v / 2 : v; });
            });
            ASSERT_TRUE(rep.divergence) << rep.summary();
            const Divergence& d = *rep.divergence;
            EXPECT_GT(*d.seq, first_access(golden(name), true, 0x40, true)) << d.describe();
            if (guest)
                EXPECT_NE(d.describe().find("interrupt"), std::string::npos) << d.describe();
            else
                EXPECT_EQ(d.device, "i8254") << d.describe();
        }
    }
}

// String input: `rep insb` from port 0x61 is one access whose bytes are
// its bulk data (no single value); a device that answers one of them
// differently diverges at that access, in both replays.
TEST_F(PlantedModel, StringInputBulkDataIsCaught) {
    for (bool guest : {false, true}) {
        SCOPED_TRACE(guest ? "guest" : "devices");
        const ReplayReport rep = replay("string_io", guest, [&](Machine& m) {
            plant_read(m, true, 0x61, [](uint64_t, uint64_t v) { return v ^ 0x01; });
        });
        ASSERT_TRUE(rep.divergence) << rep.summary();
        const Divergence& d = *rep.divergence;
        EXPECT_EQ(*d.seq, first_access(golden("string_io"), true, 0x61, false)) << d.describe();
        EXPECT_NE(d.difference.find("data: first difference"), std::string::npos) << d.describe();
    }
}

// The IDE channel: a model that moves the task file on by one sector too
// many after a read is caught where the guest reads the LBA registers
// back after its first multi-sector read; one whose status hides DRQ
// while data waits, at the first status read that should show it
// (IDENTIFY's). Both replays.
TEST_F(PlantedModel, IdeTaskFileAndStatusBugsAreCaught) {
    for (bool guest : {false, true}) {
        SCOPED_TRACE(guest ? "guest" : "devices");
        ReplayReport rep = replay("ide_walk", guest, [&](Machine& m) {
            plant_read(m, true, 0x1f0, [](uint64_t off, uint64_t v) { return off == 3 && v == 3 ? 4 : v; });
        });
        ASSERT_TRUE(rep.divergence) << rep.summary();
        EXPECT_EQ(rep.divergence->device, "ide0") << rep.divergence->describe();
        EXPECT_EQ(rep.divergence->addr, 0x1f3u) << rep.divergence->describe();
        rep = replay("ide_walk", guest, [&](Machine& m) {
            plant_read(m, true, 0x1f0, [](uint64_t off, uint64_t v) { return off == 7 && v == 0x58 ? 0x50 : v; });
        });
        ASSERT_TRUE(rep.divergence) << rep.summary();
        EXPECT_EQ(rep.divergence->addr, 0x1f7u) << rep.divergence->describe();
    }
}

// Bus-master DMA: a drive that takes the first READ DMA for a WRITE DMA
// (so nothing comes into guest memory, and the buffer goes to the disk)
// is caught by both replays, after that command.
TEST_F(PlantedModel, IdeDmaTheWrongWayIsCaught) {
    for (bool guest : {false, true}) {
        SCOPED_TRACE(guest ? "guest" : "devices");
        const ReplayReport rep = replay("ide_dma", guest, [&](Machine& m) {
            plant_write(m, true, 0x1f0, [](uint64_t off, uint64_t v) { return off == 7 && v == 0xc8 ? 0xca : v; });
        });
        ASSERT_TRUE(rep.divergence) << rep.summary();
        ASSERT_TRUE(rep.divergence->seq) << rep.divergence->describe();
        EXPECT_GT(*rep.divergence->seq, first_access(golden("ide_dma"), true, 0x1f7, true)) << rep.divergence->describe();
    }
}

// The exit status the guest asked for is compared with the recorded one:
// a debug-exit port that hears another status than the guest wrote.
TEST_F(PlantedModel, ExitStatusIsCaught) {
    const ReplayReport rep = replay("hello", false, [&](Machine& m) {
        plant_write(m, true, 0xf4, [](uint64_t, uint64_t v) { return v ^ 0x01; });
    });
    ASSERT_TRUE(rep.divergence) << rep.summary();
    // Said as the status, not only as the debug-exit device's digest.
    EXPECT_EQ(rep.divergence->difference, "exit status: expected 0, actual 1") << rep.divergence->describe();
}

TEST(GoldenNondet, PlantedBugFiresAgainOnEveryGuestReplay) {
    // Recorded once when entropy made the guest store to unmapped memory;
    // the guest replay hands it the recorded entropy, so it does again, now.
    for (int i = 0; i < 3; ++i) {
        TraceReader r = TraceReader::open(golden("nondet_bug"));
        ReplayOptions o;
        o.accel = Accel::Emu;
        const ReplayReport rep = replay_guest(r, o);
        EXPECT_TRUE(rep.reproduced()) << rep.summary();
        EXPECT_EQ(rep.end_reason, stop_reason_name(StopReason::UnassignedAccess));
    }
}

}  // namespace
}  // namespace kvmrr
