// PicPair: the PC's two cascaded 8259A interrupt controllers and PIIX3's
// edge/level control registers (ELCR), as on QEMU's `pc` machine.
//
// Windows claimed: "pic-master" (I/O 0x20, 2 bytes: command, data),
// "pic-slave" (I/O 0xa0, 2 bytes) and "elcr" (I/O 0x4d0, 2 bytes: master's
// ELCR, slave's ELCR). The slave's INT output is the master's IR2. Devices
// reach the 16 inputs through IrqSink (pins 0-15; pin 2 belongs to the
// cascade and is ignored, as ISA IRQ2 is wired to IRQ9 on a PC). The CPU
// side is interrupt_pending() (the master's INTR pin) and acknowledge()
// (one INTA cycle: the vector, with IRR/ISR updated as the chips do);
// the board polls interrupt_pending() at exit boundaries. Behaviour follows
// the 8259A datasheet as QEMU models it: ICW1-ICW4, OCW1-OCW3, rotation,
// automatic EOI, poll mode, special mask mode, spurious IRQ 7/15 (the
// spurious vector sets no ISR bit on the chip that had nothing; a spurious
// slave still puts IR2 in service on the master, as QEMU does), level
// triggering per input from ELCR or for a whole chip from ICW1's LTIM bit.
// Special fully nested mode (ICW4 bit 4) is stored and, as in QEMU, makes
// the master ignore IR2's in-service bit when deciding whether to raise
// INTR. ICW4's 8086 bit is ignored (always 8086 mode), as is buffered mode.
// The device must outlive the MemorySystem it is attached to.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/irq.h"

namespace kvmrr {

class PicPair final : public Device, public IrqSink {
public:
    static constexpr unsigned kPins = 16;

    PicPair();
    PicPair(const PicPair&) = delete;
    PicPair& operator=(const PicPair&) = delete;

    std::string_view name() const override { return "i8259"; }
    uint32_t model_version() const override { return 1; }
    // Claims "pic-master", "pic-slave" and "elcr"; checks all three before
    // creating any region. Throws kvmrr::Error if one is missing or claimed,
    // or if this device is attached already.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    // IrqSink: input `pin` (0-7 master, 8-15 slave) is now at `level`.
    void set_irq(unsigned pin, bool level) override;

    // The master's INTR output: an unmasked request of higher priority than
    // any in service (on the master, or through IR2 on the slave).
    bool interrupt_pending() const;
    // Whether a request raised on input `pin` now (a new edge, or its line
    // going high) would raise INTR, given the masks, the requests in
    // service and the cascade. False for the cascade input and pins out of
    // range. Changes nothing: a halted CPU asks which timers can wake it.
    bool would_interrupt(unsigned pin) const;
    // One interrupt acknowledge cycle: the vector the CPU would read (0-255).
    // With nothing pending it returns the master's spurious vector (base+7)
    // and changes nothing.
    int acknowledge();

    // Power-on state: both chips uninitialised, ELCR and LTIM cleared.
    void reset();

private:
    // One 8259A. Every field is guest-visible state or decides what the
    // guest sees next, so all go into the digest.
    struct Chip {
        uint8_t irr = 0;
        uint8_t isr = 0;
        uint8_t imr = 0;
        uint8_t pin_level = 0;  // last level seen on each input, for edges
        uint8_t priority_add = 0;  // the input with the highest priority
        uint8_t irq_base = 0;
        uint8_t init_state = 0;  // 0 ready, 1 wants ICW2, 2 ICW3, 3 ICW4
        uint8_t elcr = 0;
        uint8_t elcr_mask = 0;  // the ELCR bits that exist
        bool read_isr = false;  // OCW3 RR/RIS: reads of the command port give ISR
        bool poll = false;
        bool special_mask = false;
        bool auto_eoi = false;
        bool rotate_on_auto_eoi = false;
        bool special_fully_nested = false;
        bool init4 = false;
        bool single_mode = false;
        bool ltim = false;
        bool master = false;

        void init_reset();
        bool level_triggered(unsigned irq) const { return ltim || (elcr >> irq & 1); }
        int priority_of(uint8_t mask) const;
        // The input this chip would present at INTA, or -1.
        int pending_irq() const;
        void set_pin(unsigned irq, bool level);
        void intack(unsigned irq);
        void write(unsigned port, uint8_t v);
        uint8_t read(unsigned port);
        void append_state(uint8_t* out) const;
    };
    static constexpr size_t kChipStateBytes = 19;

    class PortOps final : public RegionOps {
    public:
        enum class Which { Master, Slave, Elcr };
        PortOps(PicPair& p, Which w) : p_(p), w_(w) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;

    private:
        PicPair& p_;
        Which w_;
    };

    // Drives master IR2 from the slave's INT output; called after anything
    // that can change the slave's state.
    void update_cascade();

    Chip master_;
    Chip slave_;
    PortOps master_ops_{*this, PortOps::Which::Master};
    PortOps slave_ops_{*this, PortOps::Which::Slave};
    PortOps elcr_ops_{*this, PortOps::Which::Elcr};
    bool attached_ = false;
};

}  // namespace kvmrr
