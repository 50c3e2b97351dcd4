// Unit tests for core/memory_system.h: what memory listeners are told,
// the independence of several MemorySystems, and a commit re-rendering
// only where its changes lie.
#include "core/memory_system.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/address_space.h"
#include "core/error.h"
#include "core/flat_view.h"
#include "core/memory_listener.h"
#include "core/memory_region.h"
#include "core/tests/memory_system_test_util.h"

namespace kvmrr {
namespace {

using namespace test;

// Listeners

struct ListenerTest : ::testing::Test {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x100000);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    std::vector<std::string> log;
};

TEST_F(ListenerTest, LateListenerGetsCurrentViewAsAdds) {
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x2000);
    MemoryRegion& al = sys.create_alias("al", b, 0x200, 0x100);
    {
        Transaction t(sys);
        root.add_subregion(0x3000, b);
        root.add_subregion(0x1000, a);
        root.add_subregion(0x8000, al);
    }
    al.set_readonly(true);
    Recorder r("", log);
    r.expected_as = &as;
    as.add_listener(r);
    EXPECT_EQ(only(log, {"add", "del", "nop", "log"}), (Lines{
                                                          "add [0x1000,0x2000) a off=0x0",
                                                          "add [0x3000,0x5000) b off=0x0",
                                                          "add [0x8000,0x8100) b off=0x200 ro",
                                                      }));
}

TEST_F(ListenerTest, BeginCommitBracketDelBeforeAddNopForUnchanged) {
    MemoryRegion& keep = sys.create_ram("keep", 0x1000);
    MemoryRegion& old_r = sys.create_ram("old", 0x1000);
    MemoryRegion& new_r = sys.create_ram("new", 0x1000);
    {
        Transaction t(sys);
        root.add_subregion(0x4000, keep);
        root.add_subregion(0x8000, old_r);
    }
    Recorder r("", log);
    r.expected_as = &as;
    as.add_listener(r);
    log.clear();
    {
        Transaction t(sys);
        root.del_subregion(old_r);
        root.add_subregion(0x0000, new_r);  // below the removed range
    }
    EXPECT_EQ(log, (Lines{
                       "begin",
                       "del [0x8000,0x9000) old off=0x0",
                       "add [0x0,0x1000) new off=0x0",
                       "nop [0x4000,0x5000) keep off=0x0",
                       "commit",
                   }));
}

TEST_F(ListenerTest, MovedRegionIsDelThenAdd) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0x1000, ram);
    Recorder r("", log);
    as.add_listener(r);
    log.clear();
    ram.set_address(0x6000);
    EXPECT_EQ(log, (Lines{
                       "begin",
                       "del [0x1000,0x2000) ram off=0x0",
                       "add [0x6000,0x7000) ram off=0x0",
                       "commit",
                   }));
}

TEST_F(ListenerTest, SplitRangeIsDelThenAdds) {
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& dev_r = sys.create_reservation("resv", 0x1000);
    root.add_subregion(0, ram);
    Recorder r("", log);
    as.add_listener(r);
    log.clear();
    ram.add_subregion(0x1000, dev_r);
    EXPECT_EQ(log, (Lines{
                       "begin",
                       "del [0x0,0x4000) ram off=0x0",
                       "add [0x0,0x1000) ram off=0x0",
                       "add [0x1000,0x2000) resv off=0x0",
                       "add [0x2000,0x4000) ram off=0x2000",
                       "commit",
                   }));
}

TEST_F(ListenerTest, AttributeChangeIsDelThenAdd) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, ram);
    Recorder r("", log);
    as.add_listener(r);
    log.clear();
    ram.set_readonly(true);
    EXPECT_EQ(log, (Lines{
                       "begin",
                       "del [0x0,0x1000) ram off=0x0",
                       "add [0x0,0x1000) ram off=0x0 ro",
                       "commit",
                   }));
}

