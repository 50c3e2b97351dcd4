// Tests for devices/i8254.h, through the machine's I/O address space, with
// a clock the test sets. Expected counts and OUT levels are the 8254
// datasheet's: the count written is loaded on the first clock after the
// write; clock k after the write (k >= 1) comes k/1193182 s after it.
#include "devices/i8254.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {
namespace {

constexpr int64_t kF = 1'193'182;
constexpr uint16_t kCtl = 0x43, kPort61 = 0x61;

// The first nanosecond at which clock k has come: ceil(k * 1e9 / F).
int64_t ns_at(int64_t k) { return (k * 1'000'000'000 + kF - 1) / kF; }
// A time in the middle of clock k (k clocks have come, not k + 1).
int64_t mid(int64_t k) { return (k * 1'000'000'000 + 500'000'000) / kF; }

class FakeClock final : public GuestClock {
public:
    int64_t ns = 0;
    int reads = 0;
    int64_t now_ns() override {
        ++reads;
        return ns;
    }
};

// Records the line's level and its rising edges.
class FakeSink final : public IrqSink {
public:
    bool level = false;
    int rises = 0;
    int calls = 0;
    void set_irq(unsigned pin, bool l) override {
        EXPECT_EQ(pin, 0u);
        ++calls;
        if (l && !level) ++rises;
        level = l;
    }
};

MachineLayout pit_layout() {
    using K = AddressSpace::Kind;
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"pit", K::Io, 0x40, 4});
    l.devices.push_back({"pit-port61", K::Io, 0x61, 1});
    return l;
}

struct Rig {
    FakeClock clock;
    FakeSink sink;
    Pit pit{clock, IrqLine(sink, 0)};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, pit_layout());

    Rig() { pit.attach(sys, m); }

    void out(uint16_t port, uint8_t v) { EXPECT_EQ(m.io_space->write(PioAddr(port), v, 1), AccessStatus::Ok); }
    uint8_t in(uint16_t port) {
        const AccessResult r = m.io_space->read(PioAddr(port), 1);
        EXPECT_EQ(r.status, AccessStatus::Ok);
        return static_cast<uint8_t>(r.value);
    }
    // Control word, then a two-byte count, at the clock's current time.
    void program(unsigned ch, unsigned mode, uint16_t count) {
        out(kCtl, static_cast<uint8_t>(ch << 6 | 0x30 | mode << 1));
        out(static_cast<uint16_t>(0x40 + ch), count & 0xff);
        out(static_cast<uint16_t>(0x40 + ch), count >> 8);
    }
    // Counter latch command, then LSB and MSB (LSB-then-MSB access).
    uint16_t latched(unsigned ch) {
        out(kCtl, static_cast<uint8_t>(ch << 6));
        const uint8_t lo = in(static_cast<uint16_t>(0x40 + ch));
        return static_cast<uint16_t>(lo | in(static_cast<uint16_t>(0x40 + ch)) << 8);
    }
    // Read-back of the status byte alone.
    uint8_t status(unsigned ch) {
        out(kCtl, static_cast<uint8_t>(0xc0 | 0x20 | 2u << ch));
        return in(static_cast<uint16_t>(0x40 + ch));
    }
    bool out_level(unsigned ch) { return status(ch) & 0x80; }
};

TEST(I8254, Identity) {
    FakeClock c;
    Pit pit(c);
    EXPECT_EQ(pit.name(), "i8254");
    EXPECT_EQ(pit.model_version(), 1u);
}

TEST(I8254, PowerOnChannel0RunsMode3At18Hz) {
    Rig r;
    // QEMU's reset: mode 3, count 65536, counting from time 0; no clock read.
    EXPECT_EQ(r.pit.next_deadline_ns(), ns_at(65537));
    EXPECT_EQ(r.clock.reads, 0);
    r.pit.run_timers(ns_at(65537));
    EXPECT_EQ(r.sink.rises, 1);
    EXPECT_EQ(r.pit.next_deadline_ns(), ns_at(2 * 65536 + 1));
}

TEST(I8254, Mode0CountsDownOnceAndRaisesOut) {
    Rig r;
    const int64_t t0 = 1'000'000;
    r.clock.ns = t0;
    r.program(0, 0, 1000);
    EXPECT_EQ(r.status(0), 0x40 | 0x30 | 0x00);  // OUT low, null count, LSB/MSB, mode 0
    EXPECT_FALSE(r.sink.level);
    for (int64_t k : {1, 2, 500, 999, 1000}) {
        r.clock.ns = t0 + mid(k);
        EXPECT_EQ(r.latched(0), 1000 - (k - 1)) << "clock " << k;
        EXPECT_EQ(r.status(0), 0x30) << "clock " << k;  // loaded, OUT still low
    }
    // Terminal count N + 1 clocks after the write: OUT goes high and stays.
    EXPECT_EQ(r.pit.next_deadline_ns(), t0 + ns_at(1001));
    r.clock.ns = t0 + mid(1001);
    EXPECT_EQ(r.latched(0), 0);
    EXPECT_EQ(r.status(0), 0x80 | 0x30);
    r.clock.ns = t0 + mid(1002);
    EXPECT_EQ(r.latched(0), 0xffff);  // counting goes on, wrapping
    r.clock.ns = t0 + mid(70000);
    EXPECT_EQ(r.latched(0), (1000 - 69999) & 0xffff);
    EXPECT_TRUE(r.out_level(0));

    r.pit.run_timers(t0 + ns_at(1001));
    EXPECT_EQ(r.sink.rises, 1);
    EXPECT_TRUE(r.sink.level);
    EXPECT_EQ(r.pit.next_deadline_ns(), TimerDevice::kNever);  // once only
}

TEST(I8254, Mode0Count0Is65536) {
    Rig r;
    r.clock.ns = 0;
    r.program(1, 0, 0);
    r.clock.ns = mid(1);
    EXPECT_EQ(r.latched(1), 0);  // 65536 shows as 0
    r.clock.ns = mid(2);
    EXPECT_EQ(r.latched(1), 0xffff);
    r.clock.ns = mid(65536);
    EXPECT_FALSE(r.out_level(1));
    r.clock.ns = mid(65537);
    EXPECT_TRUE(r.out_level(1));
}

TEST(I8254, Mode2RateGenerator) {
    Rig r;
    const int64_t t0 = 5'000;
    r.clock.ns = t0;
    r.program(1, 2, 4);
    EXPECT_EQ(r.status(1), 0x80 | 0x40 | 0x30 | 0x04);  // OUT high before the load
    // N, N-1, .., 1 (OUT low for that clock), then N again.
    const uint16_t want[] = {4, 3, 2, 1, 4, 3, 2, 1, 4};
    for (int64_t k = 1; k <= 9; ++k) {
        r.clock.ns = t0 + mid(k);
        EXPECT_EQ(r.latched(1), want[k - 1]) << "clock " << k;
        EXPECT_EQ(r.out_level(1), k % 4 != 0) << "clock " << k;
    }
}

TEST(I8254, Mode2SeaBiosTimerSetupTicksAt18Hz) {
    Rig r;
    const int64_t t0 = 123'456'789;
    r.clock.ns = t0;
    // pit_setup: timer 0, LSB then MSB, mode 2, binary; count 0 (65536).
    r.out(kCtl, 0x34);
    r.out(0x40, 0x00);
    r.out(0x40, 0x00);
    EXPECT_TRUE(r.sink.level);  // mode 2's OUT is high
    const int rises = r.sink.rises;
    // 65536 clocks a period: 54.925 ms.
    const int64_t first = t0 + ns_at(65537);
    EXPECT_EQ(r.pit.next_deadline_ns(), first);
    EXPECT_NEAR(static_cast<double>(ns_at(2 * 65536 + 1) - ns_at(65537)), 65536.0 * 1e9 / 1193182.0, 1.0);
    r.pit.run_timers(first);
    EXPECT_EQ(r.sink.rises, rises + 1);
    EXPECT_EQ(r.pit.next_deadline_ns(), t0 + ns_at(2 * 65536 + 1));
    r.pit.run_timers(t0 + ns_at(2 * 65536 + 1));
    EXPECT_EQ(r.sink.rises, rises + 2);
    // Five periods late: one edge (a lost tick), the next after now.
    r.pit.run_timers(t0 + ns_at(7 * 65536 + 1) + 1000);
    EXPECT_EQ(r.sink.rises, rises + 3);
    EXPECT_EQ(r.pit.next_deadline_ns(), t0 + ns_at(8 * 65536 + 1));
    // Early: nothing.
    r.pit.run_timers(t0 + ns_at(8 * 65536 + 1) - 1);
    EXPECT_EQ(r.sink.rises, rises + 3);
    // SeaBIOS's timer_read: read-back latching counter 0 only.
    r.clock.ns = t0 + mid(8 * 65536 + 100);
    r.out(kCtl, 0xd2);
    const uint16_t v = static_cast<uint16_t>(r.in(0x40) | r.in(0x40) << 8);
    EXPECT_EQ(v, 65536 - 99);
    // The control word (channel 0 was counting), the count, the read-back.
    EXPECT_EQ(r.clock.reads, 3);
}

TEST(I8254, Mode3SquareWaveEvenCount) {
    Rig r;
    const int64_t t0 = 77;
    r.clock.ns = t0;
    r.program(0, 3, 6);
    // Down by two from N; OUT toggles (and N reloads) each N/2 clocks.
    const uint16_t want[] = {6, 4, 2, 6, 4, 2, 6, 4};
    const bool high[] = {true, true, true, false, false, false, true, true};
    for (int64_t k = 1; k <= 8; ++k) {
        r.clock.ns = t0 + mid(k);
        EXPECT_EQ(r.latched(0), want[k - 1]) << "clock " << k;
        EXPECT_EQ(r.out_level(0), high[k - 1]) << "clock " << k;
    }
    // Rising edges at clocks 7, 13, ...
    r.clock.ns = t0;
    EXPECT_EQ(r.pit.next_deadline_ns(), t0 + ns_at(7));
    const int rises = r.sink.rises;
    r.pit.run_timers(t0 + ns_at(7));
    EXPECT_EQ(r.sink.rises, rises + 1);
    EXPECT_EQ(r.pit.next_deadline_ns(), t0 + ns_at(13));
}

TEST(I8254, Mode3SquareWaveOddCount) {
    Rig r;
    r.clock.ns = 0;
    r.program(1, 3, 5);
    // Odd N: N-1 loaded, down by two; high for (N+1)/2 clocks, low (N-1)/2.
    const uint16_t want[] = {4, 2, 0, 4, 2, 4, 2, 0, 4, 2};
    const bool high[] = {true, true, true, false, false, true, true, true, false, false};
    for (int64_t k = 1; k <= 10; ++k) {
        r.clock.ns = mid(k);
        EXPECT_EQ(r.latched(1), want[k - 1]) << "clock " << k;
        EXPECT_EQ(r.out_level(1), high[k - 1]) << "clock " << k;
    }
}

TEST(I8254, Mode4SoftwareStrobe) {
    Rig r;
    r.clock.ns = 0;
    r.program(1, 4, 3);
    // Loaded on clock 1, down by one; OUT low for the one clock at zero.
    const bool high[] = {true, true, true, false, true, true};
    const uint16_t want[] = {3, 2, 1, 0, 0xffff, 0xfffe};
    for (int64_t k = 1; k <= 6; ++k) {
        r.clock.ns = mid(k);
        EXPECT_EQ(r.out_level(1), high[k - 1]) << "clock " << k;
        EXPECT_EQ(r.latched(1), want[k - 1]) << "clock " << k;
    }
}

TEST(I8254, LatchHoldsWhileTimeMoves) {
    Rig r;
    r.clock.ns = 0;
    r.program(2, 2, 1000);  // gate low: channel 2 waits
    r.out(kPort61, 0x01);   // gate high: counting starts now
    const int64_t t0 = r.clock.ns;
    r.clock.ns = t0 + mid(11);
    r.out(kCtl, 0x80);  // latch channel 2
    r.clock.ns = t0 + mid(500);
    r.out(kCtl, 0x80);  // a second latch before the read is ignored
    EXPECT_EQ(r.in(0x42), (1000 - 10) & 0xff);
    r.clock.ns = t0 + mid(600);
    EXPECT_EQ(r.in(0x42), (1000 - 10) >> 8);
    // Unlatched reads follow the time.
    r.clock.ns = t0 + mid(700);
    EXPECT_EQ(r.in(0x42), (1000 - 699) & 0xff);
    EXPECT_EQ(r.in(0x42), (1000 - 699) >> 8);
}

TEST(I8254, ByteAccessModesAndFlipFlop) {
    Rig r;
    r.clock.ns = 0;
    // LSB only: one byte is the whole count.
    r.out(kCtl, 0x50 | 0x04);  // channel 1, LSB, mode 2
    r.out(0x41, 200);
    r.clock.ns = mid(3);
    EXPECT_EQ(r.in(0x41), 198);
    EXPECT_EQ(r.in(0x41), 198);  // every read is the LSB
    // MSB only: the byte is the high half.
    r.out(kCtl, 0x60 | 0x04);
    r.out(0x41, 0x12);  // count 0x1200, from mid(3)
    r.clock.ns = mid(3) + mid(1);
    EXPECT_EQ(r.in(0x41), 0x12);
    r.clock.ns = mid(3) + mid(300);
    EXPECT_EQ(r.in(0x41), (0x1200 - 299) >> 8);
    // LSB then MSB: the flip-flop alternates on reads and on writes, and a
    // control word resets it.
    r.out(kCtl, 0x70 | 0x04);
    r.out(0x41, 0x34);
    r.out(kCtl, 0x70 | 0x04);  // reset half-way through the write
    const int64_t t0 = r.clock.ns = 10'000'000;
    r.out(0x41, 0x00);
    r.out(0x41, 0x10);  // count 0x1000
    r.clock.ns = t0 + mid(1);
    EXPECT_EQ(r.in(0x41), 0x00);
    EXPECT_EQ(r.in(0x41), 0x10);
    r.clock.ns = t0 + mid(2);
    EXPECT_EQ(r.in(0x41), 0xff);  // 0x0fff
    r.out(kCtl, 0x70 | 0x04);  // a control word mid-read starts again at LSB
    r.out(0x41, 0x00);
    r.out(0x41, 0x20);
    r.clock.ns += ns_at(1);
    (void)r.in(0x41);
    r.out(kCtl, 0x40);  // latch: LSB then MSB of the latched value
    EXPECT_EQ(r.in(0x41), 0x00);
    EXPECT_EQ(r.in(0x41), 0x20);
}

TEST(I8254, ReadBackSeveralChannels) {
    Rig r;
    r.clock.ns = 0;
    r.program(0, 2, 100);
    r.program(1, 0, 300);
    r.out(kCtl, 0x80 | 0x30 | 0x06 | 0x01);  // channel 2, mode 3, BCD flag; no count yet
    const int reads = r.clock.reads;
    r.clock.ns = mid(50);
    r.out(kCtl, 0xc0 | 0x0e);  // count and status of all three
    EXPECT_EQ(r.clock.reads, reads + 1);  // one clock reading for the command
    EXPECT_EQ(r.in(0x40), 0x80 | 0x34);   // status first: OUT high, mode 2
    EXPECT_EQ(r.in(0x40), 100 - 49);
    EXPECT_EQ(r.in(0x40), 0);
    EXPECT_EQ(r.in(0x41), 0x00 | 0x30);  // mode 0, OUT low
    EXPECT_EQ(r.in(0x41), (300 - 49) & 0xff);
    EXPECT_EQ(r.in(0x41), (300 - 49) >> 8);
    EXPECT_EQ(r.in(0x42), 0x80 | 0x40 | 0x37);  // null count, mode 3, BCD
    // Status only, of channels 0 and 1; a status latched twice keeps the first.
    r.clock.ns = mid(100);
    r.out(kCtl, 0xe0 | 0x06);
    r.clock.ns = mid(101);
    r.out(kCtl, 0xe0 | 0x02);
    EXPECT_EQ(r.in(0x40), 0x34);  // clock 100: the one-clock low of mode 2
    EXPECT_EQ(r.in(0x41), 0x30);
    // Count only: no status byte first.
    r.out(kCtl, 0xd0 | 0x02);
    EXPECT_EQ(r.in(0x40), 100);  // clock 101: reloaded
    EXPECT_EQ(r.in(0x40), 0);
    // The control word register reads as 0.
    EXPECT_EQ(r.in(kCtl), 0);
}

TEST(I8254, Port61GateAndChannel2Out) {
    Rig r;
    r.clock.ns = 1'000'000;
    // Power on: gate low, speaker off, channel 2 held with OUT high.
    const uint8_t a = r.in(kPort61);
    const uint8_t b = r.in(kPort61);
    EXPECT_EQ(a & ~0x10, 0x20);
    EXPECT_EQ((a ^ b), 0x10);  // the refresh bit flips on every read
    EXPECT_EQ(r.clock.reads, 0);  // no clock needed for a held channel
    // SeaBIOS's tsctimer_setup and Linux's pit_calibrate_tsc.
    const uint8_t orig = r.in(kPort61);
    r.out(kPort61, static_cast<uint8_t>((orig & ~0x02) | 0x01));
    r.out(kCtl, 0xb0);
    r.out(0x42, 0x00);
    const int64_t t0 = r.clock.ns;
    r.out(0x42, 0x08);  // 0x800 clocks: 1.7 ms
    for (int64_t k : {0, 1, 0x7ff, 0x800}) {
        r.clock.ns = t0 + mid(k);
        EXPECT_EQ(r.in(kPort61) & 0x21, 0x01) << "clock " << k;
    }
    r.clock.ns = t0 + mid(0x801);
    EXPECT_EQ(r.in(kPort61) & 0x21, 0x21);
    r.out(kPort61, orig);
    EXPECT_EQ(r.in(kPort61) & 0x03, 0x00);
    r.out(kPort61, 0x03 | 0xcc);  // only gate and speaker are writable
    EXPECT_EQ(r.in(kPort61) & 0xef, 0x23);
}

TEST(I8254, GateSuspendsMode0) {
    Rig r;
    r.clock.ns = 0;
    r.out(kPort61, 0x01);
    r.program(2, 0, 100);
    r.clock.ns = mid(30);
    r.out(kPort61, 0x00);  // gate low at clock 30: the count holds at 71
    r.clock.ns = mid(5000);
    EXPECT_EQ(r.latched(2), 100 - 29);
    EXPECT_FALSE(r.out_level(2));
    const int64_t t1 = r.clock.ns;
    r.out(kPort61, 0x01);  // resumes
    r.clock.ns = t1 + mid(10);
    EXPECT_EQ(r.latched(2), 100 - 29 - 10);
    r.clock.ns = t1 + mid(71);
    EXPECT_TRUE(r.out_level(2));
}

TEST(I8254, GateStopsAndRestartsMode2And3) {
    Rig r;
    r.clock.ns = 0;
    r.out(kPort61, 0x01);
    r.program(2, 2, 10);
    r.clock.ns = mid(5);
    EXPECT_EQ(r.latched(2), 6);
    r.out(kPort61, 0x00);  // gate low: stops, OUT high
    r.clock.ns = mid(1000);
    EXPECT_EQ(r.latched(2), 6);
    EXPECT_TRUE(r.out_level(2));
    const int64_t t1 = r.clock.ns;
    r.out(kPort61, 0x01);  // rising gate: reload N on the next clock
    r.clock.ns = t1 + mid(1);
    EXPECT_EQ(r.latched(2), 10);
    r.clock.ns = t1 + mid(10);
    EXPECT_FALSE(r.out_level(2));
    // Mode 3 the same way.
    r.program(2, 3, 8);
    const int64_t t2 = r.clock.ns;
    r.clock.ns = t2 + mid(5);
    EXPECT_FALSE(r.out_level(2));
    r.out(kPort61, 0x00);
    EXPECT_TRUE(r.out_level(2));
}

TEST(I8254, Mode1And5NeedAGateTrigger) {
    Rig r;
    r.clock.ns = 0;
    r.program(2, 1, 10);
    r.clock.ns = mid(100);
    EXPECT_TRUE(r.out_level(2));  // no trigger yet
    EXPECT_TRUE(r.status(2) & 0x40);  // count not loaded
    const int64_t t1 = r.clock.ns;
    r.out(kPort61, 0x01);  // trigger
    for (int64_t k : {1, 5, 10}) {
        r.clock.ns = t1 + mid(k);
        EXPECT_FALSE(r.out_level(2)) << "clock " << k;
        EXPECT_EQ(r.latched(2), 10 - (k - 1)) << "clock " << k;
    }
    r.clock.ns = t1 + mid(11);
    EXPECT_TRUE(r.out_level(2));
    // Retrigger: low again for N clocks.
    r.out(kPort61, 0x00);
    const int64_t t2 = r.clock.ns;
    r.out(kPort61, 0x01);
    r.clock.ns = t2 + mid(3);
    EXPECT_FALSE(r.out_level(2));

    // Mode 5: a one-clock strobe N + 1 clocks after the trigger.
    r.out(kPort61, 0x00);
    r.program(2, 5, 4);
    const int64_t t3 = r.clock.ns;
    r.out(kPort61, 0x01);
    const bool high[] = {true, true, true, true, false, true};
    for (int64_t k = 1; k <= 6; ++k) {
        r.clock.ns = t3 + mid(k);
        EXPECT_EQ(r.out_level(2), high[k - 1]) << "clock " << k;
    }
    // Channel 1's gate is tied high: mode 1 never triggers there.
    r.program(1, 1, 4);
    r.clock.ns += ns_at(100);
    EXPECT_TRUE(r.out_level(1));
}

TEST(I8254, Mode0FirstByteStopsCounting) {
    Rig r;
    r.clock.ns = 0;
    r.program(1, 0, 5);
    r.clock.ns = mid(10);
    EXPECT_TRUE(r.out_level(1));
    r.out(0x41, 0x20);  // first byte of a new count: OUT low, counting stops
    EXPECT_FALSE(r.out_level(1));
    const int64_t t1 = r.clock.ns = mid(20);
    r.out(0x41, 0x00);  // count 0x20
    r.clock.ns = t1 + mid(0x20);
    EXPECT_FALSE(r.out_level(1));
    r.clock.ns = t1 + mid(0x21);
    EXPECT_TRUE(r.out_level(1));
}

TEST(I8254, ControlWordSetsOutAndChannel0Line) {
    Rig r;
    r.clock.ns = 0;
    r.program(0, 0, 1000);  // mode 0: OUT low
    EXPECT_FALSE(r.sink.level);
    const int rises = r.sink.rises;
    r.clock.ns = mid(10);
    r.out(kCtl, 0x34);  // mode 2: OUT goes high at once, an edge on IRQ0
    EXPECT_TRUE(r.sink.level);
    EXPECT_EQ(r.sink.rises, rises + 1);
    EXPECT_EQ(r.pit.next_deadline_ns(), TimerDevice::kNever);  // no count yet
    r.out(0x40, 0x10);
    r.out(0x40, 0x00);
    EXPECT_EQ(r.pit.next_deadline_ns(), mid(10) + ns_at(0x11));
    // An edge that came due before a reprogramming is still delivered.
    r.clock.ns = mid(10) + ns_at(0x11) + 100;
    r.out(kCtl, 0x30);
    EXPECT_EQ(r.sink.rises, rises + 2);
    EXPECT_FALSE(r.sink.level);
}

TEST(I8254, ClockReadOnlyWhenNeeded) {
    Rig r;
    r.out(kCtl, 0x70 | 0x04);  // channel 1 is counting since power on: one read
    EXPECT_EQ(r.clock.reads, 1);
    r.out(kCtl, 0x74);  // now idle: none
    r.in(0x41);
    r.out(kCtl, 0x40);
    r.in(0x41);
    EXPECT_EQ(r.clock.reads, 1);
    r.out(kPort61, 0x02);  // speaker bit only: none
    r.in(kPort61);
    EXPECT_EQ(r.clock.reads, 1);
    r.out(0x41, 0x10);
    r.out(0x41, 0x00);  // the count starts now: one
    EXPECT_EQ(r.clock.reads, 2);
    r.pit.run_timers(1'000'000);  // the board's time: none
    EXPECT_EQ(r.clock.reads, 2);
}

TEST(I8254, ClaimsItsWindows) {
    Rig r;
    EXPECT_EQ(r.m.windows.count("pit"), 0u);
    EXPECT_EQ(r.m.windows.count("pit-port61"), 0u);
    EXPECT_THROW(r.pit.attach(r.sys, r.m), Error);
    FakeClock c;
    Pit second(c);
    const size_t regions = r.sys.region_count();
    EXPECT_THROW(second.attach(r.sys, r.m), Error);
    EXPECT_EQ(r.sys.region_count(), regions);
}

TEST(I8254, AttachFailsWithoutPort61AndLeavesNothing) {
    using K = AddressSpace::Kind;
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"pit", K::Io, 0x40, 4});
    MemorySystem sys;
    MachineMemory m = build_machine(sys, l);
    const size_t regions = sys.region_count();
    FakeClock c;
    Pit pit(c);
    try {
        pit.attach(sys, m);
        ADD_FAILURE() << "attach without 'pit-port61' did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("pit-port61"), std::string::npos) << e.what();
    }
    EXPECT_EQ(sys.region_count(), regions);
    EXPECT_EQ(m.windows.count("pit"), 1u);
}

