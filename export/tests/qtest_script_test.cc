// Tests for export/qtest_script.h and export/qemu_pc_map.h: the commands
// written for accesses, which accesses QEMU's pc is asked, how reads are
// named and compared, and the script of a golden trace.
#include "export/qtest_script.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <sstream>

#include "export/tests/export_test_util.h"
#include "record/trace_reader.h"

namespace kvmrr {
namespace {

TEST(QtestCommand, OneCommandPerAccessKind) {
    EXPECT_EQ(qtest_command(true, true, 1, 0x70, 0x8f), "outb 0x70 0x8f");
    EXPECT_EQ(qtest_command(true, false, 2, 0xcfc, 0), "inw 0xcfc");
    EXPECT_EQ(qtest_command(true, true, 4, 0xcf8, 0x80000800), "outl 0xcf8 0x80000800");
    EXPECT_EQ(qtest_command(false, false, 4, 0xfec00010, 0), "readl 0xfec00010");
    EXPECT_EQ(qtest_command(false, true, 8, 0xfed00000, 0x1122334455667788), "writeq 0xfed00000 0x1122334455667788");
    EXPECT_EQ(qtest_command(false, false, 1, 0x1000, 0), "readb 0x1000");
    EXPECT_EQ(qtest_command(false, true, 2, 0x1000, 0xbeef), "writew 0x1000 0xbeef");
}

TraceHeader pc_header() {
    TraceHeader h;
    h.board = "pc";
    h.ram_size = 256u << 20;
    h.windows = {{"cmos-rtc", true, 0x70, 2},    {"pci-conf", true, 0xcf8, 8}, {"pit", true, 0x40, 4},
                 {"uart16550", true, 0x3f8, 8},  {"lapic", false, 0xfee00000, 0x1000},
                 {"debug-exit", true, 0xf4, 1},  {"ioapic", false, 0xfec00000, 0x1000}};
    return h;
}

AccessEvent pio(uint64_t port, uint8_t size, bool write, uint64_t value = 0) {
    AccessEvent a;
    a.io = true;
    a.addr = port;
    a.size = size;
    a.is_write = write;
    a.value = value;
    a.region = 1;
    return a;
}

// The IDE channels are sent, probed for QEMU's background work, and the
// disk is QEMU's first IDE drive; 00:01.1's reads are skipped only for a
// trace whose board had no IDE function.
TEST(QemuPcMap, TheIdeChannelsAndTheDisk) {
    TraceHeader h = pc_header();
    h.windows.push_back({"ide0", true, 0x1f0, 8});
    h.windows.push_back({"ide1-ctl", true, 0x376, 1});
    QemuPcMap before(h);
    EXPECT_FALSE(before.left_out(pio(0x1f7, 1, false), "ide0"));
    EXPECT_FALSE(before.left_out(pio(0x376, 1, false), "ide1-ctl"));
    ASSERT_EQ(before.busy_probe("ide0").size(), 1u);  // BSY; no bus master reached yet
    EXPECT_EQ(before.busy_probe("ide0")[0].at(0).command, "inb 0x3f6");
    EXPECT_EQ(before.busy_probe("ide1-ctl")[0].at(0).command, "inb 0x376");
    EXPECT_TRUE(before.busy_probe("uart16550").empty());
    EXPECT_TRUE(before.busy_probe("bmdma0").empty());
    // Once the guest reached bus master 0 at 0xc000: its DMA in flight
    // (active, and the drive's DRQ) keeps channel 0 busy too.
    before.observe_access(pio(0xc002, 1, false), "bmdma0");
    const QemuPcMap::BusyProbe p = before.busy_probe("ide0-ctl");
    ASSERT_EQ(p.size(), 2u);
    ASSERT_EQ(p[1].size(), 2u);
    EXPECT_EQ(p[1][0].command, "inb 0xc002");
    EXPECT_EQ(p[1][0].mask, 0x01u);
    EXPECT_EQ(p[1][1].command, "inb 0x3f6");
    EXPECT_EQ(p[1][1].mask, 0x08u);
    EXPECT_EQ(before.busy_probe("bmdma0").size(), 1u);
    EXPECT_EQ(before.busy_probe("ide1").size(), 1u);
    before.observe_write(pio(0xcf8, 4, true), "pci-conf", 0x80000900);
    EXPECT_EQ(before.rule(pio(0xcfc, 4, false), "pci-conf").kind, CompareKind::Skip);
    h.devices.push_back({"piix3-ide", 1});
    QemuPcMap with(h);
    with.observe_write(pio(0xcf8, 4, true), "pci-conf", 0x80000900);
    EXPECT_EQ(with.rule(pio(0xcfc, 4, false), "pci-conf").kind, CompareKind::Exact);
    const std::vector<std::string> args = with.qemu_machine_args("/tmp/a,b.img");
    const auto drive = std::find(args.begin(), args.end(), "-drive");
    ASSERT_NE(drive, args.end());
    EXPECT_EQ(*(drive + 1), "file=/tmp/a,,b.img,format=raw,if=ide,index=0");
    const std::vector<std::string> no_disk = with.qemu_machine_args();
    EXPECT_EQ(std::find(no_disk.begin(), no_disk.end(), "-drive"), no_disk.end());
}

TEST(QemuPcMap, WhatIsSentAndWhatIsLeftOut) {
    const TraceHeader h = pc_header();
    QemuPcMap m(h);
    EXPECT_FALSE(m.left_out(pio(0x71, 1, false), "cmos-rtc"));
    EXPECT_FALSE(m.left_out(pio(0x3fd, 1, false), "uart16550"));
    EXPECT_EQ(m.left_out(pio(0xf4, 1, true), "debug-exit"), "devices QEMU's pc lacks");
    EXPECT_EQ(m.left_out(pio(0x70, 3, true), "cmos-rtc"), "sizes qtest has no command for");
    AccessEvent ram;
    ram.addr = 0x1000;
    ram.size = 4;
    ram.region = 0;
    EXPECT_EQ(m.left_out(ram, "ram"), "RAM and ROM");
    AccessEvent apic = ram;
    apic.addr = 0xfee00030;
    EXPECT_NE(m.left_out(apic, "lapic")->find("local APIC"), std::string::npos);
    // The PM block sits where the firmware put it, in both.
    EXPECT_FALSE(m.left_out(pio(0x608, 4, false), "acpi-tmr"));
    // A port kvmrr's pc board leaves to nobody is asked of QEMU; its reads are skipped.
    AccessEvent hole = pio(0xae0c, 4, false);
    hole.status = TraceAccessStatus::Unassigned;
    hole.region = kNoRegion;
    EXPECT_FALSE(m.left_out(hole, "none"));
    EXPECT_EQ(m.rule(hole, m.device(hole, "none")).kind, CompareKind::Skip);

    // kvmrr's own board shares only the UART and the CMOS with QEMU's pc.
    TraceHeader own = h;
    own.board = "";
    QemuPcMap o(own);
    EXPECT_FALSE(o.left_out(pio(0x3f8, 1, true), "uart16550"));
    EXPECT_FALSE(o.left_out(pio(0x70, 1, true), "cmos-rtc"));
    EXPECT_TRUE(o.left_out(pio(0xcf8, 4, true), "pci-conf"));
    EXPECT_TRUE(o.left_out(hole, "none"));
    EXPECT_TRUE(o.left_out(pio(0x608, 4, false), "acpi-tmr"));
    o.observe_write(pio(0x70, 1, true), "cmos-rtc", 0x15);  // base memory: a PC's preset in QEMU
    EXPECT_EQ(o.rule(pio(0x71, 1, false), "cmos-rtc").kind, CompareKind::Skip);
    o.observe_write(pio(0x70, 1, true), "cmos-rtc", 0x0b);  // status B: the RTC itself
    EXPECT_EQ(o.rule(pio(0x71, 1, false), "cmos-rtc").kind, CompareKind::Exact);
    // A window moved away from QEMU's address is not QEMU's device.
    own.windows[3].addr = 0x2f8;
    QemuPcMap moved(own);
    EXPECT_EQ(moved.left_out(pio(0x2f8, 1, true), "uart16550"), "devices that QEMU's pc has at another address");
}

TEST(QemuPcMap, ReadsAreNamedThroughTheLatches) {
    const TraceHeader h = pc_header();
    QemuPcMap m(h);
    m.observe_write(pio(0x70, 1, true), "cmos-rtc", 0x8a);  // NMI off, index 0x0a
    EXPECT_EQ(m.register_name(pio(0x71, 1, false), "cmos-rtc"), "cmos[0x0a]");
    EXPECT_EQ(m.rule(pio(0x71, 1, false), "cmos-rtc").kind, CompareKind::Masked);
    m.observe_write(pio(0x70, 1, true), "cmos-rtc", 0x0f);
    EXPECT_EQ(m.rule(pio(0x71, 1, false), "cmos-rtc").kind, CompareKind::Exact);
    m.observe_write(pio(0x70, 1, true), "cmos-rtc", 0x00);
    const ReadRule seconds = m.rule(pio(0x71, 1, false), "cmos-rtc");
    EXPECT_EQ(seconds.kind, CompareKind::Shape);
    EXPECT_TRUE(shape_ok(seconds, 0x59, 1, std::nullopt));
    EXPECT_FALSE(shape_ok(seconds, 0x60, 1, std::nullopt));

    m.observe_write(pio(0xcf8, 4, true), "pci-conf", 0x80000b0e);
    EXPECT_EQ(m.register_name(pio(0xcfe, 1, false), "pci-conf"), "00:01.3 [0x0e]");
    EXPECT_EQ(m.rule(pio(0xcfe, 1, false), "pci-conf").kind, CompareKind::Exact);
    m.observe_write(pio(0xcf8, 4, true), "pci-conf", 0x80000900);
    EXPECT_EQ(m.rule(pio(0xcfc, 2, false), "pci-conf").kind, CompareKind::Skip);  // 00:01.1, IDE

    EXPECT_EQ(m.rule(pio(0x40, 1, false), "pit").kind, CompareKind::Shape);
    EXPECT_EQ(m.register_name(pio(0x3f8, 1, true), "uart16550"), "THR");
    EXPECT_EQ(m.rule(pio(0x3f8, 1, false), "uart16550").kind, CompareKind::Shape);  // host input
    m.observe_write(pio(0x3fb, 1, true), "uart16550", 0x80);
    EXPECT_EQ(m.register_name(pio(0x3f8, 1, false), "uart16550"), "DLL");
    EXPECT_EQ(m.rule(pio(0x3f8, 1, false), "uart16550").kind, CompareKind::Exact);
}

TEST(ShapeOk, PmTimerCountsUpAndWraps) {
    ReadRule r;
    r.kind = CompareKind::Shape;
    r.shape = ShapeKind::Monotonic24;
    EXPECT_TRUE(shape_ok(r, 100, 4, std::nullopt));
    EXPECT_TRUE(shape_ok(r, 100, 4, 100));
    EXPECT_FALSE(shape_ok(r, 99, 4, 100));
    EXPECT_TRUE(shape_ok(r, 5, 4, 0xfffff0));  // wrapped
    EXPECT_FALSE(shape_ok(r, 1u << 24, 4, std::nullopt));
}

TEST(QtestExport, GoldenHelloIsItsUartAccesses) {
    std::ostringstream out;
    const QtestExport r = export_qtest(testing::golden_trace("hello"), out);
    const std::string s = out.str();
    // hello writes "Hello..." to the UART, polling LSR before each byte,
    // and leaves through kvmrr's debug-exit port, which QEMU's pc lacks.
    EXPECT_EQ(r.left_out.size(), 1u);
    EXPECT_EQ(r.left_out.at("devices QEMU's pc lacks"), 1u);
    EXPECT_EQ(r.accesses_sent, 46u);
    EXPECT_EQ(r.reads, 23u);
    EXPECT_FALSE(r.damage);
    EXPECT_EQ(s.rfind("# qtest script from kvmrr trace ", 0), 0u) << s;
    EXPECT_NE(s.find("# 46 device accesses as 46 commands, 23 reads"), std::string::npos) << s;
    EXPECT_NE(s.find("#   1 devices QEMU's pc lacks\n"), std::string::npos) << s;
    EXPECT_NE(s.find("\ninb 0x3fd # #12 uart16550 LSR = 0x60\noutb 0x3f8 0x48 # #14 uart16550 THR\n"), std::string::npos) << s;
    size_t commands = 0, reads = 0;
    std::istringstream lines(s);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#') continue;
        ++commands;
        reads += line.rfind("in", 0) == 0;
        EXPECT_NE(line.find(" # #"), std::string::npos) << line;
    }
    EXPECT_EQ(commands, 46u);
    EXPECT_EQ(reads, 23u);
}

// Bus-master DMA (fixtures/firmware/ide_dma.S): the bus master's registers
// are sent where the BAR put them; the PRD entry the bus master read is
// written into QEMU's RAM before the start; what its READ DMA wrote (sector
// 5, each word naming it) is read back after it, a qword at a time.
TEST(QtestExport, GoldenIdeDmaSendsTheBusMasterAndReadsBackItsDma) {
    std::ostringstream out;
    const QtestExport r = export_qtest(testing::golden_trace("ide_dma"), out);
    const std::string s = out.str();
    EXPECT_EQ(r.left_out.size(), 1u) << s.substr(0, 400);  // the exit port
    EXPECT_NE(s.find("\nwrite 0x8000 8 0x0000010000020080 # #"), std::string::npos);
    const size_t start = s.find("\noutb 0xc000 0x9 # #");
    const size_t back = s.find("\nreadq 0x10000 # #");
    ASSERT_NE(start, std::string::npos);
    ASSERT_NE(back, std::string::npos);
    EXPECT_LT(start, back);
    EXPECT_NE(s.find("dma-write: what the IDE bus master wrote = 0x5000500050005\n", back), std::string::npos);
    EXPECT_NE(s.find("inb 0xc002 # #"), std::string::npos);
    size_t dma_checks = 0;
    for (size_t at = s.find("dma-write:"); at != std::string::npos; at = s.find("dma-write:", at + 1)) ++dma_checks;
    EXPECT_EQ(dma_checks, 5u * 64);  // five sectors came in, 64 qwords each
}

TEST(QtestExport, ADamagedTraceExportsItsWholePartAndSaysSo) {
    const auto dir = testing::scratch_dir("qtest-damage");
    const auto cut = dir / "cut.trace";
    std::string bytes = testing::slurp(testing::golden_trace("pio_loop"));
    bytes.resize(bytes.size() - 100);  // into the last chunk
    std::ofstream(cut, std::ios::binary) << bytes;
    std::ostringstream out;
    const QtestExport r = export_qtest(cut.string(), out);
    ASSERT_TRUE(r.damage);
    EXPECT_NE(out.str().find("# the trace is not whole: "), std::string::npos);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvmrr
