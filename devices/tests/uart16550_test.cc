// Tests for devices/uart16550.h, through the machine's I/O address space
// only (as a guest driver sees the UART).
#include "devices/uart16550.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

constexpr uint64_t kCom1 = 0x3f8;
enum Reg : unsigned { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

// The fake's serial queue, with every serial_in() call counted: each call
// is a trace record, so the tests pin down exactly when the UART asks.
class CountingInputs final : public HostInputs {
public:
    testing::FakeHostInputs fake;
    int serial_calls = 0;

    int64_t wall_clock_ns() override { return fake.wall_clock_ns(); }
    int64_t monotonic_ns() override { return fake.monotonic_ns(); }
    void entropy(std::span<uint8_t> out) override { fake.entropy(out); }
    std::optional<uint8_t> serial_in() override {
        ++serial_calls;
        return fake.serial_in();
    }
    bool wait_for_serial_in(std::chrono::steady_clock::time_point until, const std::atomic<int>* stop) override {
        return fake.wait_for_serial_in(until, stop);
    }
    void disk_read(uint64_t offset, std::span<uint8_t> out) override { fake.disk_read(offset, out); }
    void disk_write(uint64_t offset, std::span<const uint8_t> in) override { fake.disk_write(offset, in); }
};

// A default machine with a UART attached; the device is declared before
// the memory system so that it outlives the region that calls it.
struct Rig {
    CountingInputs in;
    std::vector<uint8_t> sent;
    Uart16550 uart{in, [this](uint8_t b) { sent.push_back(b); }};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());

    Rig() { uart.attach(sys, m); }

    uint8_t get(unsigned reg) {
        const AccessResult r = m.io_space->read(PioAddr(kCom1 + reg), 1);
        EXPECT_EQ(r.status, AccessStatus::Ok) << "read of port " << kCom1 + reg;
        return static_cast<uint8_t>(r.value);
    }
    void put(unsigned reg, uint8_t v) {
        EXPECT_EQ(m.io_space->write(PioAddr(kCom1 + reg), v, 1), AccessStatus::Ok) << "write of port " << kCom1 + reg;
    }
    void feed(std::initializer_list<uint8_t> bytes) { in.fake.serial.insert(in.fake.serial.end(), bytes); }
};

TEST(Uart16550, Identity) {
    testing::FakeHostInputs in;
    Uart16550 uart(in, nullptr);
    EXPECT_EQ(uart.name(), "uart16550");
    EXPECT_EQ(uart.model_version(), 1u);
}

TEST(Uart16550, ResetValues) {
    Rig r;
    EXPECT_EQ(r.get(IER), 0x00);
    EXPECT_EQ(r.get(IIR), 0x01);  // no interrupt pending, FIFOs off
    EXPECT_EQ(r.get(LCR), 0x00);
    EXPECT_EQ(r.get(MCR), 0x00);
    EXPECT_EQ(r.get(LSR), 0x60);  // THRE | TEMT, no data
    EXPECT_EQ(r.get(MSR), 0xb0);  // DCD | DSR | CTS
    EXPECT_EQ(r.get(SCR), 0x00);
    EXPECT_EQ(r.get(RBR), 0x00);  // nothing received
}

TEST(Uart16550, TransmitGoesToSinkAtOnce) {
    Rig r;
    for (uint8_t c : {'h', 'i', '\n'}) r.put(THR, c);
    EXPECT_EQ(r.sent, (std::vector<uint8_t>{'h', 'i', '\n'}));
    EXPECT_EQ(r.get(LSR), 0x60);  // the transmitter is idle again
    EXPECT_EQ(r.in.serial_calls, 1);  // transmitting never asks for input
}

TEST(Uart16550, EmptySinkDiscardsOutput) {
    testing::FakeHostInputs in;
    Uart16550 uart(in, nullptr);
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    uart.attach(sys, m);
    EXPECT_EQ(m.io_space->write(PioAddr(kCom1 + THR), 'x', 1), AccessStatus::Ok);
    EXPECT_EQ(m.io_space->read(PioAddr(kCom1 + LSR), 1).value, 0x60u);
}

