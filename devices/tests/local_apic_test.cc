// Tests for devices/local_apic.h, through the machine's memory address
// space. Expected values come from the Intel SDM's APIC chapter and QEMU's
// hw/intc/apic.c and apic_common.c; the register writes are the ones
// SeaBIOS's src/fw/smp.c and src/fw/mptable.c make.
#include "devices/local_apic.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/guest_clock.h"

namespace kvmrr {
namespace {

constexpr uint64_t kBase = 0xfee00000;

class FakeClock final : public GuestClock {
public:
    int64_t ns = 0;
    int reads = 0;
    int64_t now_ns() override {
        ++reads;
        return ns;
    }
};

MachineLayout layout_with_lapic() {
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"lapic", AddressSpace::Kind::Memory, kBase, 0x1000});
    return l;
}

// A machine with the APIC attached; the device outlives the memory system.
struct Rig {
    FakeClock clock;
    LocalApic apic{clock};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, layout_with_lapic());

    Rig() { apic.attach(sys, m); }

    uint64_t get(uint64_t off, unsigned size = 4) {
        const AccessResult r = m.memory->read(Gpa(kBase + off), size);
        EXPECT_EQ(r.status, AccessStatus::Ok) << hex(off);
        return r.value;
    }
    void put(uint64_t off, uint64_t v, unsigned size = 4) {
        EXPECT_EQ(m.memory->write(Gpa(kBase + off), v, size), AccessStatus::Ok) << hex(off);
    }
};

TEST(LocalApic, Identity) {
    FakeClock clock;
    LocalApic apic(clock);
    EXPECT_EQ(apic.name(), "lapic");
    EXPECT_EQ(apic.model_version(), 1u);
}

TEST(LocalApic, ResetValues) {
    Rig r;
    EXPECT_EQ(r.get(0x020), 0x00000000u);  // ID of CPU 0
    EXPECT_EQ(r.get(0x030), 0x00050014u);  // QEMU: version 0x14, 6 LVT entries
    EXPECT_EQ(r.get(0x030) & 0xff, 0x14u); // what SeaBIOS's MP table takes
    EXPECT_EQ(r.get(0x080), 0u);           // TPR
    EXPECT_EQ(r.get(0x090), 0u);           // APR
    EXPECT_EQ(r.get(0x0a0), 0u);           // PPR
    EXPECT_EQ(r.get(0x0b0), 0u);           // EOI
    EXPECT_EQ(r.get(0x0d0), 0u);           // LDR
    EXPECT_EQ(r.get(0x0e0), 0xffffffffu);  // DFR: flat model
    EXPECT_EQ(r.get(0x0f0), 0x000000ffu);  // SVR: software-disabled, vector 0xff
    for (uint64_t off = 0x100; off <= 0x270; off += 0x10) EXPECT_EQ(r.get(off), 0u) << hex(off);  // ISR/TMR/IRR
    EXPECT_EQ(r.get(0x280), 0u);            // ESR
    EXPECT_EQ(r.get(0x300), 0u);            // ICR low
    EXPECT_EQ(r.get(0x310), 0u);            // ICR high
    EXPECT_EQ(r.get(0x320), 0x00010000u);   // LVT timer: masked
    EXPECT_EQ(r.get(0x330), 0x00010000u);   // thermal
    EXPECT_EQ(r.get(0x340), 0x00010000u);   // performance
    EXPECT_EQ(r.get(0x350), 0x00000700u);   // LINT0: ExtINT, as QEMU's apic_reset_common for the BSP
    EXPECT_EQ(r.get(0x360), 0x00010000u);   // LINT1
    EXPECT_EQ(r.get(0x370), 0x00010000u);   // error
    EXPECT_EQ(r.get(0x380), 0u);            // initial count
    EXPECT_EQ(r.get(0x390), 0u);            // current count
    EXPECT_EQ(r.get(0x3e0), 0u);            // divide configuration
    EXPECT_TRUE(r.apic.passes_extint());
    EXPECT_EQ(r.apic.tpr(), 0);
    EXPECT_EQ(r.clock.reads, 0);  // a stopped timer reads no clock
}

