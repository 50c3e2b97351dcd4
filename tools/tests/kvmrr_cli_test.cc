// The kvmrr program as a user runs it: its output and exit statuses.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "core/kvm/kvm.h"
#include "core/kvm/kvm_pvm.h"
#include "core/tests/run_command.h"
#include "record/dirty_runs.h"
#include "record/trace_reader.h"
#include "record/trace_writer.h"

namespace kvmrr {
namespace {

using Result = test::CliResult;

Result kvmrr(const std::string& args) { return test::run_command(KVMRR_BINARY, args); }

std::string temp(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("kvmrr-cli-" + std::to_string(getpid()) + "-" + name)).string();
}

// A small trace written through the real writer.
std::string sample_trace() {
    const std::string path = temp("sample.trace");
    TraceHeader h;
    h.guest_name = "sample";
    h.ram_size = 256 << 20;
    h.regions = {{0, "uart16550", "i/o"}, {1, "entropy", "i/o"}};
    TraceWriter w(path, h);
    AccessEvent out;
    out.io = true;
    out.addr = 0x3f8;
    out.size = 1;
    out.is_write = true;
    out.value = 'A';
    out.region = 0;
    w.append(0, out);
    AccessEvent rnd;
    rnd.addr = 0xfeb00000;
    rnd.size = 8;
    rnd.value = 0x1122334455667788;
    rnd.region = 1;
    w.append(0, rnd);
    w.append(0, EntropyEvent{{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}});
    EndEvent end;
    end.reason = "guest-exit";
    end.exits = 2;
    w.append(0, end);
    w.close();
    return path;
}

TEST(KvmrrCli, MtreePrintsTheDefaultMachine) {
    const Result r = kvmrr("mtree");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("address-space: memory"), std::string::npos);
    EXPECT_NE(r.out.find("00000000ffff0000-00000000ffffffff (prio 0, rom): bios"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("flat-view: io (root io): 3 ranges"), std::string::npos) << r.out;
}

// The issue's own command: `kvmrr mtree --board pc` with no firmware draws
// the board for a 128 KiB one, which is the golden map of
// vmm/tests/data/pc.mtree (QEMU's pc, PAM and all); a firmware file of
// another size moves the ROM.
TEST(KvmrrCli, MtreeOfThePcBoardNeedsNoFirmware) {
    const Result r = kvmrr("mtree --board pc");
    ASSERT_EQ(r.status, 0) << r.out;
    std::ifstream f(std::string(KVMRR_SOURCE_DIR) + "/vmm/tests/data/pc.mtree");
    ASSERT_TRUE(f);
    std::stringstream golden;
    golden << f.rdbuf();
    EXPECT_EQ(r.out, golden.str());
    const std::string fw = temp("fw256k.bin");
    std::ofstream(fw, std::ios::binary) << std::string(256 * 1024, '\xff');
    const Result big = kvmrr("mtree --board pc --firmware " + fw);
    std::filesystem::remove(fw);
    ASSERT_EQ(big.status, 0) << big.out;
    EXPECT_NE(big.out.find("00000000fffc0000-00000000ffffffff"), std::string::npos) << big.out;
    EXPECT_EQ(r.out.find("00000000fffc0000-00000000ffffffff"), std::string::npos);
}

TEST(KvmrrCli, BadArgumentsAndFilesAreClearErrors) {
    Result r = kvmrr("mtree --machine /nonexistent");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("/nonexistent"), std::string::npos) << r.out;
    r = kvmrr("run");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.out.find("--guest NAME or --image FILE"), std::string::npos) << r.out;
    r = kvmrr("run --guest no_such_guest");
    EXPECT_EQ(r.status, 2);
    // Without KVM the first thing missing is KVM itself; with it, the guest.
    EXPECT_TRUE(r.out.find("no fixture guest 'no_such_guest'") != std::string::npos ||
                r.out.find("cannot use KVM") != std::string::npos)
        << r.out;
}

