#include "devices/framebuffer.h"

#include <xxhash.h>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/ram_block.h"

namespace kvmrr {

namespace {

constexpr uint64_t kRegsSize = 0x1000;

}  // namespace

void Framebuffer::attach(MemorySystem& sys, MachineMemory& m) {
    if (vram_) throw Error("framebuffer: already attached");
    require_window(m, name(), "framebuffer", kVramSize);
    require_window(m, name(), "framebuffer-ctl", kRegsSize);
    const AccessRules rules{.valid = {4, 4, false}, .impl = {4, 4, false}};
    vram_ = &sys.create_ram("framebuffer", kVramSize);
    claim_window(m, "framebuffer", *vram_);
    claim_window(m, "framebuffer-ctl", sys.create_io("framebuffer-ctl", kRegsSize, *this, rules));
}

uint64_t Framebuffer::read(uint64_t offset, unsigned /*size*/) {
    switch (offset) {
        case kRegLog: return logging_ ? 1 : 0;
        case kRegWidth: return width_;
        case kRegHeight: return height_;
        case kRegStride: return stride_;
        default: return 0;
    }
}

void Framebuffer::write(uint64_t offset, uint64_t value, unsigned /*size*/) {
    const auto v = static_cast<uint32_t>(value);
    switch (offset) {
        case kRegLog:
            // Only 0 and 1 mean something; anything else is left alone so
            // that a future flag bit does not silently toggle logging.
            if (v > 1) return;
            logging_ = v == 1;
            // A no-op when the mask already has this state: rewriting LOG
            // produces no listener traffic.
            vram_->set_dirty_log(kDirtyLogVga, logging_);
            break;
        case kRegWidth: width_ = v; break;
        case kRegHeight: height_ = v; break;
        case kRegStride: stride_ = v; break;
        default: break;
    }
}

uint64_t Framebuffer::register_digest() const {
    const uint64_t regs[4] = {logging_ ? 1u : 0u, width_, height_, stride_};
    return XXH64(regs, sizeof regs, 0);
}

uint64_t Framebuffer::state_digest() const {
    uint64_t h = register_digest();
    if (vram_) h = XXH64(vram_->ram_block()->host() + vram_->ram_offset(), vram_->size(), h);
    return h;
}

}  // namespace kvmrr
