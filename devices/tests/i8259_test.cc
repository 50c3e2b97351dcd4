// Tests for devices/i8259.h, through the machine's I/O address space.
// Expected values follow the 8259A datasheet and QEMU's model.
#include "devices/i8259.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {
namespace {

constexpr uint16_t kMasterCmd = 0x20, kMasterData = 0x21, kSlaveCmd = 0xa0, kSlaveData = 0xa1;
constexpr uint16_t kElcr1 = 0x4d0, kElcr2 = 0x4d1;
constexpr int kMasterBase = 0x08, kSlaveBase = 0x70;  // SeaBIOS's vectors

MachineLayout pic_layout() {
    using K = AddressSpace::Kind;
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"pic-master", K::Io, 0x20, 2});
    l.devices.push_back({"pic-slave", K::Io, 0xa0, 2});
    l.devices.push_back({"elcr", K::Io, 0x4d0, 2});
    return l;
}

struct Rig {
    PicPair pic;
    MemorySystem sys;
    MachineMemory m = build_machine(sys, pic_layout());

    Rig() { pic.attach(sys, m); }

    void out(uint16_t port, uint8_t v) { EXPECT_EQ(m.io_space->write(PioAddr(port), v, 1), AccessStatus::Ok); }
    uint8_t in(uint16_t port) {
        const AccessResult r = m.io_space->read(PioAddr(port), 1);
        EXPECT_EQ(r.status, AccessStatus::Ok);
        return static_cast<uint8_t>(r.value);
    }
    // SeaBIOS's pic_setup (and Linux's init_8259A): ICW1 edge + ICW4, ICW2
    // the base, ICW3 cascade on IR2 / slave ID 2, ICW4 8086 mode.
    void init(uint8_t icw4 = 0x01) {
        out(kMasterCmd, 0x11);
        out(kSlaveCmd, 0x11);
        out(kMasterData, kMasterBase);
        out(kSlaveData, kSlaveBase);
        out(kMasterData, 0x04);
        out(kSlaveData, 0x02);
        out(kMasterData, icw4);
        out(kSlaveData, icw4);
    }
    uint8_t isr(uint16_t cmd) {
        out(cmd, 0x0b);  // OCW3: read ISR
        return in(cmd);
    }
    uint8_t irr(uint16_t cmd) {
        out(cmd, 0x0a);  // OCW3: read IRR
        return in(cmd);
    }
    void pulse(unsigned pin) {
        pic.set_irq(pin, true);
        pic.set_irq(pin, false);
    }
};

TEST(I8259, Identity) {
    PicPair pic;
    EXPECT_EQ(pic.name(), "i8259");
    EXPECT_EQ(pic.model_version(), 1u);
}

TEST(I8259, SeaBiosInitSequence) {
    Rig r;
    r.out(kMasterData, 0x5a);  // a mask set before init is cleared by ICW1
    r.init();
    EXPECT_EQ(r.in(kMasterData), 0x00);
    EXPECT_EQ(r.in(kSlaveData), 0x00);
    EXPECT_EQ(r.in(kMasterCmd), 0x00);  // IRR selected after ICW1
    // SeaBIOS then masks everything but the cascade.
    r.out(kMasterData, 0xfb);
    r.out(kSlaveData, 0xff);
    EXPECT_EQ(r.in(kMasterData), 0xfb);
    EXPECT_EQ(r.in(kSlaveData), 0xff);
    EXPECT_FALSE(r.pic.interrupt_pending());

    r.out(kMasterData, 0xfa);  // unmask IRQ0
    r.pulse(0);
    EXPECT_TRUE(r.pic.interrupt_pending());
    EXPECT_EQ(r.irr(kMasterCmd), 0x01);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 0);
    EXPECT_EQ(r.isr(kMasterCmd), 0x01);
    EXPECT_EQ(r.irr(kMasterCmd), 0x00);  // an edge request leaves IRR at INTA
    EXPECT_FALSE(r.pic.interrupt_pending());
    r.out(kMasterCmd, 0x20);  // non-specific EOI
    EXPECT_EQ(r.isr(kMasterCmd), 0x00);
}

