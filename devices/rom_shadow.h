// RomShadow: PAM-like control of what answers in the BIOS area below 1 MiB.
//
// build_machine shows the end of the BIOS ROM below 1 MiB through the alias
// "bios-low" (priority 1 over RAM). This device lays two regions of the same
// size at the same place, with priority 2 and disabled at first: "bios-shadow"
// (RAM) and "bios-flash" (a ROM device holding a copy of the ROM taken at
// attach). A MODE write enables at most one of them, all changes of one write
// in one transaction, so each switch is one render and one listener pass:
//   0 ROM      neither: the bios-low alias answers; guest writes are dropped
//   1 RAM      bios-shadow: plain RAM. It starts zeroed; the guest copies the
//              BIOS in itself (from the ROM at the top of 4 GiB), as with PAM
//   2 ROMD     bios-flash in romd mode: reads come from memory, writes trap
//              to the device
//   3 ROMD-IO  bios-flash with romd off: reads trap too and are served from
//              the flash copy by the device. Under KVM the area then has no
//              memslot and every access is an exit.
// Other MODE values are ignored. Writing the current mode changes nothing.
// The flash does not model a command set: a trapped write leaves its content
// alone and is counted in WRITES, with its guest-physical address latched in
// LAST_WRITE. Counting is per write as the core delivers it to the device: a
// guest write that the core splits at an alignment boundary counts per piece.
// The device must outlive the MemorySystem it is attached to.
//
// Registers (window "rom-shadow", little-endian, any access of 1..8 bytes on
// its natural alignment; a register is read as bytes, so narrow reads see
// part of it; bytes not listed read 0 and ignore writes):
//   0x00 MODE        1 byte r/w  (a write that covers byte 0 sets MODE from it)
//   0x08 WRITES      4 bytes r/o
//   0x10 LAST_WRITE  8 bytes r/o  guest-physical address (0 until a write)
#pragma once

#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"

namespace kvmrr {

class RomShadow final : public Device {
public:
    enum Mode : uint8_t { kModeRom = 0, kModeRam = 1, kModeRomd = 2, kModeRomdIo = 3 };
    static constexpr uint64_t kRegMode = 0x00;
    static constexpr uint64_t kRegWrites = 0x08;
    static constexpr uint64_t kRegLastWrite = 0x10;

    RomShadow();
    RomShadow(const RomShadow&) = delete;
    RomShadow& operator=(const RomShadow&) = delete;

    std::string_view name() const override { return "rom-shadow"; }
    uint32_t model_version() const override { return 1; }
    // Claims window "rom-shadow" and adds the shadow and flash regions over
    // the "bios-low" alias; throws kvmrr::Error if the window is missing or
    // too small, if the layout has no bios-low alias (rom-low-alias off), or
    // on a second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    // Covers the registers and the contents of the shadow RAM and the flash.
    uint64_t state_digest() const override;
    uint64_t register_digest() const override;

    Mode mode() const { return mode_; }
    uint64_t base() const { return base_; }  // guest-physical start of the area
    uint64_t size() const { return size_; }

private:
    // The control registers.
    class ControlOps final : public RegionOps {
    public:
        explicit ControlOps(RomShadow& d) : d_(d) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;

    private:
        RomShadow& d_;
    };
    // The flash: reads when romd is off, writes always.
    class FlashOps final : public RegionOps {
    public:
        explicit FlashOps(RomShadow& d) : d_(d) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;

    private:
        RomShadow& d_;
    };

    void set_mode(uint8_t mode);
    uint8_t reg_byte(uint64_t offset) const;

    ControlOps control_ops_;
    FlashOps flash_ops_;
    Mode mode_ = kModeRom;
    uint32_t writes_ = 0;
    uint64_t last_write_ = 0;
    uint64_t base_ = 0;
    uint64_t size_ = 0;
    MemoryRegion* shadow_ = nullptr;  // set by attach
    MemoryRegion* flash_ = nullptr;   // set by attach
};

}  // namespace kvmrr
