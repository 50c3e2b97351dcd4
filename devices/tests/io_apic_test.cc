// Tests for devices/io_apic.h, through the machine's memory address space.
// Expected values come from the 82093AA datasheet and QEMU's
// hw/intc/ioapic.c and ioapic_common.c.
#include "devices/io_apic.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/irq.h"

namespace kvmrr {
namespace {

constexpr uint64_t kBase = 0xfec00000;

MachineLayout layout_with_ioapic() {
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"ioapic", AddressSpace::Kind::Memory, kBase, 0x1000});
    return l;
}

struct Rig {
    IoApic ioapic;
    MemorySystem sys;
    MachineMemory m = build_machine(sys, layout_with_ioapic());

    Rig() { ioapic.attach(sys, m); }

    uint64_t get(uint64_t off, unsigned size = 4) {
        const AccessResult r = m.memory->read(Gpa(kBase + off), size);
        EXPECT_EQ(r.status, AccessStatus::Ok) << hex(off);
        return r.value;
    }
    void put(uint64_t off, uint64_t v, unsigned size = 4) {
        EXPECT_EQ(m.memory->write(Gpa(kBase + off), v, size), AccessStatus::Ok) << hex(off);
    }
    uint32_t reg(uint8_t index) {
        put(0x00, index);
        return static_cast<uint32_t>(get(0x10));
    }
    void set_reg(uint8_t index, uint32_t v) {
        put(0x00, index);
        put(0x10, v);
    }
    void set_entry(unsigned pin, uint64_t e) {
        set_reg(static_cast<uint8_t>(0x10 + 2 * pin), static_cast<uint32_t>(e));
        set_reg(static_cast<uint8_t>(0x11 + 2 * pin), static_cast<uint32_t>(e >> 32));
    }
};

TEST(IoApic, Identity) {
    IoApic ioapic;
    EXPECT_EQ(ioapic.name(), "ioapic");
    EXPECT_EQ(ioapic.model_version(), 1u);
}

TEST(IoApic, ResetValues) {
    Rig r;
    EXPECT_EQ(r.get(0x00), 0u);             // IOREGSEL
    EXPECT_EQ(r.get(0x10), 0u);             // ID, selected at reset
    EXPECT_EQ(r.reg(0x01), 0x00170020u);    // 24 entries, version 0x20 (QEMU pc-2.8 and later)
    EXPECT_EQ(r.reg(0x02), 0u);             // arbitration
    for (unsigned pin = 0; pin < 24; ++pin) {
        EXPECT_EQ(r.reg(static_cast<uint8_t>(0x10 + 2 * pin)), 0x00010000u) << pin;  // masked
        EXPECT_EQ(r.reg(static_cast<uint8_t>(0x11 + 2 * pin)), 0u) << pin;
    }
    EXPECT_FALSE(r.ioapic.pending_vector());
}

TEST(IoApic, RegisterSelect) {
    Rig r;
    r.put(0x00, 0x01);
    EXPECT_EQ(r.get(0x00), 0x01u);
    EXPECT_EQ(r.get(0x10), 0x00170020u);
    EXPECT_EQ(r.get(0x10), 0x00170020u);  // the selection stays
    r.put(0x00, 0x12345602);  // only the low byte is the index
    EXPECT_EQ(r.get(0x00), 0x02u);
    r.put(0x00, 0x01, 1);  // byte and word writes select too, as QEMU
    EXPECT_EQ(r.get(0x00, 1), 0x01u);
    EXPECT_EQ(r.get(0x10), 0x00170020u);
    r.put(0x00, 0x10, 2);
    EXPECT_EQ(r.get(0x00), 0x10u);
    EXPECT_EQ(r.get(0x10), 0x00010000u);
}

TEST(IoApic, IdIsFourBitsAndTheRestIsReadOnly) {
    Rig r;
    r.set_reg(0x00, 0xffffffff);
    EXPECT_EQ(r.reg(0x00), 0x0f000000u);
    EXPECT_EQ(r.reg(0x02), 0x0f000000u);  // arbitration ID follows, as QEMU
    r.set_reg(0x00, 0x02000000);
    EXPECT_EQ(r.reg(0x00), 0x02000000u);
    r.set_reg(0x01, 0);
    r.set_reg(0x02, 0);
    EXPECT_EQ(r.reg(0x01), 0x00170020u);
    EXPECT_EQ(r.reg(0x02), 0x02000000u);
}