TEST(I8259, MaskHoldsARequestBack) {
    Rig r;
    r.init();
    r.out(kMasterData, 0x08);  // mask IRQ3
    r.pulse(3);
    EXPECT_EQ(r.irr(kMasterCmd), 0x08);  // latched in IRR even while masked
    EXPECT_FALSE(r.pic.interrupt_pending());
    r.out(kMasterData, 0x00);
    EXPECT_TRUE(r.pic.interrupt_pending());
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 3);
}

// What a halted CPU asks of a timer's input: would its next request raise
// INTR? Not while masked (on its chip, or the slave's cascade input on the
// master), nor while a request of higher or equal priority is in service;
// and asking changes nothing.
TEST(I8259, WouldInterruptFollowsMasksPrioritiesAndTheCascade) {
    Rig r;
    r.init();
    r.out(kMasterData, 0x00);
    r.out(kSlaveData, 0x00);
    EXPECT_TRUE(r.pic.would_interrupt(0));
    EXPECT_TRUE(r.pic.would_interrupt(9));
    EXPECT_FALSE(r.pic.would_interrupt(2));   // the cascade input
    EXPECT_FALSE(r.pic.would_interrupt(16));  // out of range
    r.out(kMasterData, 0x01);
    EXPECT_FALSE(r.pic.would_interrupt(0));
    EXPECT_TRUE(r.pic.would_interrupt(1));
    r.out(kMasterData, 0x04);  // the cascade masked: no slave input gets through
    EXPECT_FALSE(r.pic.would_interrupt(9));
    r.out(kMasterData, 0x00);
    r.out(kSlaveData, 0x02);  // IRQ 9 masked on the slave
    EXPECT_FALSE(r.pic.would_interrupt(9));
    EXPECT_TRUE(r.pic.would_interrupt(8));
    r.out(kSlaveData, 0x00);

    // IRQ 1 in service: IRQ 0 still interrupts it, IRQ 1 and lower do not.
    r.pulse(1);
    ASSERT_EQ(r.pic.acknowledge(), kMasterBase + 1);
    EXPECT_TRUE(r.pic.would_interrupt(0));
    EXPECT_FALSE(r.pic.would_interrupt(1));
    EXPECT_FALSE(r.pic.would_interrupt(4));
    EXPECT_FALSE(r.pic.would_interrupt(9));  // through IR2, below IR1
    EXPECT_EQ(r.irr(kMasterCmd), 0x00);      // asking raised nothing
    EXPECT_FALSE(r.pic.interrupt_pending());
    // Special mask mode: masking the input in service lets the rest in.
    r.out(kMasterData, 0x02);
    r.out(kMasterCmd, 0x68);  // OCW3: set special mask
    EXPECT_TRUE(r.pic.would_interrupt(4));
    EXPECT_TRUE(r.pic.would_interrupt(9));
}

TEST(I8259, FixedPriorityAndNesting) {
    Rig r;
    r.init();
    r.pulse(5);
    r.pulse(3);
    r.pulse(1);
    EXPECT_EQ(r.irr(kMasterCmd), 0x2a);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 1);
    // IRQ1 in service holds back 3 and 5; IRQ0 still gets through.
    EXPECT_FALSE(r.pic.interrupt_pending());
    r.pulse(0);
    EXPECT_TRUE(r.pic.interrupt_pending());
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 0);
    EXPECT_EQ(r.isr(kMasterCmd), 0x03);
    r.out(kMasterCmd, 0x20);  // non-specific EOI ends the highest: IRQ0
    EXPECT_EQ(r.isr(kMasterCmd), 0x02);
    EXPECT_FALSE(r.pic.interrupt_pending());
    r.out(kMasterCmd, 0x20);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 3);
    r.out(kMasterCmd, 0x20);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 5);
    r.out(kMasterCmd, 0x20);
    EXPECT_EQ(r.isr(kMasterCmd), 0x00);
}

