// The pc board's interrupt path with fixture firmware of kvmrr's own
// (fixtures/firmware/timer_irq.S): the PIT's channel 0 through the 8259
// pair and the local APIC in virtual-wire mode, taken in real mode through
// the IVT and in 32-bit protected mode through an IDT, counted by the
// guest, recorded with each clock and replayed both ways. Built twice, like
// the SeaBIOS boot: timer_irq_kvm_test (label kvm) and timer_irq_emu_test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/kvm/kvm.h"
#include "core/kvm/tests/require_kvm.h"
#include "tools/tests/cli_runner.h"

namespace {

namespace fs = std::filesystem;
using kvmrr::test::count_of;
using kvmrr::test::slurp;
using Result = kvmrr::test::CliResult;

Result kvmrr(const std::string& args) { return kvmrr::test::run_kvmrr(KVMRR_BINARY, args); }

const std::string kAccel = KVMRR_TEST_ACCEL;

// The guest's interrupt count and exit status when every tick came once.
constexpr int kTicks = 10;

class TimerIrq : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (kAccel == "kvm")
            if (const std::string why = kvmrr::KvmSystem::unavailable_reason(); !why.empty())
                KVMRR_SKIP_WITHOUT_KVM("needs /dev/kvm: " + why);
        dir_ = fs::current_path() / ("timer-irq-" + std::to_string(getpid()) + "-" + GetParam());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string firmware() const { return std::string(KVMRR_FIRMWARE_DIR) + "/timer_irq_" + GetParam() + ".bin"; }
    // IRQ 0's vector: the 8259's base as the firmware programs it.
    std::string vector() const { return GetParam() == "real" ? "0x8" : "0x20"; }
    std::string banner() const {
        return std::string("timer_irq: ") + (GetParam() == "real" ? "real" : "protected") + " mode, 10 timer interrupts\n";
    }
    Result record(const std::string& clock, const fs::path& trace, const fs::path& log) {
        return kvmrr("record --board pc --firmware " + firmware() + " --accel " + kAccel + " --clock " + clock +
                     " --debugcon " + log.string() + " --timeout 60000 -o " + trace.string());
    }

    fs::path dir_;
};

TEST_P(TimerIrq, CountsTenTicksRecordedAndReplayedWithEachClock) {
    for (const std::string clock : {"host", "virtual"}) {
        SCOPED_TRACE("--clock " + clock);
        const fs::path trace = dir_ / (clock + ".trace"), log = dir_ / (clock + ".log");
        Result r = record(clock, trace, log);
        ASSERT_EQ(r.status, kTicks) << r.out;
        EXPECT_NE(r.out.find("guest exited with status 10"), std::string::npos) << r.out;
        EXPECT_EQ(slurp(log), banner());
        // Every delivery is an event, all of them IRQ 0 at its vector.
        r = kvmrr("dump " + trace.string());
        EXPECT_EQ(count_of(r.out, " interrupt vector " + vector() + " "), size_t{kTicks}) << r.out.substr(0, 4000);
        EXPECT_EQ(count_of(r.out, " interrupt vector "), size_t{kTicks});

        r = kvmrr("replay " + trace.string());
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
        r = kvmrr("replay --guest --accel " + kAccel + " " + trace.string());
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("guest ended by guest-exit with status 10"), std::string::npos) << r.out;
    }
}

// Time as a function of the exit count: the same guest twice is the same
// trace, HLT's jumps to the next deadline included.
TEST_P(TimerIrq, TwoRecordingsWithTheVirtualClockAreTheSameTrace) {
    const fs::path a = dir_ / "a.trace", b = dir_ / "b.trace";
    ASSERT_EQ(record("virtual", a, dir_ / "a.log").status, kTicks);
    ASSERT_EQ(record("virtual", b, dir_ / "b.log").status, kTicks);
    const Result r = kvmrr("diff " + a.string() + " " + b.string());
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("traces match"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Modes, TimerIrq, ::testing::Values("real", "prot"));

}  // namespace