TEST(LocalApic, SeaBiosSmpScan) {
    Rig r;
    // smp_scan(): enable, virtual wire, then broadcast INIT and SIPI to
    // all but self (shorthand 3), which reach nobody on one CPU.
    const uint64_t svr = r.get(0x0f0);
    r.put(0x0f0, svr | 0x100);
    r.put(0x350, 0x8700);  // LINT0: ExtINT, level
    r.put(0x360, 0x8400);  // LINT1: NMI, level
    r.put(0x300, 0x000c4500);
    EXPECT_EQ(r.get(0x300) & (1u << 12), 0u);  // delivery status: idle
    r.put(0x300, 0x000c4600 | (0x10000 >> 12));
    EXPECT_EQ(r.get(0x0f0), 0x1ffu);
    EXPECT_EQ(r.get(0x350), 0x8700u);
    EXPECT_EQ(r.get(0x360), 0x8400u);
    EXPECT_EQ(r.get(0x300), 0x000c4610u);
    EXPECT_TRUE(r.apic.passes_extint());
    // Nothing else moved.
    EXPECT_EQ(r.get(0x020), 0u);
    EXPECT_EQ(r.get(0x0a0), 0u);
    for (uint64_t off = 0x100; off <= 0x270; off += 0x10) EXPECT_EQ(r.get(off), 0u) << hex(off);
}

TEST(LocalApic, IpisAreHarmless) {
    Rig r;
    r.put(0x0f0, 0x1ff);
    const uint64_t before = r.apic.register_digest();
    // INIT assert/deassert and SIPI to APIC 1 (Linux's wakeup_secondary_cpu_via_init),
    // a fixed IPI and an NMI to self, a broadcast INIT.
    for (uint32_t icr : {0x0000c500u, 0x00008500u, 0x00000610u, 0x000440f0u, 0x00040400u, 0x00080500u}) {
        r.put(0x310, 0x01000000);
        r.put(0x300, icr);
        EXPECT_EQ(r.get(0x300), icr) << hex(icr);
        EXPECT_EQ(r.get(0x300) & (1u << 12), 0u);
    }
    EXPECT_EQ(r.get(0x310), 0x01000000u);
    EXPECT_EQ(r.get(0x0f0), 0x1ffu);
    EXPECT_EQ(r.get(0x350), 0x700u);
    for (uint64_t off = 0x100; off <= 0x270; off += 0x10) EXPECT_EQ(r.get(off), 0u) << hex(off);
    EXPECT_NE(r.apic.register_digest(), before);  // only because ICR holds the last one
}

TEST(LocalApic, SvrEnableAndDisable) {
    Rig r;
    r.put(0x0f0, 0x1ff);
    EXPECT_EQ(r.get(0x0f0), 0x1ffu);
    r.put(0x0f0, 0x0ef);
    EXPECT_EQ(r.get(0x0f0), 0x0efu);
    r.put(0x0f0, 0xffffffff);  // focus checking and EOI suppression are not offered
    EXPECT_EQ(r.get(0x0f0), 0x1ffu);
}

TEST(LocalApic, PassesExtint) {
    Rig r;
    r.put(0x0f0, 0x1ff);  // enabled
    EXPECT_TRUE(r.apic.passes_extint());  // LINT0 0x700 from reset
    r.put(0x350, 0x10700);  // masked ExtINT
    EXPECT_FALSE(r.apic.passes_extint());
    r.put(0x350, 0x00000);  // fixed, vector 0
    EXPECT_FALSE(r.apic.passes_extint());
    r.put(0x350, 0x00400);  // NMI
    EXPECT_FALSE(r.apic.passes_extint());
    r.put(0x350, 0x08700);  // ExtINT, level: SeaBIOS's virtual wire
    EXPECT_TRUE(r.apic.passes_extint());
    r.put(0x360, 0x10700);  // LINT1 does not matter
    EXPECT_TRUE(r.apic.passes_extint());
    r.put(0x350, 0x18700);
    EXPECT_FALSE(r.apic.passes_extint());
    r.put(0x0f0, 0x0ff);  // software-disabled: the PIC passes whatever LINT0 says
    EXPECT_TRUE(r.apic.passes_extint());
    r.put(0x0f0, 0x1ff);
    EXPECT_FALSE(r.apic.passes_extint());
}