TEST(I8259, SpecificEoi) {
    Rig r;
    r.init();
    r.pulse(4);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 4);
    r.pulse(2 + 0);  // pin 2 is the cascade: ignored
    r.pulse(1);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 1);
    EXPECT_EQ(r.isr(kMasterCmd), 0x12);
    r.out(kMasterCmd, 0x60 | 4);  // specific EOI for IRQ4, not the highest
    EXPECT_EQ(r.isr(kMasterCmd), 0x02);
    r.out(kMasterCmd, 0x60 | 6);  // for a level not in service: nothing
    EXPECT_EQ(r.isr(kMasterCmd), 0x02);
    r.out(kMasterCmd, 0x60 | 1);
    EXPECT_EQ(r.isr(kMasterCmd), 0x00);
}

TEST(I8259, RotateOnNonSpecificEoi) {
    Rig r;
    r.init();
    r.pulse(1);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 1);
    r.out(kMasterCmd, 0xa0);  // rotate on non-specific EOI: IRQ1 becomes lowest
    EXPECT_EQ(r.isr(kMasterCmd), 0x00);
    // Priority is now 2,3,4,5,6,7,0,1.
    r.pulse(0);
    r.pulse(1);
    r.pulse(6);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 6);
    // 6 in service blocks 0 and 1, which now rank below it.
    EXPECT_FALSE(r.pic.interrupt_pending());
    r.out(kMasterCmd, 0x20);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 0);
    r.out(kMasterCmd, 0x20);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 1);
}

TEST(I8259, SetPriorityAndRotateOnSpecificEoi) {
    Rig r;
    r.init();
    r.out(kMasterCmd, 0xc0 | 4);  // set priority: IRQ4 lowest, IRQ5 highest
    r.pulse(0);
    r.pulse(4);
    r.pulse(5);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 5);
    r.out(kMasterCmd, 0xe0 | 5);  // rotate on specific EOI 5: IRQ5 lowest, 6 highest
    EXPECT_EQ(r.isr(kMasterCmd), 0x00);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 0);
    r.out(kMasterCmd, 0x20);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 4);
}

TEST(I8259, AutoEoiWithRotation) {
    Rig r;
    r.init(0x03);  // ICW4: 8086, automatic EOI
    r.pulse(3);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 3);
    EXPECT_EQ(r.isr(kMasterCmd), 0x00);  // nothing stays in service
    r.pulse(1);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 1);

    r.out(kMasterCmd, 0x80);  // rotate in automatic EOI mode: set
    r.pulse(1);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 1);  // now IRQ1 is lowest
    r.pulse(0);
    r.pulse(2 + 1);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 3);
    // IRQ3 is lowest now: 4,5,6,7,0,1,2,3.
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 0);

    r.out(kMasterCmd, 0x00);  // rotate in AEOI: clear
    r.out(kMasterCmd, 0xc0 | 7);  // back to IRQ0 highest
    r.pulse(5);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 5);
    r.pulse(6);
    r.pulse(4);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 4);  // no rotation
}

TEST(I8259, ElcrRegisters) {
    Rig r;
    EXPECT_EQ(r.in(kElcr1), 0x00);  // QEMU resets them to edge
    EXPECT_EQ(r.in(kElcr2), 0x00);
    r.out(kElcr1, 0xff);
    r.out(kElcr2, 0xff);
    EXPECT_EQ(r.in(kElcr1), 0xf8);  // IRQ 0, 1, 2 are always edge
    EXPECT_EQ(r.in(kElcr2), 0xde);  // IRQ 8 and 13 too
    r.out(kElcr1, 0x00);
    r.out(kElcr2, 0x0c);  // SeaBIOS on QEMU: "elcr=00 0c" (IRQ 10, 11)
    EXPECT_EQ(r.in(kElcr1), 0x00);
    EXPECT_EQ(r.in(kElcr2), 0x0c);
    // A word access reaches both registers.
    const AccessResult w = r.m.io_space->read(PioAddr(kElcr1), 2);
    EXPECT_EQ(w.status, AccessStatus::Ok);
    EXPECT_EQ(w.value, 0x0c00u);
    r.init();  // ICW1 leaves ELCR alone
    EXPECT_EQ(r.in(kElcr2), 0x0c);
}

