// Piix4Pm: the PIIX4 power-management function of QEMU's pc machine,
// 00:01.3, 8086:7113, class 0x0680, revision 0x03, interrupt pin A: the
// ACPI PM1 registers, the ACPI PM timer and the APM control ports.
//
// Config space as QEMU's piix4_pm: PMBA at 0x40 (I/O, reads 0x0001 at
// reset), PMREGMISC 0x80 bit 0 enables the PM I/O space at PMBA & 0xffc0;
// DEVACTB byte 0x5b = 0x02 (APMC_EN) when SMM is off, which tells SeaBIOS
// that SMM is set up already; SMBus base 0x90 = smb_io_base | 1 and host
// config 0xd2 = 0x09 are kept as registers only (no SMBus controller);
// 0x5f, 0x63, 0x67 are QEMU's machine-ready values for the LPT/COM ports the
// board says exist. Everything from 0x40 up is writable, as in QEMU.
//
// The PM I/O space is one 64-byte container "piix4-pm" in the I/O space,
// created at attach, disabled at 0, moved and enabled in one transaction
// per config write, with QEMU's three registers (holes are unassigned):
//   +0 "acpi-evt" PM1a_STS (write one to clear) and PM1a_EN; 1- or 2-byte
//      accesses. TMR_STS (bit 0) is set lazily, when read, once the
//      timer's bit 23 has toggled since the guest last cleared it (or
//      since reset).
//   +4 "acpi-cnt" PM1a_CNT; 1- or 2-byte accesses. Without SMM (QEMU's
//      smm=off, this board) SCI_EN is set from reset: there is no SMM
//      firmware to switch to ACPI mode, so the machine starts in it, as
//      QEMU's does ("acpi_only"). SLP_EN with SLP_TYP 0
//      (S5) or 2 (S4) powers off: RunControl::request_exit(0). S3 is
//      ignored (no suspend here). SLP_EN itself reads as 0.
//   +8 "acpi-tmr" the 24-bit PM timer at 3,579,545 Hz of GuestClock time;
//      32-bit reads only, writes ignored.
// The SCI (IrqLine `sci`, IRQ 9 on the pc board, level) is high while a
// status bit and its enable are both set (timer, global lock, power
// button, RTC). A TimerDevice: with TMR_EN set it asks to run at the next
// toggle of bit 23, so the SCI rises then.
// Window "apm" (I/O 0xb2, 2 bytes), region "apm-io": APMC at 0xb2 (0xf1
// sets SCI_EN, 0xf0 clears it; other values would raise an SMI, which this
// machine does not have) and APMS at 0xb3, plain byte registers.
// Must outlive the MemorySystem.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/guest_clock.h"
#include "devices/irq.h"
#include "devices/pci_bus.h"

namespace kvmrr {

class Piix4Pm final : public Device, public PciFunction, public TimerDevice {
public:
    static constexpr uint8_t kDevfn = pci::devfn(1, 3);
    static constexpr uint8_t kPmBase = 0x40;
    static constexpr uint8_t kDevActB = 0x58;
    static constexpr uint8_t kPmRegMisc = 0x80;
    static constexpr uint8_t kSmbBase = 0x90;
    static constexpr uint8_t kSmbHostConfig = 0xd2;
    static constexpr uint64_t kPmIoSize = 64;
    static constexpr uint64_t kApmSize = 2;
    static constexpr int64_t kTimerHz = 3'579'545;

    // PM1 status/enable bits.
    static constexpr uint16_t kTmrSts = 0x0001;
    static constexpr uint16_t kGblSts = 0x0020;
    static constexpr uint16_t kPwrBtnSts = 0x0100;
    static constexpr uint16_t kRtcSts = 0x0400;
    static constexpr uint16_t kTmrEn = 0x0001;
    // PM1 control bits.
    static constexpr uint16_t kSciEn = 0x0001;
    static constexpr uint16_t kSlpEn = 0x2000;

    struct Options {
        bool smm_enabled = false;      // QEMU's smm property; there is no SMM here
        uint16_t smb_io_base = 0xb100;  // QEMU pc's
        bool lpt_present = false;       // 0x378
        bool com1_present = true;       // 0x3f8
        bool com2_present = false;      // 0x2f8
    };

    Piix4Pm(GuestClock& clock, IrqLine sci, RunControl& run, Options opt);
    Piix4Pm(GuestClock& clock, IrqLine sci, RunControl& run) : Piix4Pm(clock, sci, run, Options{}) {}
    Piix4Pm(const Piix4Pm&) = delete;
    Piix4Pm& operator=(const Piix4Pm&) = delete;

    std::string_view name() const override { return "piix4-pm"; }
    uint32_t model_version() const override { return 2; }  // 2: SCI_EN from reset without SMM, as QEMU
    // Claims "apm" and adds the (disabled) PM I/O space to m.io; throws
    // kvmrr::Error if the window is missing, or on a second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    int64_t next_deadline_ns() const override;
    void run_timers(int64_t now_ns) override;

    // Where the PM I/O space is now, and whether it is enabled.
    uint16_t pm_io_base() const { return io_base_; }
    bool pm_io_enabled() const { return io_enabled_; }
    bool sci_level() const { return sci_level_; }

private:
    enum class Reg : uint8_t { Evt, Cnt, Tmr, Apm };
    class Ops final : public RegionOps {
    public:
        Ops(Piix4Pm& pm, Reg reg) : pm_(pm), reg_(reg) {}
        uint64_t read(uint64_t offset, unsigned size) override { return pm_.reg_read(reg_, offset, size); }
        void write(uint64_t offset, uint64_t value, unsigned size) override { pm_.reg_write(reg_, offset, value, size); }

    private:
        Piix4Pm& pm_;
        Reg reg_;
    };

    uint64_t reg_read(Reg reg, uint64_t offset, unsigned size);
    void reg_write(Reg reg, uint64_t offset, uint64_t value, unsigned size);
    void config_written(uint8_t offset, unsigned size) override;
    void pm_io_space_update();
    static int64_t ticks_at(int64_t ns);
    uint16_t pm1_status(int64_t ticks);
    void update_sci(int64_t ticks);
    void write_cnt(uint16_t v);

    GuestClock& clock_;
    IrqLine sci_;
    RunControl& run_;
    Ops evt_ops_{*this, Reg::Evt}, cnt_ops_{*this, Reg::Cnt}, tmr_ops_{*this, Reg::Tmr}, apm_ops_{*this, Reg::Apm};
    MemorySystem* sys_ = nullptr;
    MemoryRegion* pm_io_ = nullptr;

    // Guest-visible state beyond config space; all in state_digest().
    uint16_t pm1_sts_ = 0;
    uint16_t pm1_en_ = 0;
    uint16_t pm1_cnt_ = 0;
    int64_t overflow_ticks_ = 0;  // TMR_STS is due at this timer count
    uint8_t apmc_ = 0;
    uint8_t apms_ = 0;
    // Derived from config space and the registers above.
    uint16_t io_base_ = 0;
    bool io_enabled_ = false;
    bool sci_level_ = false;
};

}  // namespace kvmrr
