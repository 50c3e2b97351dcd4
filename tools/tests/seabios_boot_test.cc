// The pc board as a user runs it: Debian's SeaBIOS booted from the reset
// vector to "No bootable device", recorded, and replayed, on one
// accelerator: built twice, as seabios_boot_kvm_test (KVMRR_TEST_ACCEL=kvm,
// label kvm; in CI the nested-KVM VM) and seabios_boot_emu_test (the
// Unicorn emulator, anywhere). Also from a hard disk image.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/kvm/kvm.h"
#include "core/kvm/tests/require_kvm.h"
#include "core/tests/run_command.h"

namespace {

namespace fs = std::filesystem;

const char* kSeaBios = "/usr/share/seabios/bios.bin";

using Result = kvmrr::test::CliResult;
using kvmrr::test::slurp;

Result kvmrr(const std::string& args) { return kvmrr::test::run_command(KVMRR_BINARY, args); }

fs::path scratch(const std::string& name) {
    const fs::path d = fs::current_path() / ("pc-board-" + std::to_string(getpid()));
    fs::create_directories(d);
    return d / name;
}

TEST(PcBoardOptions, BadFirmwareIsAUsageError) {
    Result r = kvmrr("run --board pc");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("--board pc needs --firmware FILE"), std::string::npos) << r.out;
    r = kvmrr("run --board pc --firmware /nonexistent/bios.bin");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("cannot open firmware"), std::string::npos) << r.out;
    const fs::path empty = scratch("empty.bin"), odd = scratch("odd.bin"), big = scratch("big.bin");
    std::ofstream(empty).close();
    std::ofstream(odd) << std::string(65537, '\0');
    std::ofstream(big).close();
    fs::resize_file(big, (16u << 20) + (64u << 10));
    r = kvmrr("run --board pc --firmware " + empty.string());
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("is empty"), std::string::npos) << r.out;
    r = kvmrr("run --board pc --firmware " + odd.string());
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("not a multiple of 64 KiB"), std::string::npos) << r.out;
    r = kvmrr("run --board pc --firmware " + big.string());
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("at most 16 MiB"), std::string::npos) << r.out;
    r = kvmrr("run --board pc --firmware " + odd.string() + " --guest hello");
    EXPECT_EQ(r.status, 2) << r.out;
    r = kvmrr("run --guest hello --clock virtual");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("--clock virtual is for --board pc"), std::string::npos) << r.out;
    r = kvmrr("run --board nope --firmware x");
    EXPECT_NE(r.status, 0) << r.out;
    fs::remove_all(empty.parent_path());
}

const std::string kAccel = KVMRR_TEST_ACCEL;

class SeaBiosBoot : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(kSeaBios)) GTEST_SKIP() << kSeaBios << " is missing (apt-get install seabios)";
        if (kAccel == "kvm")
            if (const std::string why = kvmrr::KvmSystem::unavailable_reason(); !why.empty())
                KVMRR_SKIP_WITHOUT_KVM("needs /dev/kvm: " + why);
    }
};

