// The rule by which Auto chooses an accelerator, given what the host offers.
#include "vmm/accel.h"

#include <gtest/gtest.h>

namespace kvmrr {
namespace {

TEST(ChooseAccel, AutoTakesKvmWhereItWorksAndTheEmulatorWhereItDoesNot) {
    for (Board b : {Board::Kvmrr, Board::Pc}) {
        const AccelChoice kvm = choose_accel(Accel::Auto, b, "", false);
        EXPECT_EQ(kvm.accel, Accel::Kvm);
        EXPECT_EQ(kvm.fallback_reason, "");
        const AccelChoice none = choose_accel(Accel::Auto, b, "/dev/kvm: No such file or directory", false);
        EXPECT_EQ(none.accel, Accel::Emu);
        EXPECT_EQ(none.fallback_reason, "/dev/kvm: No such file or directory");
    }
}

TEST(ChooseAccel, OnKvmPvmAutoRunsThePcBoardOnTheEmulatorAndKvmrrsOwnOnKvm) {
    const AccelChoice pc = choose_accel(Accel::Auto, Board::Pc, "", true);
    EXPECT_EQ(pc.accel, Accel::Emu);
    EXPECT_NE(pc.fallback_reason.find("kvm-pvm"), std::string::npos) << pc.fallback_reason;
    const AccelChoice own = choose_accel(Accel::Auto, Board::Kvmrr, "", true);
    EXPECT_EQ(own.accel, Accel::Kvm);
    EXPECT_EQ(own.fallback_reason, "");
}

TEST(ChooseAccel, AnAcceleratorAskedForIsKeptWhateverTheHost) {
    for (Accel a : {Accel::Kvm, Accel::Emu}) {
        const AccelChoice c = choose_accel(a, Board::Pc, "/dev/kvm: Permission denied", true);
        EXPECT_EQ(c.accel, a);
        EXPECT_EQ(c.fallback_reason, "");
    }
}

}  // namespace
}  // namespace kvmrr
