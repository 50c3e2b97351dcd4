// Piix3Ide: the IDE function of QEMU's pc machine, 00:01.1, 8086:7010,
// class 0x0101 with programming interface 0x80 (both channels in legacy
// mode at their fixed ports, bus-master capable).
//
// Only the configuration space is here, with QEMU's reset values (command
// 0, status 0x0280, BMIBA at 0x20 = 0x01). BMIBA is a 16-byte I/O BAR:
// every bit above the size is writable, so firmware sizes it and moves it
// as QEMU lets it; the bus-master registers behind it are not modelled (no
// device decodes the BAR, and firmware built without ATA DMA, as Debian's
// SeaBIOS is, never touches them). The channels themselves are IdeChannel
// devices at their legacy ports. Claims no window. Must outlive the
// MemorySystem.
#pragma once

#include <cstdint>
#include <string_view>

#include "devices/device.h"
#include "devices/pci_bus.h"

namespace kvmrr {

class Piix3Ide final : public Device, public PciFunction {
public:
    static constexpr uint8_t kDevfn = pci::devfn(1, 1);
    static constexpr uint8_t kBmiba = 0x20;
    static constexpr uint32_t kBmibaSize = 16;

    Piix3Ide();

    std::string_view name() const override { return "piix3-ide"; }
    uint32_t model_version() const override { return 1; }
    // Nothing to claim: the function is reached through PciHost.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;
};

}  // namespace kvmrr
