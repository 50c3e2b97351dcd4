// IrqLine: a wire from a device to an interrupt controller's input pin.
//
// A device raises or lowers its line; the controller (the 8259 pair, the
// I/O APIC) decides what that means (an edge, a level). A line with no
// controller behind it goes nowhere, so a device works on a board that
// does not wire it (the default kvmrr board has no interrupt controller).
#pragma once

namespace kvmrr {

// What a controller offers its input pins.
class IrqSink {
public:
    virtual ~IrqSink() = default;
    virtual void set_irq(unsigned pin, bool level) = 0;
};

class IrqLine {
public:
    IrqLine() = default;
    IrqLine(IrqSink& sink, unsigned pin) : sink_(&sink), pin_(pin) {}
    void set(bool level) const {
        if (sink_) sink_->set_irq(pin_, level);
    }
    void raise() const { set(true); }
    void lower() const { set(false); }
    // An edge for an edge-triggered input: up, then down.
    void pulse() const {
        set(true);
        set(false);
    }
    bool connected() const { return sink_ != nullptr; }

private:
    IrqSink* sink_ = nullptr;
    unsigned pin_ = 0;
};

}  // namespace kvmrr
