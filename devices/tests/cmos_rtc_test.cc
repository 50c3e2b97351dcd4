// Tests for devices/cmos_rtc.h, through the machine's I/O address space.
#include "devices/cmos_rtc.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;
// 2026-11-22 04:05:06 UTC, a Sunday.
constexpr int64_t kSunday2026 = 1795320306 * kNsPerSec;
// 2001-07-14 15:30:45.999999999 UTC, a Saturday afternoon.
constexpr int64_t kSaturday2001 = 995124645 * kNsPerSec + 999'999'999;
// 1999-12-31 23:59:58 UTC, a Friday.
constexpr int64_t kFriday1999 = 946684798 * kNsPerSec;

enum Index : uint8_t {
    SEC = 0x00, SEC_ALARM = 0x01, MIN = 0x02, HOUR = 0x04, WDAY = 0x06, MDAY = 0x07, MONTH = 0x08, YEAR = 0x09,
    STATUS_A = 0x0a, STATUS_B = 0x0b, STATUS_C = 0x0c, STATUS_D = 0x0d, CENTURY = 0x32,
};

// A default machine with the RTC attached; the device outlives the memory
// system whose region calls it.
struct Rig {
    testing::FakeHostInputs in;
    CmosRtc rtc{in};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());

    Rig() { rtc.attach(sys, m); }

    uint8_t get(uint8_t index) {
        EXPECT_EQ(m.io_space->write(PioAddr(0x70), index, 1), AccessStatus::Ok);
        const AccessResult r = m.io_space->read(PioAddr(0x71), 1);
        EXPECT_EQ(r.status, AccessStatus::Ok);
        return static_cast<uint8_t>(r.value);
    }
    void put(uint8_t index, uint8_t v) {
        EXPECT_EQ(m.io_space->write(PioAddr(0x70), index, 1), AccessStatus::Ok);
        EXPECT_EQ(m.io_space->write(PioAddr(0x71), v, 1), AccessStatus::Ok);
    }
};

TEST(CmosRtc, Identity) {
    testing::FakeHostInputs in;
    CmosRtc rtc(in);
    EXPECT_EQ(rtc.name(), "cmos-rtc");
    EXPECT_EQ(rtc.model_version(), 1u);
}

TEST(CmosRtc, StatusRegistersAtReset) {
    Rig r;
    EXPECT_EQ(r.get(STATUS_A), 0x26);
    EXPECT_EQ(r.get(STATUS_B), 0x02);  // 24-hour, BCD
    EXPECT_EQ(r.get(STATUS_C), 0x00);
    EXPECT_EQ(r.get(STATUS_D), 0x80);
    EXPECT_EQ(r.in.clock_reads, 0);  // status registers do not read the clock
}

TEST(CmosRtc, BcdTimeOfAKnownDate) {
    Rig r;
    r.in.clock_ns = kSunday2026;
    EXPECT_EQ(r.get(SEC), 0x06);
    EXPECT_EQ(r.get(MIN), 0x05);
    EXPECT_EQ(r.get(HOUR), 0x04);
    EXPECT_EQ(r.get(WDAY), 0x01);  // Sunday
    EXPECT_EQ(r.get(MDAY), 0x22);
    EXPECT_EQ(r.get(MONTH), 0x11);
    EXPECT_EQ(r.get(YEAR), 0x26);
    EXPECT_EQ(r.get(CENTURY), 0x20);
    EXPECT_EQ(r.in.clock_reads, 8);  // one clock reading per time-register read
}

// Every 64-bit clock reading is a date: the ends of the range (which a
// trace may hand the model) read as whole seconds, floored, with no
// overflow on the way (UBSan).
TEST(CmosRtc, TheEndsOfTheClockRangeAreDates) {
    Rig r;
    r.in.clock_ns = INT64_MIN;  // 1677-09-21 00:12:43.145224192, a Tuesday
    EXPECT_EQ(r.get(SEC), 0x43);
    EXPECT_EQ(r.get(MIN), 0x12);
    EXPECT_EQ(r.get(HOUR), 0x00);
    EXPECT_EQ(r.get(WDAY), 0x03);
    EXPECT_EQ(r.get(MDAY), 0x21);
    EXPECT_EQ(r.get(MONTH), 0x09);
    EXPECT_EQ(r.get(YEAR), 0x77);
    EXPECT_EQ(r.get(CENTURY), 0x16);
    r.in.clock_ns = INT64_MAX;  // 2262-04-11 23:47:16.854775807, a Friday
    EXPECT_EQ(r.get(SEC), 0x16);
    EXPECT_EQ(r.get(MIN), 0x47);
    EXPECT_EQ(r.get(HOUR), 0x23);
    EXPECT_EQ(r.get(WDAY), 0x06);
    EXPECT_EQ(r.get(MDAY), 0x11);
    EXPECT_EQ(r.get(MONTH), 0x04);
    EXPECT_EQ(r.get(YEAR), 0x62);
    EXPECT_EQ(r.get(CENTURY), 0x22);
    r.in.clock_ns = -1;  // a nanosecond before the epoch is still 1969
    EXPECT_EQ(r.get(SEC), 0x59);
    EXPECT_EQ(r.get(YEAR), 0x69);
}

