// What a debugger reads of guest memory: RAM and ROM, never a device, at
// linear addresses through each paging mode's tables (written here by
// hand, entry by entry, as the SDM lays them out).
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>

#include "core/memory_system.h"
#include "core/region_ops.h"
#include "replay/guest_memory_reader.h"

namespace kvmrr {
namespace {

constexpr uint64_t P = 1, RW = 2, PS = 0x80;
constexpr uint64_t kCr0Pe = 1, kCr0Pg = 1ull << 31, kCr4Pse = 1 << 4, kCr4Pae = 1 << 5, kCr4La57 = 1 << 12;
constexpr uint64_t kEferLme = 1 << 8, kEferLma = 1 << 10;

struct Reader : ::testing::Test {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("sysmem", 1ull << 32);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    int device_calls = 0;
    FunctionOps dev_ops{[this](uint64_t, unsigned) -> uint64_t { ++device_calls; return 0x5a; },
                        [this](uint64_t, uint64_t, unsigned) { ++device_calls; }};
    MemoryRegion& ram = sys.create_ram("ram", 8 << 20);
    MemoryRegion& dev = sys.create_io("dev", 0x1000, dev_ops);
    MemoryRegion& rom = sys.create_rom("rom", 0x1000);
    GuestMemoryReader reader{as};