// Inputs that are not regular files, refused up front with exit 2: an
// image or firmware read from a device or pipe has no size to trust
// (`--image /dev/zero` was read without end into memory), and a directory
// as the serial input would read as nothing while the guest ran on. An
// empty --stop-at-output text could never be waited for.
TEST(KvmrrCli, InputsThatAreNotRegularFilesAreRefused) {
    const std::string dir = temp("a-directory");
    std::filesystem::create_directories(dir);
    Result r = kvmrr("run --image /dev/zero --accel emu");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("guest image '/dev/zero' is not a regular file"), std::string::npos) << r.out;
    for (const std::string& fw : {std::string("/dev/zero"), dir}) {
        r = kvmrr("run --board pc --accel emu --firmware " + fw);
        EXPECT_EQ(r.status, 2) << r.out;
        EXPECT_NE(r.out.find("firmware '" + fw + "' is not a regular file"), std::string::npos) << r.out;
    }
    r = kvmrr("mtree --board pc --firmware " + dir);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("is not a regular file"), std::string::npos) << r.out;
    r = kvmrr("run --guest hello --accel emu --serial-in " + dir);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("--serial-in '" + dir + "' is a directory"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("Hello"), std::string::npos) << "the guest ran: " << r.out;
    r = kvmrr("run --guest hello --accel emu --stop-at-output ''");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("not an empty one"), std::string::npos) << r.out;
    std::filesystem::remove_all(dir);
}

// A downtime that is no number, or one too large to mean anything, is a
// usage error naming which.
TEST(KvmrrCli, ADowntimeOutOfRangeIsAUsageErrorThatSaysWhich) {
    const std::string t = sample_trace();
    Result r = kvmrr("dirty " + t + " --no-heatmap --bandwidth 1Gbit --downtime -1");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("'-1' is not a number of 0 or more"), std::string::npos) << r.out;
    r = kvmrr("dirty " + t + " --no-heatmap --bandwidth 1Gbit --downtime 99999999999999999");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("'99999999999999999' is too large (at most 1e15)"), std::string::npos) << r.out;
    // A sound one passes the option's check (this trace then has no epoch
    // times to estimate from, which is another matter).
    r = kvmrr("dirty " + t + " --no-heatmap --bandwidth 1Gbit --downtime 250");
    EXPECT_EQ(r.out.find("--downtime"), std::string::npos) << r.out;
    std::filesystem::remove(t);
}

// kvmrr started with `args`, its stdout and stderr into `log`.
pid_t spawn_kvmrr(const std::vector<std::string>& args, const std::string& log) {
    const pid_t pid = fork();
    if (pid == 0) {
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        std::vector<char*> argv{const_cast<char*>(KVMRR_BINARY)};
        for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(KVMRR_BINARY, argv.data());
        _exit(127);
    }
    return pid;
}

// Ctrl-C during a recording: the run ends at its next look, the trace is
// kept with the end "interrupted", kvmrr exits 130 as a shell reports
// SIGINT, and both replays reproduce it (the guest replay to the same
// exit). A guest that would run for hours: pio_loop with 10^9 writes.
TEST(KvmrrCli, CtrlCEndsARecordingThatIsKeptAndReplays) {
    const std::string t = temp("interrupted.trace"), log = temp("interrupted.log");
    std::filesystem::remove(t);
    const pid_t pid = spawn_kvmrr({"record", "--guest", "pio_loop", "--arg", "1000000000", "--accel", "emu",
                                   "--serial-out", "/dev/null", "-o", t},
                                  log);
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    kill(pid, SIGINT);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    const std::string out = test::slurp(log);
    ASSERT_TRUE(WIFEXITED(status)) << "ended by signal " << WTERMSIG(status) << ": " << out;
    EXPECT_EQ(WEXITSTATUS(status), 130) << out;
    EXPECT_NE(out.find("kvmrr: SIGINT: ending the run"), std::string::npos) << out;
    EXPECT_NE(out.find("pio_loop: interrupted by SIGINT after "), std::string::npos) << out;
    ASSERT_TRUE(std::filesystem::exists(t)) << out;
    Result r = kvmrr("dump " + t + " --from 0 --count 0");
    EXPECT_NE(r.out.find("end reason interrupted"), std::string::npos) << r.out.substr(r.out.size() > 400 ? r.out.size() - 400 : 0);
    r = kvmrr("replay " + t);
    EXPECT_EQ(r.status, 0) << r.out;
    r = kvmrr("replay --guest --accel emu " + t);
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("guest ended by interrupted"), std::string::npos) << r.out;
    // `run` too: the same end, with its registers.
    const pid_t run = spawn_kvmrr({"run", "--guest", "pio_loop", "--arg", "1000000000", "--accel", "emu", "--serial-out",
                                   "/dev/null"},
                                  log);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(run, SIGTERM);
    ASSERT_EQ(waitpid(run, &status, 0), run);
    ASSERT_TRUE(WIFEXITED(status)) << test::slurp(log);
    EXPECT_EQ(WEXITSTATUS(status), 143) << test::slurp(log);
    EXPECT_NE(test::slurp(log).find("interrupted by SIGTERM after "), std::string::npos) << test::slurp(log);
    std::filesystem::remove(t);
    std::filesystem::remove(log);
}