TEST(Uart16550, ReceivesHostInputInOrder) {
    Rig r;
    r.feed({'a', 'b', 'c'});
    EXPECT_EQ(r.get(LSR), 0x61);  // DR
    EXPECT_EQ(r.get(RBR), 'a');
    EXPECT_EQ(r.get(LSR), 0x61);
    EXPECT_EQ(r.get(RBR), 'b');
    EXPECT_EQ(r.get(RBR), 'c');
    EXPECT_EQ(r.get(LSR), 0x60);
    EXPECT_EQ(r.get(RBR), 0x00);
    // Input that arrives later is seen by the next poll.
    r.feed({'d'});
    EXPECT_EQ(r.get(LSR), 0x61);
    EXPECT_EQ(r.get(RBR), 'd');
}

TEST(Uart16550, RbrReadPullsInputWithoutAnLsrPoll) {
    Rig r;
    r.feed({'z'});
    EXPECT_EQ(r.get(RBR), 'z');
}

TEST(Uart16550, PullsOnlyWhileTheFifoHasRoom) {
    Rig r;
    std::vector<uint8_t> input;
    for (int i = 0; i < 20; ++i) input.push_back(static_cast<uint8_t>(0x40 + i));
    r.in.fake.serial.assign(input.begin(), input.end());

    EXPECT_EQ(r.get(LSR), 0x61);
    EXPECT_EQ(r.in.fake.serial.size(), 4u);  // 16 in the FIFO, the rest stays in the host
    EXPECT_EQ(r.in.serial_calls, 16);        // a full FIFO ends the pull without an extra call
    EXPECT_EQ(r.get(LSR), 0x61);
    EXPECT_EQ(r.in.serial_calls, 16);  // still full: no call at all

    // Nothing is lost: every byte arrives, in order, and no overrun.
    std::vector<uint8_t> got;
    while (r.get(LSR) & 0x01) got.push_back(r.get(RBR));
    EXPECT_EQ(got, input);
    EXPECT_EQ(r.get(LSR), 0x60);
}

TEST(Uart16550, SerialInCallsAreExactlyTheRbrAndLsrReads) {
    Rig r;
    r.feed({'x', 'y'});
    // Registers other than RBR and LSR never ask the host.
    r.get(IER);
    r.get(IIR);
    r.get(LCR);
    r.get(MCR);
    r.get(MSR);
    r.get(SCR);
    r.put(THR, '!');
    r.put(SCR, 1);
    EXPECT_EQ(r.in.serial_calls, 0);
    EXPECT_EQ(r.in.fake.serial.size(), 2u);

    EXPECT_EQ(r.get(LSR), 0x61);
    EXPECT_EQ(r.in.serial_calls, 3);  // 'x', 'y', then "nothing waiting"
    EXPECT_EQ(r.get(RBR), 'x');
    EXPECT_EQ(r.in.serial_calls, 4);  // one more look for input
    EXPECT_EQ(r.get(RBR), 'y');
    EXPECT_EQ(r.in.serial_calls, 5);
}

TEST(Uart16550, DlabSwitchesPortsZeroAndOne) {
    Rig r;
    r.put(IER, 0x05);
    r.put(LCR, 0x80);  // DLAB
    EXPECT_EQ(r.get(LCR), 0x80);
    EXPECT_EQ(r.get(DLL), 0x00);
    EXPECT_EQ(r.get(DLM), 0x00);
    r.put(DLL, 0x0c);
    r.put(DLM, 0x01);
    EXPECT_EQ(r.get(DLL), 0x0c);
    EXPECT_EQ(r.get(DLM), 0x01);
    EXPECT_TRUE(r.sent.empty());        // a DLL write is not a transmission
    EXPECT_EQ(r.in.serial_calls, 0);    // a DLL read is not a receive

    r.put(LCR, 0x03);  // 8N1, DLAB off
    EXPECT_EQ(r.get(LCR), 0x03);
    EXPECT_EQ(r.get(IER), 0x05);  // untouched by the DLM write
    r.put(THR, 'q');
    EXPECT_EQ(r.sent, (std::vector<uint8_t>{'q'}));
    r.feed({'w'});
    EXPECT_EQ(r.get(RBR), 'w');

    r.put(LCR, 0x83);  // the divisor latch kept its value
    EXPECT_EQ(r.get(DLL), 0x0c);
    EXPECT_EQ(r.get(DLM), 0x01);
}

