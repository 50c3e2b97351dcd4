// IoApic: the 24-pin I/O APIC of QEMU's pc machine, as registers and pin
// levels, in window "ioapic" (memory 0xfec00000, 4 KiB).
//
// The guest selects a register by writing its index to IOREGSEL (offset
// 0x00, 8 bits) and reads or writes it through IOWIN (0x10, 32-bit
// accesses only): ID (index 0, bits 27:24), version (1: 0x00170020, 24
// entries, version 0x20 as QEMU's pc machines since 2.8), arbitration ID
// (2, reads as the ID, as QEMU) and the 24 redirection entries (0x10-0x3f,
// low half at the even index), masked at reset. Delivery status (bit 12)
// and remote IRR (bit 14) are read-only and read 0: the board takes its
// interrupts from the 8259 pair, so nothing is ever delivered from here,
// and the EOI register at 0x40 (version 0x20) has no remote IRR to clear.
// Every other bit of an entry keeps what the guest wrote, as in QEMU.
// Devices drive the pins through IrqSink; pins hold a logical level
// ("asserted"), polarity (bit 13) is stored but not applied, as QEMU does.
// The board wires ISA IRQ n to pin n except IRQ 0 (the PIT), which goes to
// pin 2, as SeaBIOS's MP and ACPI tables say. pending_vector() is where a
// delivery path would start. Other offsets, other IOWIN sizes and unknown
// register indexes read 0 and ignore writes; pins past 23 are ignored. The
// device must outlive the MemorySystem it is attached to.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/irq.h"

namespace kvmrr {

class IoApic final : public Device, public IrqSink, private RegionOps {
public:
    static constexpr uint64_t kSize = 0x1000;
    static constexpr unsigned kPins = 24;

    static constexpr uint64_t kRegSelect = 0x00;  // IOREGSEL
    static constexpr uint64_t kRegWindow = 0x10;  // IOWIN
    static constexpr uint64_t kRegEoi = 0x40;
    // Register indexes behind IOWIN.
    static constexpr uint8_t kIndexId = 0x00;
    static constexpr uint8_t kIndexVersion = 0x01;
    static constexpr uint8_t kIndexArbitration = 0x02;
    static constexpr uint8_t kIndexRedirection = 0x10;  // 2 per pin

    static constexpr uint32_t kVersion = 0x00170020;
    static constexpr uint64_t kEntryMasked = 1ull << 16;

    IoApic();
    IoApic(const IoApic&) = delete;
    IoApic& operator=(const IoApic&) = delete;

    std::string_view name() const override { return "ioapic"; }
    uint32_t model_version() const override { return 1; }
    // Claims the "ioapic" window; throws kvmrr::Error if the window is
    // missing, too small or claimed, or if this device is attached already.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    // Registers and pin levels.
    uint64_t state_digest() const override;
    // Registers only: the pin levels are set by other devices.
    uint64_t register_digest() const override;

    // Pins 0-23; others are ignored.
    void set_irq(unsigned pin, bool level) override;

    // The vector of the lowest-numbered pin that is asserted and whose
    // entry is unmasked with delivery mode fixed or lowest-priority (the
    // modes whose vector is in the entry), or nothing. Edge-triggered
    // entries are not latched: an edge that has gone down is gone.
    std::optional<uint8_t> pending_vector() const;

private:
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

    uint32_t read_window() const;
    void write_window(uint32_t value);

    bool attached_ = false;

    // Guest-visible state (the pins are the other devices'); all of it
    // goes into state_digest().
    uint8_t select_ = 0;
    uint8_t id_ = 0;
    std::array<uint64_t, kPins> entries_{};
    uint32_t levels_ = 0;  // bit n: pin n asserted
};

}  // namespace kvmrr
