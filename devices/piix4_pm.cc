#include "devices/piix4_pm.h"

#include <xxhash.h>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

namespace {

constexpr PciIdentity kIdentity{
    .vendor = 0x8086,
    .device = 0x7113,  // 82371AB PIIX4 ACPI
    .revision = 0x03,
    .class_code = 0x0680,  // bridge, other
    .prog_if = 0x00,
    .header_type = 0x00,
};

constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr uint32_t kTimerMask = 0xffffff;
// Status bits that raise the SCI when enabled (QEMU's
// ACPI_BITMASK_PM1_COMMON_ENABLED).
constexpr uint16_t kSciSources = Piix4Pm::kTmrSts | Piix4Pm::kGblSts | Piix4Pm::kPwrBtnSts | Piix4Pm::kRtcSts;
constexpr uint8_t kAcpiEnable = 0xf1;
constexpr uint8_t kAcpiDisable = 0xf0;
constexpr unsigned kSlpTypS5 = 0;
constexpr unsigned kSlpTypS4 = 2;  // QEMU's default s4_val

}  // namespace

Piix4Pm::Piix4Pm(GuestClock& clock, IrqLine sci, RunControl& run, Options opt)
    : PciFunction(kDevfn, kIdentity), clock_(clock), sci_(sci), run_(run) {
    cfg(pci::kStatus) = 0x80;      // fast back-to-back capable
    cfg(pci::kStatus + 1) = 0x02;  // DEVSEL medium
    cfg(pci::kInterruptPin) = 0x01;
    cfg(kPmBase) = 0x01;  // I/O space indicator
    cfg(kDevActB + 3) = opt.smm_enabled ? 0x00 : 0x02;  // APMC_EN: "SMM set up already"
    if (!opt.smm_enabled) pm1_cnt_ = kSciEn;             // ACPI mode from reset: nothing else could switch to it
    cfg(kSmbBase) = static_cast<uint8_t>(opt.smb_io_base | 1);
    cfg(kSmbBase + 1) = static_cast<uint8_t>(opt.smb_io_base >> 8);
    cfg(kSmbHostConfig) = 0x09;
    cfg(0x5f) = static_cast<uint8_t>(0x10 | (opt.lpt_present ? 0x80 : 0));
    cfg(0x63) = 0x60;
    cfg(0x67) = static_cast<uint8_t>((opt.com1_present ? 0x08 : 0) | (opt.com2_present ? 0x90 : 0));
}

void Piix4Pm::attach(MemorySystem& sys, MachineMemory& m) {
    if (sys_) throw Error("piix4-pm: this device is attached to a machine already");
    require_window(m, name(), "apm", kApmSize);
    AccessRules apm_rules;
    apm_rules.valid = {1, 2, false};
    apm_rules.impl = {1, 1, false};
    MemoryRegion& apm = sys.create_io("apm-io", kApmSize, apm_ops_, apm_rules);
    try {
        claim_window(m, "apm", apm);
    } catch (...) {
        sys.destroy(apm);
        throw;
    }
    Transaction t(sys);
    pm_io_ = &sys.create_container("piix4-pm", kPmIoSize);
    AccessRules evt_rules;  // QEMU: 1..2 bytes, implemented as 16-bit registers
    evt_rules.valid = {1, 2, false};
    evt_rules.impl = {2, 2, false};
    pm_io_->add_subregion(0, sys.create_io("acpi-evt", 4, evt_ops_, evt_rules));
    pm_io_->add_subregion(4, sys.create_io("acpi-cnt", 2, cnt_ops_, evt_rules));
    AccessRules tmr_rules;
    tmr_rules.valid = {4, 4, false};
    tmr_rules.impl = {4, 4, false};
    pm_io_->add_subregion(8, sys.create_io("acpi-tmr", 4, tmr_ops_, tmr_rules));
    pm_io_->set_enabled(false);
    // Wherever the guest puts PMBA it may cover other ports; like QEMU's
    // region it wins ties there, as the one most recently placed.
    m.io->add_subregion_overlap(0, *pm_io_, 0);
    t.commit();
    sys_ = &sys;
    pm_io_space_update();
}

void Piix4Pm::config_written(uint8_t offset, unsigned size) {
    if (pci::overlaps(offset, size, kPmBase, 4) || pci::overlaps(offset, size, kPmRegMisc, 1)) pm_io_space_update();
}

