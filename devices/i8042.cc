#include "devices/i8042.h"

#include <xxhash.h>

#include <vector>

#include "core/error.h"

namespace kvmrr {

namespace {

constexpr uint8_t kAck = 0xfa;
constexpr uint8_t kResend = 0xfe;
constexpr uint8_t kPowerOnReset = 0xaa;
constexpr uint8_t kOutReset = 0x01;
constexpr uint8_t kOutA20 = 0x02;
constexpr uint8_t kOutObf = 0x10;
constexpr uint8_t kOutAuxObf = 0x20;
constexpr uint8_t kMouseRemote = 0x40;
constexpr uint8_t kMouseEnabled = 0x20;
constexpr uint8_t kMouseScale21 = 0x10;

// Scan code set numbers as a translating controller reports them (QEMU's
// translate_table for 1, 2, 3).
uint8_t translated_set(uint8_t set) {
    switch (set) {
        case 1: return 0x43;
        case 2: return 0x41;
        default: return 0x3f;
    }
}

}  // namespace

I8042::I8042(RunControl& run, IrqLine kbd_irq, IrqLine aux_irq) : run_(run), kbd_irq_(kbd_irq), aux_irq_(aux_irq) {}

void I8042::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("i8042: this device is attached to a machine already");
    require_window(m, name(), "i8042-data", 1);
    require_window(m, name(), "i8042-cmd", 1);
    const AccessRules rules{.valid = {1, 1, false}, .impl = {1, 1, false}};
    claim_io_window(sys, m, "i8042-data", 1, data_ops_, rules);
    claim_io_window(sys, m, "i8042-cmd", 1, cmd_ops_, rules);
    attached_ = true;
}

void I8042::reply(uint8_t b, bool aux) {
    ctrl_byte_ = b;
    pending_ = static_cast<uint8_t>((pending_ & ~(kPendingCtrlKbd | kPendingCtrlAux)) | (aux ? kPendingCtrlAux : kPendingCtrlKbd));
    safe_update();
}

uint8_t I8042::pending() const {
    return static_cast<uint8_t>(pending_ & (~mode_ | ~(kPendingKbd | kPendingAux)));
}

void I8042::device_request(uint8_t bit, bool level) {
    pending_ = static_cast<uint8_t>(level ? pending_ | bit : pending_ & ~bit);
    safe_update();
}

void I8042::update_lines() {
    const bool full = status_ & kStatusObf;
    const bool aux = status_ & kStatusAuxObf;
    const bool kbd_level = full && !aux && (mode_ & kModeKbdInt) && !(mode_ & kModeDisableKbd);
    const bool aux_level = full && aux && (mode_ & kModeAuxInt);
    if (kbd_level != kbd_irq_level_) kbd_irq_.set(kbd_irq_level_ = kbd_level);
    if (aux_level != aux_irq_level_) aux_irq_.set(aux_irq_level_ = aux_level);
}

void I8042::update() {
    const uint8_t p = pending();
    status_ &= static_cast<uint8_t>(~(kStatusObf | kStatusAuxObf));
    outport_ &= static_cast<uint8_t>(~(kOutObf | kOutAuxObf));
    if (p) {
        status_ |= kStatusObf;
        outport_ |= kOutObf;
        bool aux = false;
        if (p & kPendingCtrlKbd) {
            ob_src_ = Source::Ctrl;
        } else if (p & kPendingCtrlAux) {
            ob_src_ = Source::Ctrl;
            aux = true;
        } else if (p & kPendingKbd) {
            ob_src_ = Source::Kbd;
        } else {
            ob_src_ = Source::Aux;
            aux = true;
        }
        if (aux) {
            status_ |= kStatusAuxObf;
            outport_ |= kOutAuxObf;
        }
    }
    update_lines();
}

void I8042::safe_update() {
    if (status_ & kStatusObf) return;  // the read of that byte updates
    if (pending()) update();
}

uint8_t I8042::read_data() {
    if (status_ & kStatusObf) {
        status_ &= static_cast<uint8_t>(~(kStatusObf | kStatusAuxObf));
        outport_ &= static_cast<uint8_t>(~(kOutObf | kOutAuxObf));
        update_lines();
        switch (ob_src_) {
            case Source::Kbd: ob_ = kbd_q_.read(); break;
            case Source::Aux: ob_ = aux_q_.read(); break;
            case Source::Ctrl:
                ob_ = ctrl_byte_;
                pending_ &= static_cast<uint8_t>(~(kPendingCtrlKbd | kPendingCtrlAux));
                if (pending()) update();
                break;
            case Source::None: break;
        }
    }
    return ob_;
}