TEST(Uart16550, IerKeepsOnlyTheLowFourBits) {
    Rig r;
    r.put(IER, 0xff);
    EXPECT_EQ(r.get(IER), 0x0f);
}

TEST(Uart16550, ScratchRegister) {
    Rig r;
    r.put(SCR, 0xa5);
    EXPECT_EQ(r.get(SCR), 0xa5);
    r.put(SCR, 0x5a);
    EXPECT_EQ(r.get(SCR), 0x5a);
}

TEST(Uart16550, LsrAndMsrIgnoreWrites) {
    Rig r;
    r.put(LSR, 0xff);
    r.put(MSR, 0x00);
    EXPECT_EQ(r.get(LSR), 0x60);
    EXPECT_EQ(r.get(MSR), 0xb0);
}

TEST(Uart16550, McrKeepsOnlyTheFiveLowBits) {
    Rig r;
    r.put(MCR, 0x0b);  // DTR | RTS | OUT2, as a driver sets it
    EXPECT_EQ(r.get(MCR), 0x0b);
    EXPECT_EQ(r.get(MSR), 0xb0);  // outside loopback the lines do not follow MCR
    r.put(MCR, 0xff);
    EXPECT_EQ(r.get(MCR), 0x1f);
}

TEST(Uart16550, IirFifoBits) {
    Rig r;
    r.put(FCR, 0x01);
    EXPECT_EQ(r.get(IIR), 0xc1);
    r.put(FCR, 0xc7);  // enable, clear both, trigger level 14: the usual driver write
    EXPECT_EQ(r.get(IIR), 0xc1);
    r.put(FCR, 0x00);
    EXPECT_EQ(r.get(IIR), 0x01);
}

TEST(Uart16550, IirThreInterruptIsAcknowledgedByReadingIir) {
    Rig r;
    r.put(IER, 0x02);              // ETBEI while THR is empty raises THRE
    EXPECT_EQ(r.get(IIR), 0x02);
    EXPECT_EQ(r.get(IIR), 0x01);  // acknowledged by that read
    r.put(THR, 'a');               // the byte drains at once: THR empty again
    EXPECT_EQ(r.get(IIR), 0x02);
    EXPECT_EQ(r.get(IIR), 0x01);
    r.put(IER, 0x02);              // ETBEI already set: no new edge
    EXPECT_EQ(r.get(IIR), 0x01);

    r.put(FCR, 0x01);
    r.put(THR, 'b');
    EXPECT_EQ(r.get(IIR), 0xc2);
    EXPECT_EQ(r.get(IIR), 0xc1);
}

TEST(Uart16550, IirThreNotReportedWithoutEtbei) {
    Rig r;
    r.put(THR, 'a');
    EXPECT_EQ(r.get(IIR), 0x01);
    // Pending all along; enabling ETBEI reports it.
    r.put(IER, 0x02);
    EXPECT_EQ(r.get(IIR), 0x02);
}

TEST(Uart16550, IirReceivedDataOutranksThre) {
    Rig r;
    r.feed({'k'});
    r.put(IER, 0x03);              // ERBFI | ETBEI
    EXPECT_EQ(r.get(IIR), 0x02);  // IIR does not poll the host: no data yet
    r.put(THR, 'x');               // THRE pending again
    EXPECT_EQ(r.get(LSR), 0x61);  // the poll brings 'k' in
    EXPECT_EQ(r.get(IIR), 0x04);
    EXPECT_EQ(r.get(IIR), 0x04);  // received data is not acknowledged by IIR
    EXPECT_EQ(r.get(RBR), 'k');
    EXPECT_EQ(r.get(IIR), 0x02);  // THRE was still pending behind it
    EXPECT_EQ(r.get(IIR), 0x01);

    r.put(IER, 0x01);
    r.put(FCR, 0x01);
    r.feed({'m'});
    r.get(LSR);
    EXPECT_EQ(r.get(IIR), 0xc4);
}