TEST(CmosRtc, BcdDigitsAboveNine) {
    Rig r;
    r.in.clock_ns = kSaturday2001;  // nanoseconds do not round up
    EXPECT_EQ(r.get(SEC), 0x45);
    EXPECT_EQ(r.get(MIN), 0x30);
    EXPECT_EQ(r.get(HOUR), 0x15);
    EXPECT_EQ(r.get(WDAY), 0x07);  // Saturday
    EXPECT_EQ(r.get(MDAY), 0x14);
    EXPECT_EQ(r.get(MONTH), 0x07);
    EXPECT_EQ(r.get(YEAR), 0x01);
    EXPECT_EQ(r.get(CENTURY), 0x20);

    r.in.clock_ns = kFriday1999;
    EXPECT_EQ(r.get(SEC), 0x58);
    EXPECT_EQ(r.get(MIN), 0x59);
    EXPECT_EQ(r.get(HOUR), 0x23);
    EXPECT_EQ(r.get(WDAY), 0x06);
    EXPECT_EQ(r.get(MDAY), 0x31);
    EXPECT_EQ(r.get(MONTH), 0x12);
    EXPECT_EQ(r.get(YEAR), 0x99);
    EXPECT_EQ(r.get(CENTURY), 0x19);
}

TEST(CmosRtc, BinaryMode) {
    Rig r;
    r.put(STATUS_B, 0x06);  // DM | 24-hour
    EXPECT_EQ(r.get(STATUS_B), 0x06);
    r.in.clock_ns = kSaturday2001;
    EXPECT_EQ(r.get(SEC), 45);
    EXPECT_EQ(r.get(MIN), 30);
    EXPECT_EQ(r.get(HOUR), 15);
    EXPECT_EQ(r.get(WDAY), 7);
    EXPECT_EQ(r.get(MDAY), 14);
    EXPECT_EQ(r.get(MONTH), 7);
    EXPECT_EQ(r.get(YEAR), 1);
    EXPECT_EQ(r.get(CENTURY), 20);
}

TEST(CmosRtc, TwelveHourMode) {
    Rig r;
    r.put(STATUS_B, 0x00);  // 12-hour, BCD
    auto hour_at = [&](int h) {
        r.in.clock_ns = kSunday2026 + (h - 4) * 3600 * kNsPerSec;  // same day, hour h
        return r.get(HOUR);
    };
    EXPECT_EQ(hour_at(0), 0x12);          // midnight is 12 AM
    EXPECT_EQ(hour_at(4), 0x04);
    EXPECT_EQ(hour_at(11), 0x11);
    EXPECT_EQ(hour_at(12), 0x80 | 0x12);  // noon is 12 PM
    EXPECT_EQ(hour_at(13), 0x80 | 0x01);
    EXPECT_EQ(hour_at(23), 0x80 | 0x11);

    r.put(STATUS_B, 0x04);  // 12-hour, binary
    EXPECT_EQ(hour_at(0), 12);
    EXPECT_EQ(hour_at(11), 11);
    EXPECT_EQ(hour_at(12), 0x80 | 12);
    EXPECT_EQ(hour_at(23), 0x80 | 11);

    r.put(STATUS_B, 0x02);  // back to 24-hour BCD
    EXPECT_EQ(hour_at(23), 0x23);
}

