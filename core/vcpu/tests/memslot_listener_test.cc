#include "core/vcpu/memslot_listener.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/vcpu/tests/fake_vm.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {
namespace {

using testing::FakeVm;

// What the slot table must be: every page-aligned RAM/ROM/romd range of the
// current flat view, with the right flags and host address.
std::vector<MemslotSpec> expected_from_view(const FlatView& view, bool global_log) {
    std::vector<MemslotSpec> out;
    for (const FlatRange& fr : view.ranges()) {
        using K = MemoryRegion::Kind;
        const K k = fr.mr->kind();
        if (!(k == K::Ram || k == K::Rom || (k == K::RomDevice && fr.romd_mode))) continue;
        const uint64_t s = (fr.range.start() + 4095) & ~4095ull, e = fr.range.end() & ~4095ull;
        if (s >= e) continue;
        const auto host = reinterpret_cast<uint64_t>(fr.host() + (s - fr.range.start()));
        if (host % 4096) continue;  // guest and host pages do not line up
        uint32_t flags = 0;
        if (fr.readonly || k == K::RomDevice) flags |= kMemReadonly;
        // Read-only slots never log: nothing the guest does can dirty them.
        if ((fr.dirty_log_mask || global_log) && !(flags & kMemReadonly)) flags |= kMemLogDirtyPages;
        out.push_back({0, flags, s, e - s, host});
    }
    return out;
}

void expect_table_matches_view(const MemslotListener& l, const FlatView& view) {
    auto table = l.table();
    auto want = expected_from_view(view, l.global_dirty_log());
    ASSERT_EQ(table.size(), want.size());
    for (size_t i = 0; i < table.size(); ++i) {
        want[i].slot = table[i].slot;  // ids are the listener's choice
        EXPECT_EQ(table[i], want[i]) << "slot " << i;
    }
}

struct Fixture : ::testing::Test {
    MemorySystem sys;
    FakeVm vm;
    std::vector<DirtyBitmap> harvested;
    MemslotListener slots{vm, [this](const DirtyBitmap& b) { harvested.push_back(b); }};
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());

    void SetUp() override { m.memory->add_listener(slots); }
    void check() {
        expect_table_matches_view(slots, *m.memory->view());
        // The fake VM holds exactly the listener's table.
        ASSERT_EQ(vm.slots.size(), slots.table().size());
        for (const MemslotSpec& s : slots.table()) EXPECT_EQ(vm.slots.at(s.slot), s);
    }
};

TEST_F(Fixture, DefaultMachineMapsRamAndRomOnly) {
    check();
    auto t = slots.table();
    ASSERT_EQ(t.size(), 4u);  // RAM below the BIOS alias, the alias, RAM above it, the BIOS
    EXPECT_EQ(t[0].guest_phys, 0u);
    EXPECT_EQ(t[0].size, 0xf0000u);
    EXPECT_EQ(t[1].guest_phys, 0xf0000u);
    EXPECT_EQ(t[1].flags, kMemReadonly);
    EXPECT_EQ(t[3].guest_phys, 0xffff0000u);
    EXPECT_EQ(t[3].flags, kMemReadonly);
    EXPECT_EQ(t[3].host_addr, reinterpret_cast<uint64_t>(m.rom->ram_block()->host()));
}

TEST_F(Fixture, TopologyChangesKeepTheTableEqualToTheView) {
    MemoryRegion& bank = sys.create_ram("bank", 0x20000);
    MemoryRegion& window = sys.create_alias("win", bank, 0, 0x10000);
    m.windows.at("bank-window")->set_enabled(false);
    m.system->add_subregion_overlap(0xe0000000, window, 1);
    check();
    for (uint64_t off : {0x10000ull, 0x0ull, 0x8000ull}) {
        window.set_alias_offset(off);
        check();
    }
    window.set_address(0xe0100000);
    check();
    window.set_readonly(true);
    check();
    EXPECT_EQ(vm.slots.size(), slots.table().size());
    m.system->del_subregion(window);
    check();
}

TEST_F(Fixture, RomDeviceHasSlotOnlyInRomdMode) {
    FunctionOps ops([](uint64_t, unsigned) { return 0; }, nullptr);
    MemoryRegion& flash = sys.create_rom_device("flash", 0x10000, ops);
    m.system->add_subregion(0xfe000000, flash);
    check();
    EXPECT_EQ(slots.slots().count(0xfe000000), 1u);
    flash.set_romd(false);
    check();
    EXPECT_EQ(slots.slots().count(0xfe000000), 0u);
    flash.set_romd(true);
    check();
}