TEST(I8259, EdgeTriggeredInput) {
    Rig r;
    r.init();
    r.pic.set_irq(5, true);
    r.pic.set_irq(5, false);  // a short pulse stays latched
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 5);
    r.out(kMasterCmd, 0x20);
    r.pic.set_irq(5, true);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 5);
    r.out(kMasterCmd, 0x20);
    r.pic.set_irq(5, true);  // still high: no new edge, no new request
    EXPECT_FALSE(r.pic.interrupt_pending());
    r.pic.set_irq(5, false);
    r.pic.set_irq(5, true);
    EXPECT_TRUE(r.pic.interrupt_pending());
}

TEST(I8259, LevelTriggeredInputFromElcr) {
    Rig r;
    r.init();
    r.out(kElcr1, 0x20);  // IRQ5 level
    r.pic.set_irq(5, true);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 5);
    EXPECT_EQ(r.irr(kMasterCmd), 0x20);  // a level request stays in IRR at INTA
    r.out(kMasterCmd, 0x20);
    EXPECT_TRUE(r.pic.interrupt_pending());  // line still high: asks again
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 5);
    r.out(kMasterCmd, 0x20);
    r.pic.set_irq(5, false);
    EXPECT_EQ(r.irr(kMasterCmd), 0x00);  // the request goes with the line
    EXPECT_FALSE(r.pic.interrupt_pending());
    // A pulse on a level input that is gone before INTA leaves nothing.
    r.pulse(5);
    EXPECT_FALSE(r.pic.interrupt_pending());
}

TEST(I8259, LevelTriggeredSlaveInput) {
    Rig r;
    r.init();
    r.out(kElcr2, 0x08);  // IRQ11 level
    r.pic.set_irq(11, true);
    EXPECT_EQ(r.pic.acknowledge(), kSlaveBase + 3);
    r.out(kSlaveCmd, 0x20);
    r.out(kMasterCmd, 0x20);
    EXPECT_EQ(r.pic.acknowledge(), kSlaveBase + 3);  // asserted still
    r.out(kSlaveCmd, 0x20);  // the slave asks again: master IR2 latches an edge
    r.out(kMasterCmd, 0x20);
    r.pic.set_irq(11, false);
    EXPECT_EQ(r.irr(kSlaveCmd), 0x00);
    // The master's IR2 edge outlives the slave's request: a spurious IRQ15,
    // as on the real pair.
    EXPECT_TRUE(r.pic.interrupt_pending());
    EXPECT_EQ(r.pic.acknowledge(), kSlaveBase + 7);
    r.out(kMasterCmd, 0x20);
    EXPECT_FALSE(r.pic.interrupt_pending());
}

TEST(I8259, LtimMakesEveryInputLevel) {
    Rig r;
    r.out(kMasterCmd, 0x19);  // ICW1 with LTIM
    r.out(kMasterData, kMasterBase);
    r.out(kMasterData, 0x04);
    r.out(kMasterData, 0x01);
    r.pic.set_irq(0, true);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 0);
    r.out(kMasterCmd, 0x20);
    EXPECT_TRUE(r.pic.interrupt_pending());
    r.pic.set_irq(0, false);
    EXPECT_FALSE(r.pic.interrupt_pending());
}

TEST(I8259, SpuriousMasterIrq7) {
    Rig r;
    r.init();
    // A level request that went away before INTA: the master answers IRQ7.
    r.out(kElcr1, 0x10);
    r.pic.set_irq(4, true);
    EXPECT_TRUE(r.pic.interrupt_pending());
    r.pic.set_irq(4, false);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 7);
    EXPECT_EQ(r.isr(kMasterCmd), 0x00);  // no ISR bit for a spurious IRQ
    EXPECT_EQ(r.isr(kSlaveCmd), 0x00);
    // Nothing at all pending: the same.
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 7);
    EXPECT_EQ(r.isr(kMasterCmd), 0x00);
}