TEST(KvmrrCli, RunWithoutKvmSaysWhy) {
    if (KvmSystem::unavailable_reason().empty()) GTEST_SKIP() << "this machine has KVM";
    // Asked for KVM: an error that says why.
    Result r = kvmrr("run --guest hello --accel kvm");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.out.find("cannot use KVM: /dev/kvm"), std::string::npos) << r.out;
    // Left to choose: the emulator, said once, with the reason.
    r = kvmrr("run --guest hello");
    EXPECT_EQ(r.status, 0) << r.out;
    const std::string note = "kvmrr: KVM not used (/dev/kvm";
    ASSERT_NE(r.out.find(note), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find(note, r.out.find(note) + 1), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("running on the Unicorn emulator"), std::string::npos) << r.out;
}

// A kvm-pvm host's KVM fails on much of a PC firmware's real-mode and
// 32-bit code (docs/ACCELERATORS.md): left to choose, kvmrr runs the pc
// board on the emulator there, and says why once.
TEST(KvmrrCli, OnKvmPvmThePcBoardRunsOnTheEmulatorAndSaysWhy) {
    if (!KvmSystem::unavailable_reason().empty() || !host_kvm_is_pvm()) GTEST_SKIP() << "this host's KVM is not kvm-pvm";
    const Result r = kvmrr(std::string("run --board pc --firmware ") + KVMRR_FIRMWARE_DIR + "/string_io.bin");
    EXPECT_EQ(r.status, 0) << r.out;
    const std::string note = "kvmrr: KVM not used (this host's KVM is kvm-pvm";
    ASSERT_NE(r.out.find(note), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find(note, r.out.find(note) + 1), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("running on the Unicorn emulator"), std::string::npos) << r.out;
}

// kvm-pvm shows its guests the host's own CPUID, whatever kvmrr sets: left
// to choose, --deterministic-cpu runs on the emulator there (even kvmrr's
// own board, which otherwise takes KVM), and --accel kvm is refused.
TEST(KvmrrCli, OnKvmPvmADeterministicCpuRunsOnTheEmulator) {
    if (!KvmSystem::unavailable_reason().empty() || !host_kvm_is_pvm()) GTEST_SKIP() << "this host's KVM is not kvm-pvm";
    Result r = kvmrr("run --guest hello --deterministic-cpu");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("which --deterministic-cpu cannot change there); running on the Unicorn emulator"),
              std::string::npos)
        << r.out;
    r = kvmrr("run --guest hello --deterministic-cpu --accel kvm");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("--deterministic-cpu cannot hide anything on this host's KVM"), std::string::npos) << r.out;
}

TEST(KvmrrCli, RunOnTheEmulatorPrintsTheGuestsOutput) {
    const Result r = kvmrr("run --guest hello --accel emu");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("Hello from kvmrr guest"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("kvmrr: hello: guest exited with status 0"), std::string::npos) << r.out;
    // Chosen explicitly: no fallback note.
    EXPECT_EQ(r.out.find("running on the Unicorn emulator"), std::string::npos) << r.out;
    const Result bad = kvmrr("run --guest hello --accel tcg");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.out.find("--accel"), std::string::npos) << bad.out;
}