TEST(Uart16550, FcrClearsTheRxFifo) {
    Rig r;
    r.feed({1, 2, 3});
    r.put(FCR, 0x01);
    EXPECT_EQ(r.get(LSR), 0x61);
    r.put(FCR, 0x05);  // clear TX only: received bytes stay
    EXPECT_EQ(r.get(LSR), 0x61);
    r.put(FCR, 0x03);  // clear RX
    EXPECT_EQ(r.get(LSR), 0x60);
    EXPECT_EQ(r.get(RBR), 0x00);
}

TEST(Uart16550, SwitchingFifoModeClearsTheRxFifo) {
    Rig r;
    r.feed({1});
    EXPECT_EQ(r.get(LSR), 0x61);
    r.put(FCR, 0x01);
    EXPECT_EQ(r.get(LSR), 0x60);
    r.feed({2});
    EXPECT_EQ(r.get(LSR), 0x61);
    r.put(FCR, 0x01);  // no mode change, no clear bit: kept
    EXPECT_EQ(r.get(LSR), 0x61);
    r.put(FCR, 0x00);
    EXPECT_EQ(r.get(LSR), 0x60);
}

TEST(Uart16550, LoopbackSendsTransmittedBytesToTheReceiver) {
    Rig r;
    r.feed({'h'});  // host input waits while in loopback
    r.put(MCR, 0x10);
    r.put(THR, 'L');
    r.put(THR, 'B');
    EXPECT_TRUE(r.sent.empty());
    EXPECT_EQ(r.get(LSR), 0x61);
    EXPECT_EQ(r.get(RBR), 'L');
    EXPECT_EQ(r.get(RBR), 'B');
    EXPECT_EQ(r.get(LSR), 0x60);
    EXPECT_EQ(r.in.serial_calls, 0);  // the receiver is cut off from the host
    r.put(MCR, 0x00);
    EXPECT_EQ(r.get(RBR), 'h');
    r.put(THR, 'o');
    EXPECT_EQ(r.sent, (std::vector<uint8_t>{'o'}));
}

TEST(Uart16550, LoopbackMsrReflectsMcr) {
    Rig r;
    r.put(MCR, 0x10);
    EXPECT_EQ(r.get(MSR), 0x00);
    r.put(MCR, 0x11);  // DTR -> DSR
    EXPECT_EQ(r.get(MSR), 0x20);
    r.put(MCR, 0x12);  // RTS -> CTS
    EXPECT_EQ(r.get(MSR), 0x10);
    r.put(MCR, 0x14);  // OUT1 -> RI
    EXPECT_EQ(r.get(MSR), 0x40);
    r.put(MCR, 0x18);  // OUT2 -> DCD
    EXPECT_EQ(r.get(MSR), 0x80);
    r.put(MCR, 0x1a);  // Linux's 8250 probe: expects CTS | DCD
    EXPECT_EQ(r.get(MSR), 0x90);
    r.put(MCR, 0x1f);
    EXPECT_EQ(r.get(MSR), 0xf0);
    r.put(MCR, 0x0f);
    EXPECT_EQ(r.get(MSR), 0xb0);
}

TEST(Uart16550, LoopbackOverrunSetsOeAndKeepsTheFifo) {
    Rig r;
    r.put(MCR, 0x10);
    for (int i = 0; i < 17; ++i) r.put(THR, static_cast<uint8_t>(i));
    EXPECT_EQ(r.get(LSR), 0x63);  // DR | OE
    EXPECT_EQ(r.get(LSR), 0x61);  // OE clears once read
    for (int i = 0; i < 16; ++i) EXPECT_EQ(r.get(RBR), i);  // the 17th byte was lost
    EXPECT_EQ(r.get(LSR), 0x60);
}

TEST(Uart16550, IirLineStatusOnOverrun) {
    Rig r;
    r.put(MCR, 0x10);
    r.put(IER, 0x05);  // ELSI | ERBFI
    for (int i = 0; i < 17; ++i) r.put(THR, 'x');
    EXPECT_EQ(r.get(IIR), 0x06);  // highest priority
    EXPECT_EQ(r.get(LSR), 0x63);
    EXPECT_EQ(r.get(IIR), 0x04);
}

