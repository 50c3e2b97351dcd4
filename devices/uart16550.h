// Uart16550: the PC's COM1 serial port, as the register file a polling
// guest driver programs (8 one-byte ports at the "uart16550" window).
//
// The model keeps the 16550's register semantics and leaves out the wire:
// the transmitter drains instantly (every transmitted byte goes straight to
// `tx_sink`, so THRE and TEMT are always set), received bytes come from
// HostInputs::serial_in() into a 16-byte RX FIFO. Interrupts are reported in
// IIR and, where the board wires an IrqLine (the pc board: IRQ 4), on that
// line too: high while an enabled source is pending (as QEMU's, whatever
// MCR's OUT2 says), so an interrupt-driven driver (Linux's 8250) sends.
// Host input is pulled when the guest reads
// RBR or LSR, and, on a board with timers, while the receive interrupt is
// enabled and the FIFO is empty (poll_host_input): at each timer tick, and
// when the guest waits in HLT for this interrupt alone, so that a guest
// waiting for input gets its interrupt; only while the FIFO has room, so
// the number of serial_in() calls (each one a trace record) depends on the
// guest's accesses, the ticks and the waits alone, points that replay
// finds again, and no input byte is ever dropped. Loopback (MCR bit 4)
// disconnects the host on both sides: transmitted bytes go to the RX FIFO
// (setting OE when it is full) and MSR shows the MCR outputs. The device
// must outlive the MemorySystem it is attached to, whose region calls it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/host_inputs.h"
#include "devices/irq.h"

namespace kvmrr {

class Uart16550 final : public Device, private RegionOps {
public:
    static constexpr uint64_t kSize = 8;
    static constexpr size_t kFifoSize = 16;

    // `tx_sink` receives every byte the guest transmits outside loopback;
    // an empty function discards them.
    Uart16550(HostInputs& in, std::function<void(uint8_t)> tx_sink, IrqLine irq = {});
    Uart16550(const Uart16550&) = delete;
    Uart16550& operator=(const Uart16550&) = delete;

    std::string_view name() const override { return "uart16550"; }
    // 4 with an interrupt line (2 raised it, but took no input at ticks; 3
    // took none while the guest waited for it alone); without one the
    // behaviour is version 1's.
    uint32_t model_version() const override { return irq_.connected() ? 4 : 1; }
    // Claims the "uart16550" window; throws kvmrr::Error if the window is
    // missing or claimed, or if this device is attached already.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;
    // A timer of the board fired, or the guest waits for input: while
    // awaits_input(), takes what the host has (and raises the interrupt
    // for it). A tick follows a recorded clock reading, and a wait is a
    // HLT the guest makes again, so replay polls at the same points; the
    // host's own moments of arrival it could not find again.
    void poll_host_input();
    // The receive-data interrupt enabled, outside loopback, nothing
    // received: host input would raise the interrupt.
    bool awaits_input() const;

private:
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;
    uint64_t read_register(uint64_t offset, unsigned size);
    void write_register(uint64_t offset, uint64_t value, unsigned size);

    bool dlab() const { return lcr_ & 0x80; }
    bool loopback() const { return mcr_ & 0x10; }
    void pull_host_input();
    void transmit(uint8_t byte);
    uint8_t read_iir();
    uint8_t read_lsr();
    uint8_t msr() const;
    // The line follows the pending sources after every access.
    void update_irq();

    HostInputs& in_;
    std::function<void(uint8_t)> tx_sink_;
    IrqLine irq_;
    bool irq_level_ = false;
    bool attached_ = false;

    // Guest-visible state; all of it goes into state_digest().
    std::deque<uint8_t> rx_fifo_;
    uint8_t ier_ = 0;
    uint8_t lcr_ = 0;
    uint8_t mcr_ = 0;
    uint8_t scr_ = 0;
    uint8_t dll_ = 0;
    uint8_t dlm_ = 0;
    bool fifo_enabled_ = false;
    bool overrun_ = false;       // LSR.OE, until LSR is read
    bool thre_pending_ = false;  // THRE interrupt raised and not yet acknowledged
};

}  // namespace kvmrr
