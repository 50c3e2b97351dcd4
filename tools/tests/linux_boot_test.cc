// Debian's Linux kernel on the pc board, as a user boots it: SeaBIOS from
// the reset vector, SYSLINUX from an IDE disk that tools/make-linux-disk.sh
// makes, the kernel, and an init that prints the kernel's command line and
// powers the machine off through ACPI (once a shell on the serial console
// has run a command typed at it, in the first test; once it has read its
// disk through the kernel's IDE driver, in the second); recorded with
// --ticks-between-exits
// (the kernel calibrates its delay loop in a loop that makes no exit) and
// replayed. On KVM only (label kvm; in CI the nested-KVM VM): the emulator
// does not boot it yet (docs/ACCELERATORS.md).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/kvm/kvm.h"
#include "core/kvm/tests/require_kvm.h"
#include "core/tests/run_command.h"

namespace {

namespace fs = std::filesystem;
using Result = kvmrr::test::CliResult;
using kvmrr::test::slurp;

const char* kSeaBios = "/usr/share/seabios/bios.bin";
const char* kCommandLine = "console=ttyS0 noapic nolapic tsc=reliable panic=-1";

Result kvmrr(const std::string& args) { return kvmrr::test::run_command(KVMRR_BINARY, args); }

// KVM and SeaBIOS, a directory of the test's own, and the disk in it.
class LinuxBoot : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(kSeaBios)) GTEST_SKIP() << kSeaBios << " is missing (apt-get install seabios)";
        if (const std::string why = kvmrr::KvmSystem::unavailable_reason(); !why.empty())
            KVMRR_SKIP_WITHOUT_KVM("needs /dev/kvm: " + why);
        dir = fs::current_path() /
              (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" + std::to_string(getpid()));
        fs::create_directories(dir);
        disk = dir / "linux.img";
    }
    // The kernel is Debian's (tools/debian-kernel.sh: the nested-KVM VM's
    // own, fetched once); the tools are tools/setup.sh's packages.
    void make_disk(const std::string& append = kCommandLine, bool shell = false, bool read_disk = false) {
        const Result r = kvmrr::test::run_command(std::string(KVMRR_SOURCE_DIR) + "/tools/make-linux-disk.sh",
                                                  "--append '" + append + "' " + (shell ? "--shell " : "") +
                                                      (read_disk ? "--read-disk " : "") + disk.string());
        ASSERT_EQ(r.status, 0) << r.out;
    }
    // Kept when the test failed, to be looked at.
    void TearDown() override {
        if (!dir.empty() && !HasFailure()) fs::remove_all(dir);
    }
    fs::path dir, disk;
};

