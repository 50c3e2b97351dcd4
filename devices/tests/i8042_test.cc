// Tests for devices/i8042.h, driven as SeaBIOS's ps2port.c drives it; the
// expected answers are QEMU's (hw/input/pckbd.c, hw/input/ps2.c).
#include "devices/i8042.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

class FakeIrqSink final : public IrqSink {
public:
    bool level[16] = {};
    int changes = 0;
    void set_irq(unsigned pin, bool l) override {
        level[pin] = l;
        ++changes;
    }
};

struct Rig {
    testing::FakeRunControl run;
    FakeIrqSink pic;
    I8042 dev{run, IrqLine(pic, 1), IrqLine(pic, 12)};
    MemorySystem sys;
    MachineMemory m;
    Rig() {
        MachineLayout l = MachineLayout::default_layout();
        l.devices.push_back({"i8042-data", AddressSpace::Kind::Io, 0x60, 1});
        l.devices.push_back({"i8042-cmd", AddressSpace::Kind::Io, 0x64, 1});
        m = build_machine(sys, l);
        dev.attach(sys, m);
    }
    uint8_t status() { return static_cast<uint8_t>(m.io_space->read(PioAddr(0x64), 1).value); }
    uint8_t data() { return static_cast<uint8_t>(m.io_space->read(PioAddr(0x60), 1).value); }
    void cmd(uint8_t c) { ASSERT_EQ(m.io_space->write(PioAddr(0x64), c, 1), AccessStatus::Ok); }
    void put(uint8_t v) { ASSERT_EQ(m.io_space->write(PioAddr(0x60), v, 1), AccessStatus::Ok); }
    // Everything waiting in the output buffer, as i8042_flush would read it.
    std::vector<uint8_t> drain() {
        std::vector<uint8_t> out;
        for (int i = 0; i < 64 && (status() & I8042::kStatusObf); ++i) out.push_back(data());
        return out;
    }
    using V = std::vector<uint8_t>;
};

TEST(I8042, ResetStateAndCommandByte) {
    Rig t;
    EXPECT_EQ(t.dev.name(), "i8042");
    EXPECT_EQ(t.status(), 0x18);  // command/data flag, unlocked, buffer empty
    t.cmd(0x20);
    EXPECT_EQ(t.status(), 0x19);
    EXPECT_TRUE(t.pic.level[1]);  // keyboard interrupt enabled at reset
    EXPECT_EQ(t.data(), 0x03);
    EXPECT_EQ(t.status(), 0x18);
    EXPECT_FALSE(t.pic.level[1]);
    t.cmd(0x60);
    t.put(0x61);
    EXPECT_EQ(t.dev.command_byte(), 0x61);
    t.cmd(0x20);
    EXPECT_EQ(t.drain(), Rig::V{0x61});
    // With the interrupt disabled, a full buffer raises nothing.
    t.cmd(0x60);
    t.put(0x00);
    t.cmd(0x20);
    EXPECT_FALSE(t.pic.level[1]);
    EXPECT_EQ(t.drain(), Rig::V{0x00});
    // Reading an empty buffer returns the last byte again.
    EXPECT_EQ(t.data(), 0x00);
}

TEST(I8042, SelfTestsAnswerAsQemu) {
    Rig t;
    t.cmd(0xaa);
    EXPECT_EQ(t.drain(), Rig::V{0x55});
    EXPECT_TRUE(t.status() & I8042::kStatusSystem);
    t.cmd(0xab);
    EXPECT_EQ(t.drain(), Rig::V{0x00});
    t.cmd(0xa9);
    EXPECT_EQ(t.drain(), Rig::V{0x00});
    t.cmd(0xc0);
    EXPECT_EQ(t.drain(), Rig::V{0x80});
    t.cmd(0xd0);
    EXPECT_EQ(t.drain(), Rig::V{0xcf});
    t.cmd(0xa1);  // unsupported: no answer
    EXPECT_EQ(t.drain(), Rig::V{});
    EXPECT_EQ(t.run.resets, 0);
}

TEST(I8042, ResetThroughTheController) {
    Rig t;
    t.cmd(0xff);  // pulse nothing
    EXPECT_EQ(t.run.resets, 0);
    t.cmd(0xfe);
    EXPECT_EQ(t.run.resets, 1);
    t.cmd(0xf0);  // pulse bits 3-0 low: bit 0 is reset
    EXPECT_EQ(t.run.resets, 2);
    t.cmd(0xf1);
    EXPECT_EQ(t.run.resets, 2);
    t.cmd(0xd1);
    t.put(0x03);  // reset line high: nothing
    EXPECT_EQ(t.run.resets, 2);
    EXPECT_EQ(t.dev.output_port() & 0x03, 0x03);
    t.cmd(0xdd);
    EXPECT_EQ(t.dev.output_port() & 0x02, 0);
    t.cmd(0xdf);
    EXPECT_EQ(t.dev.output_port() & 0x02, 0x02);
    t.cmd(0xd1);
    t.put(0x02);
    EXPECT_EQ(t.run.resets, 3);
}

