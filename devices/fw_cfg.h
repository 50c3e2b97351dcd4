// FwCfg: QEMU's firmware configuration device as the `pc` machine has it,
// through which SeaBIOS learns the machine's memory map, CPU count, boot
// order and tables. It claims two I/O windows:
//   "fw-cfg"      io 0x510, 2 bytes: a 16-bit write selects an item (the
//                 selector), an 8-bit read at either port returns the next
//                 byte of it (0 past its end); 8-bit writes are ignored (QEMU
//                 dropped data writes in 2.4) and 16-bit reads return 0 (QEMU
//                 refuses them; our access rules cannot refuse by direction).
//   "fw-cfg-dma"  io 0x514, 8 bytes: the guest-physical address of a DMA
//                 descriptor, big-endian, written as two 32-bit halves (high
//                 at 0x514, then low at 0x518, which starts the transfer) or
//                 as one 8-byte write; reads return the signature "QEMU CFG".
// Items are numbered as in QEMU's docs/specs/fw_cfg.rst: the signature
// ("QEMU") and the ID (3: traditional interface and DMA) are added by the
// constructor, the file directory (key 0x19) is kept by the device, and the
// board adds the rest with add_bytes/add_u16/u32/u64 (little-endian, as
// QEMU's fw_cfg_add_i*) and add_file (keys from 0x20 in name order, as QEMU
// sorts them for machine types after 2.4).
//
// DMA (descriptor: control BE32, length BE32, address BE64) runs inside the
// write that starts it, through the machine's memory address space, and
// only into RAM: the descriptor and every byte written must lie in writable
// RAM (not ROM, a device window or a hole). The control word goes back as
// 0, or with the error bit (0x01) when the transfer failed, as in QEMU. A
// SELECT in the control word is applied first, as QEMU does. Where QEMU
// would write part of a transfer and report an error, this model checks the
// whole destination first and writes nothing (the offset does not move):
// a destination outside RAM, one that wraps the 64-bit space, one that
// overlaps the descriptor itself, or a zero fill past the item's end longer
// than kMaxZeroFill (QEMU would clear up to 4 GiB of guest memory; no
// firmware asks for that and the recorder would log every byte). A DMA
// write (guest to device) fails as in QEMU, since every item is read-only;
// it moves the offset over the item's bytes as QEMU does. Data never goes
// through a buffer of the guest's size: it is copied from the item itself.
// Every write into guest memory (data, zero fill, the control word) is
// reported to the DMA observer. The device must outlive the MemorySystem it
// is attached to.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/address_space.h"
#include "core/region_ops.h"
#include "devices/device.h"

namespace kvmrr {

class FwCfg final : public Device {
public:
    // Well-known keys (QEMU's include/standard-headers/linux/qemu_fw_cfg.h
    // and hw/i386/fw_cfg.h).
    static constexpr uint16_t kSignature = 0x0000;
    static constexpr uint16_t kId = 0x0001;
    static constexpr uint16_t kUuid = 0x0002;
    static constexpr uint16_t kRamSize = 0x0003;
    static constexpr uint16_t kNoGraphic = 0x0004;
    static constexpr uint16_t kNbCpus = 0x0005;
    static constexpr uint16_t kNuma = 0x000d;
    static constexpr uint16_t kBootMenu = 0x000e;
    static constexpr uint16_t kMaxCpus = 0x000f;
    static constexpr uint16_t kFileDir = 0x0019;
    static constexpr uint16_t kFileFirst = 0x0020;
    static constexpr uint16_t kArchLocal = 0x8000;
    static constexpr uint16_t kAcpiTables = 0x8000;
    static constexpr uint16_t kSmbiosEntries = 0x8001;
    static constexpr uint16_t kIrq0Override = 0x8002;
    static constexpr uint16_t kE820Table = 0x8003;
    static constexpr uint16_t kHpet = 0x8004;
    static constexpr uint16_t kInvalid = 0xffff;
    // QEMU's default "x-file-slots": 32 files, keys 0x20..0x3f.
    static constexpr uint16_t kFileSlots = 0x20;
    static constexpr size_t kFileNameSize = 56;  // including the terminating NUL
    static constexpr uint32_t kIdTraditional = 0x01;
    static constexpr uint32_t kIdDma = 0x02;

