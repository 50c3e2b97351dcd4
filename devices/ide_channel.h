// IdeChannel: one legacy ATA channel of the PIIX3's IDE function, with at
// most one hard disk (its master) behind it, as QEMU 7.2's pc machine
// presents it (hw/ide/core.c is the reference for behaviour, and `kvmrr
// qemu-check` holds this model to QEMU's: docs/QEMU_CHECK.md).
//
// Windows: "ideN" (8 bytes, the command block: 0x1f0 for channel 0, 0x170
// for channel 1) and "ideN-ctl" (1 byte: 0x3f6, 0x376; alternate status on
// read, device control on write). In the command block offset 0 is the data
// register: 2- and 4-byte accesses move data, a byte read there takes a
// word and gives its low byte (QEMU's, for old boot loaders), a byte write
// is dropped. Then error/feature, sector count, LBA low, mid, high,
// device/head and status/command; 2-byte accesses to them are cut into
// bytes, 4-byte ones read all ones and write nothing (QEMU's port I/O).
//
// The disk is the machine's host disk (HostInputs::disk_read/disk_write,
// so every sector is a recorded input) of `disk_sectors` sectors; 0 means
// no drive. The commands are QEMU's for a hard disk, with its command
// table's rules: IDENTIFY DEVICE (built at the first one and kept, with
// what SET FEATURES changes in it), READ/WRITE SECTORS (and EXT, MULTIPLE
// and WRITE VERIFY) by PIO, VERIFY, SEEK, RECALIBRATE, INITIALIZE DEVICE
// PARAMETERS, SET MULTIPLE MODE, SET FEATURES, READ NATIVE MAX (and EXT),
// CHECK POWER MODE, the standby and idle commands, FLUSH CACHE (and EXT),
// SECURITY FREEZE LOCK and EXECUTE DEVICE DIAGNOSTIC. INITIALIZE DEVICE
// PARAMETERS sets the CHS translation (heads and sectors per track) that
// CHS addresses and IDENTIFY's geometry words use from then on; a reset
// restores the drive's own if SET FEATURES 0xcc asked for it. A CHS
// translation with no sectors makes QEMU divide by zero: here the task
// file then keeps its address. A command QEMU's
// table has no hard-disk entry for (the packet commands, DEVICE RESET,
// NOP, unknown codes) is aborted: status DRDY|ERR, error ABRT. The DMA
// commands (READ and WRITE DMA, and EXT) leave the drive asking for data
// (DRDY|DSC|DRQ) with none to move by PIO until the channel's bus master
// (IdeDmaTarget: devices/ide_bus_master.h) is active; the transfer then
// runs at once, whole (run_dma, devices/ide_dma.cc); so does DATA SET
// MANAGEMENT's TRIM, whose ranges come by DMA and which discards nothing
// (QEMU's default). Without a bus master the drive waits until a reset.
// SMART is
// aborted (QEMU answers it: a difference qemu-check would show). A transfer that
// reaches past the disk's end is aborted at the first block (one sector,
// or MULTIPLE's count) that would, before that block moves. While the
// drive is busy or wants data, writes to the command block are dropped
// and commands ignored; data-register accesses against the transfer's
// direction or past its end move nothing (reads give 0). Commands to the
// absent slave are ignored and its registers read 0, and a channel with
// no drive reads 0 everywhere (QEMU's "no drive"). Software reset (SRST)
// resets both drives and runs their diagnostic at once (QEMU runs it in a
// bottom half, before the guest's next access), and SRST then reads back
// clear. Completion raises the channel's IRQ unless nIEN is set; a
// command or a read of the status register lowers it. Must outlive the
// MemorySystem it is attached to.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/host_inputs.h"
#include "devices/ide_geometry.h"
#include "devices/irq.h"