// The log starts as QEMU's does for the same firmware and ends at the line
// the run stops at; the trace guest-replays.
TEST_F(SeaBiosBoot, BootsToNoBootableDeviceRecordedAndReplayed) {
    const fs::path log = scratch("dc.log"), trace = scratch("boot.trace");
    Result r = kvmrr(std::string("record --board pc --firmware ") + kSeaBios + " --accel " + kAccel + " --debugcon " + log.string() +
                     " --timeout 60000 --stop-at-output \"No bootable device\" -o " + trace.string());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("output matched"), std::string::npos) << r.out;
    const std::string dc = slurp(log);
    for (const char* line : {"SeaBIOS (version 1.16.2-debian-1.16.2-1)\n", "Running on QEMU (i440fx)\n",
                             "Found QEMU fw_cfg\n", "QEMU fw_cfg DMA interface supported\n",
                             "qemu/e820: addr 0x0000000000000000 len 0x0000000010000000 [RAM]\n",
                             "PCI: init bdf=00:00.0 id=8086:1237\n", "PCI: init bdf=00:01.0 id=8086:7000\n",
                             "PIIX3/PIIX4 init: elcr=00 0c\n", "PCI: init bdf=00:01.3 id=8086:7113\n",
                             "Found 1 cpu(s) max supported 1 cpu(s)\n",  // the CPUID shows the APIC on both
                             "PCI: init bdf=00:01.1 id=8086:7010\n", "ATA controller 1 at 1f0/3f4/0 (irq 14 dev 9)\n",
                             "ATA controller 2 at 170/374/0 (irq 15 dev 9)\n", "Booting from Hard Disk...\n"})
        EXPECT_NE(dc.find(line), std::string::npos) << "missing: " << line << "in:\n" << dc;
    EXPECT_EQ(dc.rfind("No bootable device"), dc.size() - std::string("No bootable device").size()) << dc;

    r = kvmrr("replay --guest --accel " + kAccel + " " + trace.string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("guest ended by output matched"), std::string::npos) << r.out;
    // Device replay: the board and its devices fed the recorded accesses,
    // clock readings and DMA reads, the timer's interrupts acknowledged
    // where they were delivered.
    r = kvmrr("replay " + trace.string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
    r = kvmrr("dump " + trace.string());
    EXPECT_NE(r.out.find(" interrupt vector 0x8 "), std::string::npos) << "no timer interrupt in the boot";
    EXPECT_NE(r.out.find(" dma-read "), std::string::npos);
    fs::remove_all(log.parent_path());
}