TEST(I8042, KeyboardInitAsSeaBios) {
    Rig t;
    EXPECT_EQ(t.drain(), Rig::V{});
    t.cmd(0xad);
    t.cmd(0xa7);
    EXPECT_EQ(t.dev.command_byte(), 0x33);
    t.cmd(0xaa);
    EXPECT_EQ(t.drain(), Rig::V{0x55});
    t.cmd(0xab);
    EXPECT_EQ(t.drain(), Rig::V{0x00});
    // ps2_command: interrupts off, keyboard enabled, then the command.
    t.cmd(0x60);
    t.put(0x20);  // aux disabled, keyboard enabled, no translation yet
    t.put(0xff);
    EXPECT_EQ(t.drain(), (Rig::V{0xfa, 0xaa}));
    t.put(0xf5);
    EXPECT_EQ(t.drain(), Rig::V{0xfa});
    // Each byte's ACK read before the next byte goes (as SeaBIOS does: an
    // unread reply is dropped by the next byte, see below).
    t.put(0xf0);
    EXPECT_EQ(t.drain(), Rig::V{0xfa});
    t.put(0x02);
    EXPECT_EQ(t.drain(), Rig::V{0xfa});
    t.put(0xf0);  // acked, then the parameter: ack and the set
    EXPECT_EQ(t.drain(), Rig::V{0xfa});
    t.put(0x00);
    EXPECT_EQ(t.drain(), (Rig::V{0xfa, 0x02}));
    t.put(0xf2);
    EXPECT_EQ(t.drain(), (Rig::V{0xfa, 0xab, 0x83}));
    t.cmd(0x60);
    t.put(0x61);  // translation on, as SeaBIOS leaves it
    t.put(0xf2);
    EXPECT_EQ(t.drain(), (Rig::V{0xfa, 0xab, 0x41}));
    t.put(0xf0);
    EXPECT_EQ(t.drain(), Rig::V{0xfa});
    t.put(0x00);
    EXPECT_EQ(t.drain(), (Rig::V{0xfa, 0x41}));
    t.put(0xf4);
    EXPECT_EQ(t.drain(), Rig::V{0xfa});
    t.put(0xed);
    EXPECT_EQ(t.drain(), Rig::V{0xfa});
    t.put(0x07);
    EXPECT_EQ(t.drain(), Rig::V{0xfa});
    t.put(0xee);
    EXPECT_EQ(t.drain(), Rig::V{0xee});
    t.put(0x01);
    EXPECT_EQ(t.drain(), Rig::V{0xfe});
    EXPECT_FALSE(t.status() & I8042::kStatusAuxObf);
}

TEST(I8042, DisabledKeyboardKeepsItsBytes) {
    Rig t;
    t.put(0xff);  // 0xfa in the buffer, 0xaa queued behind it
    t.cmd(0xad);
    EXPECT_EQ(t.data(), 0xfa);
    EXPECT_FALSE(t.status() & I8042::kStatusObf);  // 0xaa waits in the keyboard
    t.cmd(0xae);
    EXPECT_EQ(t.drain(), Rig::V{0xaa});
}

TEST(I8042, MouseAnswersOnTheAuxChannel) {
    Rig t;
    t.cmd(0xa8);
    t.cmd(0xd4);
    t.put(0xff);
    EXPECT_EQ(t.status() & 0x21, 0x21);
    EXPECT_TRUE(t.pic.level[12]);
    EXPECT_FALSE(t.pic.level[1]);
    EXPECT_EQ(t.drain(), (Rig::V{0xfa, 0xaa, 0x00}));
    EXPECT_FALSE(t.pic.level[12]);
    t.cmd(0xd4);
    t.put(0xf2);
    EXPECT_EQ(t.drain(), (Rig::V{0xfa, 0x00}));
    t.cmd(0xd4);
    t.put(0xf3);
    t.cmd(0xd4);
    t.put(40);
    t.cmd(0xd4);
    t.put(0xe9);
    EXPECT_EQ(t.drain(), (Rig::V{0xfa, 0xfa, 0xfa, 0x00, 0x02, 40}));
    // 0xd3 puts a byte in the buffer as if from the mouse.
    t.cmd(0xd3);
    t.put(0x5a);
    EXPECT_TRUE(t.status() & I8042::kStatusAuxObf);
    EXPECT_EQ(t.drain(), Rig::V{0x5a});
    t.cmd(0xd2);
    t.put(0x5b);
    EXPECT_FALSE(t.status() & I8042::kStatusAuxObf);
    EXPECT_EQ(t.drain(), Rig::V{0x5b});
}