TEST(IoApic, RedirectionEntryRoundTrip) {
    Rig r;
    // Linux's entry for a level-triggered, active-low PCI interrupt: vector
    // 0x31, fixed, physical, to APIC 0, unmasked.
    r.set_entry(11, 0x000000000000a031ull);
    EXPECT_EQ(r.reg(0x10 + 22), 0x0000a031u);
    EXPECT_EQ(r.reg(0x11 + 22), 0u);
    // Halves are independent.
    r.set_reg(0x11 + 22, 0xff000000);
    EXPECT_EQ(r.reg(0x10 + 22), 0x0000a031u);
    EXPECT_EQ(r.reg(0x11 + 22), 0xff000000u);
    r.set_reg(0x10 + 22, 0x00010041);
    EXPECT_EQ(r.reg(0x10 + 22), 0x00010041u);
    EXPECT_EQ(r.reg(0x11 + 22), 0xff000000u);
    // Delivery status (12) and remote IRR (14) are read-only and 0.
    r.set_reg(0x10 + 4, 0xffffffff);
    EXPECT_EQ(r.reg(0x10 + 4), 0xffffafffu);
    r.set_reg(0x11 + 4, 0xffffffff);
    EXPECT_EQ(r.reg(0x11 + 4), 0xffffffffu);
    // Neighbours untouched.
    EXPECT_EQ(r.reg(0x10 + 2), 0x00010000u);
    EXPECT_EQ(r.reg(0x10 + 6), 0x00010000u);
    // The last pin.
    r.set_entry(23, 0x0100000000000077ull);
    EXPECT_EQ(r.reg(0x3e), 0x00000077u);
    EXPECT_EQ(r.reg(0x3f), 0x01000000u);
}

TEST(IoApic, UnknownIndexesReadZero) {
    Rig r;
    const uint64_t before = r.ioapic.state_digest();
    for (unsigned index : {0x03u, 0x0fu, 0x40u, 0x41u, 0x80u, 0xffu}) {
        r.set_reg(static_cast<uint8_t>(index), 0xffffffff);
        EXPECT_EQ(r.reg(static_cast<uint8_t>(index)), 0u) << index;
    }
    r.put(0x00, 0);
    EXPECT_EQ(r.ioapic.state_digest(), before);
}

TEST(IoApic, OddSizesAndOffsets) {
    Rig r;
    r.put(0x00, 0x01);
    const uint64_t before = r.ioapic.state_digest();
    for (unsigned size : {1u, 2u, 8u}) EXPECT_EQ(r.get(0x10, size), 0u) << size;  // IOWIN is 32-bit only
    r.put(0x00, 0x10);
    const uint64_t selected = r.ioapic.state_digest();
    r.put(0x10, 0x00, 1);  // would unmask pin 0 if honoured
    r.put(0x10, 0x00, 2);
    r.put(0x10, 0x00, 8);
    EXPECT_EQ(r.get(0x10), 0x00010000u);
    EXPECT_EQ(r.ioapic.state_digest(), selected);
    EXPECT_NE(selected, before);
    for (uint64_t off : {0x01, 0x04, 0x08, 0x0c, 0x11, 0x14, 0x20, 0x30, 0x40, 0x100, 0x110, 0xffc}) {
        EXPECT_EQ(r.get(off), 0u) << hex(off);
        r.put(off, 0);
    }
    r.put(0x00, 0x55, 8);  // an 8-byte access is not IOREGSEL's
    EXPECT_EQ(r.get(0x00), 0x10u);
    EXPECT_EQ(r.get(0x10), 0x00010000u);
    EXPECT_EQ(r.ioapic.state_digest(), selected);
    EXPECT_EQ(r.m.memory->stats().invalid, 0u);
}

TEST(IoApic, EoiRegisterIsHarmless) {
    Rig r;
    r.set_entry(9, 0x0000000000008039ull);  // level, vector 0x39
    const uint64_t before = r.ioapic.state_digest();
    r.put(0x40, 0x39);
    EXPECT_EQ(r.ioapic.state_digest(), before);
    EXPECT_EQ(r.reg(0x10 + 18), 0x00008039u);
}

