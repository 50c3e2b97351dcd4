// tools/in-kvm-vm.sh as a user runs it: a command's status, output, writes
// and environment come back from wherever /dev/kvm was found (this
// machine's, or the nested-KVM VM's), and its own failures are its own
// exit statuses (2 for usage, 125 for a VM that cannot be had).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Result {
    int status = -1;
    std::string out;
    std::string err;
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A scratch directory below the test's working directory (the build tree),
// which the script shares read-write with its VM.
class InKvmVm : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::current_path() / ("in-kvm-vm-" + std::to_string(getpid()) + "-" + info->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Runs `tools/in-kvm-vm.sh ARGS` in the scratch directory, stdout and
    // stderr to files of their own.
    Result run(const std::string& args, const std::string& env = "") {
        const std::string cmd = "cd '" + dir_.string() + "' && " + env + " '" KVMRR_SOURCE_DIR "/tools/in-kvm-vm.sh' " +
                                args + " >out.txt 2>err.txt </dev/null";
        const int st = std::system(cmd.c_str());
        Result r;
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        r.out = slurp(dir_ / "out.txt");
        r.err = slurp(dir_ / "err.txt");
        return r;
    }

    fs::path dir_;
};

TEST_F(InKvmVm, UsageErrorsExit2) {
    Result r = run("");
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("no command given"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("usage: tools/in-kvm-vm.sh"), std::string::npos) << r.err;
    r = run("--no-such-option true");
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("unknown option --no-such-option"), std::string::npos) << r.err;
    r = run("--timeout soon true");
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("--timeout takes a positive whole number"), std::string::npos) << r.err;
    r = run("--timeout");
    EXPECT_EQ(r.status, 2) << r.err;
}

TEST_F(InKvmVm, TrueSucceeds) {
    const Result r = run("true");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "");
}

// One command checks everything that must come back, so that the VM boots
// once: /dev/kvm opens, the environment and working directory are the
// caller's, stdout and stderr stay apart, a file written below the working
// directory appears here, and a non-zero status is the command's own. /proc
// and /sys must be themselves (the sanitizers read /proc/self/maps and
// /proc/PID/task; both are the host's pseudo-filesystem roots over 9p, where
// identical inode numbers merge them unless QEMU remaps them: multidevs=remap).
TEST_F(InKvmVm, StatusOutputEnvironmentAndWritesComeBack) {
    const Result r = run(
        "sh -c 'exec 9<>/dev/kvm || exit 90; [ -r /proc/self/maps ] && [ -d /proc/$$/task ] || exit 91; "
        "[ -d /sys/kernel ] && [ ! -e /proc/kernel ] || exit 92; echo \"out:$KVMRR_VM_TEST_VAR:$(pwd -P)\"; echo err-line >&2; "
        "mkdir -p sub && echo written > sub/file; exit 7'",
        "KVMRR_VM_TEST_VAR='a b'");
    EXPECT_EQ(r.status, 7) << r.err;
    EXPECT_EQ(r.out, "out:a b:" + fs::canonical(dir_).string() + "\n") << r.err;
    EXPECT_NE(r.err.find("err-line\n"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("err-line"), std::string::npos);
    EXPECT_EQ(slurp(dir_ / "sub" / "file"), "written\n");
}

TEST_F(InKvmVm, AMissingCommandIs127NotAHang) {
    const Result r = run("no-such-command-kvmrr --flag");
    EXPECT_EQ(r.status, 127) << r.err;
}

// The VM path itself, even where this machine has /dev/kvm: a VM that cannot
// boot within --timeout is killed, with exit 125 and the reason.
TEST_F(InKvmVm, AVmThatDoesNotComeUpInTimeIs125) {
    const Result r = run("--force-vm --timeout 1 --memory 128 true");
    EXPECT_EQ(r.status, 125) << r.err;
    EXPECT_NE(r.err.find("did not come up within 1 s"), std::string::npos) << r.err;
}

}  // namespace