// The shell's commands come on --serial-in - as a user types them: the
// first once init has said it runs (the kernel's tty keeps what comes
// before the shell reads), `exit` once the shell has answered; the typing
// gives up once the trace is there (kvmrr renames it into place at its
// end), so that a boot that fails does not keep the test waiting.
TEST_F(LinuxBoot, BootsToUserspaceRecordedAndReplayed) {
    ASSERT_NO_FATAL_FAILURE(make_disk(kCommandLine, /*shell=*/true));
    const fs::path serial = dir / "serial.log", trace = dir / "linux.trace";
    const std::string wait_for = "i=0; while [ $i -lt 3000 ] && [ ! -e " + trace.string() + " ] && ! grep -q \"$0\" " +
                                 serial.string() + " 2>/dev/null; do sleep 0.1; i=$((i+1)); done";
    const std::string typing = "(sh -c '" + wait_for + "' 'userspace reached'; printf 'echo kvmrr-shell-$((6*7))\\n'; sh -c '" +
                               wait_for + "' kvmrr-shell-42; printf 'exit\\n') | ";
    Result r = kvmrr::test::run_command(typing + KVMRR_BINARY,
                                        "record --board pc --firmware " + std::string(kSeaBios) + " --disk " + disk.string() +
                                            " --accel kvm --ticks-between-exits --timeout 500000 --serial-in - --serial-out " +
                                            serial.string() + " -o " + trace.string());
    const std::string console = slurp(serial);
    ASSERT_EQ(r.status, 0) << r.out << "\n--- serial:\n" << console;
    // poweroff -f: ACPI S5 through the PM1 control register, the guest's exit.
    EXPECT_NE(r.out.find("guest exited with status 0"), std::string::npos) << r.out;
    EXPECT_NE(console.find("SYSLINUX 6."), std::string::npos) << console;
    EXPECT_NE(console.find("Linux version 6."), std::string::npos) << console;
    const std::string cmdline = std::string("BOOT_IMAGE=vmlinuz ") + kCommandLine + " initrd=initrd.gz";
    EXPECT_NE(console.find("Command line: " + cmdline), std::string::npos) << console;
    EXPECT_NE(console.find("kvmrr-linux: userspace reached: " + cmdline), std::string::npos) << console;
    EXPECT_NE(console.find("\nkvmrr-shell-42"), std::string::npos) << console;  // the shell's answer, not the echo
    EXPECT_NE(console.find("reboot: Power down"), std::string::npos) << console;

    // Device replay: every access, input and interrupt of the boot again,
    // through the same device models, to the end event.
    r = kvmrr("replay " + trace.string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
    r = kvmrr("inspect " + trace.string());
    EXPECT_NE(r.out.find("ticks between exits"), std::string::npos) << r.out;
}

// The kernel's own IDE driver: init loads ata_piix (which drives the
// PIIX3's channels with multiword DMA through the bus master) and reads
// the disk's first MiB through it; its md5sum, printed by the guest, is
// the one of the same bytes of the image on the host. No command failed
// and fell back to PIO. Device replay reproduces the DMA.
TEST_F(LinuxBoot, ReadsItsDiskThroughAtaPiixByBusMasterDma) {
    ASSERT_NO_FATAL_FAILURE(make_disk(kCommandLine, /*shell=*/false, /*read_disk=*/true));
    const fs::path serial = dir / "serial.log", trace = dir / "linux.trace";
    Result r = kvmrr("record --board pc --firmware " + std::string(kSeaBios) + " --disk " + disk.string() +
                     " --accel kvm --ticks-between-exits --timeout 500000 --serial-out " + serial.string() + " -o " +
                     trace.string());
    const std::string console = slurp(serial);
    ASSERT_EQ(r.status, 0) << r.out << "\n--- serial:\n" << console;
    EXPECT_NE(console.find("ata1: PATA max MWDMA2 cmd 0x1f0 ctl 0x3f6 bmdma 0x"), std::string::npos) << console;
    EXPECT_NE(console.find("[sda] Attached SCSI disk"), std::string::npos) << console;
    EXPECT_EQ(console.find("failed command"), std::string::npos) << console;
    EXPECT_EQ(console.find("PIO"), std::string::npos) << console;
    const Result md5 = kvmrr::test::run_command("sh", "-c 'head -c 1048576 " + disk.string() + " | md5sum'");
    ASSERT_EQ(md5.status, 0) << md5.out;
    const std::string sum = md5.out.substr(0, 32);
    EXPECT_NE(console.find("kvmrr-linux: disk md5 " + sum), std::string::npos) << sum << "\n" << console;
    r = kvmrr("inspect " + trace.string());
    EXPECT_NE(r.out.find("bmdma0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("dma-write"), std::string::npos) << r.out;
    r = kvmrr("replay " + trace.string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
}

// The emulator against KVM through SeaBIOS and SYSLINUX (real-mode BIOS
// calls from protected mode through SYSLINUX's thunks, INT 13h over the
// IDE model, 30 MB read) up to SYSLINUX's "Loading initrd.gz...ok", on the
// virtual clock: the same trace. (On the emulator the kernel then gets
// into long mode and through its decompressor, and stops at its own high
// addresses, which Unicorn 2.0.1 cannot follow: docs/ACCELERATORS.md.)
TEST_F(LinuxBoot, SyslinuxLoadsTheKernelAlikeOnKvmAndTheEmulator) {
    ASSERT_NO_FATAL_FAILURE(make_disk());
    Result r;
    for (const char* accel : {"kvm", "emu"}) {
        // A copy each: a run may write to its disk.
        const fs::path copy = dir / (std::string(accel) + ".img"), trace = dir / (std::string(accel) + ".trace");
        fs::copy_file(disk, copy);
        r = kvmrr("record --board pc --firmware " + std::string(kSeaBios) + " --disk " + copy.string() + " --accel " +
                  accel + " --clock virtual --stop-at-output \"Loading initrd.gz...ok\" --timeout 300000 --serial-out " +
                  (dir / (std::string(accel) + ".log")).string() + " -o " + trace.string());
        ASSERT_EQ(r.status, 0) << accel << "\n" << r.out;
        EXPECT_NE(r.out.find("output matched"), std::string::npos) << accel << "\n" << r.out;
    }
    r = kvmrr("diff " + (dir / "kvm.trace").string() + " " + (dir / "emu.trace").string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("traces match"), std::string::npos) << r.out;
}

// With --deterministic-cpu the kernel finds no time-stamp counter (and no
// RDRAND): it times itself with jiffies and then the ACPI PM timer, whose
// readings are exits, and with its delay loop's calibration skipped
// (lpj=) and no KASLR it waits for no tick in a loop without exits, so it
// boots without --ticks-between-exits: every interrupt at an exit, the
// trace one that guest replay accepts. Device replay reproduces it.
TEST_F(LinuxBoot, BootsWithADeterministicCpuAndInterruptsOnlyAtExits) {
    const std::string cmdline = std::string(kCommandLine) + " lpj=4000000 nokaslr";
    ASSERT_NO_FATAL_FAILURE(make_disk(cmdline));
    const fs::path serial = dir / "serial.log", trace = dir / "linux.trace";
    Result r = kvmrr("record --board pc --firmware " + std::string(kSeaBios) + " --disk " + disk.string() +
                     " --accel kvm --deterministic-cpu --timeout 500000 --serial-out " + serial.string() + " -o " +
                     trace.string());
    const std::string console = slurp(serial);
    ASSERT_EQ(r.status, 0) << r.out << "\n--- serial:\n" << console;
    EXPECT_NE(r.out.find("guest exited with status 0"), std::string::npos) << r.out;
    EXPECT_NE(console.find("Calibrating delay loop (skipped)"), std::string::npos) << console;
    EXPECT_NE(console.find("clocksource: Switched to clocksource acpi_pm"), std::string::npos) << console;
    EXPECT_EQ(console.find("tsc: "), std::string::npos) << console;  // no TSC to calibrate
    EXPECT_NE(console.find("kvmrr-linux: userspace reached: BOOT_IMAGE=vmlinuz " + cmdline), std::string::npos) << console;
    r = kvmrr("inspect " + trace.string());
    EXPECT_NE(r.out.find("deterministic CPU"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("ticks between exits"), std::string::npos) << r.out;
    r = kvmrr("replay " + trace.string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
}

}  // namespace
