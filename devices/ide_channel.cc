#include "devices/ide_channel.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <span>

#include "core/error.h"

namespace kvmrr {

namespace {

// Command codes (ATA/ATAPI-7).
enum : uint8_t {
    kDataSetManagement = 0x06,
    kReadSectors = 0x20,
    kReadSectorsNoRetry = 0x21,
    kReadSectorsExt = 0x24,
    kReadDmaExt = 0x25,
    kReadNativeMaxExt = 0x27,
    kReadMultipleExt = 0x29,
    kWriteSectors = 0x30,
    kWriteSectorsNoRetry = 0x31,
    kWriteSectorsExt = 0x34,
    kWriteDmaExt = 0x35,
    kWriteMultipleExt = 0x39,
    kWriteVerify = 0x3c,
    kVerify = 0x40,
    kVerifyNoRetry = 0x41,
    kVerifyExt = 0x42,
    kDiagnostic = 0x90,
    kInitParams = 0x91,
    kCheckPowerOld = 0x98,
    kSmart = 0xb0,
    kReadMultiple = 0xc4,
    kWriteMultiple = 0xc5,
    kSetMultiple = 0xc6,
    kReadDma = 0xc8,
    kReadDmaNoRetry = 0xc9,
    kWriteDma = 0xca,
    kWriteDmaNoRetry = 0xcb,
    kCheckPower = 0xe5,
    kFlushCache = 0xe7,
    kFlushCacheExt = 0xea,
    kIdentify = 0xec,
    kSetFeatures = 0xef,
    kFreezeLock = 0xf5,
    kReadNativeMax = 0xf8,
};

// The commands QEMU's table (ide_cmd_table) lets a hard disk run, and
// which of them set DSC when they end without an error.
constexpr uint8_t kHdOk = 1, kSetsDsc = 2;
constexpr std::array<uint8_t, 256> command_table() {
    std::array<uint8_t, 256> t{};
    for (uint8_t c : {0x06, 0x20, 0x21, 0x24, 0x25, 0x29, 0x30, 0x31, 0x34, 0x35, 0x39, 0x3c, 0x90, 0x94, 0x95, 0x96,
                      0x97, 0x99, 0xc4, 0xc5, 0xc8, 0xc9, 0xca, 0xcb, 0xe0, 0xe1, 0xe2, 0xe3, 0xe6, 0xe7, 0xea, 0xec})
        t[c] = kHdOk;
    for (uint8_t c : {0x10, 0x27, 0x40, 0x41, 0x42, 0x70, 0x91, 0x98, 0xb0, 0xc6, 0xe5, 0xef, 0xf5, 0xf8})
        t[c] = kHdOk | kSetsDsc;
    return t;
}
constexpr std::array<uint8_t, 256> kCommandTable = command_table();

// SET FEATURES subcommands QEMU takes without doing anything visible.
bool quiet_feature(uint8_t f) {
    switch (f) {
        case 0xaa: case 0x55: case 0x05: case 0x85:
        case 0x69: case 0x67: case 0x96: case 0x9a: case 0x42: case 0xc2:
            return true;
        default:
            return false;
    }
}

constexpr uint8_t kSetTransferMode = 0x03;
constexpr uint8_t kDevSelect = 0x10;  // device/head: the slave
constexpr uint8_t kDevLba = 0x40;
constexpr uint8_t kDevAlwaysOn = 0xa0;

void put16(std::span<uint8_t> p, unsigned word, unsigned v) {
    p[word * 2] = static_cast<uint8_t>(v);
    p[word * 2 + 1] = static_cast<uint8_t>(v >> 8);
}

// An ATA string: space padded, the two bytes of each word swapped.
void put_string(std::span<uint8_t> p, unsigned word, std::string_view s, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i) p[word * 2 + (i ^ 1)] = i < s.size() ? static_cast<uint8_t>(s[i]) : ' ';
}

}  // namespace