TEST_F(Fixture, UnalignedEdgesAreTrimmedToPages) {
    // Offset 0x800 of the backing shows at 0xfe000800: guest and host pages
    // line up, and the whole pages 0xfe001000-0xfe002fff become the slot.
    MemoryRegion& backing = sys.create_ram("backing", 0x4000);
    MemoryRegion& odd = sys.create_alias("odd", backing, 0x800, 0x3000);
    m.system->add_subregion(0xfe000800, odd);
    check();
    auto it = slots.slots().find(0xfe001000);
    ASSERT_NE(it, slots.slots().end());
    EXPECT_EQ(it->second.spec.size, 0x2000u);
    EXPECT_EQ(it->second.offset_in_region, 0x1000u);
    EXPECT_EQ(it->second.spec.host_addr, reinterpret_cast<uint64_t>(backing.ram_block()->host() + 0x1000));
}

TEST_F(Fixture, RangeWhosePagesDoNotLineUpWithHostPagesGetsNoSlot) {
    MemoryRegion& odd = sys.create_ram("odd", 0x3000);  // host page-aligned at offset 0
    m.system->add_subregion(0xfe000800, odd);           // but guest offset 0 is mid-page
    check();
    for (const MemslotSpec& s : slots.table()) EXPECT_NE(s.guest_phys & 0xfffff000, 0xfe000000u);
    EXPECT_EQ(slots.table().size(), 4u);
}

TEST_F(Fixture, LogStartAndStopFlipTheFlagInPlaceAndHarvestFirst) {
    m.ram->set_dirty_log(kDirtyLogVga, true);
    check();
    const size_t calls = vm.calls.size();
    for (const auto& [gpa, s] : slots.slots())
        if (s.mr == m.ram) {
            EXPECT_TRUE(s.spec.flags & kMemLogDirtyPages);
        }
    vm.mark_dirty(0x5000);
    vm.mark_dirty(0x200000);
    m.ram->set_dirty_log(kDirtyLogVga, false);
    check();
    // Both RAM slots (below and above the BIOS alias) changed their flags in
    // place, no delete and add, each harvested first.
    EXPECT_EQ(vm.calls.size(), calls + 2);
    uint64_t pages = 0;
    std::vector<uint64_t> addrs;
    for (const auto& b : harvested) {
        pages += b.count();
        for (uint64_t a : b.page_addresses()) addrs.push_back(a);
    }
    EXPECT_EQ(pages, 2u);
    std::sort(addrs.begin(), addrs.end());
    EXPECT_EQ(addrs, (std::vector<uint64_t>{0x5000, 0x200000}));
}

TEST_F(Fixture, DeletingALoggingSlotHarvestsItFirst) {
    MemoryRegion& fb = sys.create_ram("fb", 0x10000);
    fb.set_dirty_log(kDirtyLogVga, true);
    m.system->add_subregion(0xfd000000, fb);
    vm.mark_dirty(0xfd003000);
    harvested.clear();
    m.system->del_subregion(fb);
    check();
    ASSERT_EQ(harvested.size(), 1u);
    EXPECT_EQ(harvested[0].page_addresses(), std::vector<uint64_t>{0xfd003000});
}

TEST_F(Fixture, GlobalLoggingAndHarvestClearsWithManualProtect) {
    slots.set_global_dirty_log(true);
    check();
    vm.mark_dirty(0x1000);
    harvested.clear();
    const int gets_before = vm.get_calls;
    slots.harvest();
    // One bitmap per writable slot; the ROM's read-only slots are not read.
    size_t writable = 0;
    for (const MemslotSpec& t : slots.table()) writable += !(t.flags & kMemReadonly);
    EXPECT_EQ(harvested.size(), writable);
    EXPECT_EQ(vm.get_calls - gets_before, static_cast<int>(writable));
    EXPECT_LT(writable, slots.table().size());
    uint64_t total = 0;
    for (auto& b : harvested) total += b.count();
    EXPECT_EQ(total, 1u);
    EXPECT_GE(vm.clear_calls, 1);
    harvested.clear();
    slots.harvest();  // cleared: nothing new
    total = 0;
    for (auto& b : harvested) total += b.count();
    EXPECT_EQ(total, 0u);
    slots.set_global_dirty_log(false);
    check();
}