    void SetUp() override {
        root.add_subregion(0, ram);
        root.add_subregion(0x800000, dev);
        root.add_subregion(0x900000, rom);
        uint8_t* h = ram.ram_block()->host();
        for (uint64_t i = 0; i < ram.size(); ++i) h[i] = static_cast<uint8_t>(i * 7 + (i >> 12));
        rom.ram_block()->host()[0x10] = 0xab;
    }
    // Page-table pages start empty (RAM holds a pattern elsewhere).
    void tables(std::initializer_list<uint64_t> pages) {
        for (const uint64_t p : pages) std::memset(ram.ram_block()->host() + p, 0, 0x1000);
    }
    void put32(uint64_t at, uint32_t v) { std::memcpy(ram.ram_block()->host() + at, &v, 4); }
    void put64(uint64_t at, uint64_t v) { std::memcpy(ram.ram_block()->host() + at, &v, 8); }
    uint8_t byte_at(uint64_t phys) { return ram.ram_block()->host()[phys]; }
    static kvm_sregs paging(uint64_t cr3, uint64_t cr4, uint64_t efer = 0) {
        kvm_sregs s{};
        s.cr0 = kCr0Pe | kCr0Pg;
        s.cr3 = cr3;
        s.cr4 = cr4;
        s.efer = efer;
        return s;
    }
};

TEST_F(Reader, PhysicalReadsRamAndRomButNeverADevice) {
    uint8_t b[4];
    ASSERT_TRUE(reader.read_physical(0x10, b, 4));
    EXPECT_EQ(b[0], byte_at(0x10));
    ASSERT_TRUE(reader.read_physical(0x900010, b, 1));
    EXPECT_EQ(b[0], 0xab);
    EXPECT_FALSE(reader.read_physical(0x800000, b, 1));
    EXPECT_FALSE(reader.read_physical(0x7ffffe, b, 4));  // runs into the device
    EXPECT_FALSE(reader.read_physical(0xa00000, b, 1));  // nothing there
    EXPECT_FALSE(reader.read_physical(0xfffffffffffffffe, b, 4));
    EXPECT_EQ(device_calls, 0);
}

TEST_F(Reader, WithoutPagingLinearIsPhysical) {
    kvm_sregs s{};
    s.cr0 = kCr0Pe;
    EXPECT_EQ(reader.physical_of(s, 0x123456), 0x123456u);
    s.cr0 = 0;  // real mode
    uint8_t b;
    ASSERT_TRUE(reader.read_linear(s, 0xfe05, &b, 1));
    EXPECT_EQ(b, byte_at(0xfe05));
}

TEST_F(Reader, TwoLevelTablesWithAndWithoutLargePages) {
    tables({0x10000, 0x11000, 0x400000});
    put32(0x10000 + 1 * 4, 0x11000 | P | RW);  // PDE 1: a page table
    put32(0x11000 + 2 * 4, 0x5000 | P);         // its PTE 2
    put32(0x10000 + 2 * 4, 0x400000 | PS | P);  // PDE 2: 4 MiB at 4 MiB (with CR4.PSE)
    put32(0x400000 + 0x12 * 4, 0x6000 | P);     // read as a PTE without CR4.PSE
    put32(0x10000 + 3 * 4, 0x11000);            // PDE 3: not present
    const kvm_sregs s = paging(0x10000, 0);
    EXPECT_EQ(reader.physical_of(s, 0x402abc), 0x5abcu);
    EXPECT_EQ(reader.physical_of(s, 0x403abc), std::nullopt);  // PTE 3 is zero
    EXPECT_EQ(reader.physical_of(s, 0xc00000), std::nullopt);
    EXPECT_EQ(reader.physical_of(paging(0x10000, kCr4Pse), 0x812345), 0x412345u);
    EXPECT_EQ(reader.physical_of(s, 0x812345), 0x6345u);  // PS ignored
    // 4 MiB pages reach above 4 GiB through PDE bits 20:13.
    put32(0x10000 + 4 * 4, 0x400000 | (1u << 13) | PS | P);
    EXPECT_EQ(reader.physical_of(paging(0x10000, kCr4Pse), 0x1000010), 0x100400010u);
}

TEST_F(Reader, PaeTables) {
    tables({0x20000, 0x21000, 0x22000});
    put64(0x20000 + 0 * 8, 0x21000 | P);         // PDPTE 0
    put64(0x21000 + 3 * 8, 0x22000 | P | RW);    // PDE 3: a page table
    put64(0x22000 + 4 * 8, 0x7000 | P);          // its PTE 4
    put64(0x21000 + 5 * 8, 0x200000 | PS | P);   // PDE 5: 2 MiB at 2 MiB
    const kvm_sregs s = paging(0x20000, kCr4Pae);
    EXPECT_EQ(reader.physical_of(s, (3 << 21) | (4 << 12) | 0x56), 0x7056u);
    EXPECT_EQ(reader.physical_of(s, (5u << 21) + 0x1234), 0x201234u);
    EXPECT_EQ(reader.physical_of(s, 0x40000000), std::nullopt);  // PDPTE 1 not present
}

TEST_F(Reader, FourLevelTablesWithEachPageSize) {
    tables({0x30000, 0x31000, 0x32000, 0x33000});
    const uint64_t high = 0xffffff8000000000;            // PML4 entry 511
    put64(0x30000 + 511 * 8, 0x31000 | P | RW);          // PML4E -> PDPT
    put64(0x31000 + 0 * 8, 0x0 | PS | P);                // 1 GiB at 0
    put64(0x31000 + 1 * 8, 0x32000 | P | RW);            // -> PD
    put64(0x32000 + 0 * 8, 0x200000 | PS | P);           // 2 MiB at 2 MiB
    put64(0x32000 + 1 * 8, 0x33000 | P | RW);            // -> PT
    put64(0x33000 + 0 * 8, 0x8000 | P | (1ull << 63));   // 4 KiB at 0x8000, NX set
    const kvm_sregs s = paging(0x30000, kCr4Pae, kEferLme | kEferLma);
    EXPECT_EQ(reader.physical_of(s, high + 0x12345), 0x12345u);
    EXPECT_EQ(reader.physical_of(s, high + 0x40000abc), 0x200abcu);
    EXPECT_EQ(reader.physical_of(s, high + 0x40200abc), 0x8abcu);
    EXPECT_EQ(reader.physical_of(s, 0x1000), std::nullopt);  // PML4 entry 0 is zero
    EXPECT_EQ(reader.physical_of(paging(0x30000, kCr4Pae | kCr4La57, kEferLme | kEferLma), high), std::nullopt);
}

TEST_F(Reader, LinearReadsFollowEachPageAndStopAtADevice) {
    tables({0x10000, 0x11000});
    put32(0x10000, 0x11000 | P);
    put32(0x11000 + 0 * 4, 0x3000 | P);   // linear page 0 -> 0x3000
    put32(0x11000 + 1 * 4, 0x9000 | P);   // linear page 1 -> 0x9000
    put32(0x11000 + 2 * 4, 0x800000 | P);  // linear page 2 -> the device
    const kvm_sregs s = paging(0x10000, 0);
    uint8_t b[8];
    ASSERT_TRUE(reader.read_linear(s, 0xffc, b, 8));
    EXPECT_EQ(b[0], byte_at(0x3ffc));
    EXPECT_EQ(b[3], byte_at(0x3fff));
    EXPECT_EQ(b[4], byte_at(0x9000));
    EXPECT_EQ(b[7], byte_at(0x9003));
    EXPECT_FALSE(reader.read_linear(s, 0x1ffc, b, 8));
    EXPECT_FALSE(reader.read_linear(s, 0x3000, b, 1));  // page 3 not mapped
    EXPECT_EQ(device_calls, 0);
}

}  // namespace
}  // namespace kvmrr