TEST(I8259, SpuriousSlaveIrq15) {
    Rig r;
    r.init();
    r.out(kElcr2, 0x04);  // IRQ10 level
    r.pic.set_irq(10, true);
    EXPECT_EQ(r.irr(kMasterCmd), 0x04);  // the slave's INT reached IR2
    r.pic.set_irq(10, false);
    // The master's IR2 request is an edge and stays; the slave has nothing.
    EXPECT_TRUE(r.pic.interrupt_pending());
    EXPECT_EQ(r.pic.acknowledge(), kSlaveBase + 7);
    EXPECT_EQ(r.isr(kSlaveCmd), 0x00);
    EXPECT_EQ(r.isr(kMasterCmd), 0x04);  // QEMU puts the master's IR2 in service
    r.out(kMasterCmd, 0x20);
    EXPECT_EQ(r.isr(kMasterCmd), 0x00);
}

TEST(I8259, CascadeThroughIr2) {
    Rig r;
    r.init();
    r.pulse(8);
    EXPECT_EQ(r.irr(kMasterCmd), 0x04);
    EXPECT_EQ(r.irr(kSlaveCmd), 0x01);
    EXPECT_TRUE(r.pic.interrupt_pending());
    EXPECT_EQ(r.pic.acknowledge(), kSlaveBase + 0);
    EXPECT_EQ(r.isr(kMasterCmd), 0x04);
    EXPECT_EQ(r.isr(kSlaveCmd), 0x01);
    EXPECT_EQ(r.irr(kMasterCmd), 0x00);
    // Another slave input waits behind IR2 in service on the master.
    r.pulse(14);
    EXPECT_FALSE(r.pic.interrupt_pending());
    // A master input above IR2 still gets through.
    r.pulse(1);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 1);
    r.out(kMasterCmd, 0x20);  // ends IRQ1
    // The guest ends the slave's first, then the master's.
    r.out(kSlaveCmd, 0x20);
    r.out(kMasterCmd, 0x20);
    EXPECT_TRUE(r.pic.interrupt_pending());
    EXPECT_EQ(r.pic.acknowledge(), kSlaveBase + 6);
    EXPECT_EQ(r.isr(kSlaveCmd), 0x40);
    // Masking the cascade on the master hides the whole slave.
    r.out(kSlaveCmd, 0x20);
    r.out(kMasterCmd, 0x20);
    r.out(kMasterData, 0x04);
    r.pulse(9);
    EXPECT_FALSE(r.pic.interrupt_pending());
    r.out(kMasterData, 0x00);
    EXPECT_EQ(r.pic.acknowledge(), kSlaveBase + 1);
}

TEST(I8259, SlaveMaskAndPriority) {
    Rig r;
    r.init();
    r.out(kSlaveData, 0x01);  // mask IRQ8
    r.pulse(8);
    EXPECT_FALSE(r.pic.interrupt_pending());
    EXPECT_EQ(r.irr(kMasterCmd), 0x00);
    r.pulse(12);
    r.pulse(9);
    EXPECT_EQ(r.pic.acknowledge(), kSlaveBase + 1);
    r.out(kSlaveCmd, 0x20);
    r.out(kMasterCmd, 0x20);
    EXPECT_EQ(r.pic.acknowledge(), kSlaveBase + 4);
    r.out(kSlaveCmd, 0x20);
    r.out(kMasterCmd, 0x20);
    r.out(kSlaveData, 0x00);
    EXPECT_EQ(r.pic.acknowledge(), kSlaveBase + 0);
}

TEST(I8259, PollMode) {
    Rig r;
    r.init();
    r.out(kMasterCmd, 0x0c);  // OCW3: poll
    EXPECT_EQ(r.in(kMasterCmd), 0x00);  // nothing: bit 7 clear
    r.pulse(6);
    r.pulse(3);
    r.out(kMasterCmd, 0x0c);
    EXPECT_EQ(r.in(kMasterCmd), 0x83);  // the poll read acknowledges IRQ3
    EXPECT_EQ(r.isr(kMasterCmd), 0x08);
    EXPECT_EQ(r.in(kMasterData), 0x00);  // poll was for one read only: IMR
    r.out(kMasterCmd, 0x20);
    r.out(kMasterCmd, 0x0c);
    EXPECT_EQ(r.in(kMasterData), 0x86);  // either port answers a poll
    r.out(kMasterCmd, 0x20);
    // Polling the slave lowers its INT when nothing more is pending.
    r.pulse(13);
    EXPECT_EQ(r.irr(kMasterCmd), 0x04);
    r.out(kSlaveCmd, 0x0c);
    EXPECT_EQ(r.in(kSlaveCmd), 0x85);
    EXPECT_EQ(r.isr(kSlaveCmd), 0x20);
}