TEST(IoApic, PinsRaisedAndLowered) {
    Rig r;
    IrqLine line3(r.ioapic, 3);
    IrqLine line7(r.ioapic, 7);
    line3.raise();
    EXPECT_FALSE(r.ioapic.pending_vector());  // masked at reset
    r.set_entry(3, 0x23);                     // fixed, edge, vector 0x23, unmasked
    ASSERT_TRUE(r.ioapic.pending_vector());
    EXPECT_EQ(*r.ioapic.pending_vector(), 0x23);
    line7.raise();
    r.set_entry(7, 0x8127);  // lowest priority, level, vector 0x27
    EXPECT_EQ(*r.ioapic.pending_vector(), 0x23);  // the lower pin first
    line3.lower();
    EXPECT_EQ(*r.ioapic.pending_vector(), 0x27);
    r.set_reg(0x10 + 14, 0x18127);  // masking pin 7 hides it
    EXPECT_FALSE(r.ioapic.pending_vector());
    r.set_reg(0x10 + 14, 0x8127);
    EXPECT_EQ(*r.ioapic.pending_vector(), 0x27);
    line7.lower();
    EXPECT_FALSE(r.ioapic.pending_vector());
    line3.pulse();  // edges are not latched
    EXPECT_FALSE(r.ioapic.pending_vector());
}

TEST(IoApic, DeliveryModesWithoutAVectorAreNotPending) {
    Rig r;
    r.ioapic.set_irq(5, true);
    for (uint64_t mode : {2u, 4u, 5u, 7u}) {  // SMI, NMI, INIT, ExtINT
        r.set_entry(5, (mode << 8) | 0x35);
        EXPECT_FALSE(r.ioapic.pending_vector()) << mode;
    }
    r.set_entry(5, 0x35);
    EXPECT_EQ(*r.ioapic.pending_vector(), 0x35);
}

TEST(IoApic, PinsPastTheLastAreIgnored) {
    Rig r;
    const uint64_t before = r.ioapic.state_digest();
    for (unsigned pin : {24u, 31u, 32u, 1000u, ~0u}) r.ioapic.set_irq(pin, true);
    EXPECT_EQ(r.ioapic.state_digest(), before);
    r.ioapic.set_irq(23, true);
    r.set_entry(23, 0x40);
    EXPECT_EQ(*r.ioapic.pending_vector(), 0x40);
}

TEST(IoApic, DigestFollowsRegistersAndPins) {
    Rig a;
    Rig b;
    EXPECT_EQ(a.ioapic.state_digest(), b.ioapic.state_digest());
    const uint64_t fresh_regs = a.ioapic.register_digest();
    const uint64_t fresh = a.ioapic.state_digest();

    a.ioapic.set_irq(4, true);  // a pin: state, not a register
    EXPECT_NE(a.ioapic.state_digest(), fresh);
    EXPECT_EQ(a.ioapic.register_digest(), fresh_regs);
    a.ioapic.set_irq(4, false);
    EXPECT_EQ(a.ioapic.state_digest(), fresh);

    a.put(0x00, 0x01);  // the selection is guest-visible
    EXPECT_NE(a.ioapic.register_digest(), fresh_regs);
    const uint64_t sel = a.ioapic.register_digest();
    a.set_reg(0x00, 0x01000000);
    const uint64_t id = a.ioapic.register_digest();
    EXPECT_NE(id, sel);
    a.set_reg(0x3f, 0x01000000);
    EXPECT_NE(a.ioapic.register_digest(), id);

    b.set_reg(0x00, 0x01000000);
    b.set_reg(0x3f, 0x01000000);
    EXPECT_EQ(a.ioapic.state_digest(), b.ioapic.state_digest());
}

TEST(IoApic, ClaimsItsWindow) {
    Rig r;
    EXPECT_EQ(r.m.windows.count("ioapic"), 0u);
    const size_t regions = r.sys.region_count();
    IoApic second;
    EXPECT_THROW(second.attach(r.sys, r.m), Error);
    EXPECT_THROW(r.ioapic.attach(r.sys, r.m), Error);
    EXPECT_EQ(r.sys.region_count(), regions);
    EXPECT_EQ(r.reg(0x01), 0x00170020u);
}

TEST(IoApic, AttachFailsWithoutTheWindow) {
    IoApic ioapic;
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    try {
        ioapic.attach(sys, m);
        ADD_FAILURE() << "attach without a window did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("ioapic"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace kvmrr
