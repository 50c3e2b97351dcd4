// Piix3: the PCI-to-ISA bridge function of QEMU's pc machine, 00:01.0,
// 8086:7000, class 0x0601, header type 0x80 (functions 1-7 of the slot
// exist: IDE at 1, power management at 3).
//
// Only its configuration space is modelled, with QEMU's reset values
// (command 0x0007, status 0x0200, PIRQ route control 0x60-0x63 = 0x80
// "disabled", TOM 0x69 = 0x02, ...) and QEMU's masks (everything from 0x40
// writable). The board reads the PIRQ routes (pirq_route) when it routes a
// PCI INTx line to the 8259s/I/O APIC. The Reset Control Register at 0xcf9
// sits in PciHost, which owns that port window; ELCR (0x4d0/0x4d1) belongs
// to the 8259 model. It claims no window. Must outlive the MemorySystem.
#pragma once

#include <cstdint>
#include <string_view>

#include "devices/device.h"
#include "devices/pci_bus.h"

namespace kvmrr {

class Piix3 final : public Device, public PciFunction {
public:
    static constexpr uint8_t kDevfn = pci::devfn(1, 0);
    static constexpr uint8_t kPirqRc = 0x60;  // PIRQA..D route control
    static constexpr uint8_t kPirqDisabled = 0x80;

    Piix3();

    std::string_view name() const override { return "piix3"; }
    uint32_t model_version() const override { return 2; }  // 2: command register resets to 0, as QEMU's
    // Nothing to claim: the function is reached through PciHost.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    // PIRQ n (0..3: A..D): the ISA IRQ in bits 3:0, bit 7 set when routing
    // is disabled. Out-of-range n reads as disabled.
    uint8_t pirq_route(int n) const;
    // Counts guest writes that touched 0x60-0x63, so a board can tell
    // that the routing changed without comparing.
    uint32_t pirq_writes() const { return pirq_writes_; }

private:
    void config_written(uint8_t offset, unsigned size) override;
    uint32_t pirq_writes_ = 0;
};

}  // namespace kvmrr