TEST(KvmrrCli, RecordOnTheEmulatorWritesATraceThatInspectReads) {
    const std::string path = temp("pio.trace");
    const Result rec = kvmrr("record --accel emu --guest pio_loop --arg 200 -o " + path);
    EXPECT_EQ(rec.status, 0) << rec.out;
    EXPECT_NE(rec.out.find("recorded"), std::string::npos) << rec.out;
    const Result ins = kvmrr("inspect " + path);
    std::filesystem::remove(path);
    EXPECT_EQ(ins.status, 0) << ins.out;
    EXPECT_NE(ins.out.find("pio_loop"), std::string::npos) << ins.out;
    EXPECT_NE(ins.out.find("uart16550"), std::string::npos) << ins.out;
}

TEST(KvmrrCli, InspectCountsByKindAndRegion) {
    const std::string path = sample_trace();
    const Result r = kvmrr("inspect " + path);
    std::filesystem::remove(path);
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("sample"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("pio"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("entropy"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("uart16550"), std::string::npos) << r.out;
}

TEST(KvmrrCli, DumpPrintsOneEventPerLineFromAndCount) {
    const std::string path = sample_trace();
    Result all = kvmrr("dump " + path);
    Result some = kvmrr("dump " + path + " --from 1 --count 2");
    Result json = kvmrr("dump " + path + " --json --count 1");
    std::filesystem::remove(path);
    EXPECT_EQ(all.status, 0) << all.out;
    EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 4) << all.out;
    EXPECT_EQ(some.status, 0);
    ASSERT_EQ(std::count(some.out.begin(), some.out.end(), '\n'), 2) << some.out;
    EXPECT_EQ(some.out.rfind("#1 ", 0), 0u) << some.out;
    EXPECT_NE(some.out.find("entropy"), std::string::npos) << some.out;
    EXPECT_EQ(json.status, 0);
    EXPECT_EQ(json.out.front(), '{') << json.out;
    EXPECT_NE(json.out.find("\"seq\":0"), std::string::npos) << json.out;
}

TEST(KvmrrCli, DamagedAndForeignFiles) {
    const std::string path = sample_trace();
    const auto size = std::filesystem::file_size(path);
    std::filesystem::resize_file(path, size - 20);  // tear the footer
    Result r = kvmrr("dump " + path);
    EXPECT_EQ(r.status, 1) << r.out;  // events printed, then what was lost
    EXPECT_NE(r.out.find("#3 "), std::string::npos) << r.out;
    std::ofstream(path, std::ios::trunc) << "hello, not a trace\n";
    r = kvmrr("inspect " + path);
    std::filesystem::remove(path);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("not a kvmrr trace"), std::string::npos) << r.out;
}

std::string golden(const std::string& name) { return std::string(KVMRR_SOURCE_DIR) + "/fixtures/traces/" + name + ".trace"; }

