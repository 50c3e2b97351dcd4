#include "devices/uart16550.h"

#include <xxhash.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

namespace {

// Port offsets inside the window; 0 and 1 change meaning with LCR.DLAB.
enum Port : uint64_t { kRbrThrDll = 0, kIerDlm = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7 };

constexpr uint8_t kIerRxData = 0x01;     // ERBFI
constexpr uint8_t kIerThre = 0x02;       // ETBEI
constexpr uint8_t kIerLineStatus = 0x04; // ELSI

constexpr uint8_t kIirNone = 0x01;
constexpr uint8_t kIirThre = 0x02;
constexpr uint8_t kIirRxData = 0x04;
constexpr uint8_t kIirLineStatus = 0x06;
constexpr uint8_t kIirFifoOn = 0xc0;

constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;

constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrOverrun = 0x02;
// The transmitter never holds a byte, so both "empty" bits are always set.
constexpr uint8_t kLsrTxIdle = 0x20 | 0x40;  // THRE | TEMT

// Not in loopback the modem lines are a cable that is always ready:
// CTS, DSR and DCD asserted, RI not, and since they never change no
// delta bit is ever set.
constexpr uint8_t kMsrCableReady = 0x10 | 0x20 | 0x80;

}  // namespace

Uart16550::Uart16550(HostInputs& in, std::function<void(uint8_t)> tx_sink, IrqLine irq)
    : in_(in), tx_sink_(std::move(tx_sink)), irq_(irq) {}

void Uart16550::update_irq() {
    if (!irq_.connected()) return;
    const bool level = ((ier_ & kIerLineStatus) && overrun_) || ((ier_ & kIerRxData) && !rx_fifo_.empty()) ||
                       ((ier_ & kIerThre) && thre_pending_);
    if (level == irq_level_) return;
    irq_level_ = level;
    irq_.set(level);
}

void Uart16550::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("uart16550: this device is attached to a machine already");
    AccessRules rules;
    // Every register is one byte wide and a real UART answers only byte
    // accesses: a guest's 16-bit `in` inside the window is a bug we want
    // reported (the core refuses it as invalid).
    rules.valid = {1, 1, false};
    rules.impl = {1, 1, false};
    claim_io_window(sys, m, "uart16550", kSize, *this, rules);
    attached_ = true;
}

uint64_t Uart16550::read(uint64_t offset, unsigned size) {
    const uint64_t v = read_register(offset, size);
    update_irq();
    return v;
}

uint64_t Uart16550::read_register(uint64_t offset, unsigned) {
    switch (offset) {
        case kRbrThrDll: {
            if (dlab()) return dll_;
            if (!loopback()) pull_host_input();
            // An empty receiver has no defined RBR; 0 is as good as any
            // value and keeps the model free of stale-byte state.
            if (rx_fifo_.empty()) return 0;
            const uint8_t b = rx_fifo_.front();
            rx_fifo_.pop_front();
            return b;
        }
        case kIerDlm: return dlab() ? dlm_ : ier_;
        case kIirFcr: return read_iir();
        case kLcr: return lcr_;
        case kMcr: return mcr_;
        case kLsr: return read_lsr();
        case kMsr: return msr();
        case kScr: return scr_;
        default: return 0xff;  // outside the 8 ports: the core never sends these
    }
}

void Uart16550::write(uint64_t offset, uint64_t value, unsigned size) {
    write_register(offset, value, size);
    update_irq();
}

