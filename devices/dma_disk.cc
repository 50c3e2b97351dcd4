#include "devices/dma_disk.h"

#include <xxhash.h>

#include <cstring>
#include <span>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

namespace {

constexpr uint64_t kWindowSize = 0x1000;
constexpr uint64_t kWideSize = 0x10;  // SECTOR and ADDR
constexpr uint64_t kRegsEnd = 0x20;   // end of the defined registers

// Clears `flag` when a command leaves, however it leaves.
struct FlagGuard {
    bool& flag;
    explicit FlagGuard(bool& f) : flag(f) { flag = true; }
    ~FlagGuard() { flag = false; }
};

}  // namespace

DmaDisk::DmaDisk(HostInputs& host) : host_(host), wide_ops_(*this, 0), narrow_ops_(*this, kWideSize) {
    buffer_.reserve(kMaxSectors * kSectorSize);
}

void DmaDisk::attach(MemorySystem& sys, MachineMemory& m) {
    if (memory_) throw Error("dma-disk: already attached");
    // Checked before any region is created, so that a failed attach leaves
    // no orphan regions behind.
    auto win = m.windows.find("dma-disk");
    if (win == m.windows.end())
        throw Error("dma-disk: device window 'dma-disk' is not in the machine layout (or was claimed already)");
    if (win->second->size() < kWindowSize)
        throw Error("dma-disk: device window 'dma-disk' is " + hex(win->second->size()) + " bytes, needs " +
                    hex(kWindowSize));
    // Two regions so that the core itself enforces the access sizes per
    // register group: the 8-byte registers take 4 or 8 bytes, the rest 4.
    const AccessRules wide{.valid = {4, 8, false}, .impl = {4, 8, false}};
    const AccessRules narrow{.valid = {4, 4, false}, .impl = {4, 4, false}};
    MemoryRegion& regs = sys.create_container("dma-disk", kWindowSize);
    {
        Transaction t(sys);
        regs.add_subregion(0, sys.create_io("dma-disk-addr", kWideSize, wide_ops_, wide));
        regs.add_subregion(kWideSize, sys.create_io("dma-disk-ctl", kWindowSize - kWideSize, narrow_ops_, narrow));
        t.commit();
    }
    claim_window(m, "dma-disk", regs);
    memory_ = m.memory;
}

uint64_t DmaDisk::reg_read(uint64_t offset, unsigned size) const {
    if (offset + size > kRegsEnd) return 0;
    // The registers as the guest sees them, so that both halves of an
    // 8-byte register read the same way as the whole.
    uint8_t image[kRegsEnd] = {};
    const uint32_t cmd = 0;  // write-only
    std::memcpy(image + kRegSector, &sector_, 8);
    std::memcpy(image + kRegAddr, &addr_, 8);
    std::memcpy(image + kRegCount, &count_, 4);
    std::memcpy(image + kRegCmd, &cmd, 4);
    std::memcpy(image + kRegStatus, &status_, 4);
    std::memcpy(image + kRegCompleted, &completed_, 4);
    uint64_t v = 0;
    std::memcpy(&v, image + offset, size);
    return v;
}

void DmaDisk::reg_write(uint64_t offset, uint64_t value, unsigned size) {
    if (busy_) {
        // Our own DMA reached the registers; see the header.
        hit_self_ = true;
        return;
    }
    if (offset < kWideSize) {
        uint64_t& reg = offset < kRegAddr ? sector_ : addr_;
        const unsigned shift = static_cast<unsigned>(offset & 7) * 8;
        const uint64_t mask = size == 8 ? ~uint64_t{0} : uint64_t{0xffffffff} << shift;
        reg = (reg & ~mask) | ((value << shift) & mask);
        return;
    }
    const auto v = static_cast<uint32_t>(value);
    switch (offset) {
        case kRegCount: count_ = v; break;
        case kRegCmd:
            status_ = run(v);
            ++completed_;
            break;
        default: break;  // STATUS, COMPLETED and the rest are read-only
    }
}

uint32_t DmaDisk::run(uint32_t cmd) {
    if (cmd != kCmdRead && cmd != kCmdWrite) return kStatusError;
    if (count_ == 0 || count_ > kMaxSectors) return kStatusError;
    const uint64_t len = uint64_t{count_} * kSectorSize;
    if (sector_ > (UINT64_MAX - len) / kSectorSize || addr_ > UINT64_MAX - len) return kStatusError;
    const uint64_t disk_offset = sector_ * kSectorSize;
    buffer_.resize(len);
    const std::span<uint8_t> data(buffer_);

    hit_self_ = false;
    AccessStatus st;
    if (cmd == kCmdRead) {
        host_.disk_read(disk_offset, data);
        FlagGuard busy(busy_);
        st = memory_->write_bytes(Gpa(addr_), data);
        if (dma_observer_) dma_observer_(addr_, data);
    } else {
        {
            FlagGuard busy(busy_);
            st = memory_->read_bytes(Gpa(addr_), data);
        }
        // What a failed DMA read gave (all ones from a hole) is not the
        // guest's data: the disk keeps what it had.
        if (st == AccessStatus::Ok) host_.disk_write(disk_offset, data);
    }
    return st == AccessStatus::Ok && !hit_self_ ? kStatusOk : kStatusError;
}

uint64_t DmaDisk::state_digest() const {
    const uint64_t regs[5] = {sector_, addr_, count_, status_, completed_};
    return XXH64(regs, sizeof regs, 0);
}

}  // namespace kvmrr