TEST(LocalApic, TprAndPpr) {
    Rig r;
    r.put(0x080, 0x5a);
    EXPECT_EQ(r.get(0x080), 0x5au);
    EXPECT_EQ(r.get(0x0a0), 0x5au);  // nothing in service: PPR = TPR
    EXPECT_EQ(r.apic.tpr(), 0x5a);
    r.put(0x080, 0xfffffff3);  // only bits 7:0 exist
    EXPECT_EQ(r.get(0x080), 0xf3u);
    EXPECT_EQ(r.apic.tpr(), 0xf3);
}

TEST(LocalApic, ReadOnlyRegistersIgnoreWrites) {
    Rig r;
    r.put(0x080, 0x20);
    const uint64_t before = r.apic.state_digest();
    const int clock_reads = r.clock.reads;
    for (uint64_t off : {0x030, 0x090, 0x0a0, 0x0b0, 0x280, 0x390}) r.put(off, 0xffffffff);
    for (uint64_t off = 0x100; off <= 0x270; off += 0x10) r.put(off, 0xffffffff);
    EXPECT_EQ(r.get(0x030), 0x00050014u);
    EXPECT_EQ(r.get(0x090), 0u);
    EXPECT_EQ(r.get(0x0a0), 0x20u);
    EXPECT_EQ(r.get(0x0b0), 0u);
    EXPECT_EQ(r.get(0x280), 0u);
    EXPECT_EQ(r.get(0x390), 0u);
    for (uint64_t off = 0x100; off <= 0x270; off += 0x10) EXPECT_EQ(r.get(off), 0u) << hex(off);
    EXPECT_EQ(r.apic.state_digest(), before);
    EXPECT_EQ(r.clock.reads, clock_reads);
}

TEST(LocalApic, WritableBits) {
    Rig r;
    r.put(0x020, 0xffffffff);
    EXPECT_EQ(r.get(0x020), 0xff000000u);
    r.put(0x0d0, 0xffffffff);
    EXPECT_EQ(r.get(0x0d0), 0xff000000u);
    r.put(0x0e0, 0x00000000);  // cluster model; bits 27:0 stay ones
    EXPECT_EQ(r.get(0x0e0), 0x0fffffffu);
    r.put(0x0e0, 0xffffffff);
    EXPECT_EQ(r.get(0x0e0), 0xffffffffu);
    r.put(0x300, 0xffffffff);  // delivery status and reserved bits read 0
    EXPECT_EQ(r.get(0x300), 0x000ccfffu);
    r.put(0x310, 0xffffffff);
    EXPECT_EQ(r.get(0x310), 0xff000000u);
    r.put(0x320, 0xffffffff);  // timer: vector, mask, periodic
    EXPECT_EQ(r.get(0x320), 0x000300ffu);
    r.put(0x330, 0xffffffff);  // thermal: no polarity, trigger or remote IRR
    EXPECT_EQ(r.get(0x330), 0x000107ffu);
    r.put(0x340, 0xffffffff);
    EXPECT_EQ(r.get(0x340), 0x000107ffu);
    r.put(0x350, 0xffffffff);  // LINT0: remote IRR and delivery status read 0
    EXPECT_EQ(r.get(0x350), 0x0001a7ffu);
    r.put(0x360, 0xffffffff);
    EXPECT_EQ(r.get(0x360), 0x0001a7ffu);
    r.put(0x370, 0xffffffff);  // error: vector and mask only
    EXPECT_EQ(r.get(0x370), 0x000100ffu);
    r.put(0x3e0, 0xffffffff);
    EXPECT_EQ(r.get(0x3e0), 0x0000000bu);
    r.put(0x380, 0xffffffff);
    EXPECT_EQ(r.get(0x380), 0xffffffffu);
}