TEST_F(ListenerTest, DirtyLogMaskChangeIsLogStartStop) {
    MemoryRegion& ram = sys.create_ram("vram", 0x2000);
    root.add_subregion(0xa0000, ram);
    Recorder r("", log);
    r.expected_as = &as;
    as.add_listener(r);
    log.clear();

    ram.set_dirty_log(kDirtyLogVga, true);
    EXPECT_EQ(without(log, "nop"), (Lines{
                                       "begin",
                                       "log_start [0xa0000,0xa2000) vram off=0x0 old=0 new=1",
                                       "commit",
                                   }));
    log.clear();
    ram.set_dirty_log(kDirtyLogRecord, true);
    EXPECT_EQ(without(log, "nop"), (Lines{
                                       "begin",
                                       "log_start [0xa0000,0xa2000) vram off=0x0 old=1 new=5",
                                       "commit",
                                   }));
    log.clear();
    ram.set_dirty_log(kDirtyLogVga, false);
    EXPECT_EQ(without(log, "nop"), (Lines{
                                       "begin",
                                       "log_stop [0xa0000,0xa2000) vram off=0x0 old=5 new=4",
                                       "commit",
                                   }));
    log.clear();
    ram.set_dirty_log_mask(0);
    EXPECT_EQ(without(log, "nop"), (Lines{
                                       "begin",
                                       "log_stop [0xa0000,0xa2000) vram off=0x0 old=4 new=0",
                                       "commit",
                                   }));
}

TEST_F(ListenerTest, ListenerOrderForwardForAddReverseForDel) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    Recorder l_hi("hi", log);     // priority 10
    Recorder l_lo("lo", log);     // priority -5
    Recorder l_mid1("mid1", log); // priority 0, registered first
    Recorder l_mid2("mid2", log); // priority 0, registered second
    as.add_listener(l_hi, 10);
    as.add_listener(l_mid1, 0);
    as.add_listener(l_lo, -5);
    as.add_listener(l_mid2, 0);
    log.clear();
    root.add_subregion(0x1000, ram);
    EXPECT_EQ(only(log, {"lo add", "mid1 add", "mid2 add", "hi add"}), (Lines{
                                                                           "lo add [0x1000,0x2000) ram off=0x0",
                                                                           "mid1 add [0x1000,0x2000) ram off=0x0",
                                                                           "mid2 add [0x1000,0x2000) ram off=0x0",
                                                                           "hi add [0x1000,0x2000) ram off=0x0",
                                                                       }));
    log.clear();
    root.del_subregion(ram);
    EXPECT_EQ(only(log, {"lo del", "mid1 del", "mid2 del", "hi del"}), (Lines{
                                                                           "hi del [0x1000,0x2000) ram off=0x0",
                                                                           "mid2 del [0x1000,0x2000) ram off=0x0",
                                                                           "mid1 del [0x1000,0x2000) ram off=0x0",
                                                                           "lo del [0x1000,0x2000) ram off=0x0",
                                                                       }));
    // Every listener saw begin before and commit after its own events.
    for (const char* tag : {"hi", "mid1", "mid2", "lo"}) {
        std::vector<std::string> mine;
        for (auto& s : log)
            if (s.rfind(std::string(tag) + " ", 0) == 0) mine.push_back(s.substr(std::string(tag).size() + 1));
        EXPECT_EQ(mine, (Lines{"begin", "del [0x1000,0x2000) ram off=0x0", "commit"})) << tag;
    }
}

TEST_F(ListenerTest, SectionFields) {
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& al = sys.create_alias("al", ram, 0x1000, 0x800);
    root.add_subregion(0x20000, al);
    al.set_nonvolatile(true);
    ram.set_dirty_log(kDirtyLogMigration, true);
    struct Grab : MemoryListener {
        std::vector<MemoryRegionSection> adds;
        void region_add(const MemoryRegionSection& s) override { adds.push_back(s); }
    } g;
    as.add_listener(g);
    ASSERT_EQ(g.adds.size(), 1u);
    const MemoryRegionSection& s = g.adds[0];
    EXPECT_EQ(s.as, &as);
    EXPECT_EQ(s.mr, &ram);
    EXPECT_EQ(s.range, AddrRange::make(0x20000, 0x800));
    EXPECT_EQ(s.offset_within_region, 0x1000u);
    EXPECT_EQ(s.dirty_log_mask, kDirtyLogMigration);
    EXPECT_FALSE(s.readonly);
    EXPECT_TRUE(s.nonvolatile);
}

TEST_F(ListenerTest, RemoveListener) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    Recorder r("", log);
    Recorder stranger("x", log);
    EXPECT_THROW(as.remove_listener(stranger), Error);
    as.add_listener(r);
    as.remove_listener(r);
    EXPECT_THROW(as.remove_listener(r), Error);
    log.clear();
    root.add_subregion(0, ram);
    EXPECT_TRUE(log.empty());
}