// A device's DMA goes through dispatch into the slot's host memory, where
// the VM's own log cannot see it: the listener marks it for the next
// harvest, and tells the VM (an emulator forgets code translated there).
TEST_F(Fixture, RamWrittenThroughDispatchIsDirtyInTheNextHarvestAndTheVmIsTold) {
    slots.set_global_dirty_log(true);
    harvested.clear();
    slots.harvest();
    harvested.clear();
    const std::vector<uint8_t> bytes(32, 0x5a);
    ASSERT_EQ(m.memory->write_bytes(Gpa(0x5ff0), bytes), AccessStatus::Ok);  // across two pages
    vm.mark_dirty(0x9000);                                                    // and one the guest wrote
    EXPECT_EQ(vm.written, (std::vector<std::pair<uint64_t, uint64_t>>{{0x5ff0, 32}}));
    // A read-only range drops the write: nothing to mark, nothing to tell.
    const FlatRange* rom = nullptr;
    for (const FlatRange& fr : m.memory->view()->ranges())
        if (fr.readonly && fr.mr->kind() == MemoryRegion::Kind::Rom) rom = &fr;
    ASSERT_NE(rom, nullptr);
    ASSERT_EQ(m.memory->write_bytes(Gpa(rom->range.start()), bytes), AccessStatus::Ok);
    EXPECT_EQ(vm.written.size(), 1u);
    slots.harvest();
    std::vector<uint64_t> pages;
    for (const DirtyBitmap& b : harvested)
        for (uint64_t a : b.page_addresses()) pages.push_back(a);
    EXPECT_EQ(pages, (std::vector<uint64_t>{0x5000, 0x6000, 0x9000}));
    harvested.clear();
    slots.harvest();  // marked once: gone with the harvest that reported it
    uint64_t total = 0;
    for (const DirtyBitmap& b : harvested) total += b.count();
    EXPECT_EQ(total, 0u);
    // Without logging nothing is marked, but the VM is still told.
    slots.set_global_dirty_log(false);
    ASSERT_EQ(m.memory->write_bytes(Gpa(0x7000), bytes), AccessStatus::Ok);
    EXPECT_EQ(vm.written.size(), 2u);
    harvested.clear();
    slots.set_global_dirty_log(true);
    slots.harvest();
    total = 0;
    for (const DirtyBitmap& b : harvested) total += b.count();
    EXPECT_EQ(total, 0u);
}

TEST_F(Fixture, AHarvestSaysWhenTheVmMayHaveLostDirtyPages) {
    slots.set_global_dirty_log(true);
    slots.harvest();
    vm.lost = "the ring overflowed";
    try {
        slots.harvest();
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "the ring overflowed");
    }
    // Tearing the slots down harvests too, and must not throw.
    EXPECT_NO_THROW(m.memory->remove_listener(slots));
}

TEST(MemslotListenerTest, FullSlotTableIsAnErrorNamingTheRange) {
    MemorySystem sys;
    FakeVm vm(2);
    MemslotListener slots(vm);
    MemoryRegion& root = sys.create_container("root", 1ull << 32);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    as.add_listener(slots);
    root.add_subregion(0, sys.create_ram("a", 0x1000));
    root.add_subregion(0x10000, sys.create_ram("b", 0x1000));
    try {
        root.add_subregion(0x20000, sys.create_ram("c", 0x1000));
        FAIL() << "expected an error";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("memslot table full"), std::string::npos) << msg;
        EXPECT_NE(msg.find("0x20000-0x20fff"), std::string::npos) << msg;
        EXPECT_NE(msg.find("'c'"), std::string::npos) << msg;
    }
    EXPECT_EQ(vm.slots.size(), 2u);
}

TEST(MemslotListenerTest, SlotIdsAreReused) {
    MemorySystem sys;
    FakeVm vm(4);
    MemslotListener slots(vm);
    MemoryRegion& root = sys.create_container("root", 1ull << 32);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    as.add_listener(slots);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    for (int i = 0; i < 20; ++i) {
        root.add_subregion(0x1000u * static_cast<uint64_t>(i), a);
        root.del_subregion(a);
    }
    EXPECT_TRUE(vm.slots.empty());
    EXPECT_EQ(slots.slot_changes(), 40u);
}

}  // namespace
}  // namespace kvmrr