TEST(LocalApic, OneShotTimerCountsDown) {
    Rig r;
    r.clock.ns = 5000;
    r.put(0x380, 1000);  // divide by 2 (reset): 500 MHz
    EXPECT_EQ(r.clock.reads, 1);
    r.clock.ns = 5000 + 600;
    EXPECT_EQ(r.get(0x390), 700u);
    EXPECT_EQ(r.get(0x380), 1000u);
    r.clock.ns = 5000 + 1999;
    EXPECT_EQ(r.get(0x390), 1u);
    r.clock.ns = 5000 + 2000;
    EXPECT_EQ(r.get(0x390), 0u);  // stops at zero
    r.clock.ns = 5000 + 100000;
    EXPECT_EQ(r.get(0x390), 0u);

    r.put(0x3e0, 0xb);  // divide by 1
    r.clock.ns = 10000;
    r.put(0x380, 300);
    r.clock.ns = 10100;
    EXPECT_EQ(r.get(0x390), 200u);
    r.put(0x3e0, 0xa);  // divide by 128: the count follows the new rate at once, as QEMU
    EXPECT_EQ(r.get(0x390), 300u);  // 100 ns is no tick at 128 ns a tick
    r.clock.ns = 10000 + 128 * 7;
    EXPECT_EQ(r.get(0x390), 293u);

    r.put(0x380, 0);  // stops the timer
    r.clock.ns = 99999;
    const int reads = r.clock.reads;
    EXPECT_EQ(r.get(0x390), 0u);
    EXPECT_EQ(r.clock.reads, reads);
}

TEST(LocalApic, DivideConfigurations) {
    // SDM: 0000 /2, 0001 /4, 0010 /8, 0011 /16, 1000 /32, 1001 /64, 1010 /128, 1011 /1.
    const std::pair<uint32_t, uint64_t> table[] = {{0x0, 2}, {0x1, 4},  {0x2, 8},   {0x3, 16},
                                                   {0x8, 32}, {0x9, 64}, {0xa, 128}, {0xb, 1}};
    for (auto [dcr, divisor] : table) {
        Rig r;
        r.put(0x3e0, dcr);
        r.put(0x380, 1000);
        r.clock.ns = static_cast<int64_t>(divisor * 10);
        EXPECT_EQ(r.get(0x390), 990u) << "divide " << dcr;
        r.clock.ns = static_cast<int64_t>(divisor * 10 - 1);
        EXPECT_EQ(r.get(0x390), 991u) << "divide " << dcr;
    }
}

TEST(LocalApic, PeriodicTimerReloads) {
    Rig r;
    r.put(0x3e0, 0xb);
    r.put(0x320, 0x200ef);  // periodic, unmasked: still no interrupt, only the count
    r.put(0x380, 100);
    r.clock.ns = 40;
    EXPECT_EQ(r.get(0x390), 60u);
    r.clock.ns = 100;
    EXPECT_EQ(r.get(0x390), 0u);
    r.clock.ns = 101;  // QEMU's period is initial + 1 ticks
    EXPECT_EQ(r.get(0x390), 100u);
    r.clock.ns = 150;
    EXPECT_EQ(r.get(0x390), 51u);
    r.clock.ns = 101 * 1000 + 7;
    EXPECT_EQ(r.get(0x390), 93u);
    r.put(0x320, 0x000ef);  // back to one-shot: long expired
    EXPECT_EQ(r.get(0x390), 0u);
}

