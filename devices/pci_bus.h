// PciFunction and PciHost: PCI functions' configuration spaces and the
// host's configuration mechanism #1, as QEMU's pc machine presents them.
//
// A PciFunction is 256 bytes of configuration space with, per byte, a
// write mask (which bits the guest may change) and a write-one-to-clear
// mask, initialised the way QEMU initialises a conventional type-0
// function: vendor, device, revision, class, header type and the subsystem
// 1af4:1100 (SeaBIOS checks it to say "Running on QEMU"); writable are the
// command register's I/O, memory, master, SERR and INTx-disable bits,
// cache line size, interrupt line and every byte from 0x40 up; the status
// register's error bits are write-one-to-clear. A function hears about
// guest writes through config_written(), after the masks were applied.
//
// PciHost owns bus 0 and the window "pci-conf" (I/O 0xcf8, 8 bytes):
//   0xcf8 CONFIG_ADDRESS, a 32-bit register reached by 32-bit accesses only
//         (bit 31 enable, 23:16 bus, 15:8 device/function, 7:2 register).
//         Narrower reads at 0xcf8, 0xcfa, 0xcfb (and 16-bit at 0xcf8/0xcfa)
//         return the register's low bytes, whatever their offset, and
//         narrower writes are dropped: that is what QEMU's pci-conf-idx
//         does (its callbacks ignore the offset and write only at size 4).
//   0xcf9 byte: PIIX3's Reset Control Register (QEMU's "piix3-reset-
//         control" overlays it): a write with bit 2 set asks for a reset
//         (RunControl::request_reset) and leaves the register; otherwise
//         bit 1 (the reset type) is kept. Reads return it. It lives here
//         and not in Piix3 because the two share one port window.
//   0xcfc-0xcff CONFIG_DATA: 1, 2 or 4 bytes on their natural alignment at
//         register (addr & 0xfc) + (port - 0xcfc). With bit 31 clear reads
//         are all ones and writes dropped; so are accesses to a bus other
//         than 0 or to a device/function nobody answers. The two low bits
//         of CONFIG_ADDRESS read back as written but do not address (QEMU
//         ORs them in; hardware ignores them; SeaBIOS writes them as 0).
// Unaligned accesses are refused by the core (QEMU refuses them too).
// Functions and the host must outlive the MemorySystem.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"

namespace kvmrr {

// The registers of a type-0 header that this code names.
namespace pci {
constexpr uint8_t kVendorId = 0x00;
constexpr uint8_t kDeviceId = 0x02;
constexpr uint8_t kCommand = 0x04;
constexpr uint8_t kStatus = 0x06;
constexpr uint8_t kRevision = 0x08;
constexpr uint8_t kProgIf = 0x09;
constexpr uint8_t kClass = 0x0a;  // 16 bits: base class in the high byte
constexpr uint8_t kCacheLineSize = 0x0c;
constexpr uint8_t kLatencyTimer = 0x0d;
constexpr uint8_t kHeaderType = 0x0e;
constexpr uint8_t kSubsystemVendor = 0x2c;
constexpr uint8_t kSubsystemId = 0x2e;
constexpr uint8_t kInterruptLine = 0x3c;
constexpr uint8_t kInterruptPin = 0x3d;
constexpr uint8_t kHeaderMultiFunction = 0x80;

constexpr uint8_t devfn(unsigned dev, unsigned fn) { return static_cast<uint8_t>((dev << 3) | fn); }

// Does [offset, offset + size) meet [reg, reg + len)?
constexpr bool overlaps(uint8_t offset, unsigned size, unsigned reg, unsigned len) {
    return offset < reg + len && reg < offset + size;
}
}  // namespace pci

struct PciIdentity {
    uint16_t vendor = 0;
    uint16_t device = 0;
    uint8_t revision = 0;
    uint16_t class_code = 0;  // base class << 8 | subclass
    uint8_t prog_if = 0;
    uint8_t header_type = 0;  // 0x80: multi-function
    uint16_t subsystem_vendor = 0x1af4;  // Red Hat / Qumranet, as every QEMU function
    uint16_t subsystem_id = 0x1100;      // QEMU
};

class PciFunction {
public:
    virtual ~PciFunction() = default;
    PciFunction(const PciFunction&) = delete;
    PciFunction& operator=(const PciFunction&) = delete;

    uint8_t devfn() const { return devfn_; }
    // `offset` must be aligned to `size` (1, 2 or 4); PciHost guarantees it.
    uint32_t config_read(uint8_t offset, unsigned size) const;
    void config_write(uint8_t offset, uint32_t value, unsigned size);
    const std::array<uint8_t, 256>& config() const { return config_; }

protected:
    PciFunction(uint8_t devfn, const PciIdentity& id);
    // Called after every guest write, with the masks already applied.
    virtual void config_written(uint8_t offset, unsigned size) {
        (void)offset;
        (void)size;
    }
    // Reset values and masks, for the function's own constructor.
    uint8_t& cfg(uint8_t offset) { return config_[offset]; }
    void set_cfg16(uint8_t offset, uint16_t v);
    uint32_t cfg32(uint8_t offset) const;
    void set_wmask(uint8_t offset, uint8_t mask) { wmask_[offset] = mask; }
    // Feeds the configuration space into a digest.
    uint64_t config_digest(uint64_t seed) const;

private:
    uint8_t devfn_;
    std::array<uint8_t, 256> config_{};
    std::array<uint8_t, 256> wmask_{};
    std::array<uint8_t, 256> w1cmask_{};
};

class PciHost final : public Device, private RegionOps {
public:
    static constexpr uint64_t kSize = 8;
    static constexpr uint8_t kRcrResetType = 0x02;  // 1: hard reset
    static constexpr uint8_t kRcrReset = 0x04;      // do it

    explicit PciHost(RunControl& run);
    PciHost(const PciHost&) = delete;
    PciHost& operator=(const PciHost&) = delete;

    std::string_view name() const override { return "pci-host"; }
    uint32_t model_version() const override { return 1; }
    // Puts `f` on bus 0 at its devfn; throws kvmrr::Error if one is there.
    void add_function(PciFunction& f);
    // Claims "pci-conf"; throws kvmrr::Error if it is missing, or on a
    // second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    // CONFIG_ADDRESS and the reset control register; the functions digest
    // their own configuration spaces.
    uint64_t state_digest() const override;

    uint32_t config_address() const { return config_address_; }

private:
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;
    // The function CONFIG_ADDRESS selects, or null (disabled, other bus,
    // nobody there).
    PciFunction* selected() const;

    RunControl& run_;
    bool attached_ = false;
    std::array<PciFunction*, 256> functions_{};
    uint32_t config_address_ = 0;
    uint8_t rcr_ = 0;
};

}  // namespace kvmrr
