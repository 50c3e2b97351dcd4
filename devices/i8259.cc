#include "devices/i8259.h"

#include <xxhash.h>

#include <array>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

namespace {

constexpr unsigned kCascadeIrq = 2;
constexpr unsigned kSpuriousIrq = 7;
// ELCR bits that exist on PIIX3: IRQ 0, 1, 2, 8 and 13 are always edge.
constexpr uint8_t kMasterElcrMask = 0xf8;
constexpr uint8_t kSlaveElcrMask = 0xde;

// ICW1 (command port, bit 4 set)
constexpr uint8_t kIcw1 = 0x10;
constexpr uint8_t kIcw1Ic4 = 0x01;
constexpr uint8_t kIcw1Single = 0x02;
constexpr uint8_t kIcw1Ltim = 0x08;
// OCW3 (command port, bits 4-3 = 01)
constexpr uint8_t kOcw3 = 0x08;
constexpr uint8_t kOcw3Poll = 0x04;
constexpr uint8_t kOcw3Rr = 0x02;
constexpr uint8_t kOcw3Ris = 0x01;
constexpr uint8_t kOcw3Esmm = 0x40;
constexpr uint8_t kOcw3Smm = 0x20;
// ICW4
constexpr uint8_t kIcw4Aeoi = 0x02;
constexpr uint8_t kIcw4Sfnm = 0x10;

}  // namespace

void PicPair::Chip::init_reset() {
    // What ICW1 clears (8259A datasheet): IMR, ISR, the priority (IR7
    // lowest), special mask, read select (IRR) and the edge detectors; an
    // edge-triggered request in IRR is dropped, a level one stays. ELCR and
    // LTIM are not touched here.
    pin_level = 0;
    irr &= static_cast<uint8_t>(ltim ? 0xff : elcr);
    imr = 0;
    isr = 0;
    priority_add = 0;
    irq_base = 0;
    read_isr = false;
    poll = false;
    special_mask = false;
    init_state = 0;
    auto_eoi = false;
    rotate_on_auto_eoi = false;
    special_fully_nested = false;
    init4 = false;
    single_mode = false;
}

// The priority (0 highest .. 7 lowest) of the highest-priority bit of
// `mask`, or 8 if it is empty. priority_add is the input that has priority 0.
int PicPair::Chip::priority_of(uint8_t mask) const {
    if (mask == 0) return 8;
    int p = 0;
    while ((mask & (1u << ((p + priority_add) & 7))) == 0) ++p;
    return p;
}

int PicPair::Chip::pending_irq() const {
    const int want = priority_of(static_cast<uint8_t>(irr & ~imr));
    if (want == 8) return -1;
    uint8_t in_service = isr;
    // Special mask mode: a masked input in service does not hold back
    // lower-priority requests.
    if (special_mask) in_service &= static_cast<uint8_t>(~imr);
    // Special fully nested mode: the slave may interrupt again while one of
    // its requests is in service on the master.
    if (special_fully_nested && master) in_service &= static_cast<uint8_t>(~(1u << kCascadeIrq));
    if (want < priority_of(in_service)) return (want + priority_add) & 7;
    return -1;
}

void PicPair::Chip::set_pin(unsigned irq, bool level) {
    const uint8_t bit = static_cast<uint8_t>(1u << irq);
    if (level_triggered(irq)) {
        if (level) irr |= bit;
        else irr &= static_cast<uint8_t>(~bit);
    } else if (level && !(pin_level & bit)) {
        irr |= bit;  // a rising edge latches a request
    }
    if (level) pin_level |= bit;
    else pin_level &= static_cast<uint8_t>(~bit);
}

void PicPair::Chip::intack(unsigned irq) {
    if (auto_eoi) {
        if (rotate_on_auto_eoi) priority_add = static_cast<uint8_t>((irq + 1) & 7);
    } else {
        isr |= static_cast<uint8_t>(1u << irq);
    }
    // A level-triggered request stays in IRR while its line is high.
    if (!level_triggered(irq)) irr &= static_cast<uint8_t>(~(1u << irq));
}

void PicPair::Chip::write(unsigned port, uint8_t v) {
    if (port == 0) {
        if (v & kIcw1) {
            init_reset();
            init_state = 1;
            init4 = v & kIcw1Ic4;
            single_mode = v & kIcw1Single;
            ltim = v & kIcw1Ltim;
        } else if (v & kOcw3) {
            if (v & kOcw3Poll) poll = true;
            if (v & kOcw3Rr) read_isr = v & kOcw3Ris;
            if (v & kOcw3Esmm) special_mask = v & kOcw3Smm;
        } else {
            // OCW2: R, SL, EOI in bits 7-5, the level in bits 2-0.
            const unsigned cmd = v >> 5;
            const unsigned level = v & 7;
            switch (cmd) {
                case 0:  // rotate in automatic EOI mode: clear
                case 4:  // ... set
                    rotate_on_auto_eoi = cmd == 4;
                    break;
                case 1:  // non-specific EOI
                case 5: {  // rotate on non-specific EOI
                    const int p = priority_of(isr);
                    if (p == 8) break;
                    const unsigned irq = (p + priority_add) & 7;
                    isr &= static_cast<uint8_t>(~(1u << irq));
                    if (cmd == 5) priority_add = static_cast<uint8_t>((irq + 1) & 7);
                    break;
                }
                case 3:  // specific EOI
                    isr &= static_cast<uint8_t>(~(1u << level));
                    break;
                case 6:  // set priority: `level` becomes the lowest
                    priority_add = static_cast<uint8_t>((level + 1) & 7);
                    break;
                case 7:  // rotate on specific EOI
                    isr &= static_cast<uint8_t>(~(1u << level));
                    priority_add = static_cast<uint8_t>((level + 1) & 7);
                    break;
                default:  // 2: no operation
                    break;
            }
        }
        return;
    }
    switch (init_state) {
        case 0:
            imr = v;  // OCW1
            break;
        case 1:  // ICW2: the vector base; the low three bits are the input
            irq_base = v & 0xf8;
            init_state = single_mode ? (init4 ? 3 : 0) : 2;
            break;
        case 2:  // ICW3: the cascade wiring is fixed on a PC
            init_state = init4 ? 3 : 0;
            break;
        default:  // 3: ICW4
            special_fully_nested = v & kIcw4Sfnm;
            auto_eoi = v & kIcw4Aeoi;
            init_state = 0;
            break;
    }
}