IdeChannel::IdeChannel(unsigned channel, HostInputs& host, uint64_t disk_sectors, IrqLine irq,
                       std::optional<IdeGeometry> geometry)
    : host_(host), irq_(irq) {
    if (channel > 1) throw Error("ide: there are channels 0 and 1, not " + std::to_string(channel));
    if (disk_sectors > kMaxSectors)
        throw Error("ide: a disk of " + std::to_string(disk_sectors) + " sectors is past LBA48's reach");
    name_ = "ide" + std::to_string(channel);
    ctl_name_ = name_ + "-ctl";
    Drive& d = drive_[0];
    d.sectors = disk_sectors;
    const IdeGeometry g = geometry.value_or(ide_geometry_guess(disk_sectors, {}));
    if (!g.valid()) throw Error("ide: no disk has the geometry " + g.chs());
    d.heads = d.drive_heads = g.heads;
    d.secs = d.drive_secs = g.secs;
    d.cylinders = g.cylinders;
    for (Drive& x : drive_) reset_drive(x);
}

void IdeChannel::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error(name_ + ": this device is attached to a machine already");
    require_window(m, name_, name_, kCmdSize);
    require_window(m, name_, ctl_name_, kCtlSize);
    const AccessRules cmd_rules{.valid = {1, 4, true}, .impl = {1, 4, true}};
    const AccessRules ctl_rules{.valid = {1, 1, false}, .impl = {1, 1, false}};
    claim_io_window(sys, m, name_, kCmdSize, cmd_ops_, cmd_rules);
    claim_io_window(sys, m, ctl_name_, kCtlSize, ctl_ops_, ctl_rules);
    attached_ = true;
}

uint64_t IdeChannel::CmdOps::read(uint64_t offset, unsigned size) {
    if (offset == 0 && size >= 2) return c_.data_read(size);
    if (offset == 0) return c_.data_read(2) & 0xff;  // takes a word, as QEMU's does
    if (size > 2) return (uint64_t{1} << (8 * size)) - 1;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) {
        const unsigned reg = static_cast<unsigned>(offset + i);
        v |= uint64_t{reg < kCmdSize ? c_.reg_read(reg) : uint8_t{0xff}} << (8 * i);
    }
    return v;
}

void IdeChannel::CmdOps::write(uint64_t offset, uint64_t value, unsigned size) {
    if (offset == 0 && size >= 2) return c_.data_write(static_cast<uint32_t>(value), size);
    if (offset == 0 || size > 2) return;
    for (unsigned i = 0; i < size; ++i) {
        const unsigned reg = static_cast<unsigned>(offset + i);
        if (reg < kCmdSize) c_.reg_write(reg, static_cast<uint8_t>(value >> (8 * i)));
    }
}

void IdeChannel::reset_drive(Drive& d) {
    if (d.reset_reverts) {
        d.reset_reverts = false;
        d.heads = d.drive_heads;
        d.secs = d.drive_secs;
    }
    d.mult_sectors = kMaxMultSectors;
    d.feature = d.error = d.sector = d.lcyl = d.hcyl = 0;
    d.hob_feature = d.hob_nsector = d.hob_sector = d.hob_lcyl = d.hob_hcyl = 0;
    d.nsector = 0;
    d.select = kDevAlwaysOn;
    d.status = kDrdy | kSeek;
    d.lba48 = false;
    d.req_sectors = 0;
    signature(d);
    transfer_stop(d);
}

void IdeChannel::signature(Drive& d) {
    d.select &= 0xf0;  // head bits cleared
    d.nsector = 1;
    d.sector = 1;
    d.lcyl = d.hcyl = d.sectors ? 0x00 : 0xff;
}

void IdeChannel::raise_irq() {
    if (ctl_ & kNien) return;
    irq_level_ = true;
    irq_.raise();
    if (dma_) dma_->dma_channel_interrupt();
}

void IdeChannel::lower_irq() {
    if (!irq_level_) return;
    irq_level_ = false;
    irq_.lower();
}

void IdeChannel::abort(Drive& d) {
    transfer_stop(d);
    d.status = kDrdy | kErr;
    d.error = kAbrt;
}

