#include "devices/local_apic.h"

#include <xxhash.h>

#include <cstring>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {

namespace {

// LVT entries in register order, and the bits the guest can write in each
// (SDM "Local Vector Table"): the vector, the delivery mode where the
// entry has one, pin polarity and trigger mode on LINT0/LINT1, the mask,
// and the timer's periodic bit. Delivery status (bit 12) and remote IRR
// (bit 14) are read-only and read 0: nothing is ever in flight. The timer
// has no TSC-deadline mode (CPUID does not offer it), so bit 18 is reserved.
enum Lvt : size_t { kTimer, kThermal, kPerf, kLint0, kLint1, kError };
constexpr std::array<uint32_t, 6> kLvtWritable = {
    0x000300ff,  // timer: vector, mask, periodic
    0x000107ff,  // thermal: vector, delivery mode, mask
    0x000107ff,  // performance counters
    0x0001a7ff,  // LINT0: vector, delivery mode, polarity, trigger, mask
    0x0001a7ff,  // LINT1
    0x000100ff,  // error: vector, mask
};
constexpr uint32_t kLvtPeriodic = 1u << 17;

// ICR: vector, delivery mode, destination mode, level, trigger mode and
// destination shorthand; delivery status (bit 12) reads 0, as the IPI is
// "sent" at once. The high half holds the destination in bits 31:24.
constexpr uint32_t kIcrLowWritable = 0x000ccfff;
constexpr uint32_t kIcrHighWritable = 0xff000000;
// QEMU keeps the vector and the enable bit; focus checking and EOI
// broadcast suppression are not offered.
constexpr uint32_t kSvrWritable = 0x1ff;
// Divide configuration: bits 0, 1 and 3 select the divider.
constexpr uint32_t kDivideWritable = 0xb;

void put32(uint8_t*& p, uint32_t v) {
    std::memcpy(p, &v, sizeof v);
    p += sizeof v;
}

}  // namespace

LocalApic::LocalApic(GuestClock& clock) : clock_(clock) {
    lvt_.fill(kLvtMasked);
    // As QEMU's apic_reset_common for the bootstrap CPU: what a BIOS would
    // set, so PIC interrupts pass once the guest enables the APIC.
    lvt_[kLint0] = kDeliveryExtInt;
}

void LocalApic::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("lapic: this device is attached to a machine already");
    require_window(m, name(), "lapic", kSize);
    // The device sees every access whole and decides itself (see the
    // header): only aligned 32-bit accesses reach a register.
    AccessRules rules;
    rules.valid = {1, 8, true};
    rules.impl = {1, 8, true};
    claim_io_window(sys, m, "lapic", kSize, *this, rules);
    attached_ = true;
}

bool LocalApic::passes_extint() const {
    if (!(svr_ & kSvrEnable)) return true;
    const uint32_t lint0 = lvt_[kLint0];
    return !(lint0 & kLvtMasked) && (lint0 & kLvtDeliveryMode) == kDeliveryExtInt;
}

uint64_t LocalApic::read(uint64_t offset, unsigned size) {
    if (size != 4 || offset % 16 != 0) return 0;
    return read_register(offset);
}

void LocalApic::write(uint64_t offset, uint64_t value, unsigned size) {
    if (size != 4 || offset % 16 != 0) return;
    write_register(offset, static_cast<uint32_t>(value));
}

uint32_t LocalApic::read_register(uint64_t offset) {
    switch (offset) {
        case kRegId: return static_cast<uint32_t>(id_) << 24;
        case kRegVersion: return kVersion;
        case kRegTpr: return tpr_;
        case kRegApr: return 0;  // no arbitration: one CPU
        // PPR is the higher of TPR and the class of the highest vector in
        // service; nothing is ever in service.
        case kRegPpr: return tpr_;
        case kRegLdr: return static_cast<uint32_t>(ldr_) << 24;
        case kRegDfr: return (static_cast<uint32_t>(dfr_) << 28) | 0x0fffffff;
        case kRegSvr: return svr_;
        case kRegIcrLow: return icr_low_;
        case kRegIcrHigh: return icr_high_;
        case kRegLvtTimer:
        case kRegLvtThermal:
        case kRegLvtPerf:
        case kRegLvtLint0:
        case kRegLvtLint1:
        case kRegLvtError: return lvt_[(offset - kRegLvtTimer) / 16];
        case kRegTimerInitial: return timer_initial_;
        case kRegTimerCurrent: return current_count();
        case kRegTimerDivide: return timer_divide_;
        // EOI (write-only), ISR, TMR, IRR, ESR and every reserved register.
        default: return 0;
    }
}