TEST(KvmrrCli, ReplayOfAGoldenTraceSaysReproduced) {
    const Result r = kvmrr("replay " + golden("hello"));
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("reproduced: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("guest ended by guest-exit with status 0"), std::string::npos) << r.out;
    const Result g = kvmrr("replay --guest --accel emu " + golden("nondet_bug"));
    EXPECT_EQ(g.status, 0) << g.out;
    EXPECT_NE(g.out.find("ended by access to unmapped memory; guest ran on emu"), std::string::npos) << g.out;
}

TEST(KvmrrCli, ReplayOfACutTraceReportsWhereAndExits3) {
    const std::string cut = temp("cut.trace");
    std::filesystem::copy_file(golden("mmio_mix"), cut, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);
    const Result r = kvmrr("replay " + cut);
    std::filesystem::remove(cut);
    EXPECT_EQ(r.status, 3) << r.out;
    EXPECT_NE(r.out.find("INCOMPLETE: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("trace damaged: "), std::string::npos) << r.out;
}

TEST(KvmrrCli, RecordThenReplayEndToEnd) {
    const std::string t = temp("e2e.trace");
    const Result rec = kvmrr("record --accel emu --guest bank_switch -o " + t);
    ASSERT_EQ(rec.status, 0) << rec.out;
    const Result rep = kvmrr("replay " + t);
    EXPECT_EQ(rep.status, 0) << rep.out;
    const Result guest = kvmrr("replay --guest --accel emu " + t);
    EXPECT_EQ(guest.status, 0) << guest.out;
    // The same guest recorded again matches the golden trace.
    const Result d = kvmrr("diff " + golden("bank_switch") + " " + t);
    std::filesystem::remove(t);
    EXPECT_EQ(d.status, 0) << d.out;
    EXPECT_NE(d.out.find("traces match"), std::string::npos) << d.out;
}

TEST(KvmrrCli, DiffNamesTheFirstDifferenceAndExits1) {
    const Result r = kvmrr("diff " + golden("nondet") + " " + golden("nondet_bug"));
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("first difference at event #"), std::string::npos) << r.out;
    // The first difference is an RTC read whose clock input differs.
    EXPECT_NE(r.out.find("non-deterministic input"), std::string::npos) << r.out;
    const Result other = kvmrr("diff " + golden("hello") + " " + golden("pio_loop"));
    EXPECT_EQ(other.status, 1) << other.out;
    EXPECT_NE(other.out.find("header differs: guest"), std::string::npos) << other.out;
    EXPECT_EQ(kvmrr("diff " + golden("hello") + " /nonexistent.trace").status, 2);
}

TEST(KvmrrCli, DirtyReportsEpochsDrawsTheHeatmapAndEstimatesAMigration) {
    // The golden dirty_walker trace: 8 epochs marked by the guest, then the end.
    const std::string t = temp("walker.trace");
    std::filesystem::copy_file(golden("dirty_walker"), t, std::filesystem::copy_options::overwrite_existing);
    const Result r = kvmrr("dirty " + t + " --bandwidth 1Gbit --downtime 50");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find(" epoch      time ms   dirty"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("hottest pages"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("pre-copy migration over 1000.0 Mbit/s"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("geometric model (lambda = "), std::string::npos) << r.out;
    EXPECT_TRUE(std::filesystem::exists(t + ".heatmap.png")) << r.out;  // beside the trace by default
    std::filesystem::remove(t + ".heatmap.png");

    const Result j = kvmrr("dirty " + t + " --json --no-heatmap");
    EXPECT_EQ(j.status, 0) << j.out;
    EXPECT_EQ(j.out.rfind("{\"page_size\":4096,\"timed\":true", 0), 0u) << j.out;
    EXPECT_NE(j.out.find("\"epochs\":[{\"epoch\":0,"), std::string::npos) << j.out;
    EXPECT_FALSE(std::filesystem::exists(t + ".heatmap.png"));

    const std::string svg = temp("walker.svg");
    const Result c = kvmrr("dirty " + t + " --csv --heatmap " + svg);
    EXPECT_EQ(c.status, 0) << c.out;
    EXPECT_EQ(c.out.rfind("epoch,start_ns,end_ns,dirty_pages,", 0), 0u) << c.out;
    // The picture, with real words in it (replay/tests/dirty_plot_test.cc checks them all).
    std::string pic;
    {
        std::ifstream f(svg);
        pic.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    std::filesystem::remove(svg);
    EXPECT_NE(pic.find("<text class=\"title\""), std::string::npos) << pic.substr(0, 400);
    EXPECT_NE(pic.find(">Dirty pages of " + std::filesystem::path(t).filename().string() + " (guest dirty_walker)</text>"),
              std::string::npos);
    // Without --bandwidth the migration rounds are drawn over an assumed link, and say so.
    EXPECT_NE(pic.find("(an assumed link: see --bandwidth)</text>"), std::string::npos);

    EXPECT_EQ(kvmrr("dirty " + t + " --bandwidth fast --no-heatmap").status, 2);
    // A picture that is neither .png nor .svg is a usage error, before any report.
    const Result gif = kvmrr("dirty " + t + " --heatmap " + temp("x.gif"));
    EXPECT_EQ(gif.status, 2) << gif.out;
    EXPECT_EQ(gif.out.find("epoch"), std::string::npos) << gif.out;
    EXPECT_NE(gif.out.find("the name must end in .png or .svg"), std::string::npos) << gif.out;
    EXPECT_FALSE(std::filesystem::exists(temp("x.gif")));
    // A cut trace: analysed as far as it is whole, then exit 3.
    // Cut in the middle of the chunks: the file header is 24 bytes, the
    // header message (its length at offset 16) and an 8-byte checksum.
    uint32_t header_len = 0;
    {
        std::ifstream f(t, std::ios::binary);
        f.seekg(16);
        f.read(reinterpret_cast<char*>(&header_len), 4);
    }
    const uint64_t chunks_at = 24 + uint64_t{header_len} + 8;
    ASSERT_GT(std::filesystem::file_size(t), chunks_at + 100);
    std::filesystem::resize_file(t, chunks_at + (std::filesystem::file_size(t) - chunks_at) / 2);
    const Result cut = kvmrr("dirty " + t + " --no-heatmap");
    std::filesystem::remove(t);
    EXPECT_EQ(cut.status, 3) << cut.out;
    EXPECT_NE(cut.out.find("is not whole"), std::string::npos) << cut.out;
}

// Every usage error exits 2 (README): never CLI11's own codes, which read
// like a guest's exit status.
TEST(KvmrrCli, UsageErrorsExit2) {
    for (const char* args : {"", "bogus", "run --bogus", "run --guest hello --max-exits", "run --max-exits x",
                             "run --guest hello --accel tcg", "record --guest hello", "dump", "replay a b",
                             "dirty x --json --csv", "mtree --board vax"}) {
        const Result r = kvmrr(args);
        EXPECT_EQ(r.status, 2) << "kvmrr " << args << ": " << r.out;
        EXPECT_FALSE(r.out.empty()) << "kvmrr " << args;
    }
    EXPECT_EQ(kvmrr("--help").status, 0);
    EXPECT_EQ(kvmrr("run --help").status, 0);
}

// Negative numbers are refused, not wrapped to 2^64 - 1, and numbers too
// large for their option are refused rather than clamped.
TEST(KvmrrCli, NegativeAndHugeNumbersAreRefused) {
    const std::string t = temp("neg.trace");
    for (const std::string& args : std::vector<std::string>
         {"run --guest hello --accel emu --max-exits -1", "run --guest hello --accel emu --timeout -5",
          "record --guest hello --accel emu -o " + t + " --dirty-interval -3",
          "record --guest hello --accel emu -o " + t + " --dirty-interval -3ms",
          "record --guest hello --accel emu -o " + t + " --max-exits 18446744073709551616",
          "run --guest hello --accel emu --timeout 99999999999999999999", "dump x --from -1", "dump x --count -2",
          "replay x --context -1", "replay x --guest --timeout -1", "dirty x --top -1", "dirty x --downtime -5",
          "run --image /dev/null --load -4096"}) {
        const Result r = kvmrr(args);
        EXPECT_EQ(r.status, 2) << "kvmrr " << args << ": " << r.out;
        EXPECT_TRUE(r.out.find("-") != std::string::npos) << r.out;
    }
    EXPECT_FALSE(std::filesystem::exists(t));
    const Result r = kvmrr("run --guest hello --accel emu --max-exits -1");
    EXPECT_NE(r.out.find("'-1' is negative"), std::string::npos) << r.out;
}

TEST(KvmrrCli, RamTakesATerabyteSuffixWithALimit) {
    Result r = kvmrr("mtree --ram 1T");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("ram-above-4g"), std::string::npos) << r.out;
    r = kvmrr("mtree --ram 20T");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("more than kvmrr's limit"), std::string::npos) << r.out;
    r = kvmrr("mtree --ram -1G");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("not a number"), std::string::npos) << r.out;
}

TEST(KvmrrCli, DirtyWindowZeroIsAUsageError) {
    const Result r = kvmrr("dirty " + golden("dirty_walker") + " --no-heatmap --window 0");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("--window: '0' is less than 1"), std::string::npos) << r.out;
    EXPECT_LT(r.out.size(), 200u) << r.out;  // no 300-digit range
}

// Errors in a machine file name the file and line, in the file's own
// terms; mtree refuses what run refuses.
TEST(KvmrrCli, MachineFileErrorsNameTheFileAndLine) {
    const std::string m = temp("collide.machine");
    std::ofstream(m) << "# RAM and a window\nram 512M\nmmio oops 0x1000 0x1000\n";
    Result r = kvmrr("mtree --machine " + m);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find(m + ":3: device window 'oops'"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("add_subregion"), std::string::npos) << r.out;
    r = kvmrr("run --accel emu --guest hello --machine " + m);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find(m + ":3: "), std::string::npos) << r.out;

    std::ofstream(m, std::ios::trunc) << "mmio entropy 0xfeb00000 0x10\n";  // the entropy device needs 4 KiB
    r = kvmrr("mtree --machine " + m);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find(m + ": device region 'entropy'"), std::string::npos) << r.out;
    const Result run = kvmrr("run --accel emu --guest hello --machine " + m);
    std::filesystem::remove(m);
    EXPECT_EQ(run.status, 2) << run.out;
    EXPECT_NE(run.out.find("device region 'entropy'"), std::string::npos) << run.out;
}