uint8_t IdeChannel::status_reg(bool lower) {
    if (lower) lower_irq();
    if (no_drives() || absent_slave()) return 0;
    return active().status;
}

uint8_t IdeChannel::reg_read(unsigned reg) {
    const Drive& d = active();
    const bool hob = ctl_ & kHob;
    switch (reg) {
        case 1:
            if (no_drives() || absent_slave()) return 0;
            return hob ? d.hob_feature : d.error;
        case 2:
            if (no_drives()) return 0;
            return hob ? d.hob_nsector : static_cast<uint8_t>(d.nsector);
        case 3:
            if (no_drives()) return 0;
            return hob ? d.hob_sector : d.sector;
        case 4:
            if (no_drives()) return 0;
            return hob ? d.hob_lcyl : d.lcyl;
        case 5:
            if (no_drives()) return 0;
            return hob ? d.hob_hcyl : d.hcyl;
        case 6:
            return no_drives() ? 0 : d.select;
        default:
            return status_reg(true);
    }
}

void IdeChannel::reg_write(unsigned reg, uint8_t v) {
    // Writes to the command block while a command is under way are dropped.
    if (reg != 7 && (active().status & (kBsy | kDrq))) return;
    ctl_ &= static_cast<uint8_t>(~kHob);
    if (reg == 7) {
        lower_irq();
        return command(v);
    }
    // The drives share the task file: both take every write.
    for (Drive& d : drive_) {
        switch (reg) {
            case 1: d.hob_feature = d.feature; d.feature = v; break;
            case 2: d.hob_nsector = static_cast<uint8_t>(d.nsector); d.nsector = v; break;
            case 3: d.hob_sector = d.sector; d.sector = v; break;
            case 4: d.hob_lcyl = d.lcyl; d.lcyl = v; break;
            case 5: d.hob_hcyl = d.hcyl; d.hcyl = v; break;
            case 6: d.select = v | kDevAlwaysOn; break;
            default: break;
        }
    }
    if (reg == 6) unit_ = (v & kDevSelect) ? 1 : 0;
}

void IdeChannel::control(uint8_t v) {
    const bool rising = !(ctl_ & kSrst) && (v & kSrst);
    ctl_ = v;
    if (!rising) return;
    // The reset and both drives' diagnostic, done; SRST reads back clear.
    ctl_ &= static_cast<uint8_t>(~kSrst);
    for (Drive& d : drive_) {
        reset_drive(d);
        d.error = 0x01;  // diagnostic: device 0 passed, device 1 passed or absent
    }
    raise_irq();
}

uint32_t IdeChannel::data_read(unsigned size) {
    Drive& d = active();
    // Only while the drive has data for the guest, and only what is left.
    if (!(d.status & kDrq) || d.after == After::WriteSector || d.after == After::Dma) return 0;
    if (d.data_pos + size > d.data_end) return 0;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; ++i) v |= uint32_t{d.buf[d.data_pos++]} << (8 * i);
    if (d.data_pos >= d.data_end) end_of_transfer(d);
    return v;
}

void IdeChannel::data_write(uint32_t v, unsigned size) {
    Drive& d = active();
    if (!(d.status & kDrq) || d.after != After::WriteSector) return;
    if (d.data_pos + size > d.data_end) return;
    for (unsigned i = 0; i < size; ++i) d.buf[d.data_pos++] = static_cast<uint8_t>(v >> (8 * i));
    if (d.data_pos >= d.data_end) end_of_transfer(d);
}

void IdeChannel::transfer_start(Drive& d, uint32_t bytes, After then) {
    d.after = then;
    d.data_pos = 0;
    d.data_end = bytes;
    if (!(d.status & kErr)) d.status |= kDrq;
}

void IdeChannel::transfer_stop(Drive& d) {
    d.after = After::Nothing;
    d.dma = DmaKind::None;
    d.data_pos = d.data_end = 0;
    d.status &= static_cast<uint8_t>(~kDrq);
}

void IdeChannel::end_of_transfer(Drive& d) {
    d.status &= static_cast<uint8_t>(~kDrq);
    switch (d.after) {
        case After::ReadNext: sector_read(d); break;
        case After::WriteSector: sector_write(d); break;
        case After::Nothing: case After::Dma: transfer_stop(d); break;
    }
}

