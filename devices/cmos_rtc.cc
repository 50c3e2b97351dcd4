#include "devices/cmos_rtc.h"

#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

namespace {

// CMOS indexes with a fixed meaning.
enum Cmos : uint8_t {
    kSeconds = 0x00,
    kMinutes = 0x02,
    kHours = 0x04,
    kWeekday = 0x06,
    kDayOfMonth = 0x07,
    kMonth = 0x08,
    kYear = 0x09,
    kStatusA = 0x0a,
    kStatusB = 0x0b,
    kStatusC = 0x0c,
    kStatusD = 0x0d,
    kCentury = 0x32,
};

// 32.768 kHz time base, 1024 Hz periodic rate: what a BIOS programs.
constexpr uint8_t kStatusAReset = 0x26;
constexpr uint8_t kStatusAUip = 0x80;
constexpr uint8_t kStatusB24Hour = 0x02;
constexpr uint8_t kStatusBBinary = 0x04;  // DM: binary instead of BCD
constexpr uint8_t kStatusDValid = 0x80;   // VRT: battery good, RAM valid
constexpr uint8_t kHourPm = 0x80;

bool is_time_register(uint8_t index) {
    switch (index) {
        case kSeconds: case kMinutes: case kHours: case kWeekday:
        case kDayOfMonth: case kMonth: case kYear: case kCentury: return true;
        default: return false;
    }
}

}  // namespace

CmosRtc::CmosRtc(HostInputs& in, const std::vector<std::pair<uint8_t, uint8_t>>& presets) : in_(in) {
    cmos_[kStatusA] = kStatusAReset;
    cmos_[kStatusB] = kStatusB24Hour;
    for (const auto& [index, value] : presets) {
        if (index >= kCmosBytes || is_time_register(index) || index == kStatusC || index == kStatusD)
            throw Error("cmos-rtc: preset index " + hex(index) + " is not a CMOS RAM byte");
        write_cmos(index, value);
    }
}

void CmosRtc::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("cmos-rtc: this device is attached to a machine already");
    AccessRules rules;
    // Two one-byte ports; a 16-bit access across index and data would
    // select and read in one go, which no PC chipset does.
    rules.valid = {1, 1, false};
    rules.impl = {1, 1, false};
    claim_io_window(sys, m, "cmos-rtc", kSize, *this, rules);
    attached_ = true;
}

uint64_t CmosRtc::read(uint64_t offset, unsigned) {
    // The index port is write-only on PC chipsets; it reads as nothing.
    if (offset == 0) return 0xff;
    return read_cmos(index_);
}

void CmosRtc::write(uint64_t offset, uint64_t value, unsigned) {
    const auto v = static_cast<uint8_t>(value);
    if (offset == 0) {
        index_ = v & 0x7f;  // bit 7 masks NMIs, which this machine does not model
    } else {
        write_cmos(index_, v);
    }
}

uint8_t CmosRtc::read_cmos(uint8_t index) {
    if (is_time_register(index)) return read_time(index);
    switch (index) {
        case kStatusA: return cmos_[kStatusA] & ~kStatusAUip;
        case kStatusC: return 0;
        case kStatusD: return kStatusDValid;
        default: return cmos_[index];
    }
}

void CmosRtc::write_cmos(uint8_t index, uint8_t value) {
    // The time belongs to the host (and is logged from there); C and D
    // are read-only.
    if (is_time_register(index) || index == kStatusC || index == kStatusD) return;
    if (index == kStatusA) value &= ~kStatusAUip;
    cmos_[index] = value;
}

uint8_t CmosRtc::read_time(uint8_t index) {
    using namespace std::chrono;
    // Whole seconds first, floored (so -1 ns is still 23:59:59 of the day
    // before): a day's worth of nanoseconds near INT64_MIN does not fit 64
    // bits, so every clock reading the trace may hold, INT64_MIN included,
    // is a date from 1677 to 2262 and never an overflow.
    const int64_t ns = in_.wall_clock_ns();
    const int64_t secs = ns / 1'000'000'000 - (ns % 1'000'000'000 < 0 ? 1 : 0);
    const sys_seconds now{seconds{secs}};
    const sys_days day = floor<days>(now);
    const year_month_day ymd{day};
    const hh_mm_ss<seconds> hms{now - day};

    const uint8_t b = cmos_[kStatusB];
    auto encode = [b](unsigned v) -> uint8_t {
        if (b & kStatusBBinary) return static_cast<uint8_t>(v);
        return static_cast<uint8_t>(((v / 10) << 4) | (v % 10));
    };
    const int year = static_cast<int>(ymd.year());  // 1677..2262 for a 64-bit ns clock
    switch (index) {
        case kSeconds: return encode(static_cast<unsigned>(hms.seconds().count()));
        case kMinutes: return encode(static_cast<unsigned>(hms.minutes().count()));
        case kHours: {
            const auto h = static_cast<unsigned>(hms.hours().count());
            if (b & kStatusB24Hour) return encode(h);
            // 12-hour mode: 12, 1..11 with bit 7 for the afternoon.
            const unsigned h12 = h % 12 == 0 ? 12 : h % 12;
            return static_cast<uint8_t>(encode(h12) | (h >= 12 ? kHourPm : 0));
        }
        case kWeekday: return encode(weekday{day}.c_encoding() + 1);  // 1 = Sunday
        case kDayOfMonth: return encode(static_cast<unsigned>(ymd.day()));
        case kMonth: return encode(static_cast<unsigned>(ymd.month()));
        case kYear: return encode(static_cast<unsigned>(year % 100));
        case kCentury: return encode(static_cast<unsigned>(year / 100));
        default: return 0;  // not a time register: the caller checked
    }
}

uint64_t CmosRtc::state_digest() const {
    std::array<uint8_t, kCmosBytes + 1> s{};
    s[0] = index_;
    std::copy(cmos_.begin(), cmos_.end(), s.begin() + 1);
    return XXH64(s.data(), s.size(), 0);
}

}  // namespace kvmrr