std::string bytes_of(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// An output never lands on an input of the same run (exit 2, the input
// untouched); an existing trace is replaced, and the user told so.
TEST(KvmrrCli, OutputsNeverOverwriteInputs) {
    const std::string disk = temp("disk.img"), image = temp("image.bin"), t = temp("keep.trace");
    std::ofstream(disk) << std::string(4096, 'd');
    std::ofstream(image) << std::string(16, '\xf4');
    for (const std::string& args : std::vector<std::string>{
             "record --accel emu --guest dma_disk --disk " + disk + " -o " + disk,
             "record --accel emu --image " + image + " --load 0x100000 -o " + image,
             "record --accel emu --image " + image + " --load 0x100000 -o " + t + " --serial-out " + image,
             "run --accel emu --guest hello --disk " + disk + " --serial-out " + disk,
             "record --accel emu --guest hello -o " + t + " --serial-out " + t}) {
        const Result r = kvmrr(args);
        EXPECT_EQ(r.status, 2) << "kvmrr " << args << ": " << r.out;
        EXPECT_NE(r.out.find("refusing to write over"), std::string::npos) << r.out;
    }
    EXPECT_EQ(bytes_of(disk), std::string(4096, 'd'));
    EXPECT_EQ(bytes_of(image), std::string(16, '\xf4'));
    EXPECT_FALSE(std::filesystem::exists(t));
    // The same file under another name is still the same file.
    const std::string link = temp("disk-link.img");
    std::filesystem::create_symlink(disk, link);
    const Result l = kvmrr("record --accel emu --guest hello --disk " + disk + " -o " + link);
    EXPECT_EQ(l.status, 2) << l.out;
    EXPECT_EQ(bytes_of(disk), std::string(4096, 'd'));
    std::filesystem::remove(link);

    // A trace is not a heatmap's canvas.
    const std::string walker = temp("walker.svg.trace");
    std::filesystem::copy_file(golden("dirty_walker"), walker, std::filesystem::copy_options::overwrite_existing);
    const std::string before = bytes_of(walker);
    const Result h = kvmrr("dirty " + walker + " --heatmap " + walker);
    EXPECT_EQ(h.status, 2) << h.out;
    EXPECT_EQ(bytes_of(walker), before);

    // Replacing an existing trace: said, and the result is a whole trace.
    std::ofstream(t) << "an older trace";
    const Result rec = kvmrr("record --accel emu --guest hello -o " + t);
    EXPECT_EQ(rec.status, 0) << rec.out;
    EXPECT_NE(rec.out.find("replaced the existing " + t), std::string::npos) << rec.out;
    EXPECT_EQ(kvmrr("inspect " + t).status, 0);
    // Nothing but the trace itself is left beside it.
    const std::string prefix = "." + std::filesystem::path(t).filename().string();
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(t).parent_path()))
        EXPECT_NE(e.path().filename().string().rfind(prefix, 0), 0u) << e.path();
    for (const std::string& f : {disk, image, t, walker}) std::filesystem::remove(f);
}

