#include "devices/ide_bus_master.h"

#include <algorithm>
#include <cstring>

#include "core/address.h"
#include "devices/guest_ram.h"

namespace kvmrr {

namespace {

constexpr uint64_t kPage = 4096;

uint64_t all_ones(unsigned size) { return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1; }

}  // namespace

AccessRules IdeBusMaster::rules() {
    // QEMU's ops set no sizes: 1 to 4 bytes, aligned, each handled whole.
    AccessRules r;
    r.valid = {1, 4, false};
    r.impl = {1, 4, false};
    return r;
}

uint64_t IdeBusMaster::digest_word() const {
    const uint64_t regs = uint64_t{cmd_} | uint64_t{status_} << 8 | uint64_t{addr_} << 16;
    return regs ^ (uint64_t{cur_addr_} << 48 | uint64_t{cur_addr_} >> 16);
}

uint64_t IdeBusMaster::CmdOps::read(uint64_t offset, unsigned size) {
    if (size != 1) return all_ones(size);
    switch (offset) {
        case 0: return b_.cmd_;
        case 2: return b_.status_;
        default: return 0xff;
    }
}

void IdeBusMaster::CmdOps::write(uint64_t offset, uint64_t value, unsigned size) {
    if (size != 1) return;
    const auto v = static_cast<uint8_t>(value);
    if (offset == 0) {
        b_.write_command(v);
    } else if (offset == 2) {
        // Bits 5-6 are the guest's, 1-2 clear where it writes 1, 0 stays.
        b_.status_ = static_cast<uint8_t>((v & 0x60) | (b_.status_ & kActive) | (b_.status_ & ~v & (kError | kInterrupt)));
    }
}

uint64_t IdeBusMaster::AddrOps::read(uint64_t offset, unsigned size) {
    return (b_.addr_ >> (offset * 8)) & all_ones(size);
}

void IdeBusMaster::AddrOps::write(uint64_t offset, uint64_t value, unsigned size) {
    const unsigned shift = static_cast<unsigned>(offset * 8);
    const uint64_t mask = all_ones(size);
    uint64_t a = b_.addr_;
    a &= ~(mask << shift);
    a |= ((value & mask) << shift) & ~uint64_t{3};
    b_.addr_ = static_cast<uint32_t>(a);
}

void IdeBusMaster::write_command(uint8_t v) {
    const bool was = cmd_ & kCmdStart, now = v & kCmdStart;
    cmd_ = v & (kCmdStart | kCmdRead);
    if (was == now) return;
    if (!now) {
        status_ &= static_cast<uint8_t>(~kActive);
        return;
    }
    cur_addr_ = addr_;
    if (status_ & kActive) return;
    status_ |= kActive;
    if (channel_ && memory_) channel_->run_dma();
}

// f(address, offset, bytes) for each page's part of [addr, addr + n).
template <class F>
void IdeBusMaster::each_page(uint64_t addr, size_t n, F&& f) {
    for (size_t done = 0; done < n;) {
        const uint64_t at = addr + done;
        const size_t len = static_cast<size_t>(std::min<uint64_t>(n - done, kPage - (at & (kPage - 1))));
        f(at, done, len);
        done += len;
    }
}

void IdeBusMaster::read_guest(uint64_t addr, std::span<uint8_t> out) const {
    each_page(addr, out.size(), [&](uint64_t at, size_t done, size_t n) {
        const std::span<uint8_t> part = out.subspan(done, n);
        if (is_guest_ram(*memory_, at, n)) {
            memory_->read_bytes(Gpa(at), part);
            if (read_) read_(at, part);
        } else {
            std::fill(part.begin(), part.end(), 0);
        }
    });
}

void IdeBusMaster::write_guest(uint64_t addr, std::span<const uint8_t> in) const {
    each_page(addr, in.size(), [&](uint64_t at, size_t done, size_t n) {
        if (!is_guest_ram(*memory_, at, n)) return;
        const std::span<const uint8_t> part = in.subspan(done, n);
        memory_->write_bytes(Gpa(at), part);
        if (written_) written_(at, part);
    });
}

IdeDmaTarget::Prepared IdeBusMaster::dma_prepare(uint64_t limit) {
    segments_.clear();
    Prepared p;
    if (!memory_) return p;
    for (;;) {
        // The table ends at an entry with bit 31, or 4 KiB past its start.
        if (static_cast<uint32_t>(cur_addr_ - addr_) >= kTableLimit) break;
        uint8_t raw[8];
        read_guest(cur_addr_, raw);
        cur_addr_ += 8;
        uint32_t base = 0, count = 0;
        std::memcpy(&base, raw, 4);
        std::memcpy(&count, raw + 4, 4);
        uint64_t len = count & 0xfffe;
        if (len == 0) len = 0x10000;
        const uint64_t take = std::min(limit - p.bytes, len);
        if (take) segments_.push_back({base, take});
        p.bytes += take;
        p.described += len;
        if (count & 0x80000000u) break;
    }
    return p;
}

template <class F>
void IdeBusMaster::each_piece(uint64_t at, uint64_t n, F&& f) const {
    uint64_t start = 0;  // the segment's offset in the transfer
    for (const Segment& s : segments_) {
        const uint64_t end = start + s.len;
        const uint64_t from = std::max(at, start), to = std::min(at + n, end);
        if (from < to) f(s.addr + (from - start), from - at, to - from);
        start = end;
    }
}

void IdeBusMaster::dma_to_guest(uint64_t at, std::span<const uint8_t> bytes) {
    each_piece(at, bytes.size(), [&](uint64_t gpa, uint64_t off, uint64_t len) { write_guest(gpa, bytes.subspan(off, len)); });
}

void IdeBusMaster::dma_from_guest(uint64_t at, std::span<uint8_t> out) {
    std::fill(out.begin(), out.end(), 0);
    each_piece(at, out.size(), [&](uint64_t gpa, uint64_t off, uint64_t len) { read_guest(gpa, out.subspan(off, len)); });
}

void IdeBusMaster::dma_finished(bool stay_active) {
    segments_.clear();
    if (!stay_active) status_ &= static_cast<uint8_t>(~kActive);
}

}  // namespace kvmrr