// Linux's atkbd probe (hw/input/ps2.c's command reply queue): GET ID's
// reply is read a byte at a time, each byte a new IRQ 1 edge; a command
// sent before the rest is read drops the rest, and its own reply comes
// next.
TEST(I8042, AKeyboardCommandDropsTheUnreadReplyOfTheLast) {
    Rig t;
    t.cmd(0x60);
    t.put(0x43);  // translate, system flag, both interrupts
    t.put(0xf2);
    EXPECT_TRUE(t.pic.level[1]);
    int changes = t.pic.changes;
    EXPECT_EQ(t.data(), 0xfa);
    EXPECT_EQ(t.status() & I8042::kStatusObf, I8042::kStatusObf);
    EXPECT_TRUE(t.pic.level[1]);
    EXPECT_EQ(t.pic.changes, changes + 2);  // low, then high again: an edge for the 8259
    t.put(0xed);  // SET LEDS with 0xab and 0x41 unread
    EXPECT_EQ(t.data(), 0xfa);
    t.put(0x02);
    EXPECT_EQ(t.drain(), Rig::V{0xfa});
    // The reply read whole: the next command's comes alone.
    t.put(0xf2);
    EXPECT_EQ(t.drain(), (Rig::V{0xfa, 0xab, 0x41}));
    // An empty queue gives the ring's byte before the read position: after
    // a dropped reply, a byte never read.
    t.put(0xf2);
    EXPECT_EQ(t.data(), 0xfa);
    t.put(0xf4);
    EXPECT_EQ(t.data(), 0xfa);
    changes = t.pic.changes;
    EXPECT_EQ(t.data(), 0xfa);
    EXPECT_EQ(t.pic.changes, changes);
}

TEST(I8042, TheMouseQueueIsBounded) {
    Rig t;
    for (int i = 0; i < 40; ++i) {
        t.cmd(0xd4);
        t.put(0xe6);
    }
    EXPECT_EQ(t.drain(), Rig::V(Ps2Queue::kQueueSize, 0xfa));
}

// Linux's psmouse probe: sample rates 200, 100, 80 make an IntelliMouse
// (type 3), 200, 200, 80 an IntelliMouse Explorer (4); a reset makes it a
// plain PS/2 mouse again. Wrap mode echoes.
TEST(I8042, TheMouseBecomesAnIntelliMouseAsQemus) {
    Rig t;
    const auto mouse = [&](std::initializer_list<uint8_t> bytes) {
        for (uint8_t b : bytes) {
            t.cmd(0xd4);
            t.put(b);
        }
        return t.drain();
    };
    EXPECT_EQ(mouse({0xf3, 200, 0xf3, 100, 0xf3, 80, 0xf2}), (Rig::V{0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 3}));
    EXPECT_EQ(mouse({0xeb}), (Rig::V{0xfa, 0x08, 0x00, 0x00, 0x00}));  // a wheel byte in the packet
    EXPECT_EQ(mouse({0xf3, 200, 0xf3, 200, 0xf3, 80, 0xf2}), (Rig::V{0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 4}));
    EXPECT_EQ(mouse({0xff}), (Rig::V{0xfa, 0xaa, 0x00}));
    EXPECT_EQ(mouse({0xf2}), (Rig::V{0xfa, 0x00}));
    EXPECT_EQ(mouse({0xf3, 200, 0xf3, 50, 0xf3, 80, 0xf2}), (Rig::V{0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0}));
    EXPECT_EQ(mouse({0xee, 0x12, 0xe6, 0xec, 0xe6}), (Rig::V{0xfa, 0x12, 0xe6, 0xfa, 0xfa}));
    EXPECT_EQ(mouse({0xeb}), (Rig::V{0xfa, 0x08, 0x00, 0x00}));
}

TEST(I8042, DigestFollowsState) {
    Rig a, b;
    EXPECT_EQ(a.dev.state_digest(), b.dev.state_digest());
    a.put(0xff);
    EXPECT_NE(a.dev.state_digest(), b.dev.state_digest());
    b.put(0xff);
    EXPECT_EQ(a.dev.state_digest(), b.dev.state_digest());
    a.data();
    EXPECT_NE(a.dev.state_digest(), b.dev.state_digest());
    EXPECT_THROW(a.dev.attach(a.sys, a.m), Error);
}

}  // namespace
}  // namespace kvmrr