// A well-formed trace that lies is a trace error: exit 3, as for damage,
// with the reason.
TEST(KvmrrCli, LyingTracesExit3) {
    const std::string t = temp("lie.trace");
    {
        TraceReader in = TraceReader::open(golden("hello"));
        TraceHeader h = in.header();
        h.initial_regs.at(0).gprs.at(16) = 0xdead0000;  // rip
        TraceWriter out(t, h);
        TraceEvent e;
        while (in.next(e)) out.append(e.vcpu, e.body);
        out.close();
    }
    Result r = kvmrr("replay --guest --accel emu " + t);
    EXPECT_EQ(r.status, 3) << r.out;
    EXPECT_NE(r.out.find("initial rip 0xdead0000"), std::string::npos) << r.out;
    {
        TraceHeader h;
        h.ram_size = 256 << 20;
        TraceWriter w(t, h);
        w.append(0, MemslotEvent{MemslotOp::Add, 3, 0x100000, 16 * 4096, 1, 0, 0x100000});
        DirtyBitmap b;
        b.slot = 3;
        b.guest_phys = 0x100000;
        b.pages = uint64_t{1} << 26;
        b.words.assign(b.pages / 64, 0);
        b.words.back() = uint64_t{1} << 63;
        w.append(0, make_dirty_event(b, 0));
        w.close();
    }
    r = kvmrr("dirty --no-heatmap " + t);
    std::filesystem::remove(t);
    EXPECT_EQ(r.status, 3) << r.out;
    EXPECT_NE(r.out.find("event #1 (dirty log of slot 3) claims 67108864 pages"), std::string::npos) << r.out;
}

