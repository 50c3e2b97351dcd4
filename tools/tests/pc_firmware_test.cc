// The pc board with fixture firmware of kvmrr's own (fixtures/firmware/):
// the interrupt path (timer_irq.S: the PIT's channel 0 through the 8259
// pair and the local APIC in virtual-wire mode, taken in real mode through
// the IVT, in 32-bit protected mode through an IDT, and in long mode
// through a 64-bit IDT after a page fault and a #GP, counted by the
// guest, recorded with each clock and replayed both ways), the time-stamp
// counter (tsc_probe.S), string I/O as KVM batches it (string_io.S), HLTs
// that a time limit ends or that no interrupt can end (idle_hlt.S), and
// serial input to a guest that waits for its interrupt (serial_echo.S),
// at ticks, with interrupts that need no access of their own, and with no
// timer at all.
// Built twice, like the SeaBIOS boot: pc_firmware_kvm_test (label kvm) and
// pc_firmware_emu_test.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>

#include "core/kvm/kvm.h"
#include "core/kvm/tests/require_kvm.h"
#include "core/tests/run_command.h"
#include "tools/tests/pseudo_terminal.h"

namespace {

namespace fs = std::filesystem;
using kvmrr::test::count_of;
using kvmrr::test::slurp;
using Result = kvmrr::test::CliResult;

Result kvmrr(const std::string& args) { return kvmrr::test::run_command(KVMRR_BINARY, args); }

const std::string kAccel = KVMRR_TEST_ACCEL;

// The guest's interrupt count and exit status when every tick came once.
constexpr int kTicks = 10;

// Each test on KVM where this build's accelerator is KVM (skipped with the
// reason where there is none, or failed where KVM is required), with a
// scratch directory of its own, dir_, removed at its end.
class PcFirmwareTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (kAccel == "kvm")
            if (const std::string why = kvmrr::KvmSystem::unavailable_reason(); !why.empty())
                KVMRR_SKIP_WITHOUT_KVM("needs /dev/kvm: " + why);
        const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = std::string(t->test_suite_name()) + "-" + t->name();
        std::replace(name.begin(), name.end(), '/', '-');
        dir_ = fs::current_path() / (name + "-" + std::to_string(getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override {
        if (!dir_.empty()) fs::remove_all(dir_);
    }

    // Both replays of `trace` reproduce it, and guest replay's report also
    // says `guest_says` (how its guest ended).
    static void expect_both_replays_reproduce(const fs::path& trace, const std::string& guest_says) {
        Result r = kvmrr("replay " + trace.string());
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
        r = kvmrr("replay --guest --accel " + kAccel + " " + trace.string());
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find(guest_says), std::string::npos) << r.out;
    }

    // Records serial_echo.S's `firmware` with `text` as its serial input,
    // which it must echo to the debug console and end (status 0); returns
    // `kvmrr dump` of the trace.
    Result record_echo(const std::string& firmware, const std::string& text, const fs::path& trace) {
        const fs::path in = dir_ / "in.txt", log = dir_ / "dc.log";
        std::ofstream(in) << text;
        const Result r = kvmrr("record --board pc --firmware " + firmware + " --accel " + kAccel + " --serial-in " +
                               in.string() + " --debugcon " + log.string() + " --timeout 60000 -o " + trace.string());
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_EQ(slurp(log), text);
        return kvmrr("dump " + trace.string());
    }

    fs::path dir_;
};

class TimerIrq : public PcFirmwareTest, public ::testing::WithParamInterface<std::string> {
protected:
    std::string firmware() const { return std::string(KVMRR_FIRMWARE_DIR) + "/timer_irq_" + GetParam() + ".bin"; }
    // IRQ 0's vector: the 8259's base as the firmware programs it.
    std::string vector() const { return GetParam() == "real" ? "0x8" : "0x20"; }
    std::string banner() const {
        const std::string mode = GetParam() == "real" ? "real" : GetParam() == "prot" ? "protected" : "long";
        return "timer_irq: " + mode + " mode, 10 timer interrupts\n";
    }
    Result record(const std::string& clock, const fs::path& trace, const fs::path& log) {
        return kvmrr("record --board pc --firmware " + firmware() + " --accel " + kAccel + " --clock " + clock +
                     " --debugcon " + log.string() + " --timeout 60000 -o " + trace.string());
    }
};

TEST_P(TimerIrq, CountsTenTicksRecordedAndReplayedWithEachClock) {
    for (const std::string clock : {"host", "virtual"}) {
        SCOPED_TRACE("--clock " + clock);
        const fs::path trace = dir_ / (clock + ".trace"), log = dir_ / (clock + ".log");
        Result r = record(clock, trace, log);
        ASSERT_EQ(r.status, kTicks) << r.out;
        EXPECT_NE(r.out.find("guest exited with status 10"), std::string::npos) << r.out;
        EXPECT_EQ(slurp(log), banner());
        // Every delivery is an event, all of them IRQ 0 at its vector.
        r = kvmrr("dump " + trace.string());
        EXPECT_EQ(count_of(r.out, " interrupt vector " + vector() + " "), size_t{kTicks}) << r.out.substr(0, 4000);
        EXPECT_EQ(count_of(r.out, " interrupt vector "), size_t{kTicks});

        r = kvmrr("replay " + trace.string());
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
        r = kvmrr("replay --guest --accel " + kAccel + " " + trace.string());
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("guest ended by guest-exit with status 10"), std::string::npos) << r.out;
    }
}