TEST(Uart16550, RefusesAccessesWiderThanOneByte) {
    Rig r;
    r.feed({'a'});
    EXPECT_EQ(r.m.io_space->read(PioAddr(kCom1), 2).status, AccessStatus::Invalid);
    EXPECT_EQ(r.m.io_space->read(PioAddr(kCom1 + 4), 4).status, AccessStatus::Invalid);
    EXPECT_EQ(r.m.io_space->write(PioAddr(kCom1), 0x4141, 2), AccessStatus::Invalid);
    EXPECT_EQ(r.m.io_space->write(PioAddr(kCom1), 0x41414141, 4), AccessStatus::Invalid);
    EXPECT_TRUE(r.sent.empty());
    EXPECT_EQ(r.in.serial_calls, 0);  // a refused read reaches no register
    EXPECT_EQ(r.m.io_space->stats().invalid, 4u);
}

TEST(Uart16550, EveryPortOfTheWindowAnswers) {
    Rig r;
    for (unsigned reg = 0; reg < 8; ++reg)
        EXPECT_EQ(r.m.io_space->read(PioAddr(kCom1 + reg), 1).status, AccessStatus::Ok) << reg;
    EXPECT_EQ(r.m.io_space->stats().unassigned_reads, 0u);
}

TEST(Uart16550, ClaimsItsWindow) {
    Rig r;
    EXPECT_EQ(r.m.windows.count("uart16550"), 0u);  // the reservation is gone
    const size_t regions = r.sys.region_count();

    testing::FakeHostInputs in;
    Uart16550 second(in, nullptr);
    EXPECT_THROW(second.attach(r.sys, r.m), Error);
    EXPECT_THROW(r.uart.attach(r.sys, r.m), Error);
    EXPECT_EQ(r.sys.region_count(), regions);  // a failed attach leaves nothing behind
    // The first UART still answers.
    r.put(SCR, 0x42);
    EXPECT_EQ(r.get(SCR), 0x42);
}

TEST(Uart16550, AttachFailsWithoutTheWindow) {
    testing::FakeHostInputs in;
    Uart16550 uart(in, nullptr);
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::parse("no-devices\n", "test"));
    const size_t regions = sys.region_count();
    try {
        uart.attach(sys, m);
        ADD_FAILURE() << "attach without a window did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("uart16550"), std::string::npos) << e.what();
    }
    EXPECT_EQ(sys.region_count(), regions);
}

TEST(Uart16550, DigestFollowsGuestVisibleState) {
    Rig a;
    Rig b;
    EXPECT_EQ(a.uart.state_digest(), b.uart.state_digest());

    auto drive = [](Rig& r) {
        r.put(LCR, 0x83);
        r.put(DLL, 0x01);
        r.put(LCR, 0x03);
        r.put(FCR, 0x07);
        r.put(IER, 0x01);
        r.put(MCR, 0x0b);
        r.put(THR, 'x');
        r.feed({'1', '2'});
        r.get(LSR);
    };
    std::vector<uint64_t> seen{a.uart.state_digest()};
    drive(a);
    drive(b);
    EXPECT_EQ(a.uart.state_digest(), b.uart.state_digest());
    seen.push_back(a.uart.state_digest());

    auto changes = [&](const char* what, auto&& step) {
        step(a);
        const uint64_t d = a.uart.state_digest();
        for (uint64_t s : seen) EXPECT_NE(d, s) << what;
        seen.push_back(d);
    };
    changes("scratch", [](Rig& r) { r.put(SCR, 0x77); });
    changes("rx fifo", [](Rig& r) { r.get(RBR); });
    changes("ier", [](Rig& r) { r.put(IER, 0x03); });  // also raises THRE
    changes("thre acknowledged", [](Rig& r) {
        r.get(RBR);  // empty the FIFO so IIR reports THRE
        r.get(IIR);
    });
    changes("lcr", [](Rig& r) { r.put(LCR, 0x1b); });
    changes("divisor", [](Rig& r) {
        r.put(LCR, 0x9b);
        r.put(DLM, 0x02);
        r.put(LCR, 0x1b);
    });
    changes("fifo mode", [](Rig& r) { r.put(FCR, 0x00); });
    changes("loopback", [](Rig& r) { r.put(MCR, 0x1b); });

    // Reading registers without side effects leaves the digest alone.
    const uint64_t before = a.uart.state_digest();
    a.get(SCR);
    a.get(LCR);
    a.get(MSR);
    EXPECT_EQ(a.uart.state_digest(), before);
}

