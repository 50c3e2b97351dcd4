// IdeChannel's DMA transfers (devices/ide_channel.h): a READ or WRITE DMA
// command waits for the channel's bus master, then runs whole, as QEMU
// 7.2's ide_dma_cb does with a disk that answers at once:
//
// - The PRD table is read for the whole transfer (nsector sectors). If its
//   entries give fewer bytes, nothing moves: the drive reads DRDY|DSC, the
//   bus master goes inactive and no interrupt comes.
// - A transfer that reaches past the disk's end is aborted (DRDY|ERR,
//   error ABRT), the bus master goes inactive, and the interrupt comes.
// - Otherwise every sector moves between the host's disk (recorded
//   inputs, as PIO's) and guest memory, the task file's address moves past
//   the last sector, the count goes to 0, the drive reads DRDY|DSC and the
//   interrupt comes; the bus master stays active where the table described
//   more bytes than the transfer took.
// The bus master's interrupt bit is set wherever the channel raises its
// interrupt (IdeChannel::raise_irq), not only here.
//
// DATA SET MANAGEMENT's TRIM takes its ranges the same way (nsector
// blocks of 8-byte entries: a 48-bit LBA and a 16-bit count, count 0
// skipped) and discards nothing, as QEMU does with its default
// `discard=ignore`; a range past the disk's end aborts the command as a
// transfer past the end does. Its count is not LBA48-transformed (QEMU's
// cmd_data_set_management), so a count of 0 ends it at once, before the
// PRD table is read.
#include <span>

#include "devices/ide_channel.h"

namespace kvmrr {

bool IdeChannel::dma_waiting() const {
    if (no_drives() || absent_slave()) return false;
    const Drive& d = drive_[unit_];
    return (d.status & kDrq) && d.after == After::Dma && d.dma != DmaKind::None;
}

void IdeChannel::run_dma() {
    if (dma_ && dma_waiting()) dma_run(active(), *dma_);
}

void IdeChannel::dma_wait(Drive& d, DmaKind kind) {
    transfer_start(d, 0, After::Dma);
    d.dma = kind;
    // The bus master was started before the command came.
    if (dma_ && dma_->dma_active()) run_dma();
}

void IdeChannel::dma_run(Drive& d, IdeDmaTarget& t) {
    const DmaKind kind = d.dma;
    const uint64_t need = uint64_t{d.nsector} * kSectorSize;
    if (need == 0) {  // TRIM of no blocks
        transfer_stop(d);
        d.status = kDrdy | kSeek;
        raise_irq();
        t.dma_finished(false);
        return;
    }
    const IdeDmaTarget::Prepared p = t.dma_prepare(need);
    if (p.bytes < need) {
        transfer_stop(d);
        d.status = kDrdy | kSeek;
        t.dma_finished(false);
        return;
    }
    const uint64_t first = get_sector(d);
    const bool ok = kind == DmaKind::Trim ? trim_ranges_ok(d, t) : on_disk(d, first, d.nsector);
    if (!ok) {
        abort(d);
        raise_irq();
        t.dma_finished(false);
        return;
    }
    // A sector at a time, through the drive's PIO buffer (idle during
    // DMA): the disk's and the guest's sides then never hold more than
    // one in kvmrr's memory.
    const std::span<uint8_t> sector(d.buf.data(), kSectorSize);
    for (uint32_t i = 0; kind != DmaKind::Trim && i < d.nsector; ++i) {
        const uint64_t at = uint64_t{i} * kSectorSize;
        if (kind == DmaKind::Write) {
            t.dma_from_guest(at, sector);
            host_.disk_write((first + i) * kSectorSize, sector);
            ++sectors_written_;
        } else {
            host_.disk_read((first + i) * kSectorSize, sector);
            ++sectors_read_;
            t.dma_to_guest(at, sector);
        }
    }
    set_sector(d, first + d.nsector);
    d.nsector = 0;
    transfer_stop(d);
    d.status = kDrdy | kSeek;
    raise_irq();
    t.dma_finished(p.described > need);
}

bool IdeChannel::trim_ranges_ok(Drive& d, IdeDmaTarget& t) {
    const std::span<uint8_t> block(d.buf.data(), kSectorSize);
    for (uint32_t i = 0; i < d.nsector; ++i) {
        t.dma_from_guest(uint64_t{i} * kSectorSize, block);
        for (size_t e = 0; e < kSectorSize; e += 8) {
            uint64_t entry = 0;
            for (unsigned b = 0; b < 8; ++b) entry |= uint64_t{block[e + b]} << (8 * b);
            const uint64_t lba = entry & 0x0000ffffffffffffull;
            const auto count = static_cast<uint32_t>(entry >> 48);
            if (count != 0 && !on_disk(d, lba, count)) return false;
        }
    }
    return true;
}

}  // namespace kvmrr