// Time as a function of the exit count: the same guest twice is the same
// trace, HLT's jumps to the next deadline included.
TEST_P(TimerIrq, TwoRecordingsWithTheVirtualClockAreTheSameTrace) {
    const fs::path a = dir_ / "a.trace", b = dir_ / "b.trace";
    ASSERT_EQ(record("virtual", a, dir_ / "a.log").status, kTicks);
    ASSERT_EQ(record("virtual", b, dir_ / "b.log").status, kTicks);
    const Result r = kvmrr("diff " + a.string() + " " + b.string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("traces match"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Modes, TimerIrq, ::testing::Values("real", "prot", "long"));

// The guest's TSC (fixtures/firmware/tsc_probe.S prints three RDTSCs on the
// debug console). The emulator on the virtual clock traps RDTSC and gives
// the board's time, so two recordings are the same trace; KVM cannot trap
// it, so the host's TSC leaks into what the guest writes, and both `diff`
// and guest replay say that this is the likely cause.
class TimeStampCounter : public TimerIrq {};

TEST_P(TimeStampCounter, IsTheVirtualClockOnTheEmulatorAndALeakOnKvm) {
    const std::string probe = std::string(KVMRR_FIRMWARE_DIR) + "/tsc_probe.bin";
    const fs::path a = dir_ / "a.trace", b = dir_ / "b.trace", la = dir_ / "a.log", lb = dir_ / "b.log";
    for (const auto& [trace, log] : {std::pair{a, la}, std::pair{b, lb}}) {
        const Result r = kvmrr("record --board pc --firmware " + probe + " --accel " + kAccel + " --clock virtual --debugcon " +
                               log.string() + " --timeout 60000 -o " + trace.string());
        ASSERT_EQ(r.status, 0) << r.out;
    }
    const std::string da = slurp(la);
    ASSERT_EQ(count_of(da, "tsc "), 3u) << da;
    const uint64_t t1 = std::stoull(da.substr(4, 16), nullptr, 16), t2 = std::stoull(da.substr(25, 16), nullptr, 16),
                   t3 = std::stoull(da.substr(46, 16), nullptr, 16);
    EXPECT_LT(t1, t2);
    EXPECT_LT(t2, t3);
    Result diff = kvmrr("diff " + a.string() + " " + b.string());
    Result replay = kvmrr("replay --guest --accel " + kAccel + " " + a.string());
    if (kAccel == "emu") {
        // 20 port reads, then the read itself: 21 virtual microseconds.
        EXPECT_EQ(t1, 21'000u) << da;
        EXPECT_EQ(slurp(lb), da);
        EXPECT_EQ(diff.status, 0) << diff.out;
        EXPECT_EQ(replay.status, 0) << replay.out;
    } else {
        EXPECT_NE(slurp(lb), da);
        EXPECT_EQ(diff.status, 1) << diff.out;
        EXPECT_NE(diff.out.find("pio out 0x402"), std::string::npos) << diff.out;
        EXPECT_NE(diff.out.find("most likely the time-stamp counter"), std::string::npos) << diff.out;
        EXPECT_EQ(replay.status, 1) << replay.out;
        EXPECT_NE(replay.out.find("most likely it read the time-stamp counter"), std::string::npos) << replay.out;
    }
}

INSTANTIATE_TEST_SUITE_P(Probe, TimeStampCounter, ::testing::Values("real"));

// --deterministic-cpu hides the time-stamp counter and the random number
// instructions from CPUID (core/vcpu/hidden_cpuid.h), on either
// accelerator: tsc_probe.bin's last line has leaf 1's ECX and EDX, leaf 7's
// EBX and leaf 0x80000001's EDX. Without it the pc board shows a TSC. The
// trace keeps the option, so a replay shows the guest the same CPUID (on
// the emulator, where the probe's RDTSCs are the virtual clock, guest
// replay reproduces the run).
TEST_F(PcFirmwareTest, ADeterministicCpuHidesTheTimeStampCounterAndRandomNumbers) {
    const std::string probe = std::string(KVMRR_FIRMWARE_DIR) + "/tsc_probe.bin";
    for (const bool hidden : {false, true}) {
        const fs::path trace = dir_ / "probe.trace", log = dir_ / "probe.log";
        Result r = kvmrr("record --board pc --firmware " + probe + " --accel " + kAccel + " --clock virtual --debugcon " +
                         log.string() + (hidden ? " --deterministic-cpu" : "") + " -o " + trace.string());
        ASSERT_EQ(r.status, 0) << r.out;
        const std::string out = slurp(log);
        const size_t at = out.find("cpuid ");
        ASSERT_NE(at, std::string::npos) << out;
        std::istringstream words(out.substr(at + 6));
        uint32_t leaf1_ecx = 0, leaf1_edx = 0, leaf7_ebx = 0, ext1_edx = 0;
        words >> std::hex >> leaf1_ecx >> leaf1_edx >> leaf7_ebx >> ext1_edx;
        ASSERT_FALSE(words.fail()) << out;
        EXPECT_EQ((leaf1_edx >> 4) & 1, hidden ? 0u : 1u) << out;  // TSC
        if (hidden) {
            EXPECT_EQ(leaf1_ecx & (1u << 24 | 1u << 30), 0u) << out;  // TSC deadline, RDRAND
            EXPECT_EQ(leaf7_ebx & (1u << 1 | 1u << 18), 0u) << out;   // TSC_ADJUST, RDSEED
            EXPECT_EQ(ext1_edx & (1u << 27), 0u) << out;              // RDTSCP
        }
        EXPECT_NE(leaf1_edx & 1, 0u) << out;  // the FPU, and the rest, still there
        r = kvmrr("inspect " + trace.string());
        EXPECT_EQ(r.out.find("deterministic CPU") != std::string::npos, hidden) << r.out;
        if (kAccel == "emu") {
            r = kvmrr("replay --guest --accel emu " + trace.string());
            EXPECT_EQ(r.status, 0) << r.out;
        }
    }
}

// The golden string_io trace was recorded on KVM: a recording on this
// accelerator makes the same exits (one per `rep outsb` element, `rep ins`
// in KVM's batches), so `diff` finds them the same, and the trace
// guest-replays here.
class StringIo : public PcFirmwareTest {};

TEST_F(StringIo, ARecordingHereIsTheGoldenKvmTrace) {
    const std::string golden = std::string(KVMRR_SOURCE_DIR) + "/fixtures/traces/string_io.trace";
    const fs::path trace = dir_ / "string-io.trace";
    Result r = kvmrr("record --board pc --firmware " + std::string(KVMRR_FIRMWARE_DIR) + "/string_io.bin --accel " + kAccel +
                     " --clock virtual --timeout 60000 -o " + trace.string());
    ASSERT_EQ(r.status, 0) << r.out;
    r = kvmrr("diff " + golden + " " + trace.string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("traces match"), std::string::npos) << r.out;
    r = kvmrr("dump " + golden);
    EXPECT_NE(r.out.find("pio in 0x61 size 1 count 4 "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("pio in 0x61 size 2 count 512 "), std::string::npos) << r.out;
    r = kvmrr("replay --guest --accel " + kAccel + " " + golden);
    EXPECT_EQ(r.status, 0) << r.out;
}

// A guest idle in `sti; hlt` (idle_hlt.bin, the PIT at its ~55 ms
// period), recorded until its time limit: the limit comes in a HLT's wait,
// the guest goes on past that HLT without an interrupt, and the run stops
// at its next HLT, left unhandled, with no access after the last one to
// mark the place. Both replays end there too; guest replay finds that
// exit by the end's count of exits. The end's rip says where the run
// stopped: 0x101, past the loop's HLT (a recording where a tick fell due
// at the limit, or a signal that stopped the guest before its HLT, ends
// elsewhere; of three, one must end at the HLT).
class IdleGuest : public PcFirmwareTest {};

TEST_F(IdleGuest, ATimeLimitInAHaltEndsWhereBothReplaysEnd) {
    const std::string fw = std::string(KVMRR_FIRMWARE_DIR) + "/idle_hlt.bin";
    const fs::path log = dir_ / "dc.log", trace = dir_ / "idle.trace";
    bool at_hlt = false;
    for (int i = 0; i < 3 && !at_hlt; ++i) {
        // Two seconds: under ASan in the nested VM the guest's start takes
        // most of a shorter limit, leaving fewer than four ticks.
        Result r = kvmrr("record --board pc --firmware " + fw + " --accel " + kAccel + " --debugcon " + log.string() +
                         " --timeout 2000 -o " + trace.string());
        ASSERT_EQ(r.status, 124) << r.out;
        EXPECT_EQ(slurp(log), "idle");
        // 0x7d0: the limit, 2,000 ms.
        at_hlt = r.out.find("timeout (detail 0x7d0) after ") != std::string::npos && r.out.find("rip 0x101\n") != std::string::npos;
        r = kvmrr("dump " + trace.string());
        EXPECT_GE(count_of(r.out, " interrupt vector 0x8 "), 4u) << r.out;
        expect_both_replays_reproduce(trace, "guest ended by timeout");
    }
    EXPECT_TRUE(at_hlt) << "no recording of three stopped at the idle loop's HLT";
}

// A HLT with interrupts enabled that no interrupt can end: after a first
// tick, IRQ 0 masked at the 8259 (idle_hlt_masked.bin), or the tick's
// handler halting before its EOI (idle_hlt_in_service.bin). The PIT goes on
// running, but a PC stays halted, so the run ends "halted" there (status
// 0) rather than waking the guest for a tick it cannot take (it would
// print "woke" and exit 1); both replays end there too. On the virtual
// clock, so that one tick comes before the mask: with the host's, a host as
// slow as ASan in the nested VM let a second fall due first.
TEST_F(PcFirmwareTest, AHaltThatNoInterruptCanEndEndsTheRun) {
    for (const auto& [variant, mark, rip] : {std::tuple{"masked", "m", "0x63"}, std::tuple{"in_service", "s", "0x60"}}) {
        SCOPED_TRACE(variant);
        const std::string fw = std::string(KVMRR_FIRMWARE_DIR) + "/idle_hlt_" + variant + ".bin";
        const fs::path log = dir_ / "dc.log", trace = dir_ / "halt.trace";
        Result r = kvmrr("record --board pc --firmware " + fw + " --accel " + kAccel + " --clock virtual --debugcon " +
                         log.string() + " --timeout 60000 -o " + trace.string());
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find(std::string("guest halted (status 0) after ")), std::string::npos) << r.out;
        EXPECT_NE(r.out.find(std::string("at rip ") + rip + "\n"), std::string::npos) << r.out;
        EXPECT_EQ(slurp(log), std::string("idle") + mark);
        r = kvmrr("dump " + trace.string());
        EXPECT_EQ(count_of(r.out, " interrupt vector 0x8 "), 1u) << r.out;
        expect_both_replays_reproduce(trace, "guest ended by halt");
    }
}

// Serial input to a guest that waits for it with interrupts, as Linux's
// 8250 driver does (serial_echo.bin: COM1's receive interrupt on, the guest
// in HLT, the UART read only in its IRQ 4 handler): the input reaches the
// UART at a timer tick, each byte is echoed to the debug console, and both
// replays reproduce it. With no input the guest waits until its time limit.
TEST_F(PcFirmwareTest, SerialInputReachesAGuestThatWaitsForItsInterrupt) {
    const std::string fw = std::string(KVMRR_FIRMWARE_DIR) + "/serial_echo.bin";
    const fs::path log = dir_ / "dc.log", trace = dir_ / "echo.trace";
    const std::string text = "hello, guest\nmore\n";
    Result r = record_echo(fw, text, trace);
    EXPECT_GE(count_of(r.out, " interrupt vector 0xc "), 1u) << r.out;
    EXPECT_GE(count_of(r.out, " serial-in 0x"), text.size()) << r.out;
    expect_both_replays_reproduce(trace, "guest ended by guest-exit with status 0");

    r = kvmrr("run --board pc --firmware " + fw + " --accel " + kAccel + " --debugcon " + log.string() + " --timeout 300");
    EXPECT_EQ(r.status, 124) << r.out;
    EXPECT_EQ(slurp(log), "");
}

// A guest that only serial input can wake (serial_echo_no_tick.bin: the PIT
// stopped, IRQ 4 alone unmasked) waits for it in HLT: the board waits for
// the host's input there and polls the UART when it comes, with no tick.
// The input from a file; from a pipe, in two pieces, the second sent once
// the guest has echoed the first, so that it waits twice; ended before a newline (the guest has
// halted); and not yet come when the time limit ends the wait. Both
// replays reproduce each, ending as the recording did.
TEST_F(PcFirmwareTest, SerialInputWakesAGuestThatNoTimerCanWake) {
    const std::string fw = std::string(KVMRR_FIRMWARE_DIR) + "/serial_echo_no_tick.bin";
    const fs::path log = dir_ / "dc.log", trace = dir_ / "echo.trace";
    Result r = record_echo(fw, "hello, guest\n", trace);
    EXPECT_EQ(count_of(r.out, " interrupt vector 0x8 "), 0u) << r.out;
    EXPECT_GE(count_of(r.out, " interrupt vector 0xc "), 1u) << r.out;
    expect_both_replays_reproduce(trace, "guest ended by guest-exit with status 0");

    const auto record_from = [&](const std::string& input) {
        return "record --board pc --firmware " + fw + " --accel " + kAccel + " --debugcon " + log.string() +
               " --serial-in " + input + " -o " + trace.string();
    };
    const std::string record = record_from("-");
    fs::remove(log);
    const std::string pieces = "(printf ab; i=0; while [ $i -lt 1200 ] && ! grep -q ab " + log.string() +
                               "; do sleep 0.05; i=$((i+1)); done; printf 'cd\\n') | " KVMRR_BINARY;
    r = kvmrr::test::run_command(pieces, record + " --timeout 60000");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(slurp(log), "abcd\n");
    r = kvmrr("dump " + trace.string());
    EXPECT_EQ(count_of(r.out, " interrupt vector 0xc "), 2u) << r.out;
    expect_both_replays_reproduce(trace, "guest ended by guest-exit with status 0");

    r = kvmrr::test::run_command("printf abc | " KVMRR_BINARY, record + " --timeout 60000");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("guest halted (status 0)"), std::string::npos) << r.out;
    EXPECT_EQ(slurp(log), "abc");
    expect_both_replays_reproduce(trace, "guest ended by halt");

    // A FIFO whose writer (the shell's descriptor 3, which kvmrr inherits)
    // outlives the run, however long its start takes: the input never
    // ends and never comes. In /tmp: the nested VM's shared directory
    // cannot hold one.
    char fifo_dir[] = "/tmp/kvmrr-fifo-XXXXXX";
    ASSERT_NE(mkdtemp(fifo_dir), nullptr);
    const fs::path fifo = fs::path(fifo_dir) / "in";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    r = kvmrr::test::run_command("exec 3<>" + fifo.string() + " && exec " KVMRR_BINARY,
                                 record_from(fifo.string()) + " --timeout 1000");
    fs::remove_all(fifo_dir);
    EXPECT_EQ(r.status, 124) << r.out;
    EXPECT_EQ(slurp(log), "");
    expect_both_replays_reproduce(trace, "guest ended by timeout");
}

// Whether `file` holds `text` within `seconds`.
bool appears(const fs::path& file, const std::string& text, int seconds = 60) {
    for (int i = 0; i < seconds * 50; ++i) {
        if (slurp(file).find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

// `kvmrr ARGS` with a pseudo-terminal as its standard input, whose master
// side `drive` types on (its output and errors go to `out`); the slave
// side's settings before and after the run come back in `before` and
// `after`. The run is killed after two minutes.
Result on_terminal(const std::string& args, const fs::path& out, const std::function<void(int)>& drive, termios& before,
                   termios& after) {
    Result r;
    const kvmrr::test::PseudoTerminal pty;
    if (pty.slave < 0 || tcgetattr(pty.slave, &before) != 0) return r;
    const std::string cmd = std::string(KVMRR_BINARY) + " " + args;
    const pid_t pid = fork();
    if (pid == 0) {
        const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || dup2(pty.slave, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0) _exit(126);
        execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    drive(pty.master);
    int status = 0;
    for (int i = 0; i < 6000 && waitpid(pid, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    tcgetattr(pty.slave, &after);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    return r;
}

// `--serial-in -` on a terminal, as a user types at a guest's console:
// the terminal raw for the run (each key reaches the guest as typed,
// Ctrl-C too, since keys send no signals), Ctrl-A x ends the run as
// Ctrl-C would elsewhere (the recording kept, ending "interrupted",
// which both replays reproduce), and the terminal's settings are back
// after. serial_echo_no_tick.bin echoes each key it takes to the debug
// console.
TEST_F(PcFirmwareTest, ATerminalOnTheSerialPortIsRawAndCtrlAXEndsTheRun) {
    const std::string fw = std::string(KVMRR_FIRMWARE_DIR) + "/serial_echo_no_tick.bin";
    const fs::path log = dir_ / "dc.log", trace = dir_ / "tty.trace", out = dir_ / "out.txt";
    termios before{}, after{};
    const Result r = on_terminal(
        "record --board pc --firmware " + fw + " --accel " + kAccel + " --debugcon " + log.string() +
            " --serial-in - --timeout 120000 -o " + trace.string(),
        out,
        [&](int master) {
            ASSERT_TRUE(appears(out, "Ctrl-A x ends the run")) << slurp(out);
            ASSERT_EQ(write(master, "h\x03i", 3), 3);
            ASSERT_TRUE(appears(log, "h\x03i")) << slurp(out);
            ASSERT_EQ(write(master, "\x01x", 2), 2);
        },
        before, after);
    EXPECT_EQ(r.status, 130) << r.out;  // as a shell reports SIGINT's end
    EXPECT_NE(r.out.find("interrupted by SIGINT"), std::string::npos) << r.out;
    EXPECT_EQ(slurp(log), "h\x03i");
    EXPECT_EQ(after.c_lflag, before.c_lflag);
    EXPECT_EQ(after.c_iflag, before.c_iflag);
    EXPECT_EQ(after.c_oflag, before.c_oflag);
    const Result d = kvmrr("dump " + trace.string());
    EXPECT_NE(d.out.find(" serial-in 0x3\n"), std::string::npos) << d.out;
    expect_both_replays_reproduce(trace, "guest ended by interrupted");
}

// The most interrupts `kvmrr dump` shows between two accesses, and whether
// an input (a serial-in) follows one of them before the next access.
struct Deliveries {
    size_t most_between_accesses = 0;
    bool input_after_one = false;
};

Deliveries deliveries_in(const std::string& dump) {
    Deliveries d;
    size_t run = 0;
    std::istringstream lines(dump);
    for (std::string line; std::getline(lines, line);) {
        if (line.find(" pio ") != std::string::npos || line.find(" mmio ") != std::string::npos) {
            run = 0;
        } else if (line.find(" interrupt vector ") != std::string::npos) {
            d.most_between_accesses = std::max(d.most_between_accesses, ++run);
        } else if (line.find(" serial-in ") != std::string::npos && run > 0) {
            d.input_after_one = true;
        }
    }
    return d;
}

// Interrupts whose handlers make no access (serial_echo_aeoi.bin: the
// master 8259 in auto-EOI mode, a tick's handler only IRET): between two
// accesses the recording has several deliveries, with the UART's polls for
// input at ticks among them: with input, the tick that takes it and then
// the receive interrupt it raised; without, tick after tick (the run ends
// at its exit limit). Device replay steps the board through each in turn.
TEST_F(PcFirmwareTest, InterruptsWithNoAccessBetweenThemReplay) {
    const std::string fw = std::string(KVMRR_FIRMWARE_DIR) + "/serial_echo_aeoi.bin";
    const fs::path trace = dir_ / "echo.trace", idle = dir_ / "idle.trace";
    Result r = record_echo(fw, "hello, guest\n", trace);
    EXPECT_NE(r.out.find(" interrupt vector 0x8 "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(" interrupt vector 0xc "), std::string::npos) << r.out;
    EXPECT_GE(deliveries_in(r.out).most_between_accesses, 2u) << r.out;
    expect_both_replays_reproduce(trace, "guest ended by guest-exit with status 0");

    r = kvmrr("record --board pc --firmware " + fw + " --accel " + kAccel + " --max-exits 40 --timeout 60000 -o " +
              idle.string());
    EXPECT_NE(r.out.find("exit limit reached"), std::string::npos) << r.out;
    r = kvmrr("dump " + idle.string());
    const Deliveries d = deliveries_in(r.out);
    EXPECT_GE(d.most_between_accesses, 10u) << r.out;
    EXPECT_TRUE(d.input_after_one) << r.out;
    expect_both_replays_reproduce(idle, "guest ended by exit limit reached");
}

// A guest that waits for timer ticks in a loop that makes no exit
// (timer_irq_spin.bin: real mode, the count polled in memory): without
// --ticks-between-exits no tick reaches it (interrupts come at exits) and
// the run times out; with it the ticks stop the guest where it spins, all
// ten come, each at a pause event, and the trace replays its devices. On
// the emulator guest replay stops the guest at the recorded instruction
// counts and delivers the ticks there; a recording on KVM, which counts no
// instructions, it refuses, saying why.
class SpinningGuest : public PcFirmwareTest {};

TEST_F(SpinningGuest, GetsItsTicksOnlyWithTicksBetweenExits) {
    const std::string fw = std::string(KVMRR_FIRMWARE_DIR) + "/timer_irq_spin.bin";
    const fs::path log = dir_ / "dc.log", trace = dir_ / "spin.trace";
    Result r = kvmrr("run --board pc --firmware " + fw + " --accel " + kAccel + " --timeout 3000 --debugcon " + log.string());
    EXPECT_NE(r.status, kTicks) << r.out;
    EXPECT_NE(r.out.find("timeout"), std::string::npos) << r.out;
    EXPECT_EQ(slurp(log), "");
    // A generous limit: under ASan in the nested VM this recording takes
    // about a minute (each kick is a KVM_RUN round trip there).
    r = kvmrr("record --board pc --firmware " + fw + " --accel " + kAccel + " --ticks-between-exits --timeout 300000 --debugcon " +
              log.string() + " -o " + trace.string());
    EXPECT_EQ(r.status, kTicks) << r.out;
    EXPECT_EQ(slurp(log), "timer_irq: real mode, 10 timer interrupts\n");
    r = kvmrr("inspect " + trace.string());
    EXPECT_NE(r.out.find("ticks between exits"), std::string::npos) << r.out;
    r = kvmrr("dump " + trace.string());
    EXPECT_EQ(count_of(r.out, " interrupt vector 0x8 "), static_cast<size_t>(kTicks)) << r.out;
    // The ticks came at stops between exits (one may meet an exit): the
    // guest makes none while it waits.
    EXPECT_GE(count_of(r.out, " pause after exit "), static_cast<size_t>(kTicks / 2)) << r.out;
    EXPECT_EQ(count_of(r.out, " instructions not counted"), kAccel == "emu" ? 0u : count_of(r.out, " pause after exit "))
        << r.out;
    r = kvmrr("replay " + trace.string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
    r = kvmrr("replay --guest " + trace.string());
    if (kAccel == "emu") {
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
        // KVM counts no instructions: asked for, it is refused.
        r = kvmrr("replay --guest --accel kvm " + trace.string());
        EXPECT_EQ(r.status, 3) << r.out;
        EXPECT_NE(r.out.find("--accel emu"), std::string::npos) << r.out;
    } else {
        EXPECT_EQ(r.status, 3) << r.out;
        EXPECT_NE(r.out.find("recorded with --ticks-between-exits"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("KVM, which recorded it, counts none"), std::string::npos) << r.out;
    }
    // The virtual clock moves only with exits: the two do not go together.
    r = kvmrr("run --board pc --firmware " + fw + " --clock virtual --ticks-between-exits");
    EXPECT_EQ(r.status, 2) << r.out;
}

}  // namespace
