// Unit tests for core/memory_system.h: transactions and selective
// re-rendering. Listeners, several systems and where a commit re-renders:
// memory_system_listener_test.cc.
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

// ---------------------------------------------------------------------------
// Transactions

TEST(Transactions, BeginCommitNest) {
    MemorySystem sys;
    EXPECT_EQ(sys.transaction_depth(), 0);
    sys.begin();
    EXPECT_EQ(sys.transaction_depth(), 1);
    sys.begin();
    EXPECT_EQ(sys.transaction_depth(), 2);
    sys.commit();
    EXPECT_EQ(sys.transaction_depth(), 1);
    sys.commit();
    EXPECT_EQ(sys.transaction_depth(), 0);
}

TEST(Transactions, CommitWithoutBeginThrows) {
    MemorySystem sys;
    EXPECT_THROW(sys.commit(), Error);
    EXPECT_EQ(sys.transaction_depth(), 0);
    sys.begin();
    sys.commit();
    EXPECT_THROW(sys.commit(), Error);
    EXPECT_EQ(sys.transaction_depth(), 0);
}

TEST(Transactions, InitialRenderOnCreation) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    root.add_subregion(0x2000, ram);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    ASSERT_NE(as.view(), nullptr);
    ASSERT_EQ(as.view()->size(), 1u);
    EXPECT_EQ(as.view()->ranges()[0].mr, &ram);
    EXPECT_EQ(as.view()->ranges()[0].range.start(), 0x2000u);
    EXPECT_EQ(&as.root(), &root);
    EXPECT_EQ(&as.system(), &sys);
    ASSERT_EQ(sys.address_spaces().size(), 1u);
    EXPECT_EQ(sys.address_spaces()[0].get(), &as);
}

TEST(Transactions, ChangeOutsideTransactionRendersImmediately) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    const uint64_t n = as.render_count();

    root.add_subregion(0x1000, ram);
    EXPECT_EQ(as.render_count(), n + 1);
    ASSERT_EQ(as.view()->size(), 1u);
    EXPECT_EQ(as.view()->ranges()[0].range.start(), 0x1000u);

    ram.set_address(0x3000);
    EXPECT_EQ(as.render_count(), n + 2);
    EXPECT_EQ(as.view()->ranges()[0].range.start(), 0x3000u);

    ram.set_enabled(false);
    EXPECT_EQ(as.render_count(), n + 3);
    EXPECT_EQ(as.view()->size(), 0u);

    ram.set_enabled(true);
    ram.set_readonly(true);
    EXPECT_EQ(as.render_count(), n + 5);
    EXPECT_TRUE(as.view()->ranges()[0].readonly);
}

TEST(Transactions, SeveralChangesRenderOnceAtOutermostCommit) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    const uint64_t n = as.render_count();
    auto before = as.view();

    sys.begin();
    root.add_subregion(0x0000, a);
    sys.begin();
    root.add_subregion(0x4000, b);
    a.set_address(0x1000);
    sys.commit();  // inner: nothing yet
    EXPECT_EQ(as.render_count(), n);
    EXPECT_EQ(as.view(), before);
    EXPECT_EQ(as.view()->size(), 0u);
    b.set_readonly(true);
    EXPECT_EQ(as.render_count(), n);
    sys.commit();  // outermost
    EXPECT_EQ(as.render_count(), n + 1);
    ASSERT_EQ(as.view()->size(), 2u);
    EXPECT_EQ(as.view()->ranges()[0].mr, &a);
    EXPECT_EQ(as.view()->ranges()[0].range.start(), 0x1000u);
    EXPECT_EQ(as.view()->ranges()[1].mr, &b);
    EXPECT_TRUE(as.view()->ranges()[1].readonly);
}

TEST(Transactions, EmptyTransactionRendersNothing) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    const uint64_t n = as.render_count();
    sys.begin();
    sys.commit();
    EXPECT_EQ(as.render_count(), n);
}

TEST(Transactions, RaiiTransaction) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    const uint64_t n = as.render_count();
    {
        Transaction t(sys);
        EXPECT_EQ(sys.transaction_depth(), 1);
        root.add_subregion(0, a);
        {
            Transaction inner(sys);
            EXPECT_EQ(sys.transaction_depth(), 2);
            root.add_subregion(0x1000, b);
        }
        EXPECT_EQ(sys.transaction_depth(), 1);
        EXPECT_EQ(as.render_count(), n);
    }
    EXPECT_EQ(sys.transaction_depth(), 0);
    EXPECT_EQ(as.render_count(), n + 1);
    EXPECT_EQ(as.view()->size(), 2u);
}