void IdeChannel::lba48_transform(Drive& d, bool lba48) {
    d.lba48 = lba48;
    // A count of 0 means the most a command can ask for.
    if (!lba48) {
        d.nsector &= 0xff;
        if (d.nsector == 0) d.nsector = 256;
    } else {
        d.nsector = (uint32_t{d.hob_nsector} << 8) | (d.nsector & 0xff);
        if (d.nsector == 0) d.nsector = 65536;
    }
}

uint64_t IdeChannel::get_sector(const Drive& d) const {
    if (d.select & kDevLba) {
        if (!d.lba48)
            return (uint64_t{d.select & 0x0fu} << 24) | (uint64_t{d.hcyl} << 16) | (uint64_t{d.lcyl} << 8) | d.sector;
        return (uint64_t{d.hob_hcyl} << 40) | (uint64_t{d.hob_lcyl} << 32) | (uint64_t{d.hob_sector} << 24) |
               (uint64_t{d.hcyl} << 16) | (uint64_t{d.lcyl} << 8) | d.sector;
    }
    // CHS, with QEMU's arithmetic: sector 0 does not exist and names the
    // sector before (with everything else 0, a number past any disk).
    const uint64_t cyl = (uint64_t{d.hcyl} << 8) | d.lcyl;
    return cyl * d.heads * d.secs + uint64_t{d.select & 0x0fu} * d.secs + d.sector - 1;
}

void IdeChannel::set_sector(Drive& d, uint64_t n) {
    if (d.select & kDevLba) {
        if (!d.lba48) {
            d.select = static_cast<uint8_t>((d.select & 0xf0) | ((n >> 24) & 0x0f));
        } else {
            d.hob_sector = static_cast<uint8_t>(n >> 24);
            d.hob_lcyl = static_cast<uint8_t>(n >> 32);
            d.hob_hcyl = static_cast<uint8_t>(n >> 40);
        }
        d.hcyl = static_cast<uint8_t>(n >> 16);
        d.lcyl = static_cast<uint8_t>(n >> 8);
        d.sector = static_cast<uint8_t>(n);
        return;
    }
    const uint64_t per_cyl = uint64_t{d.heads} * d.secs;
    if (per_cyl == 0) return;  // no CHS translation to write it in (QEMU divides by zero)
    const uint64_t cyl = n / per_cyl, r = n % per_cyl;
    d.hcyl = static_cast<uint8_t>(cyl >> 8);
    d.lcyl = static_cast<uint8_t>(cyl);
    d.select = static_cast<uint8_t>((d.select & 0xf0) | ((r / d.secs) & 0x0f));
    d.sector = static_cast<uint8_t>(r % d.secs + 1);
}

bool IdeChannel::on_disk(const Drive& d, uint64_t first, uint32_t n) { return first < d.sectors && n <= d.sectors - first; }

void IdeChannel::sector_read(Drive& d) {
    d.status = kDrdy | kSeek;
    d.error = 0;
    if (d.nsector == 0) return transfer_stop(d);
    const uint64_t first = get_sector(d);
    const uint32_t n = std::min<uint32_t>(d.nsector, d.req_sectors);
    if (!on_disk(d, first, n)) {
        abort(d);
        return raise_irq();
    }
    host_.disk_read(first * kSectorSize, std::span<uint8_t>(d.buf.data(), n * kSectorSize));
    sectors_read_ += n;
    set_sector(d, first + n);
    d.nsector -= n;
    transfer_start(d, static_cast<uint32_t>(n * kSectorSize), After::ReadNext);
    raise_irq();
}

