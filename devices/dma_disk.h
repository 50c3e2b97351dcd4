// DmaDisk: a disk controller that moves whole sectors between the host's
// disk (through HostInputs) and guest memory by DMA.
//
// The guest programs SECTOR, ADDR and COUNT and writes CMD; the command runs
// synchronously inside that write. Its DMA goes through the machine's memory
// address space (write_bytes / read_bytes), never straight to a RAM block, so
// whatever watches guest memory (dirty tracking, the recorder) sees it, and a
// DMA that reaches a hole or a device is handled like any other access.
// Every CMD write is one command: COMPLETED counts them all, and STATUS says
// how the last one ended. A command fails (STATUS 1) when COUNT is 0 or more
// than 256, the code is not 1 or 2, the disk or guest range would pass the
// end of the 64-bit space, or the DMA is not fully Ok (unassigned memory,
// a device that refuses it, or the device's own registers: while a command
// runs the registers ignore writes, so a DMA aimed at them cannot start a
// command inside a command). A failed read may have written part of the
// guest range, as real DMA would; a failed write leaves the disk untouched.
// The device must outlive the MemorySystem it is attached to.
//
// Registers (window "dma-disk", little-endian):
//   0x00 SECTOR     8 bytes r/w  first sector (512 bytes each)
//   0x08 ADDR       8 bytes r/w  guest-physical DMA address
//   0x10 COUNT      4 bytes r/w  sectors, 1..256
//   0x14 CMD        4 bytes w/o  1 = read disk -> guest, 2 = write guest -> disk
//   0x18 STATUS     4 bytes r/o  0 ok (or idle), 1 error
//   0x1c COMPLETED  4 bytes r/o  commands run since reset
// SECTOR and ADDR take aligned 4- and 8-byte accesses, the rest of the window
// aligned 4-byte ones; the two groups are separate I/O regions, so the core
// itself rejects anything else as invalid. The one access it lets through is
// an unaligned 8-byte one at 0x0c, which crosses from one region into the
// other and is cut into two 4-byte pieces (high half of ADDR, then COUNT),
// as the core cuts every access that spans two ranges. Offsets past 0x1f
// read 0 and ignore writes.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "core/address_space.h"
#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/host_inputs.h"

namespace kvmrr {

class DmaDisk final : public Device {
public:
    static constexpr uint64_t kSectorSize = 512;
    static constexpr uint32_t kMaxSectors = 256;
    static constexpr uint64_t kRegSector = 0x00;
    static constexpr uint64_t kRegAddr = 0x08;
    static constexpr uint64_t kRegCount = 0x10;
    static constexpr uint64_t kRegCmd = 0x14;
    static constexpr uint64_t kRegStatus = 0x18;
    static constexpr uint64_t kRegCompleted = 0x1c;
    static constexpr uint32_t kCmdRead = 1;
    static constexpr uint32_t kCmdWrite = 2;
    static constexpr uint32_t kStatusOk = 0;
    static constexpr uint32_t kStatusError = 1;

    // `host` must outlive the device.
    explicit DmaDisk(HostInputs& host);
    DmaDisk(const DmaDisk&) = delete;
    DmaDisk& operator=(const DmaDisk&) = delete;

    std::string_view name() const override { return "dma-disk"; }
    uint32_t model_version() const override { return 1; }
    // Claims window "dma-disk" and DMAs through m.memory; throws
    // kvmrr::Error if the window is missing or too small, or on a second
    // attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    // Covers the registers (the disk is a host input, guest RAM the machine's).
    uint64_t state_digest() const override;

    uint32_t status() const { return status_; }
    uint32_t completed() const { return completed_; }

    // Told of every DMA write into guest memory after it happened (the
    // recorder logs address and bytes).
    using DmaObserver = std::function<void(uint64_t gpa, std::span<const uint8_t> bytes)>;
    void set_dma_observer(DmaObserver obs) { dma_observer_ = std::move(obs); }

private:
    DmaObserver dma_observer_;
    // The register window is two I/O regions with different access rules;
    // each forwards to the device with its offset in the window.
    class WindowOps final : public RegionOps {
    public:
        WindowOps(DmaDisk& d, uint64_t base) : d_(d), base_(base) {}
        uint64_t read(uint64_t offset, unsigned size) override { return d_.reg_read(base_ + offset, size); }
        void write(uint64_t offset, uint64_t value, unsigned size) override { d_.reg_write(base_ + offset, value, size); }

    private:
        DmaDisk& d_;
        uint64_t base_;
    };

    uint64_t reg_read(uint64_t offset, unsigned size) const;
    void reg_write(uint64_t offset, uint64_t value, unsigned size);
    // Runs command `cmd`; returns the STATUS it ends with.
    uint32_t run(uint32_t cmd);

    HostInputs& host_;
    WindowOps wide_ops_;    // SECTOR, ADDR
    WindowOps narrow_ops_;  // COUNT .. and the rest of the window
    MemoryAddressSpace* memory_ = nullptr;  // set by attach
    std::vector<uint8_t> buffer_;           // one command's data, reused
    uint64_t sector_ = 0;
    uint64_t addr_ = 0;
    uint32_t count_ = 0;
    uint32_t status_ = kStatusOk;
    uint32_t completed_ = 0;
    bool busy_ = false;        // a command is running
    bool hit_self_ = false;    // its DMA wrote to our registers
};

}  // namespace kvmrr