TEST(Transactions, RaiiTransactionCommitsWhenLeftByException) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    const uint64_t n = as.render_count();
    try {
        Transaction t(sys);
        root.add_subregion(0, a);
        root.add_subregion(0x800, b);  // collides with a: throws
        FAIL() << "collision not detected";
    } catch (const Error&) {
    }
    EXPECT_EQ(sys.transaction_depth(), 0);
    EXPECT_EQ(as.render_count(), n + 1);
    ASSERT_EQ(as.view()->size(), 1u);
    EXPECT_EQ(as.view()->ranges()[0].mr, &a);
    EXPECT_EQ(b.parent(), nullptr);

    try {
        Transaction t(sys);
        a.set_address(0x4000);
        throw std::runtime_error("boom");
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "boom");
    }
    EXPECT_EQ(sys.transaction_depth(), 0);
    EXPECT_EQ(as.render_count(), n + 2);
    EXPECT_EQ(as.view()->ranges()[0].range.start(), 0x4000u);
}

// A listener that refuses a view (KVM out of memslots, say): commit()
// throws its error; a transaction left by another exception swallows it.
TEST(Transactions, CommitThrowsAListenersErrorButTheDestructorNever) {
    struct Refuser final : MemoryListener {
        bool armed = false;
        void commit() override {
            if (armed) throw Error("refused");
        }
    } refuser;
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    as.add_listener(refuser);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    refuser.armed = true;
    {
        Transaction t(sys);
        root.add_subregion(0, a);
        EXPECT_THROW(t.commit(), Error);
    }
    EXPECT_EQ(sys.transaction_depth(), 0);
    try {
        Transaction t(sys);
        a.set_address(0x4000);
        throw std::runtime_error("first");
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "first");  // not "refused"
    }
    EXPECT_EQ(sys.transaction_depth(), 0);
    refuser.armed = false;
    as.remove_listener(refuser);
}

TEST(Transactions, FailedChangeOutsideTransactionLeavesNoOpenTransaction) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    MemoryRegion& a = sys.create_ram("a", 0x1000);
    MemoryRegion& b = sys.create_ram("b", 0x1000);
    root.add_subregion(0, a);
    const uint64_t n = as.render_count();
    EXPECT_THROW(root.add_subregion(0x800, b), Error);
    EXPECT_EQ(sys.transaction_depth(), 0);  // no transaction left open
    EXPECT_LE(as.render_count(), n + 1);
    EXPECT_EQ(as.view()->size(), 1u);
    // The system still works.
    root.add_subregion(0x1000, b);
    EXPECT_EQ(as.view()->size(), 2u);
}

TEST(Transactions, DestroyInsideTransactionKeepsOldViewUsableUntilCommit) {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    MemoryRegion& keep = sys.create_ram("keep", 0x1000);
    root.add_subregion(0x0000, ram);
    root.add_subregion(0x1000, keep);
    ram.ram_block()->host()[0x10] = 0x42;
    std::vector<std::string> log;
    Recorder r("", log);
    as.add_listener(r);
    log.clear();
    const size_t regions = sys.region_count();
    {
        Transaction t(sys);
        root.del_subregion(ram);
        sys.destroy(ram);
        // The view of the last commit still shows the region; dispatch
        // through it must still work.
        AccessResult old = as.read(Gpa(0x10), 1);
        EXPECT_EQ(old.status, AccessStatus::Ok);
        EXPECT_EQ(old.value, 0x42u);
    }
    EXPECT_EQ(sys.region_count(), regions - 1);
    EXPECT_EQ(sys.ram_blocks().size(), 1u);
    EXPECT_EQ(as.read(Gpa(0x10), 1).status, AccessStatus::Unassigned);
    ASSERT_EQ(as.view()->size(), 1u);
    EXPECT_EQ(as.view()->ranges()[0].mr, &keep);
    // Listeners were told about the removal (and could look at the region).
    EXPECT_EQ(log, (Lines{"begin", "del [0x0,0x1000) ram off=0x0", "nop [0x1000,0x2000) keep off=0x0", "commit"}));
}

// ---------------------------------------------------------------------------
// Selective re-rendering

struct TwoSpaces : ::testing::Test {
    MemorySystem sys;
    MemoryRegion& ra = sys.create_container("root-a", 0x100000);
    MemoryRegion& rb = sys.create_container("root-b", 0x100000);
    MemoryAddressSpace& A = sys.create_memory_space("A", ra);
    MemoryAddressSpace& B = sys.create_memory_space("B", rb);
};

TEST_F(TwoSpaces, CommitRerendersOnlyChangedSpace) {
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    const uint64_t na = A.render_count();
    const uint64_t nb = B.render_count();
    ra.add_subregion(0, ram);
    EXPECT_EQ(A.render_count(), na + 1);
    EXPECT_EQ(B.render_count(), nb);

    MemoryRegion& ram2 = sys.create_ram("ram2", 0x1000);
    {
        Transaction t(sys);
        rb.add_subregion(0, ram2);
        ram2.set_address(0x2000);
    }
    EXPECT_EQ(A.render_count(), na + 1);
    EXPECT_EQ(B.render_count(), nb + 1);

    {
        Transaction t(sys);
        ram.set_address(0x8000);
        ram2.set_address(0x9000);
    }
    EXPECT_EQ(A.render_count(), na + 2);
    EXPECT_EQ(B.render_count(), nb + 2);
}