void IdeChannel::sector_write(Drive& d) {
    d.status = kDrdy | kSeek;
    const uint64_t first = get_sector(d);
    const uint32_t n = std::min<uint32_t>(d.nsector, d.req_sectors);
    if (!on_disk(d, first, n)) {
        abort(d);
        return raise_irq();
    }
    host_.disk_write(first * kSectorSize, std::span<const uint8_t>(d.buf.data(), n * kSectorSize));
    sectors_written_ += n;
    d.nsector -= n;
    set_sector(d, first + n);
    if (d.nsector == 0) {
        transfer_stop(d);
    } else {
        const uint32_t next = std::min<uint32_t>(d.nsector, d.req_sectors);
        transfer_start(d, static_cast<uint32_t>(next * kSectorSize), After::WriteSector);
    }
    raise_irq();
}

void IdeChannel::set_identify_word(Drive& d, unsigned word, unsigned v) { put16(d.identify, word, v); }

void IdeChannel::identify(Drive& d) {
    if (!d.identify_set) {
        // QEMU 7.2's ide_identify for a raw image on `-drive if=ide`,
        // word for word (checked against it by `kvmrr qemu-check`).
        std::span<uint8_t> p(d.identify);
        std::fill(p.begin(), p.end(), 0);
        const unsigned serial = static_cast<unsigned>((name_.back() - '0') * 2 + unit_ + 1);
        char serial_str[8];
        std::snprintf(serial_str, sizeof serial_str, "QM%05u", serial % 100000);
        const uint32_t chs = uint32_t{d.cylinders} * d.heads * d.secs;
        const uint64_t lba28 = std::min<uint64_t>(d.sectors, (uint64_t{1} << 28) - 1);
        put16(p, 0, 0x0040);
        put16(p, 1, d.cylinders);
        put16(p, 3, d.heads);
        put16(p, 4, 512u * d.secs);
        put16(p, 5, 512);
        put16(p, 6, d.secs);
        put_string(p, 10, serial_str, 20);
        put16(p, 20, 3);
        put16(p, 21, 512);
        put16(p, 22, 4);
        put_string(p, 23, "2.5+", 8);
        put_string(p, 27, "QEMU HARDDISK", 40);
        put16(p, 47, 0x8000 | kMaxMultSectors);
        put16(p, 48, 1);                                   // dword I/O
        put16(p, 49, (1u << 11) | (1u << 9) | (1u << 8));  // IORDY, LBA, DMA
        put16(p, 51, 0x200);
        put16(p, 52, 0x200);
        put16(p, 53, 1 | (1 << 1) | (1 << 2));
        put16(p, 54, d.cylinders);
        put16(p, 55, d.heads);
        put16(p, 56, d.secs);
        put16(p, 57, chs & 0xffff);
        put16(p, 58, chs >> 16);
        if (d.mult_sectors) put16(p, 59, 0x100 | d.mult_sectors);
        put16(p, 60, static_cast<unsigned>(lba28 & 0xffff));
        put16(p, 61, static_cast<unsigned>(lba28 >> 16));
        put16(p, 62, 0x07);  // single-word DMA 0-2
        put16(p, 63, 0x07);  // multiword DMA 0-2
        put16(p, 64, 0x03);  // PIO 3 and 4
        for (unsigned w = 65; w <= 68; ++w) put16(p, w, 120);
        put16(p, 69, 1u << 14);  // reads after TRIM are deterministic
        put16(p, 80, 0xf0);      // ATA-4 to ATA-7
        put16(p, 81, 0x16);
        put16(p, 82, (1u << 14) | (1u << 5) | 1);  // NOP, write cache, SMART
        put16(p, 83, (1u << 14) | (1u << 13) | (1u << 12) | (1u << 10));  // LBA48, flushes
        put16(p, 84, 1u << 14);
        put16(p, 85, (1u << 14) | (1u << 5) | 1);  // the write cache on
        put16(p, 86, (1u << 13) | (1u << 12) | (1u << 10));
        put16(p, 87, 1u << 14);
        put16(p, 88, 0x3f | (1u << 13));  // UDMA 0-5, mode 5 selected
        put16(p, 93, 1 | (1u << 14) | 0x2000);
        for (unsigned w = 0; w < 4; ++w) put16(p, 100 + w, static_cast<unsigned>((d.sectors >> (16 * w)) & 0xffff));
        put16(p, 106, 0x6000);  // one logical sector per physical one
        put16(p, 169, 1);       // DATA SET MANAGEMENT (TRIM)
        d.identify_set = true;
    }
    std::copy(d.identify.begin(), d.identify.end(), d.buf.begin());
}

