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
#include <algorithm>
#include <vector>

#include "devices/ide_channel.h"

namespace kvmrr {

bool IdeChannel::dma_waiting() const {
    if (no_drives() || absent_slave()) return false;
    const Drive& d = drive_[unit_];
    return (d.status & kDrq) && d.after == After::Dma && (d.dma == DmaKind::Read || d.dma == DmaKind::Write);
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
    const bool to_disk = d.dma == DmaKind::Write;
    const uint64_t need = uint64_t{d.nsector} * kSectorSize;
    const IdeDmaTarget::Prepared p = t.dma_prepare(need);
    if (p.bytes < need) {
        transfer_stop(d);
        d.status = kDrdy | kSeek;
        t.dma_finished(false);
        return;
    }
    const uint64_t first = get_sector(d);
    if (!on_disk(d, first, d.nsector)) {
        abort(d);
        raise_irq();
        t.dma_finished(false);
        return;
    }
    // A sector at a time: the disk's and the guest's sides then never
    // hold more than one in kvmrr's memory.
    std::vector<uint8_t> sector(kSectorSize);
    for (uint32_t i = 0; i < d.nsector; ++i) {
        const uint64_t at = uint64_t{i} * kSectorSize;
        if (to_disk) {
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

}  // namespace kvmrr