void I8042::write_outport(uint8_t v) {
    outport_ = v;
    if (!(v & kOutReset)) run_.request_reset();
}

void I8042::write_command(uint8_t cmd) {
    // 0xf0-0xff pulse the output port's low bits; only bit 0 (reset) does
    // anything.
    if ((cmd & 0xf0) == 0xf0) cmd = (cmd & 1) ? 0xff : 0xfe;
    switch (cmd) {
        case 0x20: reply(mode_); break;
        case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4: pending_cmd_ = cmd; break;
        case 0xa7: mode_ |= kModeDisableAux; break;
        case 0xa8:
            mode_ &= static_cast<uint8_t>(~kModeDisableAux);
            safe_update();
            break;
        case 0xa9: reply(0x00); break;
        case 0xaa:
            status_ |= kStatusSystem;
            reply(0x55);
            break;
        case 0xab: reply(0x00); break;
        case 0xad: mode_ |= kModeDisableKbd; break;
        case 0xae:
            mode_ &= static_cast<uint8_t>(~kModeDisableKbd);
            safe_update();
            break;
        case 0xc0: reply(0x80); break;
        case 0xd0: reply(outport_); break;
        case 0xdd: outport_ &= static_cast<uint8_t>(~kOutA20); break;
        case 0xdf: outport_ |= kOutA20; break;
        case 0xfe: run_.request_reset(); break;
        default: break;  // 0xff (no pulse) and unsupported commands
    }
}

void I8042::write_data(uint8_t v) {
    switch (pending_cmd_) {
        case 0:
            keyboard_byte(v);
            // Sending to the keyboard re-enables its interface, as in QEMU.
            mode_ &= static_cast<uint8_t>(~kModeDisableKbd);
            safe_update();
            break;
        case 0x60:
            mode_ = v;
            kbd_translate_ = mode_ & kModeTranslate;
            update_lines();  // the interrupt enables act at once
            safe_update();   // and an enabled interface may have bytes
            break;
        case 0xd1: write_outport(v); break;
        case 0xd2: reply(v, false); break;
        case 0xd3: reply(v, true); break;
        case 0xd4:
            mouse_byte(v);
            mode_ &= static_cast<uint8_t>(~kModeDisableAux);
            safe_update();
            break;
        default: break;
    }
    pending_cmd_ = 0;
}

void I8042::reset_keyboard() {
    kbd_scan_ = true;
    kbd_scancode_set_ = 2;
    kbd_q_.reset();
    kbd_leds_ = 0;
}

void I8042::keyboard_byte(uint8_t v) {
    kbd_q_.drop_reply();
    if (kbd_cmd_ >= 0) {
        const int cmd = kbd_cmd_;
        kbd_cmd_ = -1;
        switch (cmd) {
            case 0xf0:  // get (0) or set (1..3) the scan code set
                if (v == 0) {
                    kbd_q_.reply({kAck, kbd_translate_ ? translated_set(kbd_scancode_set_) : kbd_scancode_set_});
                } else if (v <= 3) {
                    kbd_scancode_set_ = v;
                    kbd_q_.reply({kAck});
                } else {
                    kbd_q_.reply({kResend});
                }
                return;
            case 0xed: kbd_leds_ = v; break;
            default: break;  // 0xf3 typematic rate, 0xfc make/break: parameter ignored
        }
        kbd_q_.reply({kAck});
        return;
    }
    switch (v) {
        case 0x00: case 0xfa: kbd_q_.reply({kAck}); break;
        case 0xee: kbd_q_.reply({0xee}); break;  // echo
        case 0xf2: kbd_q_.reply({kAck, 0xab, static_cast<uint8_t>(kbd_translate_ ? 0x41 : 0x83)}); break;
        case 0xf4:
            kbd_scan_ = true;
            kbd_q_.reply({kAck});
            break;
        case 0xf0: case 0xed: case 0xf3: case 0xfc:
            kbd_cmd_ = v;
            kbd_q_.reply({kAck});
            break;
        case 0xf5:
            reset_keyboard();
            kbd_scan_ = false;
            kbd_q_.reply({kAck});
            break;
        case 0xf6:
            reset_keyboard();
            kbd_q_.reply({kAck});
            break;
        case 0xff:
            reset_keyboard();
            kbd_q_.reply({kAck, kPowerOnReset});
            break;
        default: kbd_q_.reply({kResend}); break;  // 0x05 and the unknown
    }
}