// Wired to an interrupt line (the pc board's IRQ 4), the UART raises it
// while an enabled source is pending, as QEMU's does: THRE when ETBEI is
// set (and again after each byte sent), received data when ERBFI is set;
// reading IIR acknowledges THRE and lowers the line. Unwired, the model is
// version 1; wired, version 3.
TEST(Uart16550, TheInterruptLineFollowsThePendingSources) {
    struct Pin final : IrqSink {
        void set_irq(unsigned, bool level) override {
            if (level && !up) ++edges;
            up = level;
        }
        bool up = false;
        int edges = 0;
    } pin;
    CountingInputs in;
    std::vector<uint8_t> sent;
    Uart16550 uart{in, [&](uint8_t b) { sent.push_back(b); }, IrqLine(pin, 4)};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    uart.attach(sys, m);
    EXPECT_EQ(uart.model_version(), 4u);
    const auto put = [&](unsigned reg, uint8_t v) { ASSERT_EQ(m.io_space->write(PioAddr(kCom1 + reg), v, 1), AccessStatus::Ok); };
    const auto get = [&](unsigned reg) { return static_cast<uint8_t>(m.io_space->read(PioAddr(kCom1 + reg), 1).value); };
    EXPECT_FALSE(pin.up);
    put(1, 0x02);  // ETBEI: THR is empty
    EXPECT_TRUE(pin.up);
    EXPECT_EQ(get(2) & 0x0f, 0x02);  // IIR: THRE, acknowledged
    EXPECT_FALSE(pin.up);
    put(0, 'k');  // sent at once: empty again
    EXPECT_TRUE(pin.up);
    EXPECT_EQ(pin.edges, 2);
    put(1, 0x00);
    EXPECT_FALSE(pin.up);
    in.fake.serial.push_back('x');
    put(1, 0x01);  // ERBFI: the byte comes in at the next LSR read
    get(5);
    EXPECT_TRUE(pin.up);
    EXPECT_EQ(get(0), 'x');
    EXPECT_FALSE(pin.up);
    EXPECT_EQ(sent, std::vector<uint8_t>{'k'});
    Rig unwired;
    EXPECT_EQ(unwired.uart.model_version(), 1u);
}

// At a timer tick the UART asks the host for input only when a guest could
// be waiting for it with interrupts: ERBFI set, nothing received yet, not
// in loopback. Then what came raises the line, as at an LSR read.
TEST(Uart16550, ATickTakesHostInputOnlyForAReceiveInterrupt) {
    struct Pin final : IrqSink {
        void set_irq(unsigned, bool level) override { up = level; }
        bool up = false;
    } pin;
    CountingInputs in;
    Uart16550 uart{in, [](uint8_t) {}, IrqLine(pin, 4)};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    uart.attach(sys, m);
    const auto put = [&](unsigned reg, uint8_t v) { ASSERT_EQ(m.io_space->write(PioAddr(kCom1 + reg), v, 1), AccessStatus::Ok); };
    const auto get = [&](unsigned reg) { return static_cast<uint8_t>(m.io_space->read(PioAddr(kCom1 + reg), 1).value); };
    in.fake.serial = {'a', 'b'};
    uart.poll_host_input();  // ERBFI clear
    EXPECT_EQ(in.serial_calls, 0);
    put(1, 0x01);
    uart.poll_host_input();
    EXPECT_EQ(in.serial_calls, 3);  // both bytes, then none: the FIFO has room
    EXPECT_TRUE(pin.up);
    uart.poll_host_input();  // something received: the guest has not read it yet
    EXPECT_EQ(in.serial_calls, 3);
    EXPECT_EQ(get(0), 'a');
    EXPECT_EQ(get(0), 'b');
    EXPECT_FALSE(pin.up);
    const int calls = in.serial_calls;
    put(4, 0x10);  // loopback: the host is disconnected
    in.fake.serial = {'c'};
    uart.poll_host_input();
    EXPECT_EQ(in.serial_calls, calls);
    EXPECT_FALSE(pin.up);
}

}  // namespace
}  // namespace kvmrr