TEST(LocalApic, OddSizesAndAlignmentsReadZeroAndChangeNothing) {
    Rig r;
    const uint64_t before = r.apic.state_digest();
    // Narrow, wide, unaligned and mid-register accesses to the version
    // and SVR registers.
    for (unsigned size : {1u, 2u, 8u}) {
        EXPECT_EQ(r.get(0x030, size), 0u) << size;
        EXPECT_EQ(r.get(0x0f0, size), 0u) << size;
        r.put(0x0f0, 0x1ff, size);
        r.put(0x350, 0x10000, size);
    }
    for (uint64_t off : {0x031, 0x032, 0x034, 0x038, 0x03c, 0x0f4, 0x0fc, 0x0f1, 0x352}) {
        EXPECT_EQ(r.get(off), 0u) << hex(off);
        r.put(off, 0xffffffff);
    }
    EXPECT_EQ(r.get(0x0f0), 0xffu);
    EXPECT_EQ(r.get(0x350), 0x700u);
    EXPECT_EQ(r.apic.state_digest(), before);
    EXPECT_EQ(r.m.memory->stats().invalid, 0u);

    // An access running off the end of the window: the APIC's part reads
    // 0, the rest is unassigned.
    const AccessResult tail = r.m.memory->read(Gpa(kBase + 0xffe), 4);
    EXPECT_EQ(tail.value & 0xffff, 0u);
    EXPECT_EQ(r.m.memory->write(Gpa(kBase + 0xffe), 0xffffffff, 4), AccessStatus::Unassigned);
    EXPECT_EQ(r.apic.state_digest(), before);
}

TEST(LocalApic, ReservedRegistersReadZero) {
    Rig r;
    const uint64_t before = r.apic.state_digest();
    // 0x2f0 is CMCI, which a version with 6 LVT entries does not have (as QEMU).
    for (uint64_t off : {0x000, 0x010, 0x040, 0x070, 0x0c0, 0x290, 0x2f0, 0x3a0, 0x3f0, 0x400, 0x800, 0xff0}) {
        EXPECT_EQ(r.get(off), 0u) << hex(off);
        r.put(off, 0xffffffff);
        EXPECT_EQ(r.get(off), 0u) << hex(off);
    }
    EXPECT_EQ(r.apic.state_digest(), before);
}

TEST(LocalApic, DigestFollowsRegisters) {
    Rig a;
    Rig b;
    EXPECT_EQ(a.apic.state_digest(), b.apic.state_digest());
    const uint64_t fresh = a.apic.state_digest();
    uint64_t last = fresh;
    // Each writable register changes the digest.
    for (uint64_t off : {0x020, 0x080, 0x0d0, 0x0e0, 0x0f0, 0x300, 0x310, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370,
                         0x380, 0x3e0}) {
        a.put(off, off == 0x0e0 ? 0 : 0x01010101);
        EXPECT_NE(a.apic.state_digest(), last) << hex(off);
        EXPECT_NE(a.apic.register_digest(), fresh) << hex(off);
        last = a.apic.state_digest();
    }
    for (uint64_t off : {0x020, 0x080, 0x0d0, 0x0e0, 0x0f0, 0x300, 0x310, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370,
                         0x380, 0x3e0})
        b.put(off, off == 0x0e0 ? 0 : 0x01010101);
    EXPECT_EQ(a.apic.state_digest(), b.apic.state_digest());

    // The timer's start time is state, but a clock reading: not a register.
    a.clock.ns = 77;
    a.put(0x380, 5);
    b.clock.ns = 99;
    b.put(0x380, 5);
    EXPECT_EQ(a.apic.register_digest(), b.apic.register_digest());
    EXPECT_NE(a.apic.state_digest(), b.apic.state_digest());
}

TEST(LocalApic, ClaimsItsWindow) {
    Rig r;
    EXPECT_EQ(r.m.windows.count("lapic"), 0u);
    const size_t regions = r.sys.region_count();
    FakeClock clock;
    LocalApic second(clock);
    EXPECT_THROW(second.attach(r.sys, r.m), Error);
    EXPECT_THROW(r.apic.attach(r.sys, r.m), Error);
    EXPECT_EQ(r.sys.region_count(), regions);
    EXPECT_EQ(r.get(0x030), 0x00050014u);
}

TEST(LocalApic, AttachFailsWithoutTheWindow) {
    FakeClock clock;
    LocalApic apic(clock);
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    try {
        apic.attach(sys, m);
        ADD_FAILURE() << "attach without a window did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("lapic"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace kvmrr