// IntelliMouse detection: sample rates 200, 100, 80 make the mouse type 3;
// 200, 200, 80 type 4; anything else starts over.
void I8042::mouse_sample_rate(uint8_t v) {
    aux_rate_ = v;
    switch (aux_detect_) {
        case 1: aux_detect_ = v == 100 ? 2 : v == 200 ? 3 : 0; break;
        case 2:
            if (v == 80) aux_type_ = 3;
            aux_detect_ = 0;
            break;
        case 3:
            if (v == 80) aux_type_ = 4;
            aux_detect_ = 0;
            break;
        default:
            if (v == 200) aux_detect_ = 1;
            break;
    }
}

void I8042::mouse_byte(uint8_t v) {
    if (aux_cmd_ >= 0) {
        if (aux_cmd_ == 0xf3) mouse_sample_rate(v); else aux_resolution_ = v;
        aux_cmd_ = -1;
        aux_q_.queue({kAck});
        return;
    }
    if (aux_wrap_) {
        if (v == 0xec) {
            aux_wrap_ = false;
            aux_q_.queue({kAck});
            return;
        }
        if (v != 0xff) {
            aux_q_.queue({v});
            return;
        }
    }
    switch (v) {
        case 0xe6: aux_status_ &= static_cast<uint8_t>(~kMouseScale21); aux_q_.queue({kAck}); break;
        case 0xe7: aux_status_ |= kMouseScale21; aux_q_.queue({kAck}); break;
        case 0xe8: case 0xf3: aux_cmd_ = v; aux_q_.queue({kAck}); break;
        case 0xe9: aux_q_.queue({kAck, aux_status_, aux_resolution_, aux_rate_}); break;
        case 0xea: aux_status_ &= static_cast<uint8_t>(~kMouseRemote); aux_q_.queue({kAck}); break;
        case 0xeb:  // poll: an empty packet (no motion, no buttons), a byte more for the wheel types
            aux_q_.queue({kAck});
            if (aux_type_) aux_q_.queue({0x08, 0x00, 0x00, 0x00});
            else aux_q_.queue({0x08, 0x00, 0x00});
            break;
        case 0xee: aux_wrap_ = true; aux_q_.queue({kAck}); break;
        case 0xf0: aux_status_ |= kMouseRemote; aux_q_.queue({kAck}); break;
        case 0xf2: aux_q_.queue({kAck, aux_type_}); break;
        case 0xf4: aux_status_ |= kMouseEnabled; aux_q_.queue({kAck}); break;
        case 0xf5: aux_status_ &= static_cast<uint8_t>(~kMouseEnabled); aux_q_.queue({kAck}); break;
        case 0xf6:
            aux_status_ = 0;
            aux_resolution_ = 2;
            aux_rate_ = 100;
            aux_q_.queue({kAck});
            break;
        case 0xff:
            aux_status_ = 0;
            aux_resolution_ = 2;
            aux_rate_ = 100;
            aux_type_ = 0;
            aux_q_.reset();
            aux_q_.queue({kAck, kPowerOnReset, aux_type_});
            break;
        default: break;  // QEMU's mouse does not answer the rest
    }
}

uint64_t I8042::state_digest() const {
    std::vector<uint8_t> s = {status_, mode_, outport_, pending_cmd_, pending_, static_cast<uint8_t>(ob_src_), ob_,
                              ctrl_byte_, static_cast<uint8_t>(kbd_cmd_), static_cast<uint8_t>(aux_cmd_),
                              kbd_translate_, kbd_scan_, kbd_scancode_set_, kbd_leds_, aux_status_, aux_resolution_,
                              aux_rate_, aux_wrap_, aux_type_, aux_detect_, kbd_irq_level_, aux_irq_level_};
    kbd_q_.append_state(s);
    aux_q_.append_state(s);
    return XXH64(s.data(), s.size(), 0);
}

}  // namespace kvmrr
