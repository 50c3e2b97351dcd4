// `kvmrr qemu-check` (export/qemu_check.h) through the CLI: against fake
// QEMUs that disagree, die, hang or talk nonsense (always run), and
// against Debian's QEMU on the golden fixture traces and on a SeaBIOS boot
// recorded here (skipped, with the reason, without qemu-system-x86_64 or
// SeaBIOS). The boot's Perfetto timeline is checked here too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include "export/tests/export_test_util.h"
#include "export/tests/perfetto_test_util.h"

namespace kvmrr {
namespace {

using testing::fake_qemu;
using testing::kvmrr_run;
using testing::Result;

// Answers every read with `value`, everything else with OK.
std::string answering(const std::string& value) {
    return "while read cmd rest; do case \"$cmd\" in in*|read*) echo \"OK " + value +
           "\";; *) echo OK;; esac; done";
}

class FakeQemuCheck : public ::testing::Test {
protected:
    std::filesystem::path dir = testing::scratch_dir("qemu-check");
    void TearDown() override { std::filesystem::remove_all(dir); }
    Result check(const std::string& fake_body, const std::string& trace, const std::string& extra = "") {
        return kvmrr_run("qemu-check --qemu " + fake_qemu(dir, "qemu", fake_body) + " " + extra + " " + trace);
    }
};

TEST_F(FakeQemuCheck, DifferingReadsAreListedWithEventDeviceRegisterAndBothValues) {
    // hello polls the UART's LSR (0x60: transmitter empty) before each byte.
    const Result r = check(answering("0x00"), testing::golden_trace("hello"));
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("reads: 23: 23 compared, 0 agreed, 23 differing, 0 skipped by rule"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("#12 uart16550 LSR (inb 0x3fd, UART data-ready bit (host input)): kvmrr 0x60, QEMU 0x0"),
              std::string::npos) << r.out;
}

TEST_F(FakeQemuCheck, AgreeingReadsExit0AndTheQemuCanComeFromTheEnvironment) {
    setenv("KVMRR_QEMU", fake_qemu(dir, "env-qemu", answering("0x60")).c_str(), 1);
    const Result r = kvmrr_run("qemu-check " + testing::golden_trace("hello"));
    unsetenv("KVMRR_QEMU");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("23 compared, 23 agreed, 0 differing"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("left out: 1 accesses"), std::string::npos) << r.out;
}

TEST_F(FakeQemuCheck, ADamagedTraceIsCheckedAsFarAsItIsWholeWithExit3) {
    std::string bytes = testing::slurp(testing::golden_trace("pio_loop"));
    bytes.resize(bytes.size() - 100);  // into the last chunk
    const auto cut = dir / "cut.trace";
    std::ofstream(cut, std::ios::binary) << bytes;
    const Result r = check(answering("0x60"), cut.string());
    EXPECT_EQ(r.status, 3) << r.out;
    EXPECT_NE(r.out.find("the trace is not whole: "), std::string::npos) << r.out;
}

TEST_F(FakeQemuCheck, GarbageIsExit2NamingTheLastCommand) {
    const Result r = check("read line; echo 'QEMU 7.2 monitor - type help'; exec sleep 30", testing::golden_trace("hello"));
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("answered garbage"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("last command sent: 'inb 0x3fd'"), std::string::npos) << r.out;
}

TEST_F(FakeQemuCheck, ADyingQemuIsExit2NamingTheLastCommand) {
    // Answers the clock probe, then dies at the first access.
    const Result r = check("read a; echo OK; read b; echo 'qemu: hardware error' >&2; exit 1",
                        testing::golden_trace("hello"));
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("died"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("last command sent: 'inb 0x3fd'"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("hardware error"), std::string::npos) << r.out;
}

TEST_F(FakeQemuCheck, AHangingQemuTimesOutWithExit2) {
    const auto t0 = std::chrono::steady_clock::now();
    const Result r = check("exec sleep 60", testing::golden_trace("hello"), "--qemu-timeout 300");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("did not answer within 300 ms"), std::string::npos) << r.out;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
}

TEST(QemuCheckUsage, UsageErrorsExit2) {
    EXPECT_EQ(kvmrr_run("qemu-check").status, 2);
    EXPECT_EQ(kvmrr_run("qemu-check --qemu-timeout 0 x.trace").status, 2);
    EXPECT_EQ(kvmrr_run("qemu-check /nonexistent.trace").status, 2);
    EXPECT_EQ(kvmrr_run("qemu-check --help").status, 0);
}

TEST_F(FakeQemuCheck, AMissingQemuIsExit2SayingWhatToInstall) {
    const Result r = kvmrr_run("qemu-check --qemu " + (dir / "nothing-here").string() + " " + testing::golden_trace("hello"));
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("qemu-system-x86"), std::string::npos) << r.out;
}

// Debian's QEMU itself.
std::string why_no_qemu() {
    if (std::system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0)
        return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)";
    return "";
}