TEST(I8259, SpecialMaskMode) {
    Rig r;
    r.init();
    r.pulse(3);
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 3);
    r.pulse(5);
    EXPECT_FALSE(r.pic.interrupt_pending());
    r.out(kMasterData, 0x08);  // mask the one in service
    r.out(kMasterCmd, 0x68);   // OCW3: set special mask mode
    EXPECT_TRUE(r.pic.interrupt_pending());  // lower priorities are let through
    EXPECT_EQ(r.pic.acknowledge(), kMasterBase + 5);
    r.out(kMasterCmd, 0x48);  // reset special mask mode
    r.out(kMasterCmd, 0x60 | 5);
    r.pulse(6);
    EXPECT_FALSE(r.pic.interrupt_pending());  // 3 still in service blocks 6
}

TEST(I8259, SingleModeWithoutIcw4) {
    Rig r;
    r.out(kMasterCmd, 0x12);  // single, no ICW4
    r.out(kMasterData, 0x40);  // ICW2; then initialised
    r.out(kMasterData, 0x7f);  // OCW1
    EXPECT_EQ(r.in(kMasterData), 0x7f);
    r.pulse(7);
    EXPECT_EQ(r.pic.acknowledge(), 0x47);
    EXPECT_EQ(r.isr(kMasterCmd), 0x80);  // no AEOI without ICW4
}

TEST(I8259, CascadeModeWithoutIcw4) {
    Rig r;
    r.out(kMasterCmd, 0x10);  // cascade, no ICW4
    r.out(kMasterData, 0x20);  // ICW2
    r.out(kMasterData, 0x04);  // ICW3; then initialised
    r.out(kMasterData, 0xaa);  // OCW1
    EXPECT_EQ(r.in(kMasterData), 0xaa);
}

TEST(I8259, GarbageBeforeAndDuringInitStaysDefined) {
    Rig r;
    // Before any ICW: OCWs act on the reset state (base 0).
    r.out(kMasterData, 0x00);
    r.out(kMasterCmd, 0x20);  // EOI with nothing in service
    r.out(kMasterCmd, 0x0b);
    EXPECT_EQ(r.in(kMasterCmd), 0x00);
    r.pulse(1);
    EXPECT_EQ(r.pic.acknowledge(), 0x01);
    EXPECT_EQ(r.in(kMasterCmd), 0x02);  // ISR selected above

    // An ICW sequence cut short by a new ICW1 starts over.
    r.out(kMasterCmd, 0x11);
    r.out(kMasterData, 0x30);
    r.out(kMasterCmd, 0x11);
    r.out(kMasterData, kMasterBase);
    r.out(kMasterData, 0x04);
    r.out(kMasterData, 0x01);
    r.out(kMasterData, 0xee);  // this one is OCW1
    EXPECT_EQ(r.in(kMasterData), 0xee);
    // An OCW in the middle of the sequence does not end it: the next data
    // writes are still ICW3 and ICW4.
    r.out(kSlaveCmd, 0x11);
    r.out(kSlaveData, kSlaveBase);
    r.out(kSlaveCmd, 0x0b);
    r.out(kSlaveData, 0x02);
    r.out(kSlaveData, 0x01);
    r.out(kSlaveData, 0x00);
    EXPECT_EQ(r.in(kSlaveData), 0x00);
    r.out(kMasterData, 0x00);
    r.pulse(15);
    EXPECT_EQ(r.pic.acknowledge(), kSlaveBase + 7);
    EXPECT_EQ(r.isr(kSlaveCmd), 0x80);  // a real IRQ15 this time
    // ICW2's low bits are the input number, not part of the base.
    r.out(kMasterCmd, 0x11);
    r.out(kMasterData, 0xff);
    r.out(kMasterData, 0x04);
    r.out(kMasterData, 0x01);
    r.pulse(0);
    EXPECT_EQ(r.pic.acknowledge(), 0xf8);
    // Pins out of range and the cascade pin are ignored.
    r.pic.set_irq(16, true);
    r.pic.set_irq(1000, true);
    r.pic.set_irq(2, true);
    EXPECT_EQ(r.irr(kMasterCmd), 0x00);
    // Accesses wider than the window are refused; word accesses split.
    EXPECT_NE(r.m.io_space->read(PioAddr(kMasterCmd), 4).status, AccessStatus::Ok);
    EXPECT_EQ(r.m.io_space->write(PioAddr(kMasterCmd), 0x0b0b, 2), AccessStatus::Ok);
    EXPECT_EQ(r.in(kMasterData), 0x0b);  // the second byte was OCW1
}