// --gdb debugs a guest replay (gdb_cli_test.cc has the sessions).
TEST(KvmrrCli, GdbWithoutGuestReplayIsAUsageError) {
    const test::CliResult r = kvmrr("replay " KVMRR_SOURCE_DIR "/fixtures/traces/hello.trace --gdb 0");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("--gdb"), std::string::npos) << r.out;
    const test::CliResult bad = kvmrr("replay " KVMRR_SOURCE_DIR "/fixtures/traces/hello.trace --guest --gdb 70000");
    EXPECT_EQ(bad.status, 2) << bad.out;
    const test::CliResult no_gdb = kvmrr("replay " KVMRR_SOURCE_DIR "/fixtures/traces/hello.trace --guest --gdb-arch i386");
    EXPECT_EQ(no_gdb.status, 2) << no_gdb.out;
    EXPECT_NE(no_gdb.out.find("it needs --gdb"), std::string::npos) << no_gdb.out;
    // Refused before anything listens: no debugger is waited for.
    const test::CliResult arch = kvmrr("replay " KVMRR_SOURCE_DIR "/fixtures/traces/hello.trace --guest --gdb 0 --gdb-arch x86_64");
    EXPECT_EQ(arch.status, 2) << arch.out;
    EXPECT_NE(arch.out.find("'x86_64' is not amd64, i386 or i8086"), std::string::npos) << arch.out;
    const test::CliResult after = kvmrr("replay " KVMRR_SOURCE_DIR "/fixtures/traces/hello.trace --guest --gdb-after 3");
    EXPECT_EQ(after.status, 2) << after.out;
    EXPECT_NE(after.out.find("it needs --gdb"), std::string::npos) << after.out;
}

// An event the replay never reaches: nothing waits, and the user is told.
TEST(KvmrrCli, GdbAfterAnEventPastTheEndWaitsForNothing) {
    const test::CliResult r =
        kvmrr("replay " KVMRR_SOURCE_DIR "/fixtures/traces/hello.trace --guest --accel emu --gdb 0 --gdb-after 1000000");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("reproduced"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("target remote"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("the replay ended before the guest went on past event #1000000: no debugger was waited for"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kvmrr