void LocalApic::write_register(uint64_t offset, uint32_t value) {
    switch (offset) {
        case kRegId: id_ = static_cast<uint8_t>(value >> 24); break;
        case kRegTpr: tpr_ = static_cast<uint8_t>(value); break;
        case kRegLdr: ldr_ = static_cast<uint8_t>(value >> 24); break;
        case kRegDfr: dfr_ = static_cast<uint8_t>(value >> 28); break;
        case kRegSvr: svr_ = value & kSvrWritable; break;
        // Writing the low half sends the IPI. There is no other CPU to
        // INIT or start, and no path for a vector back into this one, so
        // every IPI is dropped; the ICR keeps what was written.
        case kRegIcrLow: icr_low_ = value & kIcrLowWritable; break;
        case kRegIcrHigh: icr_high_ = value & kIcrHighWritable; break;
        case kRegLvtTimer:
        case kRegLvtThermal:
        case kRegLvtPerf:
        case kRegLvtLint0:
        case kRegLvtLint1:
        case kRegLvtError: {
            const size_t i = (offset - kRegLvtTimer) / 16;
            lvt_[i] = value & kLvtWritable[i];
            break;
        }
        case kRegTimerInitial:
            timer_initial_ = value;
            timer_start_ns_ = clock_.now_ns();
            break;
        case kRegTimerDivide: timer_divide_ = value & kDivideWritable; break;
        // Version, APR, PPR, ISR, TMR, IRR and the current count are
        // read-only; EOI has nothing in service to end; ESR logs nothing
        // to clear; reserved registers take nothing.
        default: break;
    }
}

// Divide configuration 0b0000 divides by 2, ..., 0b1010 by 128, 0b1011 by 1.
unsigned LocalApic::divide_shift() const {
    const uint32_t v = (timer_divide_ & 3) | ((timer_divide_ >> 1) & 4);
    return (v + 1) & 7;
}

// The count as QEMU computes it: one tick per 2^shift ns since the initial
// count was written; a one-shot count stops at 0, a periodic one reloads
// (with a period of initial + 1 ticks, as QEMU's).
uint32_t LocalApic::current_count() {
    if (timer_initial_ == 0) return 0;  // stopped: no clock reading needed
    const int64_t elapsed = clock_.now_ns() - timer_start_ns_;
    const uint64_t ticks = elapsed > 0 ? static_cast<uint64_t>(elapsed) >> divide_shift() : 0;
    if (lvt_[kTimer] & kLvtPeriodic)
        return static_cast<uint32_t>(timer_initial_ - ticks % (uint64_t{timer_initial_} + 1));
    return ticks >= timer_initial_ ? 0 : static_cast<uint32_t>(timer_initial_ - ticks);
}

uint64_t LocalApic::register_digest() const {
    uint8_t buf[4 * (7 + kLvtCount + 2)];
    uint8_t* p = buf;
    put32(p, id_);
    put32(p, tpr_);
    put32(p, ldr_);
    put32(p, dfr_);
    put32(p, svr_);
    put32(p, icr_low_);
    put32(p, icr_high_);
    for (uint32_t v : lvt_) put32(p, v);
    put32(p, timer_initial_);
    put32(p, timer_divide_);
    return XXH64(buf, static_cast<size_t>(p - buf), 0);
}

uint64_t LocalApic::state_digest() const {
    const uint64_t regs = register_digest();
    uint8_t buf[16];
    std::memcpy(buf, &regs, 8);
    std::memcpy(buf + 8, &timer_start_ns_, 8);
    return XXH64(buf, sizeof buf, 0);
}

}  // namespace kvmrr