void Piix4Pm::pm_io_space_update() {
    const auto base = static_cast<uint16_t>(cfg32(kPmBase) & 0xffc0);
    const bool on = config()[kPmRegMisc] & 1;
    if (!sys_) {
        io_base_ = base;
        io_enabled_ = on;
        return;
    }
    if (base == pm_io_->addr() && on == pm_io_->enabled()) return;
    Transaction t(*sys_);
    if (on != pm_io_->enabled()) pm_io_->set_enabled(on);
    if (base != pm_io_->addr()) pm_io_->set_address(base);
    t.commit();
    io_base_ = base;
    io_enabled_ = on;
}

int64_t Piix4Pm::ticks_at(int64_t ns) {
    if (ns < 0) ns = 0;
    return static_cast<int64_t>(static_cast<__int128>(ns) * kTimerHz / kNsPerSec);
}

uint16_t Piix4Pm::pm1_status(int64_t ticks) {
    if (ticks >= overflow_ticks_) pm1_sts_ |= kTmrSts;
    return pm1_sts_;
}

void Piix4Pm::update_sci(int64_t ticks) {
    const bool level = (pm1_status(ticks) & pm1_en_ & kSciSources) != 0;
    if (level == sci_level_) return;
    sci_level_ = level;
    sci_.set(level);
}

void Piix4Pm::write_cnt(uint16_t v) {
    pm1_cnt_ = v & static_cast<uint16_t>(~kSlpEn);
    if (!(v & kSlpEn)) return;
    const unsigned typ = (v >> 10) & 7;
    if (typ == kSlpTypS5 || typ == kSlpTypS4) run_.request_exit(0);
    // S3 (and other types): no suspend on this machine; the write is kept.
}

uint64_t Piix4Pm::reg_read(Reg reg, uint64_t offset, unsigned) {
    switch (reg) {
        case Reg::Evt:
            if (offset == 0) return pm1_status(ticks_at(clock_.now_ns()));
            if (offset == 2) return pm1_en_;
            return 0;
        case Reg::Cnt: return pm1_cnt_;
        case Reg::Tmr: return static_cast<uint64_t>(ticks_at(clock_.now_ns())) & kTimerMask;
        case Reg::Apm: return offset == 0 ? apmc_ : apms_;
    }
    return ~0ull;
}

void Piix4Pm::reg_write(Reg reg, uint64_t offset, uint64_t value, unsigned) {
    const auto v16 = static_cast<uint16_t>(value);
    switch (reg) {
        case Reg::Evt: {
            const int64_t now = ticks_at(clock_.now_ns());
            if (offset == 0) {
                // Clearing TMR_STS starts the wait for the next toggle of bit 23.
                if (pm1_status(now) & v16 & kTmrSts) overflow_ticks_ = (now + 0x800000) & ~int64_t{0x7fffff};
                pm1_sts_ &= static_cast<uint16_t>(~v16);
            } else if (offset == 2) {
                pm1_en_ = v16;
            }
            update_sci(now);
            return;
        }
        case Reg::Cnt: write_cnt(v16); return;
        case Reg::Tmr: return;  // read-only
        case Reg::Apm:
            if (offset == 1) {
                apms_ = static_cast<uint8_t>(value);
                return;
            }
            apmc_ = static_cast<uint8_t>(value);
            if (apmc_ == kAcpiEnable) pm1_cnt_ |= kSciEn;
            else if (apmc_ == kAcpiDisable) pm1_cnt_ &= static_cast<uint16_t>(~kSciEn);
            // Any other command would raise an SMI when APMC_EN is set; there is no SMM here.
            return;
    }
}

int64_t Piix4Pm::next_deadline_ns() const {
    if (!(pm1_en_ & kTmrEn) || (pm1_sts_ & kTmrSts)) return kNever;
    // The first nanosecond at which the timer reads overflow_ticks_.
    const __int128 num = static_cast<__int128>(overflow_ticks_) * kNsPerSec;
    return static_cast<int64_t>((num + kTimerHz - 1) / kTimerHz);
}

void Piix4Pm::run_timers(int64_t now_ns) { update_sci(ticks_at(now_ns)); }

uint64_t Piix4Pm::state_digest() const {
    struct {
        uint16_t sts, en, cnt;
        uint8_t apmc, apms;
        int64_t overflow;
    } regs{pm1_sts_, pm1_en_, pm1_cnt_, apmc_, apms_, overflow_ticks_};
    static_assert(sizeof regs == 16);
    return XXH64(&regs, sizeof regs, config_digest(0x7113));
}

}  // namespace kvmrr