TEST(CmosRtc, EachTimeReadIsOneClockReading) {
    Rig r;
    r.in.clock_ns = kSunday2026;
    EXPECT_EQ(r.get(SEC), 0x06);
    r.in.clock_ns += 2 * kNsPerSec;  // the clock moves between reads
    EXPECT_EQ(r.get(SEC), 0x08);
    EXPECT_EQ(r.in.clock_reads, 2);

    // Selecting a time register, writing one, reading the index port and
    // reading RAM or status registers never read the clock.
    r.put(SEC, 0x30);
    r.m.io_space->write(PioAddr(0x70), HOUR, 1);
    r.m.io_space->read(PioAddr(0x70), 1);
    r.get(STATUS_A);
    r.get(STATUS_B);
    r.get(STATUS_C);
    r.get(STATUS_D);
    r.get(SEC_ALARM);
    r.get(0x40);
    EXPECT_EQ(r.in.clock_reads, 2);

    // Repeated data-port reads of one selected time register each read it.
    r.m.io_space->write(PioAddr(0x70), MIN, 1);
    r.m.io_space->read(PioAddr(0x71), 1);
    r.m.io_space->read(PioAddr(0x71), 1);
    EXPECT_EQ(r.in.clock_reads, 4);
}

TEST(CmosRtc, GuestCannotSetTheClock) {
    Rig r;
    r.in.clock_ns = kSunday2026;
    r.put(SEC, 0x59);
    r.put(HOUR, 0x12);
    r.put(YEAR, 0x99);
    r.put(CENTURY, 0x19);
    EXPECT_EQ(r.get(SEC), 0x06);
    EXPECT_EQ(r.get(HOUR), 0x04);
    EXPECT_EQ(r.get(YEAR), 0x26);
    EXPECT_EQ(r.get(CENTURY), 0x20);
}

TEST(CmosRtc, StatusRegisterWrites) {
    Rig r;
    r.put(STATUS_A, 0xa5);  // UIP is read-only and always clear
    EXPECT_EQ(r.get(STATUS_A), 0x25);
    r.put(STATUS_B, 0xff);
    EXPECT_EQ(r.get(STATUS_B), 0xff);
    r.put(STATUS_C, 0xff);  // C and D are read-only
    r.put(STATUS_D, 0x00);
    EXPECT_EQ(r.get(STATUS_C), 0x00);
    EXPECT_EQ(r.get(STATUS_D), 0x80);
}

TEST(CmosRtc, GeneralPurposeRamStartsZeroedAndKeepsWrites) {
    Rig r;
    for (unsigned i = 0x0e; i < 0x80; ++i) {
        if (i == CENTURY) continue;
        EXPECT_EQ(r.get(static_cast<uint8_t>(i)), 0x00) << "byte " << i;
    }
    for (unsigned i = 0x0e; i < 0x80; ++i)
        if (i != CENTURY) r.put(static_cast<uint8_t>(i), static_cast<uint8_t>(i ^ 0x5a));
    for (unsigned i = 0x0e; i < 0x80; ++i) {
        if (i == CENTURY) continue;
        EXPECT_EQ(r.get(static_cast<uint8_t>(i)), static_cast<uint8_t>(i ^ 0x5a)) << "byte " << i;
    }
    // The alarm registers are plain RAM too.
    for (uint8_t alarm : {0x01, 0x03, 0x05}) {
        EXPECT_EQ(r.get(alarm), 0x00);
        r.put(alarm, 0x42);
        EXPECT_EQ(r.get(alarm), 0x42);
    }
    EXPECT_EQ(r.in.clock_reads, 0);
}

TEST(CmosRtc, IndexIgnoresTheNmiBitAndReadsAsNothing) {
    Rig r;
    r.put(0x40, 0x77);
    EXPECT_EQ(r.get(0x80 | 0x40), 0x77);  // NMI disable bit set: same byte
    r.put(0x80 | 0x41, 0x88);
    EXPECT_EQ(r.get(0x41), 0x88);
    r.m.io_space->write(PioAddr(0x70), 0x40, 1);
    const AccessResult idx = r.m.io_space->read(PioAddr(0x70), 1);
    EXPECT_EQ(idx.status, AccessStatus::Ok);
    EXPECT_EQ(idx.value, 0xffu);  // the index port is write-only
    // The index stays selected across data accesses.
    EXPECT_EQ(r.m.io_space->read(PioAddr(0x71), 1).value, 0x77u);
    EXPECT_EQ(r.m.io_space->read(PioAddr(0x71), 1).value, 0x77u);
}

TEST(CmosRtc, RefusesWideAccesses) {
    Rig r;
    r.put(0x40, 0x11);
    EXPECT_EQ(r.m.io_space->read(PioAddr(0x70), 2).status, AccessStatus::Invalid);
    EXPECT_EQ(r.m.io_space->write(PioAddr(0x70), 0x2240, 2), AccessStatus::Invalid);
    EXPECT_EQ(r.m.io_space->read(PioAddr(0x71), 1).value, 0x11u);  // nothing was written
    EXPECT_EQ(r.m.io_space->stats().invalid, 2u);
}

