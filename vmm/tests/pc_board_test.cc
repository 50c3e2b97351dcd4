// The pc board assembled (no vCPU): its memory map as `kvmrr mtree --board
// pc` shows it (golden file), PAM and SMRAM reached the way firmware
// reaches them (PCI configuration cycles at 0xcf8/0xcfc), the firmware at
// both of its addresses, and reset through 0xcf9.
// KVMRR_UPDATE_GOLDEN=1 rewrites the golden file instead of comparing.
#include "vmm/pc_board.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/mtree.h"
#include "devices/tests/fake_host_inputs.h"
#include "vmm/machine.h"

namespace kvmrr {
namespace {

// Fake inputs that log what the board asks for, in order.
struct LoggedInputs final : HostInputs {
    testing::FakeHostInputs fake;
    std::string seq;  // c: a clock reading, s: a serial input taken, w: a wait for one
    bool input_comes = true;  // what a wait for serial input says
    int64_t wall_clock_ns() override { return fake.wall_clock_ns(); }
    int64_t monotonic_ns() override {
        seq += 'c';
        return fake.monotonic_ns();
    }
    void entropy(std::span<uint8_t> out) override { fake.entropy(out); }
    std::optional<uint8_t> serial_in() override {
        seq += 's';
        return fake.serial_in();
    }
    bool wait_for_serial_in(std::chrono::steady_clock::time_point, const std::atomic<int>*) override {
        seq += 'w';
        return input_comes;
    }
    void disk_read(uint64_t offset, std::span<uint8_t> out) override { fake.disk_read(offset, out); }
    void disk_write(uint64_t offset, std::span<const uint8_t> in) override { fake.disk_write(offset, in); }
};

struct PcBoardTest : ::testing::Test {
    testing::FakeHostInputs inputs;
    std::vector<uint8_t> firmware = [] {
        std::vector<uint8_t> f(128 * 1024);
        for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<uint8_t>(i * 7 + 3);
        return f;
    }();
    MachineConfig pc_config() const {
        MachineConfig c;
        c.board = Board::Pc;
        c.layout = pc_layout(kPcDefaultRam, firmware.size());
        c.firmware = firmware;
        return c;
    }
    std::unique_ptr<Machine> m = std::make_unique<Machine>(pc_config(), inputs);

