#include "devices/io_apic.h"

#include <xxhash.h>

#include <cstring>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {

namespace {

// Delivery status and remote IRR: the I/O APIC's own, never the guest's.
constexpr uint64_t kEntryReadOnly = (1ull << 12) | (1ull << 14);
constexpr unsigned kDeliveryModeShift = 8;
constexpr uint64_t kDeliveryFixed = 0;
constexpr uint64_t kDeliveryLowestPriority = 1;
constexpr uint32_t kIdMask = 0xf;  // 4-bit APIC ID in bits 27:24

}  // namespace

IoApic::IoApic() { entries_.fill(kEntryMasked); }

void IoApic::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("ioapic: this device is attached to a machine already");
    require_window(m, name(), "ioapic", kSize);
    // Every access reaches read()/write() whole; they pick what counts.
    AccessRules rules;
    rules.valid = {1, 8, true};
    rules.impl = {1, 8, true};
    claim_io_window(sys, m, "ioapic", kSize, *this, rules);
    attached_ = true;
}

void IoApic::set_irq(unsigned pin, bool level) {
    if (pin >= kPins) return;
    const uint32_t bit = 1u << pin;
    levels_ = level ? levels_ | bit : levels_ & ~bit;
}

std::optional<uint8_t> IoApic::pending_vector() const {
    for (unsigned pin = 0; pin < kPins; ++pin) {
        if (!(levels_ & (1u << pin))) continue;
        const uint64_t e = entries_[pin];
        const uint64_t mode = (e >> kDeliveryModeShift) & 7;
        if (e & kEntryMasked) continue;
        if (mode != kDeliveryFixed && mode != kDeliveryLowestPriority) continue;
        return static_cast<uint8_t>(e);
    }
    return std::nullopt;
}

// IOREGSEL takes accesses of up to 4 bytes (its low byte counts), as in
// QEMU; IOWIN only 32-bit ones; anything else reads 0.
uint64_t IoApic::read(uint64_t offset, unsigned size) {
    if (offset == kRegSelect && size <= 4) return select_;
    if (offset == kRegWindow && size == 4) return read_window();
    return 0;
}

void IoApic::write(uint64_t offset, uint64_t value, unsigned size) {
    if (offset == kRegSelect && size <= 4) {
        select_ = static_cast<uint8_t>(value);
    } else if (offset == kRegWindow && size == 4) {
        write_window(static_cast<uint32_t>(value));
    }
    // The EOI register (0x40) clears remote IRR of level-triggered entries
    // with the written vector; remote IRR is never set here, so a write
    // there, like one anywhere else, changes nothing.
}

uint32_t IoApic::read_window() const {
    switch (select_) {
        case kIndexId:
        case kIndexArbitration: return static_cast<uint32_t>(id_) << 24;
        case kIndexVersion: return kVersion;
        default: break;
    }
    if (select_ < kIndexRedirection || select_ >= kIndexRedirection + 2 * kPins) return 0;
    const uint64_t e = entries_[(select_ - kIndexRedirection) / 2];
    return static_cast<uint32_t>(select_ & 1 ? e >> 32 : e);
}

void IoApic::write_window(uint32_t value) {
    if (select_ == kIndexId) {
        id_ = (value >> 24) & kIdMask;
        return;
    }
    // Version and arbitration are read-only; unknown indexes take nothing.
    if (select_ < kIndexRedirection || select_ >= kIndexRedirection + 2 * kPins) return;
    uint64_t& e = entries_[(select_ - kIndexRedirection) / 2];
    const uint64_t updated = select_ & 1 ? (e & 0xffffffffull) | (uint64_t{value} << 32)
                                         : (e & ~0xffffffffull) | value;
    e = (updated & ~kEntryReadOnly) | (e & kEntryReadOnly);
}

uint64_t IoApic::register_digest() const {
    uint8_t buf[2 + sizeof(uint64_t) * kPins];
    buf[0] = select_;
    buf[1] = id_;
    std::memcpy(buf + 2, entries_.data(), sizeof(uint64_t) * kPins);
    return XXH64(buf, sizeof buf, 0);
}

uint64_t IoApic::state_digest() const {
    uint8_t buf[12];
    const uint64_t regs = register_digest();
    std::memcpy(buf, &regs, 8);
    std::memcpy(buf + 8, &levels_, 4);
    return XXH64(buf, sizeof buf, 0);
}

}  // namespace kvmrr