    static constexpr uint32_t kDmaError = 0x01;
    static constexpr uint32_t kDmaRead = 0x02;
    static constexpr uint32_t kDmaSkip = 0x04;
    static constexpr uint32_t kDmaSelect = 0x08;
    static constexpr uint32_t kDmaWrite = 0x10;
    static constexpr uint64_t kMaxZeroFill = 1024 * 1024;

    FwCfg();
    FwCfg(const FwCfg&) = delete;
    FwCfg& operator=(const FwCfg&) = delete;

    // Each throws kvmrr::Error on a key outside the item tables (above 0x3f
    // after the arch bit, the write-channel bit 0x4000, the file range or
    // the directory), on a key or file name added twice, on a file name
    // longer than 55 bytes, on a 33rd file, or on an item of 4 GiB or more.
    void add_bytes(uint16_t key, std::vector<uint8_t> data);
    void add_u16(uint16_t key, uint16_t value);
    void add_u32(uint16_t key, uint32_t value);
    void add_u64(uint16_t key, uint64_t value);
    void add_file(std::string name, std::vector<uint8_t> data);
    // The key add_file gave `name` (files move as others sort before them),
    // or kInvalid.
    uint16_t file_key(std::string_view name) const;

    std::string_view name() const override { return "fw-cfg"; }
    uint32_t model_version() const override { return 1; }
    // Claims "fw-cfg" (2 bytes) and "fw-cfg-dma" (8 bytes) and DMAs through
    // m.memory; throws kvmrr::Error if a window is missing or too small, or
    // on a second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    // Selector, offset, DMA address register and a hash of every item.
    uint64_t state_digest() const override;

    uint16_t selector() const { return selector_; }
    uint32_t offset() const { return offset_; }
    uint64_t dma_address() const { return dma_addr_; }

    // Told of every DMA write into guest memory after it happened (the
    // recorder logs address and bytes), as DmaDisk's observer.
    using DmaObserver = std::function<void(uint64_t gpa, std::span<const uint8_t> bytes)>;
    void set_dma_observer(DmaObserver obs) { dma_observer_ = std::move(obs); }
    // Told what a DMA transfer read from guest memory (its descriptor), so
    // that a recording keeps it: a replay without the guest's CPU has no
    // other way to know it.
    void set_dma_read_observer(DmaObserver obs) { dma_read_observer_ = std::move(obs); }

private:
    class PortOps final : public RegionOps {
    public:
        explicit PortOps(FwCfg& d) : d_(d) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;

    private:
        FwCfg& d_;
    };
    class DmaOps final : public RegionOps {
    public:
        explicit DmaOps(FwCfg& d) : d_(d) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;

    private:
        FwCfg& d_;
    };
    struct File {
        std::string name;
        std::vector<uint8_t> data;
    };

    void select(uint16_t key);
    uint8_t read_data();
    // The selected item's bytes (empty for an absent or invalid item).
    std::span<const uint8_t> item(uint16_t key) const;
    void rebuild_directory();
    void dma_transfer();
    // Whether [addr, addr + len) is writable RAM in the current view.
    bool is_ram(uint64_t addr, uint64_t len) const;
    // Writes into guest RAM (checked by the caller) and tells the observer.
    void guest_write(uint64_t addr, std::span<const uint8_t> bytes);
    void write_control(uint64_t desc, uint32_t control);

    PortOps port_ops_{*this};
    DmaOps dma_ops_{*this};
    MemoryAddressSpace* memory_ = nullptr;  // set by attach
    DmaObserver dma_observer_;
    DmaObserver dma_read_observer_;
    // Item tables: [0] the generic keys, [1] the arch-local (0x8000) ones;
    // keys 0x20..0x3f of the generic table are the files.
    std::array<std::array<std::optional<std::vector<uint8_t>>, kFileFirst>, 2> items_;
    std::vector<File> files_;  // sorted by name: files_[i] is key 0x20 + i
    std::vector<uint8_t> zeros_;  // zero fill, at most kMaxZeroFill bytes

    // Guest-visible registers.
    uint16_t selector_ = kSignature;
    uint32_t offset_ = 0;
    uint64_t dma_addr_ = 0;
};

}  // namespace kvmrr