TEST_F(ListenerTest, ListenerOfOtherSpaceNotToldAboutChanges) {
    MemoryRegion& other_root = sys.create_container("other-root", 0x10000);
    MemoryAddressSpace& other = sys.create_memory_space("other", other_root);
    Recorder r("", log);
    other.add_listener(r);
    log.clear();
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0, ram);
    EXPECT_EQ(only(log, {"add", "del", "nop", "log"}), Lines{});
}

TEST_F(ListenerTest, TransactionGivesOneBeginCommitPair) {
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    Recorder r("", log);
    as.add_listener(r);
    log.clear();
    {
        Transaction t(sys);
        root.add_subregion(0x0000, a);
        root.add_subregion(0x2000, b);
        b.set_address(0x3000);
        EXPECT_TRUE(log.empty()) << "listeners must not run inside a transaction";
    }
    EXPECT_EQ(log, (Lines{
                       "begin",
                       "add [0x0,0x1000) a off=0x0",
                       "add [0x3000,0x4000) b off=0x0",
                       "commit",
                   }));
}

// ---------------------------------------------------------------------------
// Several systems

TEST(SeveralSystems, IndependentTransactionsAndSpaces) {
    MemorySystem s1;
    MemorySystem s2;
    MemoryRegion& r1 = s1.create_container("root", 0x10000);
    MemoryRegion& r2 = s2.create_container("root", 0x10000);  // same name, other system
    MemoryAddressSpace& as1 = s1.create_memory_space("mem", r1);
    MemoryAddressSpace& as2 = s2.create_memory_space("mem", r2);
    EXPECT_EQ(s1.address_spaces().size(), 1u);
    EXPECT_EQ(s2.address_spaces().size(), 1u);
    MemoryRegion& ram1 = s1.create_ram("ram", 0x1000);
    MemoryRegion& ram2 = s2.create_ram("ram", 0x1000);
    EXPECT_EQ(s1.region_count(), 2u);
    EXPECT_EQ(s2.region_count(), 2u);
    EXPECT_EQ(&ram1.system(), &s1);
    EXPECT_EQ(&ram2.system(), &s2);

    const uint64_t n1 = as1.render_count();
    const uint64_t n2 = as2.render_count();
    s1.begin();
    EXPECT_EQ(s1.transaction_depth(), 1);
    EXPECT_EQ(s2.transaction_depth(), 0);
    r1.add_subregion(0, ram1);
    r2.add_subregion(0, ram2);  // s2 has no open transaction: renders now
    EXPECT_EQ(as1.render_count(), n1);
    EXPECT_EQ(as2.render_count(), n2 + 1);
    EXPECT_EQ(as2.view()->size(), 1u);
    EXPECT_EQ(as1.view()->size(), 0u);
    EXPECT_THROW(s2.commit(), Error);  // s1's transaction is not s2's
    EXPECT_EQ(s1.transaction_depth(), 1);
    s1.commit();
    EXPECT_EQ(as1.render_count(), n1 + 1);
    EXPECT_EQ(as2.render_count(), n2 + 1);
    EXPECT_EQ(as1.view()->size(), 1u);

    // Dispatch in one does not touch the other's memory.
    EXPECT_EQ(as1.write(Gpa(0x10), 0xaa, 1), AccessStatus::Ok);
    EXPECT_EQ(ram1.ram_block()->host()[0x10], 0xaa);
    EXPECT_EQ(ram2.ram_block()->host()[0x10], 0);
    EXPECT_EQ(ram1.ram_block()->id(), 0u);
    EXPECT_EQ(ram2.ram_block()->id(), 0u);
}

// ---------------------------------------------------------------------------
// A commit re-renders only where its changes lie: the changed regions'
// extents, before and after, and wherever an alias shows them; a
// transaction with too many changes renders the whole view.

struct PartialCommits : ::testing::Test {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000000);
    std::vector<MemoryRegion*> leaves;
    MemoryAddressSpace* as = nullptr;
    void SetUp() override {
        Transaction t(sys);
        for (int i = 0; i < 256; ++i) {
            leaves.push_back(&sys.create_ram("ram" + std::to_string(i), 0x1000));
            root.add_subregion(static_cast<uint64_t>(i) * 0x10000, *leaves.back());
        }
        as = &sys.create_memory_space("mem", root);
    }
    void expect_full_render_equal() { EXPECT_TRUE(*as->view() == *FlatView::render(root)); }
};