namespace kvmrr {

// The bus master's side of a channel's DMA transfer: the guest memory its
// PRD table describes, walked as QEMU 7.2's bmdma_prepare_buf walks it.
class IdeDmaTarget {
public:
    virtual ~IdeDmaTarget() = default;
    // Whether the bus master is started and active (a transfer may run).
    virtual bool dma_active() const = 0;
    // Reads the PRD table for a transfer of `limit` bytes: the bytes its
    // entries give the transfer (at most `limit`), and the bytes they
    // describe in all (the table is read to its end whatever the limit).
    struct Prepared {
        uint64_t bytes = 0;
        uint64_t described = 0;
    };
    virtual Prepared dma_prepare(uint64_t limit) = 0;
    // Moves the transfer's bytes from offset `at` on, through the prepared
    // entries: into guest memory, or out of it.
    virtual void dma_to_guest(uint64_t at, std::span<const uint8_t> bytes) = 0;
    virtual void dma_from_guest(uint64_t at, std::span<uint8_t> out) = 0;
    // The transfer is over: whether the bus master stays active (the
    // entries described more than it took).
    virtual void dma_finished(bool stay_active) = 0;
    // The channel raised its interrupt (any command's, PIO ones too: the
    // bus master's interrupt bit follows the channel's line, as QEMU's
    // bmdma_irq does).
    virtual void dma_channel_interrupt() = 0;
};

class IdeChannel final : public Device {
public:
    static constexpr uint64_t kSectorSize = 512;
    static constexpr uint64_t kCmdSize = 8;
    static constexpr uint64_t kCtlSize = 1;
    // The largest disk an LBA48 address reaches.
    static constexpr uint64_t kMaxSectors = uint64_t{1} << 48;
    static constexpr unsigned kMaxMultSectors = 16;  // QEMU's MAX_MULT_SECTORS

    // Status bits.
    static constexpr uint8_t kErr = 0x01, kDrq = 0x08, kSeek = 0x10, kDrdy = 0x40, kBsy = 0x80;
    static constexpr uint8_t kAbrt = 0x04;  // error: command aborted
    // Device control bits.
    static constexpr uint8_t kNien = 0x02, kSrst = 0x04, kHob = 0x80;

    // Channel 0 or 1; `disk_sectors` 0 for no drive, at most kMaxSectors,
    // with `geometry` (default: QEMU's for the size alone). `host` must
    // outlive the device. Throws kvmrr::Error on a bad channel, size or
    // geometry.
    IdeChannel(unsigned channel, HostInputs& host, uint64_t disk_sectors, IrqLine irq,
               std::optional<IdeGeometry> geometry = std::nullopt);
    IdeChannel(const IdeChannel&) = delete;
    IdeChannel& operator=(const IdeChannel&) = delete;

    std::string_view name() const override { return name_; }
    uint32_t model_version() const override { return 2; }
    // Claims "ideN" and "ideN-ctl"; throws kvmrr::Error if either is missing
    // or claimed, or on a second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    uint64_t disk_sectors() const { return drive_[0].sectors; }
    uint8_t status(unsigned unit) const { return drive_[unit & 1].status; }
    uint64_t sectors_read() const { return sectors_read_; }
    uint64_t sectors_written() const { return sectors_written_; }

    // The channel's bus master (null: none, as before it is connected).
    void set_dma_target(IdeDmaTarget* t) { dma_ = t; }
    // Whether the selected drive waits for a DMA transfer (READ, WRITE or
    // TRIM's ranges).
    bool dma_waiting() const;
    // Runs that transfer now, through the bus master: called when the bus
    // master starts while the drive waits, and by the channel itself when
    // a DMA command comes while the bus master is active. Nothing if the
    // drive does not wait.
    void run_dma();

private:
    // What the end of the current data transfer does.
    enum class After : uint8_t {
        Nothing,      // a block the guest reads (IDENTIFY): then stop
        ReadNext,     // sectors the guest reads: then the next block
        WriteSector,  // sectors the guest writes: store them, then the next
        Dma,          // a DMA command: nothing moves by PIO
    };
    enum class DmaKind : uint8_t { None, Read, Write, Trim };

