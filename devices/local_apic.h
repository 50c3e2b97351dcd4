// LocalApic: the register file of CPU 0's xAPIC, as much as firmware and a
// uniprocessor kernel touch at start-up, in window "lapic" (memory
// 0xfee00000, 4 KiB).
//
// kvmrr delivers interrupts itself and takes external interrupts from the
// 8259 pair; the APIC's job here is to say whether the PIC's INTR reaches
// the CPU (passes_extint(): virtual-wire mode) and to answer what SeaBIOS
// (version at 0x30 for its MP table; SVR, LINT0/LINT1 and INIT/SIPI in
// smp.c) and Linux read and write. Behaviour follows QEMU's hw/intc/apic.c
// (version 0x00050014: six LVT entries, so no CMCI register; LINT0 of the
// bootstrap CPU resets to 0x700, ExtINT unmasked, as apic_reset_common
// does) with the layout of the Intel SDM's APIC chapter. The APIC itself
// accepts no interrupts: IRR, ISR and TMR read 0, PPR equals TPR, EOI does
// nothing, ESR never logs an error, and IPIs (INIT, SIPI, fixed, NMI, to
// self or others) are stored in ICR and dropped: there are no other CPUs,
// and the board has no path for an APIC vector into this one. The timer
// counts down from GuestClock at 1 GHz divided by the divide configuration
// (QEMU's rate, periodic reload as QEMU) but raises no interrupt. The
// IA32_APIC_BASE MSR is not modelled: the window is fixed and the APIC
// hardware-enabled. Only aligned 32-bit accesses at the start of a 16-byte
// register do anything; every other access (1, 2 or 8 bytes, unaligned,
// or at bytes 4-15 of a register) reads 0 and is ignored, as QEMU does for
// narrow accesses. Reserved registers read 0 and ignore writes. The device
// and the clock must outlive the MemorySystem it is attached to.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/guest_clock.h"

namespace kvmrr {

class LocalApic final : public Device, private RegionOps {
public:
    static constexpr uint64_t kSize = 0x1000;
    // The timer counts this many ticks a second before the divider.
    static constexpr uint64_t kTimerHz = 1'000'000'000;

    // Register offsets in the window.
    static constexpr uint64_t kRegId = 0x020;
    static constexpr uint64_t kRegVersion = 0x030;
    static constexpr uint64_t kRegTpr = 0x080;
    static constexpr uint64_t kRegApr = 0x090;
    static constexpr uint64_t kRegPpr = 0x0a0;
    static constexpr uint64_t kRegEoi = 0x0b0;
    static constexpr uint64_t kRegLdr = 0x0d0;
    static constexpr uint64_t kRegDfr = 0x0e0;
    static constexpr uint64_t kRegSvr = 0x0f0;
    static constexpr uint64_t kRegIsr = 0x100;  // 8 registers each
    static constexpr uint64_t kRegTmr = 0x180;
    static constexpr uint64_t kRegIrr = 0x200;
    static constexpr uint64_t kRegEsr = 0x280;
    static constexpr uint64_t kRegIcrLow = 0x300;
    static constexpr uint64_t kRegIcrHigh = 0x310;
    static constexpr uint64_t kRegLvtTimer = 0x320;
    static constexpr uint64_t kRegLvtThermal = 0x330;
    static constexpr uint64_t kRegLvtPerf = 0x340;
    static constexpr uint64_t kRegLvtLint0 = 0x350;
    static constexpr uint64_t kRegLvtLint1 = 0x360;
    static constexpr uint64_t kRegLvtError = 0x370;
    static constexpr uint64_t kRegTimerInitial = 0x380;
    static constexpr uint64_t kRegTimerCurrent = 0x390;
    static constexpr uint64_t kRegTimerDivide = 0x3e0;

    static constexpr uint32_t kVersion = 0x00050014;  // version 0x14, max LVT entry 5
    static constexpr uint32_t kSvrEnable = 1u << 8;
    static constexpr uint32_t kLvtMasked = 1u << 16;
    static constexpr uint32_t kLvtDeliveryMode = 7u << 8;
    static constexpr uint32_t kDeliveryExtInt = 7u << 8;

    // `clock` times the APIC timer; it must outlive the device.
    explicit LocalApic(GuestClock& clock);
    LocalApic(const LocalApic&) = delete;
    LocalApic& operator=(const LocalApic&) = delete;

    std::string_view name() const override { return "lapic"; }
    uint32_t model_version() const override { return 1; }
    // Claims the "lapic" window; throws kvmrr::Error if the window is
    // missing, too small or claimed, or if this device is attached already.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;
    // The registers without the timer's start time, which is a clock
    // reading rather than something the guest's accesses determine.
    uint64_t register_digest() const override;

    // Whether the 8259's INTR reaches the CPU: while the APIC is
    // software-disabled (SVR bit 8 clear, as at reset) or while LINT0 is
    // unmasked with delivery mode ExtINT (virtual-wire mode). The board
    // delivers PIC interrupts only when this is true.
    bool passes_extint() const;
    // The task-priority register (bits 7:4 are CR8).
    uint8_t tpr() const { return tpr_; }

private:
    static constexpr size_t kLvtCount = 6;  // timer, thermal, perf, LINT0, LINT1, error

    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

    uint32_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint32_t value);
    uint32_t current_count();
    unsigned divide_shift() const;

    GuestClock& clock_;
    bool attached_ = false;

    // Guest-visible state; all of it goes into state_digest().
    uint8_t id_ = 0;
    uint8_t tpr_ = 0;
    uint8_t ldr_ = 0;   // logical APIC ID, bits 31:24 of LDR
    uint8_t dfr_ = 0xf; // model, bits 31:28 of DFR (flat)
    uint32_t svr_ = 0xff;
    uint32_t icr_low_ = 0;
    uint32_t icr_high_ = 0;
    std::array<uint32_t, kLvtCount> lvt_{};
    uint32_t timer_initial_ = 0;
    int64_t timer_start_ns_ = 0;  // when timer_initial_ was written
    uint32_t timer_divide_ = 0;
};

}  // namespace kvmrr