// A disk image on the primary IDE channel (fixtures/disks/boot_disk.S):
// SeaBIOS finds it as QEMU's does, boots its master boot record, which
// reads sectors through INT 13h (the BIOS's ATA driver, kvmrr's IDE
// model) and writes one; recorded, both replays reproduce it, and with
// the virtual clock two recordings from the same image are the same
// trace. The emulator's recording is also checked against QEMU's IDE.
TEST_F(SeaBiosBoot, BootsAHardDiskImage) {
    const fs::path image = fs::path(KVMRR_DISK_DIR) / "boot_disk.img";
    ASSERT_TRUE(fs::exists(image)) << image;
    const fs::path log = scratch("disk.log"), a = scratch("disk-a.trace"), b = scratch("disk-b.trace");
    for (const fs::path& t : {a, b}) {
        const fs::path disk = scratch("disk.img");
        fs::copy_file(image, disk, fs::copy_options::overwrite_existing);
        Result r = kvmrr(std::string("record --board pc --firmware ") + kSeaBios + " --accel " + kAccel + " --disk " +
                         disk.string() + " --debugcon " + log.string() + " --clock virtual --timeout 60000 -o " + t.string());
        ASSERT_EQ(r.status, 0) << r.out;  // the boot record's exit through port 0xf4
        const std::string dc = slurp(log);
        for (const char* line : {"ata0-0: QEMU HARDDISK ATA-7 Hard-Disk (0 MiBytes)\n",
                                 "Searching bootorder for: /pci@i0cf8/*@1,1/drive@0/disk@0\n",
                                 "drive 0x", "PCHS=2/16/63 translation=none LCHS=2/16/63 s=128\n",
                                 "Booting from Hard Disk...\nBooting from 0000:7c00\n",
                                 "disk: booted from the master boot record\n",
                                 "disk: sector 1 read with INT 13h AH=42h\n",
                                 "disk: sector 2 written with AH=43h and read back\n",
                                 "disk: sector 3 read with INT 13h AH=02h (CHS)\n", "disk: done\n"})
            EXPECT_NE(dc.find(line), std::string::npos) << "missing: " << line << "in:\n" << dc;
        // The guest's write reached the image.
        const std::string after = slurp(disk);
        EXPECT_EQ(after.compare(1024, 17, "disk: sector 2 wr"), 0) << after.substr(1024, 40);
        fs::remove(disk);
    }
    Result r = kvmrr("diff " + a.string() + " " + b.string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("traces match"), std::string::npos) << r.out;
    r = kvmrr("inspect " + a.string());
    // 128 sectors, no partition table: 2 cylinders of 16 heads, untranslated.
    EXPECT_NE(r.out.find("IDE disk 128 sectors, CHS 2/16/63, BIOS translation 0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("readers from version 8"), std::string::npos) << r.out;
    for (const char* how : {"replay ", "replay --guest --accel "}) {
        r = kvmrr(std::string(how) + (std::string(how).find("--accel") != std::string::npos ? kAccel + " " : "") + a.string());
        EXPECT_EQ(r.status, 0) << how << r.out;
        EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << how << r.out;
    }
    r = kvmrr("dump " + a.string());
    EXPECT_NE(r.out.find(" disk-read "), std::string::npos);
    EXPECT_NE(r.out.find(" disk-write "), std::string::npos);
    // QEMU's IDE, asked the same (where QEMU is installed; the nested-KVM
    // VM has none).
    if (kAccel == "emu" && std::system("command -v qemu-system-x86_64 >/dev/null 2>&1") == 0) {
        r = kvmrr("qemu-check " + a.string());
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find(" 0 differing"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("sectors of the recorded run's disk rebuilt"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find(" ide0\n"), std::string::npos) << r.out;
    }
    fs::remove_all(log.parent_path());
}

TEST_F(SeaBiosBoot, ADiskOfNoWholeSectorsIsAUsageError) {
    const fs::path odd = scratch("odd.img"), empty = scratch("empty.img");
    std::ofstream(odd) << std::string(1000, 'x');
    std::ofstream(empty).close();
    for (const fs::path& d : {odd, empty}) {
        const Result r = kvmrr(std::string("run --board pc --firmware ") + kSeaBios + " --disk " + d.string());
        EXPECT_EQ(r.status, 2) << r.out;
        EXPECT_NE(r.out.find("whole number of 512-byte sectors"), std::string::npos) << r.out;
    }
    fs::remove_all(odd.parent_path());
}

// With the virtual clock, time is a function of the exit count: two
// recordings of the same boot are the same trace, and it replays.
// 4 GiB of RAM, split as QEMU's pc splits it: 3 GiB below 4 GiB, 1 GiB from
// 4 GiB; the firmware's map says so in the words of QEMU's log for `-m 4G`.
TEST_F(SeaBiosBoot, FourGiBOfRamAreSplitAsQemuSplitsThem) {
    const fs::path trace = scratch("4g.trace"), log = scratch("4g.log");
    Result r = kvmrr(std::string("record --board pc --firmware ") + kSeaBios + " --accel " + kAccel +
                     " --ram 4G --clock virtual --timeout 60000 --stop-at-output \"No bootable device\" --debugcon " +
                     log.string() + " -o " + trace.string());
    ASSERT_EQ(r.status, 0) << r.out;
    const std::string dc = slurp(log);
    EXPECT_NE(dc.find("qemu/e820: addr 0x0000000000000000 len 0x00000000c0000000 [RAM]\n"
                      "qemu/e820: addr 0x0000000100000000 len 0x0000000040000000 [RAM]\n"),
              std::string::npos) << dc;
    EXPECT_NE(dc.find(": 0000000100000000 - 0000000140000000 = 1 RAM"), std::string::npos) << dc;
    r = kvmrr("replay --guest --accel " + kAccel + " " + trace.string());
    EXPECT_EQ(r.status, 0) << r.out;
    fs::remove_all(trace.parent_path());
}

TEST_F(SeaBiosBoot, TwoRecordingsWithTheVirtualClockAreTheSameTrace) {
    const fs::path a = scratch("v1.trace"), b = scratch("v2.trace");
    for (const fs::path& t : {a, b}) {
        const Result r = kvmrr(std::string("record --board pc --firmware ") + kSeaBios +
                               " --accel " + kAccel + " --clock virtual --timeout 60000 --stop-at-output \"No bootable device\" -o " +
                               t.string());
        ASSERT_EQ(r.status, 0) << r.out;
    }
    Result r = kvmrr("diff " + a.string() + " " + b.string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("traces match"), std::string::npos) << r.out;
    r = kvmrr("inspect " + a.string());
    EXPECT_NE(r.out.find("clock virtual"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("board: pc, firmware 131072 bytes"), std::string::npos) << r.out;
    r = kvmrr("replay --guest --accel " + kAccel + " " + a.string());
    EXPECT_EQ(r.status, 0) << r.out;
    fs::remove_all(a.parent_path());
}

}  // namespace