void IdeChannel::command(uint8_t cmd) {
    Drive& d = active();
    // The absent slave ignores commands; a busy drive ignores all of them.
    if (absent_slave() || (d.status & (kBsy | kDrq))) return;
    if (!(kCommandTable[cmd] & kHdOk)) {
        abort(d);
        return raise_irq();
    }
    d.status = kDrdy | kBsy;
    d.error = 0;
    if (!run_command(d, cmd)) return;
    d.status &= static_cast<uint8_t>(~kBsy);
    if ((kCommandTable[cmd] & kSetsDsc) && !d.error) d.status |= kSeek;
    raise_irq();
}

bool IdeChannel::run_command(Drive& d, uint8_t cmd) {
    if (d.sectors == 0) {  // the master of a channel without drives
        abort(d);
        return true;
    }
    switch (cmd) {
        case kIdentify:
            identify(d);
            d.status = kDrdy | kSeek;
            transfer_start(d, kSectorSize, After::Nothing);
            raise_irq();
            return false;
        case kReadSectors: case kReadSectorsNoRetry: case kReadSectorsExt:
            lba48_transform(d, cmd == kReadSectorsExt);
            d.req_sectors = 1;
            sector_read(d);
            return false;
        case kReadMultiple: case kReadMultipleExt:
            if (!d.mult_sectors) {
                abort(d);
                return true;
            }
            lba48_transform(d, cmd == kReadMultipleExt);
            d.req_sectors = d.mult_sectors;
            sector_read(d);
            return false;
        case kWriteSectors: case kWriteSectorsNoRetry: case kWriteSectorsExt: case kWriteVerify:
        case kWriteMultiple: case kWriteMultipleExt: {
            const bool multiple = cmd == kWriteMultiple || cmd == kWriteMultipleExt;
            if (multiple && !d.mult_sectors) {
                abort(d);
                return true;
            }
            lba48_transform(d, cmd == kWriteSectorsExt || cmd == kWriteMultipleExt);
            d.req_sectors = multiple ? d.mult_sectors : 1;
            d.status = kDrdy | kSeek;
            const uint32_t n = std::min<uint32_t>(d.nsector, d.req_sectors);
            transfer_start(d, static_cast<uint32_t>(n * kSectorSize), After::WriteSector);
            return false;
        }
        case kDataSetManagement:
            if (d.feature != 0x01) {  // TRIM: its ranges come by DMA
                abort(d);
                return true;
            }
            d.status = kDrdy | kSeek;
            dma_wait(d, DmaKind::Trim);
            return false;
        case kReadDma: case kReadDmaNoRetry: case kReadDmaExt:
        case kWriteDma: case kWriteDmaNoRetry: case kWriteDmaExt:
            lba48_transform(d, cmd == kReadDmaExt || cmd == kWriteDmaExt);
            d.status = kDrdy | kSeek;
            dma_wait(d, cmd == kReadDma || cmd == kReadDmaNoRetry || cmd == kReadDmaExt ? DmaKind::Read : DmaKind::Write);
            return false;
        case kSmart:  // answered by QEMU, not modelled here
            abort(d);
            return true;
        case kVerify: case kVerifyNoRetry: case kVerifyExt:
            lba48_transform(d, cmd == kVerifyExt);
            return true;
        case kSetMultiple: {
            const uint32_t n = d.nsector & 0xff;
            if (n != 0 && (n > kMaxMultSectors || (d.nsector & (d.nsector - 1)) != 0)) abort(d);
            else d.mult_sectors = n;
            return true;
        }
        case kReadNativeMax: case kReadNativeMaxExt:
            lba48_transform(d, cmd == kReadNativeMaxExt);
            set_sector(d, d.sectors - 1);
            return true;
        case kCheckPower: case kCheckPowerOld:
            d.nsector = 0xff;  // active or idle
            return true;
        case kFreezeLock:
            d.nsector = 0;
            return true;
        case kSetFeatures:
            return set_features(d);
        case kInitParams:
            d.heads = static_cast<uint16_t>((d.select & 0x0f) + 1);
            d.secs = static_cast<uint16_t>(d.nsector & 0xff);
            raise_irq();
            return true;
        case kDiagnostic:
            signature(d);
            d.select &= static_cast<uint8_t>(~(kDevLba | kDevSelect));
            d.status = kDrdy | kSeek;
            d.error = 0x01;  // device 0 passed, device 1 passed or absent
            raise_irq();
            return false;
        case kFlushCache: case kFlushCacheExt:
            // QEMU flushes its image asynchronously; kvmrr's writes are
            // done when the command that made them ended.
            d.status = kDrdy | kSeek;
            raise_irq();
            return false;
        default:
            // RECALIBRATE, SEEK, standby and idle: nothing to do.
            return true;
    }
}

