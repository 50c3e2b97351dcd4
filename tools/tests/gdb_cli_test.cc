// `kvmrr replay --guest --gdb` as a user runs it: a real GDB, started
// with the fixture guest's ELF (its symbols and DWARF), attaches to the
// replay, stops at a function, reads the string argument through the
// guest's page tables, walks the stack, stops at a source line, and lets
// the replay run to its end, which still reproduces the recording. Built once per accelerator (KVMRR_TEST_ACCEL; on KVM, label
// kvm).
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

TEST(GdbCli, ARealGdbStopsInTheReplayedGuestAndTheReplayStillReproduces) {
    if (!std::filesystem::exists("/usr/bin/gdb")) GTEST_SKIP() << "no /usr/bin/gdb (tools/setup.sh installs it)";
    if (kAccel == "kvm")
        if (const std::string why = KvmSystem::unavailable_reason(); !why.empty()) KVMRR_SKIP_WITHOUT_KVM("needs KVM: " + why);
    const std::string trace = temp("hello.trace"), out = temp("replay.out");
    const test::CliResult rec = test::run_command(KVMRR_BINARY, "record --guest hello --accel " + kAccel + " -o " + trace);
    ASSERT_EQ(rec.status, 0) << rec.out;

    const pid_t replay = spawn_shell(std::string("exec ") + KVMRR_BINARY + " replay " + trace + " --guest --accel " + kAccel +
                                     " --gdb 0 >" + out + " 2>&1");
    ASSERT_GT(replay, 0);
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
        FAIL() << "no port announced: " << test::slurp(out);
    }

    // On the emulator GDB gets watchpoints of its own kind ("hardware"):
    // a read of the string's fourth byte stops right after it.
    const std::string watch =
        kAccel == "emu" ? "-ex 'eval \"rwatch *(char*)%lu\", $rdi+3' -ex continue -ex 'delete' " : "";
    const test::CliResult gdb = test::run_command(
        "/usr/bin/gdb", std::string("-nx -batch -ex 'target remote 127.0.0.1:") + port +
                            "' -ex 'info registers rip' -ex 'break serial_puts' -ex continue -ex 'x/s $rdi' -ex bt "
                            "-ex 'info registers cr0 efer' -ex 'delete' " + watch + "-ex 'break hello.c:9' -ex continue "
                            "-ex 'delete' -ex continue " KVMRR_FIXTURE_DIR "/hello.elf");
    const int status = wait_status(replay);
    const std::string replayed = test::slurp(out);
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
    EXPECT_EQ(status, 0) << replayed;
    EXPECT_NE(replayed.find("reproduced"), std::string::npos) << replayed;
    std::filesystem::remove(trace);
    std::filesystem::remove(out);
}

}  // namespace
}  // namespace kvmrr
