// CmosRtc: the PC's MC146818-style real-time clock and its 128 bytes of
// CMOS RAM, behind the index/data port pair of the "cmos-rtc" window
// (0x70/0x71 by default).
//
// The guest writes a byte index to port 0 (bit 7, the NMI mask, is
// ignored) and reads or writes that byte through port 1. The time
// registers (seconds, minutes, hours, weekday, day, month, year, century
// at 0x32) are not stored: every read of one asks HostInputs for the wall
// clock (UTC) exactly once, so the recorder logs one clock reading per
// guest read, and encodes the field as status register B asks (BCD or
// binary, 24- or 12-hour). The clock cannot be set by the guest: writes
// to time registers are dropped. Status A reads 0x26 with UIP always clear
// (there is no update cycle to wait for), B is writable (0x02 at reset:
// 24-hour, BCD), C reads 0 (no interrupt flags), D reads 0x80 (RAM valid).
// All other bytes, alarms included, are plain RAM, zero at reset unless
// the board presets them (a PC board fills in memory sizes, equipment and
// boot order as its BIOS expects: see devices/pc_firmware_config.h). The
// device must outlive the MemorySystem it is attached to.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/host_inputs.h"

namespace kvmrr {

class CmosRtc final : public Device, private RegionOps {
public:
    static constexpr uint64_t kSize = 2;
    static constexpr size_t kCmosBytes = 128;

    // `presets` are (index, value) pairs stored at reset, later ones
    // winning; each must be a byte the guest could write itself (below
    // 0x80, not a time register, not status C or D), else kvmrr::Error.
    explicit CmosRtc(HostInputs& in, const std::vector<std::pair<uint8_t, uint8_t>>& presets = {});
    CmosRtc(const CmosRtc&) = delete;
    CmosRtc& operator=(const CmosRtc&) = delete;

    std::string_view name() const override { return "cmos-rtc"; }
    uint32_t model_version() const override { return 1; }
    // Claims the "cmos-rtc" window; throws kvmrr::Error if the window is
    // missing or claimed, or if this device is attached already.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

private:
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

    uint8_t read_cmos(uint8_t index);
    void write_cmos(uint8_t index, uint8_t value);
    uint8_t read_time(uint8_t index);

    HostInputs& in_;
    bool attached_ = false;

    // Guest-visible state; all of it goes into state_digest(). Status A
    // and B live in `cmos_` at their own indexes; the bytes of the time
    // registers and of status C and D are never used.
    uint8_t index_ = 0;
    std::array<uint8_t, kCmosBytes> cmos_{};
};

}  // namespace kvmrr
