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

void I8042::queue(std::deque<uint8_t>& q, std::initializer_list<uint8_t> bytes) {
    for (uint8_t b : bytes)
        if (q.size() < kQueueSize) q.push_back(b);
}

void I8042::reply(uint8_t b, bool aux) {
    ctrl_reply_ = b;
    ctrl_reply_aux_ = aux;
}

void I8042::update() {
    if (!(status_ & kStatusObf)) {
        Source src = Source::None;
        if (ctrl_reply_ >= 0) {
            ob_ = static_cast<uint8_t>(ctrl_reply_);
            src = ctrl_reply_aux_ ? Source::CtrlAux : Source::Ctrl;
            ctrl_reply_ = -1;
        } else if (!kbd_q_.empty() && !(mode_ & kModeDisableKbd)) {
            ob_ = kbd_q_.front();
            kbd_q_.pop_front();
            src = Source::Kbd;
        } else if (!aux_q_.empty() && !(mode_ & kModeDisableAux)) {
            ob_ = aux_q_.front();
            aux_q_.pop_front();
            src = Source::Aux;
        }
        ob_src_ = src;
        if (src != Source::None) status_ |= kStatusObf;
        const bool aux = src == Source::Aux || src == Source::CtrlAux;
        status_ = static_cast<uint8_t>(aux ? status_ | kStatusAuxObf : status_ & ~kStatusAuxObf);
    }
    const bool full = status_ & kStatusObf;
    const bool aux = status_ & kStatusAuxObf;
    outport_ = static_cast<uint8_t>((outport_ & ~(kOutObf | kOutAuxObf)) | (full ? kOutObf : 0) |
                                    (full && aux ? kOutAuxObf : 0));
    const bool kbd_level = full && !aux && (mode_ & kModeKbdInt) && !(mode_ & kModeDisableKbd);
    const bool aux_level = full && aux && (mode_ & kModeAuxInt);
    if (kbd_level != kbd_irq_level_) kbd_irq_.set(kbd_irq_level_ = kbd_level);
    if (aux_level != aux_irq_level_) aux_irq_.set(aux_irq_level_ = aux_level);
}

uint8_t I8042::read_data() {
    const uint8_t v = ob_;
    if (status_ & kStatusObf) {
        status_ &= static_cast<uint8_t>(~(kStatusObf | kStatusAuxObf));
        ob_src_ = Source::None;
        update();
    }
    return v;
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
        case 0xa8: mode_ &= static_cast<uint8_t>(~kModeDisableAux); break;
        case 0xa9: reply(0x00); break;
        case 0xaa:
            status_ |= kStatusSystem;
            reply(0x55);
            break;
        case 0xab: reply(0x00); break;
        case 0xad: mode_ |= kModeDisableKbd; break;
        case 0xae: mode_ &= static_cast<uint8_t>(~kModeDisableKbd); break;
        case 0xc0: reply(0x80); break;
        case 0xd0: reply(outport_); break;
        case 0xdd: outport_ &= static_cast<uint8_t>(~kOutA20); break;
        case 0xdf: outport_ |= kOutA20; break;
        case 0xfe: run_.request_reset(); break;
        default: break;  // 0xff (no pulse) and unsupported commands
    }
    update();
}

void I8042::write_data(uint8_t v) {
    switch (pending_cmd_) {
        case 0:
            keyboard_byte(v);
            // Sending to the keyboard re-enables its interface, as in QEMU.
            mode_ &= static_cast<uint8_t>(~kModeDisableKbd);
            break;
        case 0x60: mode_ = v; break;
        case 0xd1: write_outport(v); break;
        case 0xd2: reply(v, false); break;
        case 0xd3: reply(v, true); break;
        case 0xd4:
            mouse_byte(v);
            mode_ &= static_cast<uint8_t>(~kModeDisableAux);
            break;
        default: break;
    }
    pending_cmd_ = 0;
    update();
}

