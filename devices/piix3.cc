#include "devices/piix3.h"

#include <utility>

namespace kvmrr {

namespace {

constexpr PciIdentity kIdentity{
    .vendor = 0x8086,
    .device = 0x7000,  // 82371SB PIIX3 ISA
    .revision = 0x00,
    .class_code = 0x0601,  // bridge, ISA
    .prog_if = 0x00,
    .header_type = pci::kHeaderMultiFunction,
};

// QEMU's piix3_reset, byte for byte, except the command register: QEMU's
// PCI core clears its writable bits (I/O, memory, master) after the
// device's own reset (pci_do_device_reset), so a guest of QEMU 7.2's pc
// reads 0x0000 there, not piix3_reset's 0x0007.
constexpr std::pair<uint8_t, uint8_t> kReset[] = {
    {0x04, 0x00}, {0x05, 0x00}, {0x06, 0x00}, {0x07, 0x02},  // master, memory, I/O; DEVSEL medium
    {0x4c, 0x4d}, {0x4e, 0x03}, {0x4f, 0x00},
    {0x60, 0x80}, {0x61, 0x80}, {0x62, 0x80}, {0x63, 0x80},  // PIRQ routing disabled
    {0x69, 0x02}, {0x70, 0x80}, {0x76, 0x0c}, {0x77, 0x0c}, {0x78, 0x02}, {0x79, 0x00},
    {0x80, 0x00}, {0x82, 0x00}, {0xa0, 0x08}, {0xa2, 0x00}, {0xa3, 0x00}, {0xa4, 0x00},
    {0xa5, 0x00}, {0xa6, 0x00}, {0xa7, 0x00}, {0xa8, 0x0f}, {0xaa, 0x00}, {0xab, 0x00},
    {0xac, 0x00}, {0xae, 0x00},
};

}  // namespace

Piix3::Piix3() : PciFunction(kDevfn, kIdentity) {
    for (const auto& [off, v] : kReset) cfg(off) = v;
}

void Piix3::attach(MemorySystem&, MachineMemory&) {}

uint8_t Piix3::pirq_route(int n) const {
    if (n < 0 || n > 3) return kPirqDisabled;
    return config()[kPirqRc + n];
}

void Piix3::config_written(uint8_t offset, unsigned size) {
    if (pci::overlaps(offset, size, kPirqRc, 4)) ++pirq_writes_;
}

uint64_t Piix3::state_digest() const { return config_digest(0x7000); }

}  // namespace kvmrr
