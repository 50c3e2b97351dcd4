// The rule by which Auto chooses an accelerator, given what the host offers.
#include "vmm/accel.h"

#include <gtest/gtest.h>

namespace kvmrr {
namespace {

TEST(ChooseAccel, AutoTakesKvmWhereItWorksAndTheEmulatorWhereItDoesNot) {
    for (Board b : {Board::Kvmrr, Board::Pc}) {
        const AccelChoice kvm = choose_accel(Accel::Auto, b, false, "", false);
        EXPECT_EQ(kvm.accel, Accel::Kvm);
        EXPECT_EQ(kvm.fallback_reason, "");
        const AccelChoice none = choose_accel(Accel::Auto, b, false, "/dev/kvm: No such file or directory", false);
        EXPECT_EQ(none.accel, Accel::Emu);
        EXPECT_EQ(none.fallback_reason, "/dev/kvm: No such file or directory");
    }
}

TEST(ChooseAccel, OnKvmPvmAutoRunsThePcBoardOnTheEmulatorAndKvmrrsOwnOnKvm) {
    const AccelChoice pc = choose_accel(Accel::Auto, Board::Pc, false, "", true);
    EXPECT_EQ(pc.accel, Accel::Emu);
    EXPECT_NE(pc.fallback_reason.find("kvm-pvm"), std::string::npos) << pc.fallback_reason;
    const AccelChoice own = choose_accel(Accel::Auto, Board::Kvmrr, false, "", true);
    EXPECT_EQ(own.accel, Accel::Kvm);
    EXPECT_EQ(own.fallback_reason, "");
}

// kvm-pvm shows its guests the host's CPUID: a --deterministic-cpu run of
// either board takes the emulator there, and KVM elsewhere.
TEST(ChooseAccel, OnKvmPvmAutoRunsADeterministicCpuOnTheEmulator) {
    for (Board b : {Board::Kvmrr, Board::Pc}) {
        const AccelChoice pvm = choose_accel(Accel::Auto, b, true, "", true);
        EXPECT_EQ(pvm.accel, Accel::Emu);
        EXPECT_NE(pvm.fallback_reason.find("kvm-pvm"), std::string::npos) << pvm.fallback_reason;
        const AccelChoice kvm = choose_accel(Accel::Auto, b, true, "", false);
        EXPECT_EQ(kvm.accel, Accel::Kvm);
    }
    EXPECT_NE(choose_accel(Accel::Auto, Board::Kvmrr, true, "", true).fallback_reason.find("--deterministic-cpu"),
              std::string::npos);
}

TEST(ChooseAccel, AnAcceleratorAskedForIsKeptWhateverTheHost) {
    for (Accel a : {Accel::Kvm, Accel::Emu}) {
        const AccelChoice c = choose_accel(a, Board::Pc, true, "/dev/kvm: Permission denied", true);
        EXPECT_EQ(c.accel, a);
        EXPECT_EQ(c.fallback_reason, "");
    }
}

}  // namespace
}  // namespace kvmrr
