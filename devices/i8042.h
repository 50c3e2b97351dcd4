// I8042: the PC's keyboard controller with a PS/2 keyboard and mouse that
// never press anything, enough for firmware and OS drivers to find and set
// them up. It claims two I/O windows:
//   "i8042-data"  io 0x60, 1 byte: the output buffer (read), and data for
//                 the keyboard or for the controller's last command (write);
//   "i8042-cmd"   io 0x64, 1 byte: the status register (read), controller
//                 commands (write).
// Behaviour follows QEMU 7.2's hw/input/pckbd.c (with its "extended state",
// the default) and ps2.c. Reset: command byte 0x03 (keyboard and mouse
// interrupts), status 0x18, output port 0xcf. Controller commands: 0x20
// read / 0x60 write the command byte, 0xa7/0xa8 disable/enable the mouse,
// 0xa9 mouse test (0x00: QEMU's pc always has a PS/2 mouse), 0xaa self test
// (0x55, sets the status's system flag), 0xab keyboard test (0x00),
// 0xad/0xae disable/enable the keyboard, 0xc0 input port (0x80), 0xd0/0xd1
// read/write the output port (a write with bit 0 clear resets the machine;
// bit 1 is the A20 gate, kept but not modelled), 0xd2/0xd3 write the
// keyboard/mouse output buffer, 0xd4 send the next data byte to the mouse,
// 0xdd/0xdf A20 off/on, 0xfe and every 0xf0-0xff with bit 0 clear pulse the
// reset line (RunControl::request_reset()); others are ignored.
//
// The output buffer: a controller reply comes first, then the keyboard's
// bytes, then the mouse's, each only while its interface is enabled. The
// status's OBF says which source has a byte; the byte itself is taken from
// that source when port 0x60 is read (so a keyboard command sent while a
// reply waits replaces the rest of that reply: see Ps2Queue), and a read
// with OBF clear gives the last byte read again. The keyboard answers 0xff
// with 0xfa 0xaa, 0xf2 with 0xfa 0xab and 0x41 (0x83 without translation,
// the command byte's bit 6 as last written), 0xee with 0xee, 0x05 and
// unknown bytes with 0xfe (resend), and the rest of QEMU's set (0xed,
// 0xf0, 0xf3, 0xfc with a parameter) with 0xfa. The mouse (no command
// replies in front: its bytes queue behind) answers 0xff with 0xfa 0xaa
// and its type, 0xf2 with 0xfa and its type (0; 3 after sample rates 200,
// 100, 80: IntelliMouse; 4 after 200, 200, 80: IntelliMouse Explorer),
// 0xe9 with 0xfa and three status bytes, 0xeb with 0xfa and an empty
// packet, echoes bytes in wrap mode (0xee; 0xec ends it), ignores unknown
// commands and acknowledges the rest. IRQ1 (keyboard) and IRQ12 (mouse)
// are high while OBF holds a byte of theirs and the command byte enables
// them; each byte read that leaves another is a new edge. A board that
// does not wire them passes unconnected lines. The device must outlive the
// MemorySystem it is attached to.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/irq.h"
#include "devices/ps2_queue.h"

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

    I8042(RunControl& run, IrqLine kbd_irq = {}, IrqLine aux_irq = {});
    I8042(const I8042&) = delete;
    I8042& operator=(const I8042&) = delete;

    std::string_view name() const override { return "i8042"; }
    uint32_t model_version() const override { return 2; }
    // Claims "i8042-data" and "i8042-cmd"; throws kvmrr::Error if either is
    // missing or claimed, or on a second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    uint8_t status() const { return status_; }
    uint8_t command_byte() const { return mode_; }
    uint8_t output_port() const { return outport_; }

private:
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
    // A PS/2 device's request line into the controller's pending bits.
    class DeviceLine final : public Ps2Line {
    public:
        DeviceLine(I8042& d, uint8_t bit) : d_(d), bit_(bit) {}
        void set_level(bool level) override { d_.device_request(bit_, level); }

    private:
        I8042& d_;
        uint8_t bit_;
    };

    // Pending bits: a controller reply for the keyboard or mouse side, and
    // the devices' requests (at the command byte's disable bits, which mask
    // them).
    static constexpr uint8_t kPendingCtrlKbd = 0x04, kPendingCtrlAux = 0x08;
    static constexpr uint8_t kPendingKbd = kModeDisableKbd, kPendingAux = kModeDisableAux;
    // Where the byte OBF announces comes from.
    enum class Source : uint8_t { None, Kbd, Aux, Ctrl };

    uint8_t read_data();
    void write_command(uint8_t cmd);
    void write_data(uint8_t v);
    void keyboard_byte(uint8_t v);
    void mouse_byte(uint8_t v);
    void mouse_sample_rate(uint8_t v);
    void reset_keyboard();
    void reply(uint8_t b, bool aux = false);  // a controller reply
    void write_outport(uint8_t v);
    void device_request(uint8_t bit, bool level);
    uint8_t pending() const;  // the pending bits whose interface is enabled
    // OBF, its source and the interrupt lines from the pending bits.
    void update();
    // update(), unless OBF already announces a byte.
    void safe_update();
    void update_lines();

    RunControl& run_;
    IrqLine kbd_irq_, aux_irq_;
    PortOps data_ops_{*this, false};
    PortOps cmd_ops_{*this, true};
    DeviceLine kbd_line_{*this, kPendingKbd};
    DeviceLine aux_line_{*this, kPendingAux};
    bool attached_ = false;

    // Guest-visible state; all of it goes into state_digest().
    uint8_t status_ = kStatusCmd | kStatusUnlocked;
    uint8_t mode_ = kModeKbdInt | kModeAuxInt;
    uint8_t outport_ = 0xcf;  // reset line high, A20 on, QEMU's ones
    uint8_t pending_cmd_ = 0;  // controller command waiting for its data byte
    uint8_t pending_ = 0;
    Source ob_src_ = Source::None;
    uint8_t ob_ = 0;           // the last byte read from the output buffer
    uint8_t ctrl_byte_ = 0;    // the controller's reply
    Ps2Queue kbd_q_{kbd_line_}, aux_q_{aux_line_};
    int kbd_cmd_ = -1;         // keyboard command waiting for its parameter
    int aux_cmd_ = -1;         // mouse command waiting for its parameter
    bool kbd_translate_ = false;
    bool kbd_scan_ = true;
    uint8_t kbd_scancode_set_ = 2;
    uint8_t kbd_leds_ = 0;
    uint8_t aux_status_ = 0;   // remote, enabled, scaling bits
    uint8_t aux_resolution_ = 0;
    uint8_t aux_rate_ = 0;
    bool aux_wrap_ = false;
    uint8_t aux_type_ = 0;     // 0 PS/2, 3 IntelliMouse, 4 IntelliMouse Explorer
    uint8_t aux_detect_ = 0;   // how far the sample rates went towards a type
    bool kbd_irq_level_ = false, aux_irq_level_ = false;
};

}  // namespace kvmrr