bool IdeChannel::set_features(Drive& d) {
    switch (d.feature) {
        case 0x02:  // write cache on
            set_identify_word(d, 85, (1u << 14) | (1u << 5) | 1);
            return true;
        case 0xcc:  // a reset restores the drive's CHS translation
            d.reset_reverts = true;
            return true;
        case 0x66:
            d.reset_reverts = false;
            return true;
        case 0x82:  // write cache off, and a flush
            set_identify_word(d, 85, (1u << 14) | 1);
            d.status = kDrdy | kSeek;
            raise_irq();
            return false;
        case kSetTransferMode: {
            const unsigned mode = d.nsector & 0x07;
            unsigned sw = 0x07, mw = 0x07, udma = 0x3f;
            switch (d.nsector >> 3) {
                case 0x00: case 0x01: break;  // PIO
                case 0x02: sw |= 1u << (mode + 8); break;
                case 0x04: mw |= 1u << (mode + 8); break;
                case 0x08: udma |= 1u << (mode + 8); break;
                default: abort(d); return true;
            }
            set_identify_word(d, 62, sw);
            set_identify_word(d, 63, mw);
            set_identify_word(d, 88, udma);
            return true;
        }
        default:
            if (!quiet_feature(d.feature)) abort(d);
            return true;
    }
}

uint64_t IdeChannel::state_digest() const {
    XXH64_state_t* st = XXH64_createState();
    XXH64_reset(st, 0x1de);
    const uint64_t top[4] = {unit_, ctl_, irq_level_, (sectors_read_ << 1) ^ sectors_written_};
    XXH64_update(st, top, sizeof top);
    for (const Drive& d : drive_) {
        const uint64_t regs[8] = {d.sectors,
                                  uint64_t{d.feature} | uint64_t{d.error} << 8 | uint64_t{d.sector} << 16 |
                                      uint64_t{d.lcyl} << 24 | uint64_t{d.hcyl} << 32 | uint64_t{d.select} << 40 |
                                      uint64_t{d.status} << 48,
                                  uint64_t{d.hob_feature} | uint64_t{d.hob_nsector} << 8 | uint64_t{d.hob_sector} << 16 |
                                      uint64_t{d.hob_lcyl} << 24 | uint64_t{d.hob_hcyl} << 32,
                                  d.nsector | uint64_t{d.lba48} << 32,
                                  d.mult_sectors | uint64_t{d.req_sectors} << 32,
                                  uint64_t{d.identify_set} | uint64_t{d.reset_reverts} << 1 | uint64_t{d.heads} << 16 |
                                      uint64_t{d.secs} << 32,
                                  static_cast<uint64_t>(d.after) | uint64_t{static_cast<uint8_t>(d.dma)} << 4 |
                                      uint64_t{d.data_pos} << 8 | uint64_t{d.data_end} << 32,
                                  0};
        XXH64_update(st, regs, sizeof regs);
        XXH64_update(st, d.buf.data(), d.data_end);
        XXH64_update(st, d.identify.data(), d.identify.size());
    }
    const uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
    return h;
}

}  // namespace kvmrr
