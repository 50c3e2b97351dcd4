#include "devices/piix3_ide.h"

namespace kvmrr {

namespace {

constexpr PciIdentity kIdentity{
    .vendor = 0x8086,
    .device = 0x7010,  // 82371SB PIIX3 IDE
    .revision = 0x00,
    .class_code = 0x0101,  // mass storage, IDE
    .prog_if = 0x80,       // legacy ports on both channels, bus master
    .header_type = 0x00,
};

}  // namespace

Piix3Ide::Piix3Ide() : PciFunction(kDevfn, kIdentity) {
    cfg(pci::kStatus) = 0x80;      // fast back-to-back capable
    cfg(pci::kStatus + 1) = 0x02;  // DEVSEL medium
    cfg(kBmiba) = 0x01;            // an I/O BAR
    set_wmask(kBmiba, static_cast<uint8_t>(~(kBmibaSize - 1) & 0xfc));
    for (uint8_t i = 1; i < 4; ++i) set_wmask(kBmiba + i, 0xff);
}

void Piix3Ide::attach(MemorySystem&, MachineMemory&) {}

uint64_t Piix3Ide::state_digest() const { return config_digest(0x7010); }

}  // namespace kvmrr