TEST_F(TwoSpaces, ChangesToDetachedRegionsRenderNothing) {
    const uint64_t na = A.render_count();
    const uint64_t nb = B.render_count();
    MemoryRegion& c = sys.create_container("loose", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x1000);
    c.add_subregion(0, ram);
    ram.set_address(0x1000);
    ram.set_readonly(true);
    c.set_enabled(false);
    EXPECT_EQ(A.render_count(), na);
    EXPECT_EQ(B.render_count(), nb);
}

TEST_F(TwoSpaces, AliasIntoOtherTreeRerendersBoth) {
    // B: rb > sub > (ram-b), and rb > other. A: ra > alias -> sub.
    MemoryRegion& sub = sys.create_container("sub", 0x10000);
    MemoryRegion& inner = sys.create_container("inner", 0x4000);
    MemoryRegion& other = sys.create_container("other", 0x10000);
    MemoryRegion& al = sys.create_alias("alias-to-sub", sub, 0, 0x10000);
    {
        Transaction t(sys);
        rb.add_subregion(0x00000, sub);
        rb.add_subregion(0x20000, other);
        sub.add_subregion(0x4000, inner);
        ra.add_subregion(0x50000, al);
    }
    uint64_t na = A.render_count();
    uint64_t nb = B.render_count();

    // A change deep inside B's aliased subtree re-renders A as well.
    MemoryRegion& ram_b = sys.create_ram("ram-b", 0x1000);
    inner.add_subregion(0x1000, ram_b);
    EXPECT_EQ(B.render_count(), nb + 1);
    EXPECT_EQ(A.render_count(), na + 1);
    ASSERT_EQ(A.view()->size(), 1u);
    EXPECT_EQ(A.view()->ranges()[0].mr, &ram_b);
    EXPECT_EQ(A.view()->ranges()[0].range.start(), 0x55000u);
    ASSERT_EQ(B.view()->size(), 1u);
    EXPECT_EQ(B.view()->ranges()[0].range.start(), 0x5000u);

    ram_b.set_enabled(false);
    EXPECT_EQ(B.render_count(), nb + 2);
    EXPECT_EQ(A.render_count(), na + 2);
    EXPECT_EQ(A.view()->size(), 0u);

    // A change in B's tree outside the aliased subtree leaves A alone.
    MemoryRegion& ram_o = sys.create_ram("ram-o", 0x1000);
    other.add_subregion(0, ram_o);
    EXPECT_EQ(B.render_count(), nb + 3);
    EXPECT_EQ(A.render_count(), na + 2);

    // A change to the alias itself touches A only.
    al.set_alias_offset(0x1000);
    EXPECT_EQ(A.render_count(), na + 3);
    EXPECT_EQ(B.render_count(), nb + 3);

    // Both spaces changed in one transaction: each renders once.
    {
        Transaction t(sys);
        ram_b.set_enabled(true);
        ram_b.set_address(0x2000);
        al.set_address(0x60000);
    }
    EXPECT_EQ(A.render_count(), na + 4);
    EXPECT_EQ(B.render_count(), nb + 4);
    ASSERT_EQ(A.view()->size(), 1u);
    EXPECT_EQ(A.view()->ranges()[0].range.start(), 0x60000u + 0x4000 + 0x2000 - 0x1000);
}

TEST_F(TwoSpaces, AliasOfAliasChainPropagates) {
    // A: ra > a1 -> a2 -> ram (ram lives in B's tree).
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& a2 = sys.create_alias("a2", ram, 0, 0x4000);
    MemoryRegion& a1 = sys.create_alias("a1", a2, 0, 0x4000);
    rb.add_subregion(0, ram);
    ra.add_subregion(0x10000, a1);
    const uint64_t na = A.render_count();
    const uint64_t nb = B.render_count();
    ram.set_readonly(true);
    EXPECT_EQ(A.render_count(), na + 1);
    EXPECT_EQ(B.render_count(), nb + 1);
    ASSERT_EQ(A.view()->size(), 1u);
    EXPECT_TRUE(A.view()->ranges()[0].readonly);
    a2.set_alias_offset(0x1000);  // a2 is in no tree but reached from A
    EXPECT_EQ(A.render_count(), na + 2);
    EXPECT_EQ(B.render_count(), nb + 1);
    EXPECT_EQ(A.view()->ranges()[0].offset_in_region, 0x1000u);
}

// ---------------------------------------------------------------------------

}  // namespace
}  // namespace kvmrr
