// EmuVm's memslot rules (KVM's, as in core/vcpu/tests/fake_vm.h) and its
// dirty log; the accesses themselves are in emu_vcpu_test.cc.
#include "core/emu/emu_vm.h"

#include <gtest/gtest.h>

#include "core/emu/tests/emu_test_guest.h"
#include "core/error.h"

namespace kvmrr {
namespace {

using testing::HostPages;

void expect_error(const std::function<void()>& f, const std::string& part) {
    try {
        f();
        ADD_FAILURE() << "no error; expected one containing '" << part << "'";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
}

TEST(EmuVm, KeepsKvmsSlotRules) {
    EmuVm vm;
    HostPages mem(1 << 20);
    EXPECT_EQ(vm.max_memslots(), 509u);
    EXPECT_FALSE(vm.manual_dirty_log_protect());
    vm.set_user_memory_region({3, 0, 0x100000, 0x10000, mem.addr()});
    expect_error([&] { vm.set_user_memory_region({4, 0, 0x108000, 0x10000, mem.addr()}); }, "overlaps slot 3");
    expect_error([&] { vm.set_user_memory_region({509, 0, 0x400000, 0x1000, mem.addr()}); }, "slot id out of range");
    expect_error([&] { vm.set_user_memory_region({5, 0, 0x400800, 0x1000, mem.addr()}); }, "multiples of 4 KiB");
    expect_error([&] { vm.set_user_memory_region({5, 0, 0x400000, 0x1000, mem.addr() + 8}); }, "multiples of 4 KiB");
    expect_error([&] { vm.set_user_memory_region({3, 0, 0x200000, 0x10000, mem.addr()}); }, "only its dirty-logging flag");
    expect_error([&] { vm.set_user_memory_region({7, 0, 0, 0, 0}); }, "does not exist");
    expect_error([&] { vm.set_user_memory_region({5, 1u << 5, 0x400000, 0x1000, mem.addr()}); }, "unknown flags");
    // The logging flag may change in place; then the slot has a dirty log.
    uint64_t bits[1] = {~0ull};
    expect_error([&] { vm.get_dirty_log(3, bits); }, "does not log");
    vm.set_user_memory_region({3, kMemLogDirtyPages, 0x100000, 0x10000, mem.addr()});
    vm.get_dirty_log(3, bits);
    EXPECT_EQ(bits[0], 0u);
    expect_error([&] { vm.clear_dirty_log(3, 0, 16, bits); }, "manual dirty-log protection is not enabled");
    // Deleted, the place is free again.
    vm.set_user_memory_region({3, 0, 0x100000, 0, 0});
    vm.set_user_memory_region({4, kMemReadonly, 0x108000, 0x10000, mem.addr()});
}

TEST(EmuVm, TwoVmsInOneProcessAreIndependent) {
    testing::EmuGuest a, b;
    a.start_long({0xb0, 0x11, 0xe6, 0x80, 0xf4});  // mov al, 0x11; out 0x80, al; hlt
    b.start_long({0xb0, 0x22, 0xe6, 0x80, 0xf4});
    ASSERT_EQ(a.next_exit(), ExitKind::Io);
    ASSERT_EQ(b.next_exit(), ExitKind::Io);
    EXPECT_EQ(a.io_data()[0], 0x11);
    EXPECT_EQ(b.io_data()[0], 0x22);
    EXPECT_EQ(b.next_exit(), ExitKind::Hlt);
    EXPECT_EQ(a.next_exit(), ExitKind::Hlt);
}

}  // namespace
}  // namespace kvmrr