TEST(I8254, GarbageStaysDefined) {
    Rig r;
    r.clock.ns = 0;
    // Modes 6 and 7 are 2 and 3; the status keeps the bits written.
    r.out(kCtl, 0x40 | 0x30 | 0x0c);  // channel 1, mode 6
    r.out(0x41, 4);
    r.out(0x41, 0);
    r.clock.ns = mid(4);
    EXPECT_EQ(r.status(1), 0x30 | 0x0c);  // OUT low at the count of 1: mode 2
    // Count 1 in mode 2 (illegal) runs as 2 and never hangs the timer.
    r.program(0, 2, 1);
    const int64_t d = r.pit.next_deadline_ns();
    EXPECT_EQ(d, r.clock.ns + ns_at(3));
    // A read-back with no channel selected, reads of an unprogrammed
    // latch, wide accesses.
    r.out(kCtl, 0xc0);
    EXPECT_EQ(r.m.io_space->write(PioAddr(0x40), 0x11223344, 4), AccessStatus::Ok);
    EXPECT_EQ(r.m.io_space->read(PioAddr(0x40), 4).status, AccessStatus::Ok);
    EXPECT_NE(r.m.io_space->read(PioAddr(kPort61), 2).status, AccessStatus::Ok);
    // Time far in the future.
    r.program(0, 2, 0);
    r.pit.run_timers(TimerDevice::kNever - 1);
    EXPECT_GT(r.pit.next_deadline_ns(), 0);
}

TEST(I8254, DigestFollowsGuestVisibleState) {
    Rig a;
    Rig b;
    EXPECT_EQ(a.pit.state_digest(), b.pit.state_digest());
    a.clock.ns = b.clock.ns = 1000;
    a.program(0, 2, 1234);
    EXPECT_NE(a.pit.state_digest(), b.pit.state_digest());
    b.program(0, 2, 1234);
    EXPECT_EQ(a.pit.state_digest(), b.pit.state_digest());
    a.out(kPort61, 0x02);
    EXPECT_NE(a.pit.state_digest(), b.pit.state_digest());
    b.out(kPort61, 0x02);
    EXPECT_EQ(a.pit.state_digest(), b.pit.state_digest());
    a.out(kCtl, 0x00);  // a latched count is state
    EXPECT_NE(a.pit.state_digest(), b.pit.state_digest());
    b.out(kCtl, 0x00);
    EXPECT_EQ(a.pit.state_digest(), b.pit.state_digest());
    a.in(kPort61);  // the refresh bit
    EXPECT_NE(a.pit.state_digest(), b.pit.state_digest());
}

}  // namespace
}  // namespace kvmrr