void I8042::keyboard_byte(uint8_t v) {
    const bool translate = mode_ & kModeTranslate;
    if (kbd_cmd_) {
        const uint8_t cmd = kbd_cmd_;
        kbd_cmd_ = 0;
        switch (cmd) {
            case 0xf0:  // get (0) or set (1..3) the scan code set
                if (v == 0) {
                    queue(kbd_q_, {kAck, translate ? translated_set(kbd_scancode_set_) : kbd_scancode_set_});
                } else if (v <= 3) {
                    kbd_scancode_set_ = v;
                    queue(kbd_q_, {kAck});
                } else {
                    queue(kbd_q_, {kResend});
                }
                return;
            case 0xed: kbd_leds_ = v; break;
            default: break;  // 0xf3 typematic rate, 0xfc make/break: parameter ignored
        }
        queue(kbd_q_, {kAck});
        return;
    }
    auto reset = [this] {
        kbd_scan_ = true;
        kbd_scancode_set_ = 2;
        kbd_q_.clear();
        kbd_leds_ = 0;
    };
    switch (v) {
        case 0x00: case 0xfa: queue(kbd_q_, {kAck}); break;
        case 0xee: queue(kbd_q_, {0xee}); break;  // echo
        case 0xf2: queue(kbd_q_, {kAck, 0xab, static_cast<uint8_t>(translate ? 0x41 : 0x83)}); break;
        case 0xf4:
            kbd_scan_ = true;
            queue(kbd_q_, {kAck});
            break;
        case 0xf0: case 0xed: case 0xf3: case 0xfc:
            kbd_cmd_ = v;
            queue(kbd_q_, {kAck});
            break;
        case 0xf5:
            reset();
            kbd_scan_ = false;
            queue(kbd_q_, {kAck});
            break;
        case 0xf6:
            reset();
            queue(kbd_q_, {kAck});
            break;
        case 0xff:
            reset();
            queue(kbd_q_, {kAck, kPowerOnReset});
            break;
        default: queue(kbd_q_, {kResend}); break;  // 0x05 and the unknown
    }
}

void I8042::mouse_byte(uint8_t v) {
    if (aux_cmd_) {
        if (aux_cmd_ == 0xe8) aux_resolution_ = v; else aux_rate_ = v;
        aux_cmd_ = 0;
        queue(aux_q_, {kAck});
        return;
    }
    switch (v) {
        case 0xe6: aux_status_ &= static_cast<uint8_t>(~kMouseScale21); queue(aux_q_, {kAck}); break;
        case 0xe7: aux_status_ |= kMouseScale21; queue(aux_q_, {kAck}); break;
        case 0xe8: case 0xf3: aux_cmd_ = v; queue(aux_q_, {kAck}); break;
        case 0xe9: queue(aux_q_, {kAck, aux_status_, aux_resolution_, aux_rate_}); break;
        case 0xea: aux_status_ &= static_cast<uint8_t>(~kMouseRemote); queue(aux_q_, {kAck}); break;
        case 0xeb: queue(aux_q_, {kAck, 0x08, 0x00, 0x00}); break;  // poll: no motion, no buttons
        case 0xf0: aux_status_ |= kMouseRemote; queue(aux_q_, {kAck}); break;
        case 0xf2: queue(aux_q_, {kAck, 0x00}); break;  // a plain PS/2 mouse
        case 0xf4: aux_status_ |= kMouseEnabled; queue(aux_q_, {kAck}); break;
        case 0xf5: aux_status_ &= static_cast<uint8_t>(~kMouseEnabled); queue(aux_q_, {kAck}); break;
        case 0xf6:
            aux_status_ = 0;
            aux_resolution_ = 2;
            aux_rate_ = 100;
            queue(aux_q_, {kAck});
            break;
        case 0xff:
            aux_status_ = 0;
            aux_resolution_ = 2;
            aux_rate_ = 100;
            aux_q_.clear();
            queue(aux_q_, {kAck, kPowerOnReset, 0x00});
            break;
        default: break;  // QEMU's mouse does not answer the rest
    }
}

uint64_t I8042::state_digest() const {
    std::vector<uint8_t> s = {status_, mode_, outport_, pending_cmd_, ob_, static_cast<uint8_t>(ob_src_),
                              static_cast<uint8_t>(ctrl_reply_ & 0xff), static_cast<uint8_t>(ctrl_reply_ < 0),
                              ctrl_reply_aux_, kbd_cmd_, aux_cmd_, kbd_scan_, kbd_scancode_set_, kbd_leds_,
                              aux_status_, aux_resolution_, aux_rate_, kbd_irq_level_, aux_irq_level_,
                              static_cast<uint8_t>(kbd_q_.size()), static_cast<uint8_t>(aux_q_.size())};
    s.insert(s.end(), kbd_q_.begin(), kbd_q_.end());
    s.insert(s.end(), aux_q_.begin(), aux_q_.end());
    return XXH64(s.data(), s.size(), 0);
}

}  // namespace kvmrr