TEST(RealQemu, FixtureGuestsUartAndCmosAgree) {
    if (const std::string why = why_no_qemu(); !why.empty()) GTEST_SKIP() << why;
    for (const char* name : {"hello", "nondet", "pio_loop"}) {
        const Result r = kvmrr_run(std::string("qemu-check ") + testing::golden_trace(name));
        EXPECT_EQ(r.status, 0) << name << "\n" << r.out;
        EXPECT_NE(r.out.find(" 0 differing"), std::string::npos) << r.out;
    }
}

// `kvmrr qemu-check` of a fixture firmware recorded here with this build's
// model on a 64 KiB disk whose every sector names itself (as
// fixtures/traces/record.sh makes it): its report, and the number of
// differing reads in it (-1 when it has none).
struct Checked {
    Result report;
    long differing = -1;
};
Checked check_ide_firmware(const std::string& firmware) {
    const auto dir = testing::scratch_dir(firmware);
    const auto disk = dir / "disk.img", trace = dir / "walk.trace";
    {
        std::ofstream out(disk, std::ios::binary);
        for (int sector = 0; sector < 128; ++sector)
            for (int i = 0; i < 256; ++i) out << static_cast<char>(sector & 0xff) << static_cast<char>(sector >> 8);
    }
    Checked c;
    const Result rec = kvmrr_run(std::string("record --board pc --firmware ") + KVMRR_FIRMWARE_DIR + "/" + firmware +
                                 ".bin --accel emu --clock virtual --disk " + disk.string() + " -o " + trace.string());
    EXPECT_EQ(rec.status, 0) << rec.out;
    c.report = kvmrr_run("qemu-check " + trace.string());
    std::filesystem::remove_all(dir);
    std::smatch m;
    if (std::regex_search(c.report.out, m, std::regex(R"(reads: (\d+): (\d+) compared, (\d+) agreed, (\d+) differing)")))
        c.differing = std::stol(m[4]);
    return c;
}

// The IDE walk (fixtures/firmware/ide_walk.S: every command, the odd
// paths, resets, transfers past the end), recorded here with this build's
// model, asked of QEMU's IDE model: QEMU gets the disk rebuilt from the
// trace's disk reads, and every read agrees.
TEST(RealQemu, TheIdeWalkAgreesWithQemusIde) {
    if (const std::string why = why_no_qemu(); !why.empty()) GTEST_SKIP() << why;
    const auto [r, differing] = check_ide_firmware("ide_walk");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(differing, 0) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\n  (\d+) ide0\n)"))) << r.out;
    EXPECT_GE(std::stoul(m[1]), 2000u) << r.out;
    for (const char* dev : {" ide0-ctl\n", " ide1\n", " pic-slave\n", " pci-conf\n"})
        EXPECT_NE(r.out.find(dev), std::string::npos) << dev << r.out;
    EXPECT_NE(r.out.find("sectors of the recorded run's disk rebuilt from the trace's disk reads"), std::string::npos)
        << r.out;
}

// Bus-master DMA (fixtures/firmware/ide_dma.S): QEMU, given the PRD tables
// and the data the trace says the bus master read from guest memory,
// answers every register read as kvmrr did, and what its DMA wrote into
// its RAM is what kvmrr's wrote, qword by qword.
TEST(RealQemu, TheIdeDmaWalkAgreesWithQemusBusMaster) {
    if (const std::string why = why_no_qemu(); !why.empty()) GTEST_SKIP() << why;
    const auto [r, differing] = check_ide_firmware("ide_dma");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(differing, 0) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\n  (\d+) bmdma0 dma-write\n)"))) << r.out;
    EXPECT_GE(std::stoul(m[1]), 5u * 64) << r.out;  // five sectors, 64 qwords each
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\n  (\d+) bmdma0\n)"))) << r.out;
    EXPECT_GE(std::stoul(m[1]), 30u) << r.out;
    EXPECT_NE(r.out.find(" bmdma0-prd\n"), std::string::npos) << r.out;
}