    struct Drive {
        uint64_t sectors = 0;  // 0: not there
        uint16_t cylinders = 0;
        uint16_t heads = 0, secs = 0;              // the CHS translation in use
        uint16_t drive_heads = 0, drive_secs = 0;  // the drive's own
        bool reset_reverts = false;  // SET FEATURES 0xcc: a reset restores the drive's own
        uint8_t feature = 0, error = 0, sector = 0, lcyl = 0, hcyl = 0, select = 0xa0, status = 0;
        uint8_t hob_feature = 0, hob_nsector = 0, hob_sector = 0, hob_lcyl = 0, hob_hcyl = 0;
        uint32_t nsector = 0;  // up to 65536 once a command took it
        bool lba48 = false;
        unsigned mult_sectors = kMaxMultSectors;
        unsigned req_sectors = 1;
        bool identify_set = false;
        std::array<uint8_t, kSectorSize> identify{};
        After after = After::Nothing;
        DmaKind dma = DmaKind::None;  // with After::Dma
        uint32_t data_pos = 0, data_end = 0;
        std::array<uint8_t, kSectorSize * kMaxMultSectors> buf{};
    };

    class CmdOps final : public RegionOps {
    public:
        explicit CmdOps(IdeChannel& c) : c_(c) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;

    private:
        IdeChannel& c_;
    };
    class CtlOps final : public RegionOps {
    public:
        explicit CtlOps(IdeChannel& c) : c_(c) {}
        uint64_t read(uint64_t, unsigned) override { return c_.status_reg(false); }
        void write(uint64_t, uint64_t value, unsigned) override { c_.control(static_cast<uint8_t>(value)); }

    private:
        IdeChannel& c_;
    };

    Drive& active() { return drive_[unit_]; }
    bool no_drives() const { return drive_[0].sectors == 0 && drive_[1].sectors == 0; }
    bool absent_slave() const { return unit_ == 1 && drive_[1].sectors == 0; }
    uint8_t reg_read(unsigned reg);
    void reg_write(unsigned reg, uint8_t v);
    uint8_t status_reg(bool lower_irq);
    void control(uint8_t v);
    uint32_t data_read(unsigned size);
    void data_write(uint32_t v, unsigned size);
    void command(uint8_t cmd);
    // Runs a command the drive takes; true when it completed at once (then
    // the common ending: BSY off, DSC where the command sets it, the
    // interrupt).
    bool run_command(Drive& d, uint8_t cmd);
    bool set_features(Drive& d);
    void reset_drive(Drive& d);
    static void signature(Drive& d);
    void abort(Drive& d);
    void raise_irq();
    void lower_irq();
    void lba48_transform(Drive& d, bool lba48);
    uint64_t get_sector(const Drive& d) const;
    void set_sector(Drive& d, uint64_t n);
    void identify(Drive& d);
    void set_identify_word(Drive& d, unsigned word, unsigned v);
    static bool on_disk(const Drive& d, uint64_t first, uint32_t n);  // sectors first..first+n-1 all exist
    void sector_read(Drive& d);
    void sector_write(Drive& d);
    void transfer_start(Drive& d, uint32_t bytes, After then);
    void transfer_stop(Drive& d);
    void end_of_transfer(Drive& d);
    void dma_wait(Drive& d, DmaKind kind);
    void dma_run(Drive& d, IdeDmaTarget& t);
    bool trim_ranges_ok(Drive& d, IdeDmaTarget& t);

    std::string name_;
    std::string ctl_name_;
    HostInputs& host_;
    IrqLine irq_;
    IdeDmaTarget* dma_ = nullptr;
    CmdOps cmd_ops_{*this};
    CtlOps ctl_ops_{*this};
    bool attached_ = false;
    std::array<Drive, 2> drive_{};
    unsigned unit_ = 0;
    uint8_t ctl_ = 0;
    bool irq_level_ = false;
    uint64_t sectors_read_ = 0;
    uint64_t sectors_written_ = 0;
};

}  // namespace kvmrr
