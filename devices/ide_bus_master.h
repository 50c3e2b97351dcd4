// IdeBusMaster: one channel's bus-master IDE registers of the PIIX3's IDE
// function and the DMA they drive, as QEMU 7.2's BMDMAState (hw/ide/pci.c,
// hw/ide/piix.c) behaves with a disk that answers at once. Piix3Ide places
// the two channels' blocks behind its BMIBA BAR.
//
// Registers, 8 bytes a channel:
//   +0 command (byte): bit 0 start, bit 3 direction (kept; the drive's
//      command decides what moves). Start going from 0 to 1 takes the PRD
//      table pointer back to the table's start and makes the bus master
//      active; a DMA command waiting on the channel then runs. Start going
//      to 0 makes it inactive.
//   +2 status (byte): bit 0 active (read-only), bit 1 error and bit 2
//      interrupt (writing 1 clears them), bits 5 and 6 drive 0 and 1 DMA
//      capable (the guest's); the interrupt bit is set whenever the
//      channel raises its interrupt, for any command (QEMU's bmdma_irq).
//   +1 and +3 read 0xff; a 2- or 4-byte access to +0..+3 reads all ones
//      and writes nothing.
//   +4 PRD table address, 32 bits, 1- to 4-byte accesses; bits 0-1 read 0.
// A PRD entry is a 32-bit address and a count (bits 1-15 of the second
// dword, 0 meaning 64 KiB; bit 31 ends the table). A transfer reads the
// table from its pointer to the entry that ends it, or 4 KiB past the
// table's start, whatever the transfer needs; the pointer stays there.
//
// Guest memory is reached through the machine's memory address space, a
// page at a time, and only where it is RAM: PRD entries and the data a
// WRITE DMA takes read as zeros elsewhere, and the data a READ DMA gives
// is dropped there (QEMU's DMA would reach a device's registers). What a
// transfer reads from guest memory and writes into it is reported to the
// observers, as fw_cfg's DMA is (the recorder logs both; device replay
// puts the reads back).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/address_space.h"
#include "core/region_ops.h"
#include "devices/ide_channel.h"

namespace kvmrr {

class IdeBusMaster final : public IdeDmaTarget {
public:
    static constexpr uint8_t kCmdStart = 0x01, kCmdRead = 0x08;
    static constexpr uint8_t kActive = 0x01, kError = 0x02, kInterrupt = 0x04;
    static constexpr uint32_t kTableLimit = 4096;  // QEMU's BMDMA_PAGE_SIZE
    using Observer = std::function<void(uint64_t gpa, std::span<const uint8_t> bytes)>;

    IdeBusMaster() = default;
    IdeBusMaster(const IdeBusMaster&) = delete;
    IdeBusMaster& operator=(const IdeBusMaster&) = delete;

    // The channel it serves and the memory its DMA reaches (both must
    // outlive it); until both are set, a start moves nothing.
    void connect(IdeChannel& channel) { channel_ = &channel; }
    void set_memory(MemoryAddressSpace& memory) { memory_ = &memory; }
    void set_observers(Observer written, Observer read) {
        written_ = std::move(written);
        read_ = std::move(read);
    }

    // The two register blocks: command and status (+0, 4 bytes), and the
    // PRD table address (+4, 4 bytes).
    RegionOps& command_ops() { return cmd_ops_; }
    RegionOps& address_ops() { return addr_ops_; }
    static AccessRules rules();

    uint8_t command() const { return cmd_; }
    uint8_t status() const { return status_; }
    uint32_t table() const { return addr_; }
    uint64_t digest_word() const;

    bool dma_active() const override { return status_ & kActive; }
    Prepared dma_prepare(uint64_t limit) override;
    void dma_to_guest(uint64_t at, std::span<const uint8_t> bytes) override;
    void dma_from_guest(uint64_t at, std::span<uint8_t> out) override;
    void dma_finished(bool stay_active) override;
    void dma_channel_interrupt() override { status_ |= kInterrupt; }

private:
    class CmdOps final : public RegionOps {
    public:
        explicit CmdOps(IdeBusMaster& b) : b_(b) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;

    private:
        IdeBusMaster& b_;
    };
    class AddrOps final : public RegionOps {
    public:
        explicit AddrOps(IdeBusMaster& b) : b_(b) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;

    private:
        IdeBusMaster& b_;
    };
    struct Segment {
        uint64_t addr;
        uint64_t len;
    };

    void write_command(uint8_t v);
    // f(guest address, offset in the transfer, bytes) over the prepared
    // segments for [at, at + n).
    template <class F>
    void each_piece(uint64_t at, uint64_t n, F&& f) const;
    template <class F>
    static void each_page(uint64_t addr, size_t n, F&& f);
    // Guest memory a page at a time, only where it is RAM (reads elsewhere
    // give zeros, writes are dropped), each part told to the observers.
    void read_guest(uint64_t addr, std::span<uint8_t> out) const;
    void write_guest(uint64_t addr, std::span<const uint8_t> in) const;

    IdeChannel* channel_ = nullptr;
    MemoryAddressSpace* memory_ = nullptr;
    Observer written_, read_;
    CmdOps cmd_ops_{*this};
    AddrOps addr_ops_{*this};
    uint8_t cmd_ = 0, status_ = 0;
    uint32_t addr_ = 0;
    uint32_t cur_addr_ = 0;  // the next PRD entry to read
    std::vector<Segment> segments_;  // the prepared transfer's
};

}  // namespace kvmrr