// SeaBIOS finding a disk whose partition table decides the geometry (QEMU's
// pc guesses it when it starts, kvmrr's when it records): one ending at 8
// heads, taken as the drive's own geometry (IDENTIFY's words), and one at
// 255 heads, a translating BIOS's, so the BIOS gets large translation
// (CMOS 0x39, which SeaBIOS reads). QEMU, given the disk rebuilt from the
// trace, agrees on every read.
TEST(RealQemu, ADisksPartitionTableGivesItsGeometryAsQemusDoes) {
    if (!std::filesystem::exists("/usr/share/seabios/bios.bin"))
        GTEST_SKIP() << "/usr/share/seabios/bios.bin is missing (apt-get install seabios)";
    if (const std::string why = why_no_qemu(); !why.empty()) GTEST_SKIP() << why;
    struct Case {
        uint8_t end_head, end_sector;
        uint32_t sectors;
        const char* geometry;
    };
    for (const Case& c : {Case{7, 32, 4096, "CHS 16/8/32, BIOS translation 0"},
                          Case{254, 63, 20000, "CHS 19/16/63, BIOS translation 2"}}) {
        const auto dir = testing::scratch_dir("disk-geometry");
        const auto disk = dir / "disk.img", trace = dir / "boot.trace";
        {
            // A boot record that ends the run (mov al, 0; out 0xf4, al), so
            // that SeaBIOS reads it and the disk QEMU gets has it.
            std::vector<char> s0(512, 0);
            const unsigned char code[] = {0xb0, 0x00, 0xe6, 0xf4, 0xf4};
            std::copy(std::begin(code), std::end(code), s0.begin());
            s0[0x1be + 5] = static_cast<char>(c.end_head);
            s0[0x1be + 6] = static_cast<char>(c.end_sector);
            s0[0x1be + 12] = 0x10;  // a partition of 16 sectors
            s0[510] = 0x55;
            s0[511] = static_cast<char>(0xaa);
            std::ofstream out(disk, std::ios::binary);
            out.write(s0.data(), 512);
        }
        std::filesystem::resize_file(disk, uint64_t{c.sectors} * 512);
        const Result rec = kvmrr_run("record --board pc --firmware /usr/share/seabios/bios.bin --accel emu --clock virtual "
                                     "--timeout 60000 --disk " + disk.string() +
                                     " -o " + trace.string());
        ASSERT_EQ(rec.status, 0) << rec.out;
        const Result i = kvmrr_run("inspect " + trace.string());
        EXPECT_NE(i.out.find(c.geometry), std::string::npos) << i.out;
        const Result r = kvmrr_run("qemu-check " + trace.string());
        std::filesystem::remove_all(dir);
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find(" agreed, 0 differing"), std::string::npos) << c.geometry << "\n" << r.out;
        EXPECT_NE(r.out.find("sectors of the recorded run's disk rebuilt"), std::string::npos) << r.out;
        for (const char* dev : {" ide0\n", " cmos-rtc\n"}) EXPECT_NE(r.out.find(dev), std::string::npos) << dev << r.out;
    }
}

// One SeaBIOS boot, recorded once (ctest runs each test in a process of
// its own): checked against QEMU, exported as a timeline and as a script.
TEST(QemuCheckSeaBiosBoot, AgreesWithQemuAndExportsAsTimelineAndScript) {
    if (!std::filesystem::exists("/usr/share/seabios/bios.bin"))
        GTEST_SKIP() << "/usr/share/seabios/bios.bin is missing (apt-get install seabios)";
    const auto dir = testing::scratch_dir("seabios-check");
    const std::string trace = (dir / "boot.trace").string();
    const Result rec = kvmrr_run("record --board pc --firmware /usr/share/seabios/bios.bin --accel emu --clock virtual "
                                 "--timeout 60000 --stop-at-output \"No bootable device\" -o " + trace + " --debugcon " +
                                 (dir / "dc.log").string());
    ASSERT_EQ(rec.status, 0) << rec.out;

    const auto json = dir / "boot.json";
    const Result e = kvmrr_run("export --perfetto " + trace + " -o " + json.string());
    ASSERT_EQ(e.status, 0) << e.out;
    EXPECT_NE(e.out.find("the guest's monotonic clock readings"), std::string::npos) << e.out;
    testing::check_perfetto(trace, testing::slurp(json), kvmrr_run("inspect " + trace).out);

    const auto script = dir / "boot.qtest";
    const Result q = kvmrr_run("export --qtest " + trace + " -o " + script.string());
    ASSERT_EQ(q.status, 0) << q.out;
    const std::string s = testing::slurp(script);
    EXPECT_NE(s.find("the local APIC (per CPU; qtest accesses come from no CPU)"), std::string::npos) << s.substr(0, 600);
    EXPECT_NE(s.find("\noutl 0xcf8 0x80000000 # #"), std::string::npos);
    EXPECT_NE(s.find("\nclock_step "), std::string::npos);
    EXPECT_NE(s.find("\nwrite 0x"), std::string::npos);  // fw_cfg's DMA descriptors

    if (const std::string why = why_no_qemu(); !why.empty()) {
        std::filesystem::remove_all(dir);
        GTEST_SKIP() << "the qemu-check part: " << why;
    }
    const Result r = kvmrr_run("qemu-check " + trace);
    EXPECT_EQ(r.status, 0) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(reads: (\d+): (\d+) compared, (\d+) agreed, (\d+) differing)")))
        << r.out;
    const unsigned long compared = std::stoul(m[2]);
    // The boot to "No bootable device" reads devices 346 times (PCI
    // configuration most, then the i8042, the CMOS, the PICs, fw_cfg).
    EXPECT_GE(compared, 300u) << r.out;
    EXPECT_EQ(std::stoul(m[3]), compared) << r.out;
    EXPECT_EQ(m[4], "0") << r.out;
    for (const char* dev : {"pci-conf", "i8042-cmd", "cmos-rtc", "pic-master", "fw-cfg"})
        EXPECT_NE(r.out.find(dev), std::string::npos) << dev << "\n" << r.out;
    EXPECT_NE(r.out.find("ACPI PM timer (time)"), std::string::npos) << r.out;
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvmrr
