#include "core/machine_layout.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/memory_system.h"

namespace kvmrr {
namespace {

TEST(MachineLayoutTest, DefaultMachineHasRamRomAndDevicesWhereDocumented) {
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    const FlatView& v = *m.memory->view();
    ASSERT_NE(v.lookup(0), nullptr);
    EXPECT_EQ(v.lookup(0)->mr, m.ram);
    EXPECT_EQ(v.lookup(256 * kMiB - 1)->mr, m.ram);
    EXPECT_EQ(v.lookup(256 * kMiB), nullptr);  // hole above RAM
    // The BIOS answers at the top of 4 GiB and again below 1 MiB, over RAM.
    EXPECT_EQ(v.lookup(0xfffffff0)->mr, m.rom);
    EXPECT_EQ(v.lookup(0xffff0)->mr, m.rom);
    EXPECT_EQ(v.lookup(0xffff0)->range.start(), 0xf0000u);
    EXPECT_EQ(v.lookup(0xffff0)->offset_in_region, 0u);  // 64 KiB BIOS: all of it shows below 1 MiB
    EXPECT_EQ(v.lookup(0xeffff)->mr, m.ram);
    EXPECT_EQ(v.lookup(0xfeb00000)->mr, m.windows.at("entropy"));
    EXPECT_EQ(m.io_space->view()->lookup(0x3f8)->mr, m.windows.at("uart16550"));
    EXPECT_EQ(m.io_space->view()->lookup(0xf4)->mr, m.windows.at("debug-exit"));
    EXPECT_EQ(m.io_space->view()->lookup(0xf5), nullptr);
}

TEST(MachineLayoutTest, RamAbove35GiBContinuesAt4GiB) {
    MachineLayout l = MachineLayout::default_layout();
    l.ram_size = 5 * kGiB;
    MemorySystem sys;
    MachineMemory m = build_machine(sys, l);
    const FlatView& v = *m.memory->view();
    EXPECT_EQ(v.lookup(kLowRamLimit - 1)->mr, m.ram);
    EXPECT_EQ(v.lookup(kLowRamLimit), m.memory->view()->lookup(0xe0000000));  // the hole (bank window)
    const FlatRange* high = v.lookup(kHighRamStart);
    ASSERT_NE(high, nullptr);
    EXPECT_EQ(high->mr, m.ram);
    EXPECT_EQ(high->offset_in_region, kLowRamLimit);
    EXPECT_EQ(high->range.size(), 5 * kGiB - kLowRamLimit);
}

TEST(MachineLayoutTest, ParsesDescription) {
    MachineLayout l = MachineLayout::parse(
        "# comment\n"
        "ram 1G\n"
        "rom 0x20000  # 128 KiB\n"
        "rom-low-alias off\n"
        "pio uart16550 0x2f8 8\n"
        "mmio extra 0xfec00000 4K\n",
        "test");
    EXPECT_EQ(l.ram_size, kGiB);
    EXPECT_EQ(l.rom_size, 128 * kKiB);
    EXPECT_FALSE(l.rom_low_alias);
    auto uart = std::find_if(l.devices.begin(), l.devices.end(), [](auto& d) { return d.name == "uart16550"; });
    ASSERT_NE(uart, l.devices.end());
    EXPECT_EQ(uart->addr, 0x2f8u);  // replaced the default window
    EXPECT_EQ(std::count_if(l.devices.begin(), l.devices.end(), [](auto& d) { return d.name == "uart16550"; }), 1);
    EXPECT_EQ(l.devices.back(), (DeviceWindow{"extra", AddressSpace::Kind::Memory, 0xfec00000, 4096}));
    EXPECT_EQ(MachineLayout::parse("no-devices\n", "t").devices.size(), 0u);
}

TEST(MachineLayoutTest, BadDescriptionsNameTheLine) {
    auto error_of = [](const char* text) {
        try {
            MachineLayout::parse(text, "m.txt");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(error_of("ram 1G\nbogus 1\n").find("m.txt:2: unknown directive 'bogus'"), std::string::npos);
    EXPECT_NE(error_of("ram lots\n").find("m.txt:1: 'lots' is not a number"), std::string::npos);
    EXPECT_NE(error_of("ram 0\n").find("RAM size must not be zero"), std::string::npos);
    EXPECT_NE(error_of("mmio a 0x1000\n").find("takes 3 argument(s)"), std::string::npos);
    EXPECT_NE(error_of("pio a 0xfff0 0x100\n").find("outside its I/O space"), std::string::npos);
    EXPECT_EQ(error_of("mmio a 0xfec00000 0x1000\nmmio a 0xfec10000 0x1000\n"), "no error");  // the second replaces the first
    EXPECT_THROW(MachineLayout::load("/nonexistent/machine"), Error);
    // A path with no end to its bytes is read to a bound, not into memory
    // without one.
    try {
        MachineLayout::load("/dev/zero");
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("machine description '/dev/zero' is larger than 1 MiB"), std::string::npos)
            << e.what();
    }
}

TEST(MachineLayoutTest, WindowCollidingWithRamIsRefusedWithBothNames) {
    MachineLayout l = MachineLayout::default_layout();
    l.devices.push_back({"oops", AddressSpace::Kind::Memory, 0x1000, 0x1000});
    MemorySystem sys;
    try {
        build_machine(sys, l);
        FAIL() << "expected a collision error";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("oops"), std::string::npos) << msg;
        EXPECT_NE(msg.find("ram-below-4g"), std::string::npos) << msg;
        EXPECT_EQ(msg.find("add_subregion"), std::string::npos) << msg;  // no internal API in a user's error
    }
}

// A description's collisions are found when it is read, and named by the
// line that placed the window, in the user's words.
TEST(MachineLayoutTest, CollisionsNameTheFileAndLine) {
    auto error_of = [](const char* text) {
        try {
            MachineLayout::parse(text, "m.txt");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    std::string e = error_of("# a comment\nmmio oops 0x1000 0x1000\n");
    EXPECT_EQ(e.rfind("m.txt:2: ", 0), 0u) << e;
    EXPECT_NE(e.find("overlaps ram-below-4g"), std::string::npos) << e;
    EXPECT_EQ(e.find("add_subregion"), std::string::npos) << e;
    e = error_of("mmio a 0xfec00000 0x2000\n\nmmio b 0xfec01000 0x1000\n");
    EXPECT_EQ(e.rfind("m.txt:3: ", 0), 0u) << e;
    EXPECT_NE(e.find("overlaps device window 'a'"), std::string::npos) << e;
    e = error_of("pio uart16550 0x70 2\n");  // onto the default cmos-rtc window
    EXPECT_EQ(e.rfind("m.txt:1: ", 0), 0u) << e;
    EXPECT_NE(e.find("'cmos-rtc'"), std::string::npos) << e;
    e = error_of("mmio fb 0x10000000 0x1000\nram 512M\n");  // RAM grown under a window
    EXPECT_EQ(e.rfind("m.txt:1: ", 0), 0u) << e;
    e = error_of("ram -1\n");
    EXPECT_NE(e.find("m.txt:1: '-1' is not a number"), std::string::npos) << e;
    e = error_of("ram 99999999999999999999\n");
    EXPECT_NE(e.find("too large"), std::string::npos) << e;
}

TEST(MachineLayoutTest, SizesTakeATerabyteSuffixWithinALimit) {
    EXPECT_EQ(MachineLayout::parse("ram 1T\n", "t").ram_size, 1024 * kGiB);
    EXPECT_EQ(MachineLayout::parse("ram 2t\n", "t").ram_size, 2048 * kGiB);
    try {
        MachineLayout::parse("ram 17T\n", "--ram");
        FAIL() << "17 TiB accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--ram:1: RAM size 0x110000000000 is more than kvmrr's limit"),
                  std::string::npos)
            << e.what();
    }
}

TEST(MachineLayoutTest, TwoMachinesInOneProcessAreIndependent) {
    MemorySystem a, b;
    MachineMemory ma = build_machine(a, MachineLayout::default_layout());
    MachineMemory mb = build_machine(b, MachineLayout::default_layout());
    EXPECT_EQ(ma.ram->ram_block()->id(), 0u);
    EXPECT_EQ(mb.ram->ram_block()->id(), 0u);
    EXPECT_NE(ma.ram->ram_block()->host(), mb.ram->ram_block()->host());
    ASSERT_EQ(ma.memory->write(Gpa(0x1000), 0xdeadbeef, 4), AccessStatus::Ok);
    EXPECT_EQ(mb.memory->read(Gpa(0x1000), 4).value, 0u);
    EXPECT_EQ(ma.memory->read(Gpa(0x1000), 4).value, 0xdeadbeefu);
    ma.windows.at("entropy")->set_enabled(false);
    EXPECT_EQ(ma.memory->render_count(), 2u);
    EXPECT_EQ(mb.memory->render_count(), 1u);
}

}  // namespace
}  // namespace kvmrr
