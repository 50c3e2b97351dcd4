// I8042: the PC's keyboard controller with a PS/2 keyboard and mouse that
// never press anything, enough for firmware and OS drivers to find and set
// them up quickly. It claims two I/O windows:
//   "i8042-data"  io 0x60, 1 byte: the output buffer (read), and data for
//                 the keyboard or for the controller's last command (write);
//   "i8042-cmd"   io 0x64, 1 byte: the status register (read), controller
//                 commands (write).
// Behaviour follows QEMU 7.2's hw/input/pckbd.c and ps2.c: reset state
// command byte 0x03 (keyboard and mouse interrupts), status 0x18, output
// port 0xcf. Controller commands: 0x20 read / 0x60 write the command byte,
// 0xa7/0xa8 disable/enable the mouse, 0xa9 mouse test (0x00: QEMU's pc
// always has a PS/2 mouse), 0xaa self test (0x55, sets the status's system
// flag), 0xab keyboard test (0x00), 0xad/0xae disable/enable the keyboard,
// 0xc0 input port (0x80), 0xd0/0xd1 read/write the output port (a write
// with bit 0 clear resets the machine; bit 1 is the A20 gate, kept but not
// modelled), 0xd2/0xd3 write the keyboard/mouse output buffer, 0xd4 send
// the next data byte to the mouse, 0xdd/0xdf A20 off/on, 0xfe and every
// 0xf0-0xff with bit 0 clear pulse the reset line (RunControl::
// request_reset()); others are ignored. The keyboard answers 0xff with
// 0xfa 0xaa, 0xf2 with 0xfa 0xab and 0x41 (0x83 without translation,
// command byte bit 6), 0xf5/0xf6/0xf4/0xf3/0xed/0xf0 and the rest of
// QEMU's set with 0xfa, unknown bytes with 0xfe (resend); the mouse answers
// 0xff with 0xfa 0xaa 0x00, 0xf2 with 0xfa 0x00, 0xe9 with 0xfa and three
// status bytes, and everything else with 0xfa. A disabled interface keeps
// its device's bytes queued until enabled (as QEMU since 6.1); controller
// replies go first. Each device queues at most 16 bytes (QEMU's queue),
// dropping the rest. Reading port 0x60 with the buffer empty returns the
// last byte read. IRQ1 (keyboard) and IRQ12 (mouse) follow the output
// buffer and the command byte's interrupt enables, as levels; a board
// that does not wire them passes unconnected lines. The device must
// outlive the MemorySystem it is attached to.
#pragma once

#include <cstdint>
#include <deque>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/irq.h"

namespace kvmrr {

class I8042 final : public Device {
public:
    static constexpr uint8_t kStatusObf = 0x01;
    static constexpr uint8_t kStatusSystem = 0x04;
    static constexpr uint8_t kStatusCmd = 0x08;
    static constexpr uint8_t kStatusUnlocked = 0x10;
    static constexpr uint8_t kStatusAuxObf = 0x20;
    static constexpr uint8_t kModeKbdInt = 0x01;
    static constexpr uint8_t kModeAuxInt = 0x02;
    static constexpr uint8_t kModeDisableKbd = 0x10;
    static constexpr uint8_t kModeDisableAux = 0x20;
    static constexpr uint8_t kModeTranslate = 0x40;
    static constexpr size_t kQueueSize = 16;

    I8042(RunControl& run, IrqLine kbd_irq = {}, IrqLine aux_irq = {});
    I8042(const I8042&) = delete;
    I8042& operator=(const I8042&) = delete;

    std::string_view name() const override { return "i8042"; }
    uint32_t model_version() const override { return 1; }
    // Claims "i8042-data" and "i8042-cmd"; throws kvmrr::Error if either is
    // missing or claimed, or on a second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    uint8_t status() const { return status_; }
    uint8_t command_byte() const { return mode_; }
    uint8_t output_port() const { return outport_; }

private:
    enum class Source : uint8_t { None, Ctrl, CtrlAux, Kbd, Aux };
    class PortOps final : public RegionOps {
    public:
        PortOps(I8042& d, bool cmd) : d_(d), cmd_(cmd) {}
        uint64_t read(uint64_t, unsigned) override { return cmd_ ? d_.status_ : d_.read_data(); }
        void write(uint64_t, uint64_t v, unsigned) override {
            cmd_ ? d_.write_command(static_cast<uint8_t>(v)) : d_.write_data(static_cast<uint8_t>(v));
        }

    private:
        I8042& d_;
        bool cmd_;
    };

    uint8_t read_data();
    void write_command(uint8_t cmd);
    void write_data(uint8_t v);
    void keyboard_byte(uint8_t v);
    void mouse_byte(uint8_t v);
    void reply(uint8_t b, bool aux = false);  // a controller reply
    static void queue(std::deque<uint8_t>& q, std::initializer_list<uint8_t> bytes);
    void write_outport(uint8_t v);
    // Moves the next pending byte into an empty output buffer; updates the
    // status flags and the interrupt lines.
    void update();

    RunControl& run_;
    IrqLine kbd_irq_, aux_irq_;
    PortOps data_ops_{*this, false};
    PortOps cmd_ops_{*this, true};
    bool attached_ = false;

    // Guest-visible state; all of it goes into state_digest().
    uint8_t status_ = kStatusCmd | kStatusUnlocked;
    uint8_t mode_ = kModeKbdInt | kModeAuxInt;
    uint8_t outport_ = 0xcf;  // reset line high, A20 on, QEMU's ones
    uint8_t pending_cmd_ = 0;  // controller command waiting for its data byte
    uint8_t ob_ = 0;           // output buffer (the last byte, once read)
    Source ob_src_ = Source::None;
    int ctrl_reply_ = -1;      // controller reply waiting for the buffer
    bool ctrl_reply_aux_ = false;
    std::deque<uint8_t> kbd_q_, aux_q_;
    uint8_t kbd_cmd_ = 0;      // keyboard command waiting for its parameter
    uint8_t aux_cmd_ = 0;      // mouse command waiting for its parameter
    bool kbd_scan_ = true;
    uint8_t kbd_scancode_set_ = 2;
    uint8_t kbd_leds_ = 0;
    uint8_t aux_status_ = 0;   // remote, enabled, scaling bits
    uint8_t aux_resolution_ = 2;
    uint8_t aux_rate_ = 100;
    bool kbd_irq_level_ = false, aux_irq_level_ = false;
};

}  // namespace kvmrr