uint8_t PicPair::Chip::read(unsigned port) {
    if (poll) {
        // A poll read is the acknowledge: bit 7 says whether there was one.
        poll = false;
        const int irq = pending_irq();
        if (irq < 0) return 0;
        intack(static_cast<unsigned>(irq));
        return static_cast<uint8_t>(0x80 | irq);
    }
    if (port == 0) return read_isr ? isr : irr;
    return imr;
}

void PicPair::Chip::append_state(uint8_t* out) const {
    const uint8_t s[kChipStateBytes] = {
        irr, isr, imr, pin_level, priority_add, irq_base, init_state, elcr, elcr_mask, read_isr, poll,
        special_mask, auto_eoi, rotate_on_auto_eoi, special_fully_nested, init4, single_mode, ltim, master,
    };
    for (size_t i = 0; i < kChipStateBytes; ++i) out[i] = s[i];
}

PicPair::PicPair() { reset(); }

void PicPair::reset() {
    for (Chip* c : {&master_, &slave_}) {
        c->elcr = 0;
        c->ltim = false;
        c->irr = 0;
        c->init_reset();
    }
    master_.master = true;
    master_.elcr_mask = kMasterElcrMask;
    slave_.master = false;
    slave_.elcr_mask = kSlaveElcrMask;
}

void PicPair::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("i8259: this device is attached to a machine already");
    require_window(m, name(), "pic-master", 2);
    require_window(m, name(), "pic-slave", 2);
    require_window(m, name(), "elcr", 2);
    AccessRules rules;
    // Byte registers; a word access reaches both ports in turn, as on the
    // ISA bus.
    rules.valid = {1, 2, false};
    rules.impl = {1, 1, false};
    claim_io_window(sys, m, "pic-master", 2, master_ops_, rules);
    claim_io_window(sys, m, "pic-slave", 2, slave_ops_, rules);
    claim_io_window(sys, m, "elcr", 2, elcr_ops_, rules);
    attached_ = true;
}

uint64_t PicPair::PortOps::read(uint64_t offset, unsigned) {
    const unsigned port = offset & 1;
    switch (w_) {
        case Which::Master: return p_.master_.read(port);
        case Which::Slave: {
            const uint8_t v = p_.slave_.read(port);
            p_.update_cascade();  // a poll read acknowledges
            return v;
        }
        default: return port == 0 ? p_.master_.elcr : p_.slave_.elcr;
    }
}

void PicPair::PortOps::write(uint64_t offset, uint64_t value, unsigned) {
    const unsigned port = offset & 1;
    const auto v = static_cast<uint8_t>(value);
    switch (w_) {
        case Which::Master: p_.master_.write(port, v); break;
        case Which::Slave:
            p_.slave_.write(port, v);
            p_.update_cascade();
            break;
        default: {
            // Edge/level changes take effect at the next change of the line,
            // as in QEMU: IRR is not re-evaluated here.
            Chip& c = port == 0 ? p_.master_ : p_.slave_;
            c.elcr = v & c.elcr_mask;
            break;
        }
    }
}

void PicPair::update_cascade() { master_.set_pin(kCascadeIrq, slave_.pending_irq() >= 0); }

void PicPair::set_irq(unsigned pin, bool level) {
    if (pin >= kPins || pin == kCascadeIrq) return;
    if (pin < 8) {
        master_.set_pin(pin, level);
    } else {
        slave_.set_pin(pin - 8, level);
        update_cascade();
    }
}

bool PicPair::interrupt_pending() const { return master_.pending_irq() >= 0; }

bool PicPair::would_interrupt(unsigned pin) const {
    if (pin >= kPins || pin == kCascadeIrq) return false;
    Chip master = master_, slave = slave_;
    Chip& chip = pin < 8 ? master : slave;
    chip.set_pin(pin & 7, false);
    chip.set_pin(pin & 7, true);
    if (pin >= 8) master.set_pin(kCascadeIrq, slave.pending_irq() >= 0);
    return master.pending_irq() >= 0;
}

int PicPair::acknowledge() {
    const int irq = master_.pending_irq();
    if (irq < 0) return (master_.irq_base + kSpuriousIrq) & 0xff;  // nothing goes in service
    int vector;
    if (static_cast<unsigned>(irq) == kCascadeIrq) {
        const int irq2 = slave_.pending_irq();
        if (irq2 >= 0) {
            slave_.intack(static_cast<unsigned>(irq2));
            vector = slave_.irq_base + irq2;
        } else {
            // The slave's request went away between INTR and INTA: its
            // spurious vector, with IR2 still put in service on the master.
            vector = slave_.irq_base + kSpuriousIrq;
        }
        update_cascade();
    } else {
        vector = master_.irq_base + irq;
    }
    master_.intack(static_cast<unsigned>(irq));
    return vector & 0xff;
}

uint64_t PicPair::state_digest() const {
    std::array<uint8_t, 2 * kChipStateBytes> s{};
    master_.append_state(s.data());
    slave_.append_state(s.data() + kChipStateBytes);
    return XXH64(s.data(), s.size(), 0);
}

}  // namespace kvmrr
