// `kvmrr replay --guest --gdb` as a user runs it: a real GDB, started
// with the fixture guest's ELF (its symbols and DWARF), attaches to the
// replay, stops at a function, reads the string argument through the
// guest's page tables, walks the stack, stops at a source line, and lets
// the replay run to its end, which still reproduces the recording; and
// debugs firmware from the reset vector as 16-bit code. Built once per
// accelerator (KVMRR_TEST_ACCEL; on KVM, label kvm).
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "core/kvm/kvm.h"
#include "core/kvm/tests/require_kvm.h"
#include "core/tests/run_command.h"

extern char** environ;

namespace kvmrr {
namespace {

std::string temp(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("kvmrr-gdb-" + std::to_string(getpid()) + "-" + name)).string();
}

// Starts `command` through the shell; its pid.
pid_t spawn_shell(const std::string& command) {
    pid_t pid = -1;
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) return -1;
    return pid;
}

int wait_status(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const std::string kAccel = KVMRR_TEST_ACCEL;

// A replay of `trace` with `--gdb 0` and `replay_args`, and GDB (with
// `gdb_args`) attached to it; both run to their ends.
struct Session {
    test::CliResult gdb;
    int replay_status = -1;
    std::string replayed;  // the replay's output
};

Session debug_replay(const std::string& trace, const std::string& replay_args, const std::string& gdb_args) {
    const std::string out = temp("replay.out");
    Session s;
    const pid_t replay = spawn_shell(std::string("exec ") + KVMRR_BINARY + " replay " + trace + " --guest --accel " + kAccel +
                                     " --gdb 0 " + replay_args + " >" + out + " 2>&1");
    if (replay <= 0) return s;
    // The port, from the line that says where to connect.
    std::string port;
    const std::regex line("target remote 127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 600 && port.empty(); ++i) {
        std::smatch m;
        const std::string text = test::slurp(out);
        if (std::regex_search(text, m, line)) port = m[1];
        else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (port.empty()) {
        kill(replay, SIGKILL);
        wait_status(replay);
        s.replayed = "no port announced: " + test::slurp(out);
        return s;
    }
    s.gdb = test::run_command("/usr/bin/gdb", "-nx -batch -ex 'target remote 127.0.0.1:" + port + "' " + gdb_args);
    s.replay_status = wait_status(replay);
    s.replayed = test::slurp(out);
    std::filesystem::remove(out);
    return s;
}

// Fixture firmware NAME.bin recorded on the pc board (virtual clock): its
// trace, or "" with the failure reported.
std::string record_firmware(const std::string& name) {
    const std::string trace = temp(name + ".trace");
    const test::CliResult rec = test::run_command(KVMRR_BINARY, "record --board pc --firmware " KVMRR_FIRMWARE_DIR "/" + name +
                                                                    ".bin --clock virtual --accel " + kAccel + " -o " + trace);
    if (rec.status == 10) return trace;  // the ticks it counted
    ADD_FAILURE() << rec.out;
    return "";
}

// GDB, and KVM for the kvm build of these tests.
class GdbCli : public ::testing::Test {
protected:
    void SetUp() override {
        if (!std::filesystem::exists("/usr/bin/gdb")) GTEST_SKIP() << "no /usr/bin/gdb (tools/setup.sh installs it)";
        if (kAccel == "kvm")
            if (const std::string why = KvmSystem::unavailable_reason(); !why.empty())
                KVMRR_SKIP_WITHOUT_KVM("needs KVM: " + why);
    }
};

TEST_F(GdbCli, ARealGdbStopsInTheReplayedGuestAndTheReplayStillReproduces) {
    const std::string trace = temp("hello.trace");
    const test::CliResult rec = test::run_command(KVMRR_BINARY, "record --guest hello --accel " + kAccel + " -o " + trace);
    ASSERT_EQ(rec.status, 0) << rec.out;

    // On the emulator GDB gets watchpoints of its own kind ("hardware"):
    // a read of the string's fourth byte stops right after it.
    const std::string watch =
        kAccel == "emu" ? "-ex 'eval \"rwatch *(char*)%lu\", $rdi+3' -ex continue -ex 'delete' " : "";
    const Session s = debug_replay(trace, "",
                                   "-ex 'info registers rip' -ex 'break serial_puts' -ex continue -ex 'x/s $rdi' -ex bt "
                                   "-ex 'info registers cr0 efer' -ex 'delete' " + watch + "-ex 'break hello.c:9' -ex continue "
                                   "-ex 'delete' -ex continue " KVMRR_FIXTURE_DIR "/hello.elf");
    const test::CliResult& gdb = s.gdb;
    EXPECT_NE(s.replayed.find("(registers as amd64's)"), std::string::npos) << s.replayed;  // a long-mode guest
    EXPECT_EQ(gdb.status, 0) << gdb.out;
    // Stopped before the first instruction, at the ELF's entry (_start).
    EXPECT_NE(gdb.out.find("_start"), std::string::npos) << gdb.out;
    EXPECT_NE(gdb.out.find("Breakpoint 1"), std::string::npos) << gdb.out;
    EXPECT_NE(gdb.out.find(", serial_puts (s="), std::string::npos) << gdb.out;
    EXPECT_NE(gdb.out.find("\"Hello from kvmrr guest\\n\""), std::string::npos) << gdb.out;
    // The fixture's DWARF: its caller's frame, and a breakpoint by line.
    EXPECT_NE(gdb.out.find(" in guest_main ("), std::string::npos) << gdb.out;
    EXPECT_NE(gdb.out.find("hello.c:8"), std::string::npos) << gdb.out;
    EXPECT_NE(gdb.out.find(", guest_main (a0="), std::string::npos) << gdb.out;  // the breakpoint at line 9
    EXPECT_NE(gdb.out.find("9\t    exit_guest(0);"), std::string::npos) << gdb.out;
    if (kAccel == "emu") {
        EXPECT_NE(gdb.out.find("Hardware read watchpoint 2: "), std::string::npos) << gdb.out;
        EXPECT_NE(gdb.out.find("Value = 108 'l'"), std::string::npos) << gdb.out;  // "Hel" then 'l'
    }
    EXPECT_NE(gdb.out.find("exited normally]"), std::string::npos) << gdb.out;
    EXPECT_EQ(s.replay_status, 0) << s.replayed;
    EXPECT_NE(s.replayed.find("reproduced"), std::string::npos) << s.replayed;
    std::filesystem::remove(trace);
}

// GDB's reverse commands, as rr users type them: on the emulator, which
// counts the guest's instructions, a reverse continue goes back to the
// breakpoint's last coming (the character before on the serial port), a
// reverse step back one instruction, a reverse finish to the call; on KVM
// GDB hears that the target cannot go backwards. The replay still ends
// as recorded.
TEST_F(GdbCli, ReverseContinueAndStepGoBackOnTheEmulator) {
    const std::string trace = temp("hello-reverse.trace");
    const test::CliResult rec = test::run_command(KVMRR_BINARY, "record --guest hello --accel " + kAccel + " -o " + trace);
    ASSERT_EQ(rec.status, 0) << rec.out;
    // serial_puts+44 is its OUT to the UART (fixtures/runtime/runtime.c).
    const Session s = debug_replay(trace, "",
                                   "-ex 'break *serial_puts+44' -ex continue -ex continue -ex continue -ex 'monitor when' "
                                   "-ex reverse-continue -ex 'monitor when' -ex 'reverse-stepi' -ex 'monitor when' "
                                   "-ex 'delete' -ex reverse-finish -ex continue " KVMRR_FIXTURE_DIR "/hello.elf");
    const std::string& out = s.gdb.out;
    EXPECT_EQ(s.gdb.status, 0) << out;
    EXPECT_NE(out.find("outb (v=108 'l'"), std::string::npos) << out;  // the third character, going forwards
    if (kAccel == "emu") {
        // Back to the second, whose OUT came a number of instructions
        // earlier; then one instruction before it.
        const std::regex when("kvmrr: ([0-9]+) instructions done");
        std::vector<unsigned long> done;
        for (auto it = std::sregex_iterator(out.begin(), out.end(), when); it != std::sregex_iterator(); ++it)
            done.push_back(std::stoul((*it)[1]));
        ASSERT_EQ(done.size(), 3u) << out;
        EXPECT_LT(done[1], done[0]) << out;
        EXPECT_EQ(done[2], done[1] - 1) << out;
        const size_t back = out.find("outb (v=101 'e'", out.find("outb (v=108 'l'"));
        EXPECT_NE(back, std::string::npos) << out;  // "He", after "Hel"
        EXPECT_NE(out.find("serial_putc (c=101 'e')", back), std::string::npos) << out;  // reverse-finish: its caller
        EXPECT_EQ(out.find("does not support"), std::string::npos) << out;
    } else {
        EXPECT_NE(out.find("Target remote does not support this command."), std::string::npos) << out;
    }
    EXPECT_NE(out.find("exited normally]"), std::string::npos) << out;
    EXPECT_EQ(s.replay_status, 0) << s.replayed;
    EXPECT_NE(s.replayed.find("reproduced"), std::string::npos) << s.replayed;
    std::filesystem::remove(trace);
}

// The x87 and SSE registers, from KVM_GET_FPU or the emulator's engine:
// at the reset vector the FPU is as KVM starts a vCPU on both (FNINIT's
// control word, every register empty; MXCSR 0x1F80, which only the
// emulator reports), and where
// timer_irq_long reaches long mode, XMM0 and ST(0) hold what it put there
// before the switch (0x600df00d, and 1.0 from fld1).
TEST_F(GdbCli, ShowsTheFpuAndSseRegisters) {
    const std::string trace = record_firmware("timer_irq_long");
    ASSERT_FALSE(trace.empty());
    // long_mode (fixtures/firmware/timer_irq.S), at its offset in the
    // image plus 0xf0000.
    const test::CliResult nm = test::run_command("sh", "-c 'nm " KVMRR_FIRMWARE_DIR "/timer_irq_long.elf | grep \" long_mode$\"'");
    ASSERT_EQ(nm.status, 0) << nm.out;
    const std::string where = std::to_string(0xf0000 + std::stoul(nm.out.substr(0, 8), nullptr, 16));
    // On KVM the session ends with GDB's kill: reaching the breakpoint
    // there is single steps (replay/replayed_guest.h), and in the nested
    // VM they can move when its MMU sets the page tables' accessed bits
    // relative to a dirty-page harvest (seen once under ASan: a page-table
    // page dirty one epoch late, which the replay reports as a divergence);
    // the emulator's replay runs on to its end, as recorded.
    const std::string end = kAccel == "emu" ? "-ex continue" : "-ex kill";
    const Session s = debug_replay(trace, "",
                                   "-ex 'p/x $fctrl' -ex 'p/x $fstat' -ex 'p/x $ftag' -ex 'p/x $mxcsr' -ex 'break *" + where +
                                       "' -ex continue -ex 'p/x $xmm0' -ex 'p $st0' -ex 'p/x $fstat' -ex 'p/x $ftag' "
                                       "-ex 'delete' " + end);
    const std::string& out = s.gdb.out;
    EXPECT_EQ(s.gdb.status, kAccel == "emu" ? 0 : 1) << out;  // batch GDB exits 1 when its target goes at `kill`
    // KVM_GET_FPU leaves MXCSR out (and KVM_GET_XSAVE, which has it,
    // fails on the kernels here): unavailable there, not a made-up value.
    const char* mxcsr = kAccel == "emu" ? "$4 = 0x1f80\n" : "$4 = <unavailable>\n";
    for (const char* line : {"$1 = 0x37f\n", "$2 = 0x0\n", "$3 = 0xffff\n", mxcsr, "$5 = 0x600df00d\n", "$6 = 1\n",
                             "$7 = 0x3800\n", "$8 = 0x3fff\n"})
        EXPECT_NE(out.find(line), std::string::npos) << line << "\n" << out;
    if (kAccel == "emu") {
        EXPECT_NE(out.find("exited normally]"), std::string::npos) << out;
        EXPECT_EQ(s.replay_status, 0) << s.replayed;
    } else {
        EXPECT_EQ(s.replay_status, 2) << s.replayed;  // killed
        EXPECT_NE(s.replayed.find("the debugger killed the replay"), std::string::npos) << s.replayed;
    }
    std::filesystem::remove(trace);
}

// Firmware from the reset vector: the guest starts in real mode, so GDB
// sees i386's registers with its 16-bit architecture, and disassembles the
// reset vector's far jump as 16-bit code (as amd64 code, 0xea is no
// instruction); `set architecture i386` switches to 32-bit code within
// the session, and the segment bases give the code's linear address.
TEST_F(GdbCli, FirmwareInRealModeIsDebuggedAs16BitCode) {
    const std::string trace = record_firmware("timer_irq_real");
    ASSERT_FALSE(trace.empty());
    const Session s = debug_replay(trace, "",
                                   "-ex 'show architecture' -ex 'x/i 0xfffffff0' -ex 'info registers eip cs cs_base' "
                                   "-ex stepi -ex 'x/i $cs_base+$eip' -ex 'set architecture i386' -ex 'x/i $cs_base+$eip' "
                                   "-ex 'set architecture i8086' -ex continue");
    const std::string& out = s.gdb.out;
    EXPECT_NE(s.replayed.find("(registers as i8086's)"), std::string::npos) << s.replayed;
    EXPECT_EQ(s.gdb.status, 0) << out;
    EXPECT_NE(out.find("currently \"i8086\""), std::string::npos) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("0xfffffff0:\\s+ljmp\\s+\\$0xf000,\\$0x0"))) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("cs_base\\s+0xffff0000"))) << out;  // the reset state's
    EXPECT_TRUE(std::regex_search(out, std::regex("0xf0000:\\s+cli"))) << out;        // _start, at f000:0000
    EXPECT_NE(out.find("The target architecture is set to \"i386\"."), std::string::npos) << out;
    EXPECT_EQ(out.find("internal-error"), std::string::npos) << out;
    EXPECT_NE(out.find("exited normally]"), std::string::npos) << out;
    EXPECT_EQ(s.replay_status, 0) << s.replayed;
    EXPECT_NE(s.replayed.find("reproduced"), std::string::npos) << s.replayed;

    // Asked for amd64, the same bytes are no instruction.
    const Session wide = debug_replay(trace, "--gdb-arch amd64", "-ex 'x/i 0xfffffff0' -ex continue");
    EXPECT_NE(wide.replayed.find("(registers as amd64's)"), std::string::npos) << wide.replayed;
    EXPECT_TRUE(std::regex_search(wide.gdb.out, std::regex("0xfffffff0:\\s+\\(bad\\)"))) << wide.gdb.out;
    EXPECT_EQ(wide.replay_status, 0) << wide.replayed;

    // --gdb-after: the guest runs to a recorded exit (a port access that
    // `kvmrr dump` shows) and waits there; `monitor when` names it.
    const test::CliResult dump = test::run_command(KVMRR_BINARY, "dump " + trace + " --from 100 --count 40");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(dump.out, m, std::regex("#([0-9]+) vcpu0 pio [^\\n]*"))) << dump.out;
    const std::string seq = m[1], line = m[0];
    const Session later = debug_replay(trace, "--gdb-after " + seq, "-ex 'monitor when' -ex 'monitor help' -ex continue");
    EXPECT_NE(later.replayed.find("waits after the exit of event #" + seq + " for gdb"), std::string::npos) << later.replayed;
    EXPECT_NE(later.gdb.out.find("the last access: " + line), std::string::npos) << line << "\n" << later.gdb.out;
    EXPECT_NE(later.gdb.out.find("exited normally]"), std::string::npos) << later.gdb.out;
    EXPECT_EQ(later.replay_status, 0) << later.replayed;
    std::filesystem::remove(trace);
}

}  // namespace
}  // namespace kvmrr