    void config_write(uint8_t reg, uint32_t value, unsigned size) {
        m->io_space().write(PioAddr(0xcf8), 0x80000000u | (reg & 0xfc), 4);
        m->io_space().write(PioAddr(0xcfc + (reg & 3)), value, size);
    }
    uint64_t mem_read(uint64_t a) { return m->memory_space().read(Gpa(a), 1).value; }
    // Initialises `machine`'s master 8259 as SeaBIOS does (vector base 8),
    // with `mask` as its IMR.
    static void init_master_pic(Machine& machine, uint8_t mask) {
        for (auto [port, v] : {std::pair{0x20, 0x11}, {0x21, 0x08}, {0x21, 0x04}, {0x21, 0x01}, {0x21, int{mask}}})
            machine.io_space().write(PioAddr(port), v, 1);
    }
    void mem_write(uint64_t a, uint8_t v) { m->memory_space().write(Gpa(a), v, 1); }
};

TEST_F(PcBoardTest, MtreeMatchesGolden) {
    const std::string actual = dump_mtree(m->memory_system(), true);
    const std::string path = std::string(KVMRR_TEST_DATA_DIR) + "/pc.mtree";
    if (std::getenv("KVMRR_UPDATE_GOLDEN")) {
        std::ofstream(path) << actual;
        GTEST_SKIP() << "rewrote " << path;
    }
    std::ifstream f(path);
    ASSERT_TRUE(f) << "missing golden file " << path;
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_EQ(actual, ss.str()) << "mtree output differs from " << path;
    // What the map must show, whatever the golden file holds.
    for (const char* want : {"isa-bios", "pam-", "smram", "pci-conf", "fw-cfg", "debugcon", "pic-master", "lapic"})
        EXPECT_NE(actual.find(want), std::string::npos) << want;
}

TEST_F(PcBoardTest, TheResetVectorSeesTheFirmwareAtBothAddresses) {
    for (uint64_t off : {0x1fff0ull, 0x10000ull, 0ull}) {
        EXPECT_EQ(mem_read(0xfffe0000 + off), firmware[off]) << off;
        EXPECT_EQ(mem_read(0xe0000 + off), firmware[off]) << off;
    }
}

// SeaBIOS's shadowing: PAM0 (0xf0000) to RAM read/write, copy, then
// read-only; the ROM underneath never changes.
TEST_F(PcBoardTest, PamThroughConfigCyclesShadowsTheBios) {
    mem_write(0xf0010, 0x99);  // PCI side: ROM, the write is dropped
    EXPECT_EQ(mem_read(0xf0010), firmware[0x10010]);
    config_write(0x59, 0x30, 1);  // PAM0 high nibble: RAM read/write
    mem_write(0xf0010, 0x99);
    EXPECT_EQ(mem_read(0xf0010), 0x99u);
    config_write(0x59, 0x10, 1);  // read-only RAM
    mem_write(0xf0010, 0x55);
    EXPECT_EQ(mem_read(0xf0010), 0x99u);
    config_write(0x59, 0x00, 1);  // back to the ROM
    EXPECT_EQ(mem_read(0xf0010), firmware[0x10010]);
    EXPECT_EQ(mem_read(0xfffe0000 + 0x10010), firmware[0x10010]);
    // The legacy area below the option ROMs: nothing there until PAM or
    // SMRAM say so.
    EXPECT_EQ(mem_read(0xc0000), 0xffu);
}

TEST_F(PcBoardTest, ResetControlAt0xcf9EndsTheRun) {
    EXPECT_FALSE(m->exit_request().reset);
    m->io_space().write(PioAddr(0xcf9), 0x02, 1);
    m->io_space().write(PioAddr(0xcf9), 0x06, 1);
    EXPECT_TRUE(m->exit_request().reset);
}

TEST_F(PcBoardTest, TheTimerInterruptReachesTheCpuThroughThePicOnceProgrammed) {
    PcBoard& pc = *m->pc();
    // The PIT's channel 0 runs from reset (mode 3, 18.2 Hz). Initialise
    // the master as SeaBIOS does (vector base 8), unmask IRQ0 only.
    inputs.monotonic = 100'000'000;
    init_master_pic(*m, 0xfe);
    inputs.monotonic += 60'000'000;  // past the next tick
    ASSERT_TRUE(pc.interrupt_pending());
    EXPECT_EQ(pc.acknowledge(), 0x08);
    EXPECT_FALSE(pc.interrupt_pending());  // in service until the EOI
}

// A HLT with interrupts enabled waits only for a timer whose request would
// reach the CPU: the PIT's ticks while IRQ 0 is masked, or while a tick is
// in service (no EOI yet), or with the local APIC not passing the 8259's
// interrupts, wake nothing, and since nothing else can come the wait says
// the guest has halted for good. Given `now` as the time to give up at, the
// wait returns at once: this checks what it decides, not how long it sleeps.
TEST_F(PcBoardTest, AHaltWaitsOnlyForATimerWhoseInterruptReachesTheCpu) {
    PcBoard& pc = *m->pc();
    const auto port = [&](uint16_t p, uint8_t v) { m->io_space().write(PioAddr(p), v, 1); };
    const auto tick = [&] { inputs.monotonic += 60'000'000; };  // past the PIT's next one
    inputs.monotonic = 100'000'000;
    init_master_pic(*m, 0xff);
    tick();
    EXPECT_FALSE(pc.interrupt_pending());
    EXPECT_FALSE(pc.wait_for_interrupt(std::chrono::steady_clock::now()));

    port(0x21, 0xfe);  // IRQ 0 unmasked: the tick latched while masked comes
    ASSERT_TRUE(pc.interrupt_pending());
    EXPECT_EQ(pc.acknowledge(), 0x08);
    tick();
    EXPECT_FALSE(pc.wait_for_interrupt(std::chrono::steady_clock::now()));  // in service
    EXPECT_FALSE(pc.interrupt_pending());
    port(0x20, 0x20);  // EOI
    ASSERT_TRUE(pc.interrupt_pending());
    EXPECT_EQ(pc.acknowledge(), 0x08);
    port(0x20, 0x20);
    tick();
    EXPECT_TRUE(pc.wait_for_interrupt(std::chrono::steady_clock::now()));
    ASSERT_TRUE(pc.interrupt_pending());
    EXPECT_EQ(pc.acknowledge(), 0x08);
    port(0x20, 0x20);

    // The APIC software-enabled with LINT0 masked: no ExtINT gets through.
    m->memory_space().write(Gpa(0xfee000f0), 0x1ff, 4);
    m->memory_space().write(Gpa(0xfee00350), 0x10700, 4);
    tick();
    EXPECT_FALSE(pc.wait_for_interrupt(std::chrono::steady_clock::now()));
    m->memory_space().write(Gpa(0xfee00350), 0x00700, 4);
    EXPECT_TRUE(pc.wait_for_interrupt(std::chrono::steady_clock::now()));
    EXPECT_TRUE(pc.interrupt_pending());
}

// Every clock reading the board makes runs the timers that are due, and
// with them the UART's poll at a tick (a recorded input): device replay
// steps the board once per recorded reading, so a reading that only sized
// a HLT's wait would leave the poll's input at the next reading in the
// recording and at this one in the replay. Here the reading that sizes the
// wait is past the PIT's tick: the poll follows it at once.
TEST_F(PcBoardTest, TheReadingThatSizesAHaltsWaitRunsWhatIsDue) {
    LoggedInputs log;
    Machine pc(pc_config(), log);
    // IRQ 0 and IRQ 4 unmasked, the UART's receive interrupt on; the PIT
    // runs its power-on count (a tick at about 55 ms).
    init_master_pic(pc, 0xee);
    pc.io_space().write(PioAddr(0x3f9), 0x01, 1);
    log.fake.monotonic = 60'000'000;
    log.fake.serial.push_back('x');
    log.seq.clear();
    EXPECT_TRUE(pc.pc()->wait_for_interrupt(std::chrono::steady_clock::now()));
    EXPECT_EQ(log.seq.substr(0, 3), "css") << log.seq;  // 'x', then nothing more
    EXPECT_TRUE(pc.pc()->interrupt_pending());
}

// A HLT that only the UART's receive interrupt can end (IRQ 4 the one
// unmasked; the PIT runs, masked): the board waits for the host's input,
// then polls the UART, whose interrupt ends the HLT. No clock reading
// sizes that wait: the poll is the wait's, at a HLT the guest makes again
// in guest replay, and device replay takes it where the trace has it.
TEST_F(PcBoardTest, AHaltThatOnlySerialInputCanEndWaitsForIt) {
    LoggedInputs log;
    Machine pc(pc_config(), log);
    PcBoard& board = *pc.pc();
    init_master_pic(pc, 0xef);
    pc.io_space().write(PioAddr(0x3f9), 0x01, 1);  // IER: received data
    log.fake.serial = {'h', 'i'};
    log.seq.clear();
    EXPECT_TRUE(board.wait_for_interrupt(std::chrono::steady_clock::now()));
    EXPECT_EQ(log.seq, "wsss");  // the wait, both bytes, then nothing more
    ASSERT_TRUE(board.interrupt_pending());
    EXPECT_EQ(board.acknowledge(), 0x0c);

    // The input read (RBR twice) and ended: nothing can wake the guest.
    pc.io_space().read(PioAddr(0x3f8), 1);
    pc.io_space().read(PioAddr(0x3f8), 1);
    pc.io_space().write(PioAddr(0x20), 0x20, 1);  // EOI
    log.seq.clear();
    EXPECT_FALSE(board.wait_for_interrupt(std::chrono::steady_clock::now()));
    EXPECT_EQ(log.seq, "ws");

    // A wait cut short (its limit, a signal): no input asked for, and the
    // guest goes on past its HLT.
    log.input_comes = false;
    log.seq.clear();
    EXPECT_TRUE(board.wait_for_interrupt(std::chrono::steady_clock::now()));
    EXPECT_EQ(log.seq, "w");
    EXPECT_FALSE(board.interrupt_pending());

    // Device replay's step: the same poll, where the trace says the wait
    // asked for input, and nothing where it did not.
    EXPECT_FALSE(board.take_awaited_input());
    log.input_comes = true;
    log.fake.serial = {'!'};
    log.seq.clear();
    EXPECT_TRUE(board.take_awaited_input());
    EXPECT_EQ(log.seq, "wss");
    EXPECT_TRUE(board.interrupt_pending());
}

// No wait for input where it could not wake the guest: IRQ 4 masked, the
// receive interrupt off, or a timer that would wake it first (the wait is
// then the timer's, and the UART is polled at its tick).
TEST_F(PcBoardTest, AHaltWaitsForSerialInputOnlyWhenNothingElseCanEndIt) {
    LoggedInputs log;
    Machine pc(pc_config(), log);
    PcBoard& board = *pc.pc();
    log.fake.monotonic = 100'000'000;
    init_master_pic(pc, 0xff);
    pc.io_space().write(PioAddr(0x3f9), 0x01, 1);
    log.fake.serial = {'x'};
    log.seq.clear();
    EXPECT_FALSE(board.wait_for_interrupt(std::chrono::steady_clock::now()));  // IRQ 4 masked
    EXPECT_FALSE(board.take_awaited_input());
    pc.io_space().write(PioAddr(0x21), 0xef, 1);
    pc.io_space().write(PioAddr(0x3f9), 0x00, 1);  // receive interrupt off
    EXPECT_FALSE(board.wait_for_interrupt(std::chrono::steady_clock::now()));
    EXPECT_FALSE(board.take_awaited_input());
    EXPECT_EQ(log.seq.find_first_of("ws"), std::string::npos) << log.seq;

    pc.io_space().write(PioAddr(0x3f9), 0x01, 1);
    pc.io_space().write(PioAddr(0x21), 0xee, 1);  // IRQ 0 too: the PIT wakes it
    log.seq.clear();
    EXPECT_FALSE(board.take_awaited_input());
    EXPECT_TRUE(board.wait_for_interrupt(std::chrono::steady_clock::now()));
    EXPECT_EQ(log.seq.find('w'), std::string::npos) << log.seq;
}

// A ROM under 128 KiB is all of it below 1 MiB, at its top (QEMU's
// isa-bios is min(ROM, 128 KiB)); under it, nothing (all ones).
TEST_F(PcBoardTest, A64KiBFirmwareIsAtTheTopOfTheFirstMegabyte) {
    MachineConfig c;
    c.board = Board::Pc;
    c.layout = pc_layout(kPcDefaultRam, 64 * 1024);
    c.firmware.assign(64 * 1024, 0);
    c.firmware[0] = 0x5a;
    c.firmware[0xfff0] = 0xea;
    Machine small(c, inputs);
    EXPECT_EQ(small.memory_space().read(Gpa(0xf0000), 1).value, 0x5au);
    EXPECT_EQ(small.memory_space().read(Gpa(0xffff0), 1).value, 0xeau);
    EXPECT_EQ(small.memory_space().read(Gpa(0xffff0000), 1).value, 0x5au);
    EXPECT_EQ(small.memory_space().read(Gpa(0xeffff), 1).value, 0xffu);
}

// The IDE function and its channels come with their windows: a layout
// without them (a trace recorded before the board had them) builds the
// board as it was, and a disk there is refused.
TEST_F(PcBoardTest, TheIdeIsThereWhereTheLayoutHasItsWindows) {
    MachineConfig c;
    c.board = Board::Pc;
    c.layout = pc_layout(kPcDefaultRam, 128 * 1024);
    c.firmware.assign(128 * 1024, 0);
    c.disk_sectors = 64;
    {
        Machine with(c, inputs);
        ASSERT_NE(with.device("piix3-ide"), nullptr);
        ASSERT_NE(with.device("ide0"), nullptr);
        EXPECT_NE(with.device("ide1"), nullptr);
        // 00:01.1 answers: vendor 8086, device 7010.
        ASSERT_EQ(with.io_space().write(PioAddr(0xcf8), 0x80000900u, 4), AccessStatus::Ok);
        EXPECT_EQ(with.io_space().read(PioAddr(0xcfc), 4).value, 0x70108086u);
        EXPECT_EQ(with.io_space().read(PioAddr(0x1f7), 1).value, 0x50u);  // the disk, ready
    }
    std::erase_if(c.layout.devices, [](const DeviceWindow& w) { return w.name.rfind("ide", 0) == 0; });
    EXPECT_THROW(Machine(c, inputs), Error);
    c.disk_sectors = 0;
    Machine without(c, inputs);
    EXPECT_EQ(without.device("piix3-ide"), nullptr);
    EXPECT_EQ(without.device("ide0"), nullptr);
    ASSERT_EQ(without.io_space().write(PioAddr(0xcf8), 0x80000900u, 4), AccessStatus::Ok);
    EXPECT_EQ(without.io_space().read(PioAddr(0xcfc), 4).value, 0xffffffffu);
}

TEST_F(PcBoardTest, BadFirmwareIsRefused) {
    MachineConfig c;
    c.board = Board::Pc;
    c.layout = pc_layout(kPcDefaultRam, 96 * 1024);
    c.firmware.assign(96 * 1024, 0);
    EXPECT_THROW(Machine(c, inputs), Error);  // not a multiple of 64 KiB
}

// RAM as QEMU's pc splits it: below 3.5 GiB all of it under 4 GiB; from
// 3.5 GiB up, 3 GiB under 4 GiB and the rest from 4 GiB, where a guest's
// read finds the RAM's byte at that offset.
TEST_F(PcBoardTest, RamFrom3_5GiBUpIsSplitAt3GiB) {
    EXPECT_EQ(pc_layout(3584ull << 20, 128 * 1024).low_ram_limit, 3ull << 30);
    EXPECT_EQ(pc_layout(3583ull << 20, 128 * 1024).low_ram_limit, kLowRamLimit);
    MachineConfig c;
    c.board = Board::Pc;
    c.layout = pc_layout(5ull << 30, firmware.size());
    c.firmware = firmware;
    Machine big(c, inputs);
    const std::string map = dump_mtree(big.memory_system(), true);
    EXPECT_NE(map.find("0000000000000000-00000000bfffffff (prio 0, alias): ram-below-4g -> ram @0000000000000000"),
              std::string::npos) << map;
    EXPECT_NE(map.find("0000000100000000-000000017fffffff (prio 0, alias): ram-above-4g -> ram @00000000c0000000"),
              std::string::npos) << map;
    big.memory_space().write(Gpa(0x100000000), 0x5a, 1);
    EXPECT_EQ(big.memory_space().read(Gpa(0x100000000), 1).value, 0x5au);
    EXPECT_EQ(big.memory_space().read(Gpa(0xc0000000), 4).value, 0xffffffffu);  // the PCI hole: nothing there
}

}  // namespace
}  // namespace kvmrr
