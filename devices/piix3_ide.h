// Piix3Ide: the IDE function of QEMU's pc machine, 00:01.1, 8086:7010,
// class 0x0101 with programming interface 0x80 (both channels in legacy
// mode at their fixed ports, bus-master capable).
//
// The configuration space has QEMU's reset values (command 0, status
// 0x0280, BMIBA at 0x20 = 0x01). BMIBA is a 16-byte I/O BAR: every bit
// above the size is writable, so firmware sizes it and moves it as QEMU
// lets it. Behind it, while the command register enables I/O and the BAR
// is neither 0 nor past the I/O space, are the two channels' bus-master
// registers (IdeBusMaster, devices/ide_bus_master.h: channel 0 at +0,
// channel 1 at +8), which run the DMA commands of the channels connected
// to them. The channels themselves are IdeChannel devices at their legacy
// ports. Claims no window: the BAR's block is placed in the I/O space
// wherever the guest puts it (and wins ties there, as QEMU's newest
// region does). Must outlive the MemorySystem.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "devices/device.h"
#include "devices/ide_bus_master.h"
#include "devices/pci_bus.h"

namespace kvmrr {

class MemoryRegion;
class MemorySystem;

class Piix3Ide final : public Device, public PciFunction {
public:
    static constexpr uint8_t kDevfn = pci::devfn(1, 1);
    static constexpr uint8_t kBmiba = 0x20;
    static constexpr uint32_t kBmibaSize = 16;

    Piix3Ide();

    std::string_view name() const override { return "piix3-ide"; }
    uint32_t model_version() const override { return 2; }
    // Places the (disabled) bus-master block in the I/O space; throws
    // kvmrr::Error on a second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    // Channel `n` (0 or 1) runs its DMA through bus master `n`.
    void connect(unsigned n, IdeChannel& channel);
    void set_dma_observers(IdeBusMaster::Observer written, IdeBusMaster::Observer read);
    // Whether the guest has the bus-master block enabled (at BMIBA).
    bool bus_master_mapped() const;

protected:
    void config_written(uint8_t offset, unsigned size) override;

private:
    uint32_t bar_address() const;  // BMIBA without its flag bits
    void bar_update();

    std::array<IdeBusMaster, 2> bm_;
    MemorySystem* sys_ = nullptr;
    MemoryRegion* bar_ = nullptr;
};

}  // namespace kvmrr