void Uart16550::write_register(uint64_t offset, uint64_t value, unsigned) {
    const auto v = static_cast<uint8_t>(value);
    switch (offset) {
        case kRbrThrDll:
            if (dlab()) {
                dll_ = v;
            } else {
                transmit(v);
            }
            break;
        case kIerDlm:
            if (dlab()) {
                dlm_ = v;
            } else {
                // Enabling ETBEI while THR is empty (it always is) raises a
                // THRE interrupt, as on the 16550; drivers rely on this to
                // kick off interrupt-driven transmission.
                const auto ier = static_cast<uint8_t>(v & 0x0f);
                if ((ier & kIerThre) && !(ier_ & kIerThre)) thre_pending_ = true;
                ier_ = ier;
            }
            break;
        case kIirFcr: {
            const bool enable = v & kFcrEnable;
            // Switching between FIFO and non-FIFO mode empties the FIFOs on
            // a real 16550. The TX FIFO is always empty here, so FCR bit 2
            // has nothing to clear.
            if (enable != fifo_enabled_ || (v & kFcrClearRx)) rx_fifo_.clear();
            fifo_enabled_ = enable;
            break;
        }
        case kLcr: lcr_ = v; break;
        case kMcr: mcr_ = v & 0x1f; break;  // bits 5-7 do not exist on a 16550
        case kScr: scr_ = v; break;
        default: break;  // LSR and MSR are read-only
    }
}

bool Uart16550::awaits_input() const { return !loopback() && (ier_ & kIerRxData) && rx_fifo_.empty(); }

void Uart16550::poll_host_input() {
    if (!awaits_input()) return;
    pull_host_input();
    update_irq();
}

void Uart16550::pull_host_input() {
    // Only while there is room: a byte left in the host is never lost, and
    // a full FIFO costs no serial_in() call (and no trace record).
    while (rx_fifo_.size() < kFifoSize) {
        std::optional<uint8_t> b = in_.serial_in();
        if (!b) break;
        rx_fifo_.push_back(*b);
    }
}

void Uart16550::transmit(uint8_t byte) {
    // The byte leaves at once, so THR is empty again immediately.
    thre_pending_ = true;
    if (!loopback()) {
        if (tx_sink_) tx_sink_(byte);
        return;
    }
    if (rx_fifo_.size() < kFifoSize) {
        rx_fifo_.push_back(byte);
    } else {
        overrun_ = true;  // the FIFO keeps its bytes; the new one is lost
    }
}

uint8_t Uart16550::read_iir() {
    const uint8_t fifo_bits = fifo_enabled_ ? kIirFifoOn : 0;
    // Sources in the 16550's priority order; reading IIR acknowledges
    // only a THRE interrupt, and only when it is the one reported.
    if ((ier_ & kIerLineStatus) && overrun_) return fifo_bits | kIirLineStatus;
    if ((ier_ & kIerRxData) && !rx_fifo_.empty()) return fifo_bits | kIirRxData;
    if ((ier_ & kIerThre) && thre_pending_) {
        thre_pending_ = false;
        return fifo_bits | kIirThre;
    }
    return fifo_bits | kIirNone;
}

uint8_t Uart16550::read_lsr() {
    if (!loopback()) pull_host_input();
    uint8_t v = kLsrTxIdle;
    if (!rx_fifo_.empty()) v |= kLsrDataReady;
    if (overrun_) v |= kLsrOverrun;
    overrun_ = false;  // error bits clear when LSR is read
    return v;
}

uint8_t Uart16550::msr() const {
    if (!loopback()) return kMsrCableReady;
    // Loopback wires the outputs to the inputs: DTR->DSR, RTS->CTS,
    // OUT1->RI, OUT2->DCD. No delta bits, as in QEMU's model.
    return static_cast<uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) | ((mcr_ & 0x04) << 4) |
                                ((mcr_ & 0x08) << 4));
}

uint64_t Uart16550::state_digest() const {
    std::vector<uint8_t> s;
    s.reserve(12 + rx_fifo_.size());
    // The FIFO length first, so no two different states serialise alike.
    s.push_back(static_cast<uint8_t>(rx_fifo_.size()));
    s.insert(s.end(), rx_fifo_.begin(), rx_fifo_.end());
    for (uint8_t r : {ier_, lcr_, mcr_, scr_, dll_, dlm_}) s.push_back(r);
    s.push_back(fifo_enabled_);
    s.push_back(overrun_);
    s.push_back(thre_pending_);
    if (irq_.connected()) s.push_back(irq_level_);
    return XXH64(s.data(), s.size(), 0);
}

}  // namespace kvmrr