TEST(I8259, ClaimsItsWindows) {
    Rig r;
    EXPECT_EQ(r.m.windows.count("pic-master"), 0u);
    EXPECT_EQ(r.m.windows.count("pic-slave"), 0u);
    EXPECT_EQ(r.m.windows.count("elcr"), 0u);
    EXPECT_THROW(r.pic.attach(r.sys, r.m), Error);
    PicPair second;
    const size_t regions = r.sys.region_count();
    EXPECT_THROW(second.attach(r.sys, r.m), Error);
    EXPECT_EQ(r.sys.region_count(), regions);
}

TEST(I8259, AttachFailsWithoutAllWindowsAndLeavesNothing) {
    using K = AddressSpace::Kind;
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"pic-master", K::Io, 0x20, 2});
    l.devices.push_back({"pic-slave", K::Io, 0xa0, 2});
    MemorySystem sys;
    MachineMemory m = build_machine(sys, l);
    const size_t regions = sys.region_count();
    PicPair pic;
    try {
        pic.attach(sys, m);
        ADD_FAILURE() << "attach without 'elcr' did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("elcr"), std::string::npos) << e.what();
    }
    EXPECT_EQ(sys.region_count(), regions);
    EXPECT_EQ(m.windows.count("pic-master"), 1u);
}

TEST(I8259, DigestFollowsEveryRegister) {
    Rig a;
    Rig b;
    EXPECT_EQ(a.pic.state_digest(), b.pic.state_digest());
    uint64_t last = a.pic.state_digest();
    auto changed = [&](const char* what) {
        const uint64_t d = a.pic.state_digest();
        EXPECT_NE(d, last) << what;
        last = d;
    };
    a.out(kMasterCmd, 0x11);
    changed("ICW1");
    a.out(kMasterData, kMasterBase);
    changed("ICW2");
    a.out(kMasterData, 0x04);
    changed("ICW3");
    a.out(kMasterData, 0x01);
    changed("ICW4");
    a.out(kMasterData, 0x10);
    changed("IMR");
    a.pic.set_irq(0, true);
    changed("IRR");
    a.pic.acknowledge();
    changed("ISR");
    a.out(kMasterCmd, 0x0b);
    changed("read select");
    a.out(kMasterCmd, 0x68);
    changed("special mask");
    a.out(kMasterCmd, 0xc3);
    changed("priority");
    a.out(kMasterCmd, 0x80);
    changed("rotate in AEOI");
    a.out(kMasterCmd, 0x0c);
    changed("poll");
    a.out(kElcr2, 0x08);
    changed("ELCR");
    a.out(kSlaveData, 0x01);
    changed("slave IMR");

    for (auto [port, v] : {std::pair{kMasterCmd, 0x11}, {kMasterData, kMasterBase}, {kMasterData, 0x04},
                           {kMasterData, 0x01}, {kMasterData, 0x10}}) {
        b.out(port, static_cast<uint8_t>(v));
    }
    b.pic.set_irq(0, true);
    b.pic.acknowledge();
    for (auto [port, v] : {std::pair{kMasterCmd, 0x0b}, {kMasterCmd, 0x68}, {kMasterCmd, 0xc3}, {kMasterCmd, 0x80},
                           {kMasterCmd, 0x0c}, {kElcr2, 0x08}, {kSlaveData, 0x01}}) {
        b.out(port, static_cast<uint8_t>(v));
    }
    EXPECT_EQ(a.pic.state_digest(), b.pic.state_digest());
}

}  // namespace
}  // namespace kvmrr
