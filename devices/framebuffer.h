// Framebuffer: 1 MiB of guest-writable video RAM plus a few control
// registers, the device that turns VGA dirty logging on and off.
//
// The video RAM is a plain RAM region ("framebuffer") at window
// "framebuffer", so guest stores to it never exit. A display that wants to
// redraw only what changed asks for the kDirtyLogVga client on that region
// through LOG; the change is a dirty-log-mask change only, which listeners
// see as log_start / log_stop on the same mapping rather than a remove and
// add (a KVM memslot keeps its slot and only flips its logging flag).
// WIDTH, HEIGHT and STRIDE are plain registers: the device never scans out,
// so it stores whatever the guest writes and whoever draws clips to 1 MiB.
// The defaults describe 640x400 at 32 bits per pixel (stride 2560): the
// largest classic mode at that depth that fits the 1 MiB (640x480x4 would
// need 1.17 MiB). The device must outlive the MemorySystem it is attached
// to: its regions call back into it.
//
// Registers (window "framebuffer-ctl", 4-byte little-endian accesses only;
// other offsets read 0 and ignore writes):
//   0x0 LOG     r/w  1 = VGA dirty logging on, 0 = off; other values ignored
//   0x4 WIDTH   r/w  pixels (default 640)
//   0x8 HEIGHT  r/w  lines (default 400)
//   0xc STRIDE  r/w  bytes per line (default 2560)
#pragma once

#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"

namespace kvmrr {

class Framebuffer final : public Device, private RegionOps {
public:
    static constexpr uint64_t kVramSize = 1024 * 1024;
    static constexpr uint64_t kRegLog = 0x0;
    static constexpr uint64_t kRegWidth = 0x4;
    static constexpr uint64_t kRegHeight = 0x8;
    static constexpr uint64_t kRegStride = 0xc;
    static constexpr uint32_t kDefaultWidth = 640;
    static constexpr uint32_t kDefaultHeight = 400;
    static constexpr uint32_t kDefaultStride = 640 * 4;

    Framebuffer() = default;
    Framebuffer(const Framebuffer&) = delete;
    Framebuffer& operator=(const Framebuffer&) = delete;

    std::string_view name() const override { return "framebuffer"; }
    uint32_t model_version() const override { return 1; }
    // Claims windows "framebuffer" and "framebuffer-ctl"; throws
    // kvmrr::Error if either is missing or too small, or on a second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    // Covers the registers and the video RAM.
    uint64_t state_digest() const override;
    uint64_t register_digest() const override;

    // The video RAM region (nullptr before attach), for a display.
    MemoryRegion* vram() const { return vram_; }
    bool logging() const { return logging_; }
    uint32_t width() const { return width_; }
    uint32_t height() const { return height_; }
    uint32_t stride() const { return stride_; }

private:
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

    bool logging_ = false;
    uint32_t width_ = kDefaultWidth;
    uint32_t height_ = kDefaultHeight;
    uint32_t stride_ = kDefaultStride;
    MemoryRegion* vram_ = nullptr;  // set by attach
};

}  // namespace kvmrr