TEST_F(PartialCommits, OneRegionChangedIsRenderedAlone) {
    const uint64_t full = as->render_count() - as->partial_render_count();
    leaves[17]->set_enabled(false);
    leaves[18]->set_address(0x11000);  // old and new place both re-rendered
    leaves[200]->set_size(0x800);
    {
        Transaction t(sys);
        root.del_subregion(*leaves[3]);
        leaves[4]->set_readonly(true);
        root.add_subregion(0x3000, *leaves[3]);
    }
    EXPECT_EQ(as->partial_render_count(), 4u);
    EXPECT_EQ(as->render_count() - as->partial_render_count(), full);
    expect_full_render_equal();
    EXPECT_EQ(as->view()->size(), 255u);
}

TEST_F(PartialCommits, ChangesSeenThroughAnAliasRenderBothPlaces) {
    // A window onto the second half of ram5, and an alias of that alias.
    MemoryRegion& alias = sys.create_alias("alias", *leaves[5], 0x800, 0x800);
    root.add_subregion(0x8000000, alias);
    MemoryRegion& twice = sys.create_alias("twice", alias, 0x400, 0x400);
    root.add_subregion(0x9000000, twice);
    EXPECT_EQ(as->partial_render_count(), 2u);
    leaves[5]->set_enabled(false);  // shows at 0x50000, 0x8000000 and 0x9000000
    EXPECT_EQ(as->partial_render_count(), 3u);
    expect_full_render_equal();
    EXPECT_EQ(as->view()->lookup(0x8000000), nullptr);
    EXPECT_EQ(as->view()->lookup(0x9000000), nullptr);
    leaves[5]->set_enabled(true);
    expect_full_render_equal();
    ASSERT_NE(as->view()->lookup(0x9000000), nullptr);
    EXPECT_EQ(as->view()->lookup(0x9000000)->mr, leaves[5]);
    // A change outside the window does not show through the alias; the
    // commit is still right.
    MemoryRegion& io = sys.create_reservation("hole", 0x100);
    leaves[5]->add_subregion_overlap(0x100, io, 1);
    expect_full_render_equal();
    // Inside it, it shows in all three places.
    io.set_address(0xc00);
    expect_full_render_equal();
    EXPECT_EQ(as->view()->lookup(0x9000000)->mr, &io);
    EXPECT_EQ(as->partial_render_count(), 6u);
}

// A listener that does not want region_nop hears about the change alone;
// one that wants them still gets one for every range left as it was.
TEST_F(PartialCommits, AListenerWithoutNopsHearsOnlyTheChange) {
    struct Quiet : Recorder {
        using Recorder::Recorder;
        bool wants_region_nop() const override { return false; }
    };
    std::vector<std::string> quiet_log, full_log;
    Quiet quiet("", quiet_log);
    Recorder full("", full_log);
    as->add_listener(quiet);
    as->add_listener(full);
    quiet_log.clear();
    full_log.clear();
    leaves[100]->set_address(0x648000);
    EXPECT_EQ(as->partial_render_count(), 1u);
    expect_full_render_equal();
    EXPECT_EQ(quiet_log, (std::vector<std::string>{"begin", "del [0x640000,0x641000) ram100 off=0x0",
                                                  "add [0x648000,0x649000) ram100 off=0x0", "commit"}));
    EXPECT_EQ(only(full_log, {"nop"}).size(), 255u);
    EXPECT_EQ(without(full_log, "nop"), quiet_log);

    // Nothing but quiet listeners: the same calls.
    as->remove_listener(full);
    quiet_log.clear();
    {
        Transaction t(sys);
        leaves[7]->set_readonly(true);
        leaves[250]->set_enabled(false);
    }
    expect_full_render_equal();
    EXPECT_EQ(quiet_log, (std::vector<std::string>{"begin", "del [0x70000,0x71000) ram7 off=0x0",
                                                  "del [0xfa0000,0xfa1000) ram250 off=0x0",
                                                  "add [0x70000,0x71000) ram7 off=0x0 ro", "commit"}));
}

TEST_F(PartialCommits, ManyChangesInOneTransactionRenderInFull) {
    {
        Transaction t(sys);
        for (MemoryRegion* r : leaves) r->set_readonly(true);
    }
    EXPECT_EQ(as->partial_render_count(), 0u);
    expect_full_render_equal();
    // The next transaction starts with a clean list again.
    leaves[0]->set_readonly(false);
    EXPECT_EQ(as->partial_render_count(), 1u);
    expect_full_render_equal();
}

}  // namespace
}  // namespace kvmrr