TEST(CmosRtc, ClaimsItsWindow) {
    Rig r;
    EXPECT_EQ(r.m.windows.count("cmos-rtc"), 0u);
    const size_t regions = r.sys.region_count();
    testing::FakeHostInputs in;
    CmosRtc second(in);
    EXPECT_THROW(second.attach(r.sys, r.m), Error);
    EXPECT_THROW(r.rtc.attach(r.sys, r.m), Error);
    EXPECT_EQ(r.sys.region_count(), regions);
    r.put(0x20, 0x99);
    EXPECT_EQ(r.get(0x20), 0x99);
}

TEST(CmosRtc, AttachFailsWithoutTheWindow) {
    testing::FakeHostInputs in;
    CmosRtc rtc(in);
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::parse("no-devices\n", "test"));
    try {
        rtc.attach(sys, m);
        ADD_FAILURE() << "attach without a window did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cmos-rtc"), std::string::npos) << e.what();
    }
}

TEST(CmosRtc, DigestFollowsGuestVisibleState) {
    Rig a;
    Rig b;
    EXPECT_EQ(a.rtc.state_digest(), b.rtc.state_digest());
    const uint64_t fresh = a.rtc.state_digest();

    // The time is the host's, not the device's: reading it changes nothing
    // (beyond the index, which both select alike).
    a.in.clock_ns = kSunday2026;
    b.in.clock_ns = kFriday1999;
    a.get(SEC);
    b.get(SEC);
    EXPECT_EQ(a.rtc.state_digest(), b.rtc.state_digest());
    EXPECT_EQ(a.rtc.state_digest(), fresh);  // index 0 again

    a.put(0x50, 1);
    const uint64_t ram = a.rtc.state_digest();
    EXPECT_NE(ram, fresh);
    a.put(STATUS_B, 0x06);
    const uint64_t status = a.rtc.state_digest();
    EXPECT_NE(status, ram);
    EXPECT_NE(status, fresh);
    a.m.io_space->write(PioAddr(0x70), 0x51, 1);
    EXPECT_NE(a.rtc.state_digest(), status);  // the selected index is state too

    b.put(0x50, 1);
    b.put(STATUS_B, 0x06);
    b.m.io_space->write(PioAddr(0x70), 0x51, 1);
    EXPECT_EQ(a.rtc.state_digest(), b.rtc.state_digest());
}

TEST(CmosRtc, PresetsFillCmosRamAtReset) {
    testing::FakeHostInputs in;
    CmosRtc plain(in);
    CmosRtc rtc(in, {{0x15, 0x80}, {0x16, 0x02}, {0x5f, 3}, {0x15, 0x7f}, {0x7f, 0xee}, {0x0b, 0x06}});
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    rtc.attach(sys, m);
    auto get = [&](uint8_t index) {
        EXPECT_EQ(m.io_space->write(PioAddr(0x70), index, 1), AccessStatus::Ok);
        return static_cast<uint8_t>(m.io_space->read(PioAddr(0x71), 1).value);
    };
    EXPECT_EQ(get(0x15), 0x7f);  // the later preset wins
    EXPECT_EQ(get(0x16), 0x02);
    EXPECT_EQ(get(0x5f), 3);
    EXPECT_EQ(get(0x7f), 0xee);
    EXPECT_EQ(get(0x0b), 0x06);  // status B is guest-writable, so presettable
    EXPECT_EQ(get(0x0a), 0x26);
    EXPECT_EQ(get(0x14), 0);
    EXPECT_NE(rtc.state_digest(), plain.state_digest());
    EXPECT_EQ(rtc.model_version(), plain.model_version());
    // An empty list is the default device.
    CmosRtc none(in, {});
    EXPECT_EQ(none.state_digest(), plain.state_digest());
}

TEST(CmosRtc, PresetsRejectBytesTheGuestCannotWrite) {
    testing::FakeHostInputs in;
    for (uint8_t index : {uint8_t{0x00}, uint8_t{0x09}, uint8_t{0x0c}, uint8_t{0x0d}, uint8_t{0x32}, uint8_t{0x80}})
        EXPECT_THROW(CmosRtc(in, {{index, 1}}), Error) << int(index);
}

}  // namespace
}  // namespace kvmrr
