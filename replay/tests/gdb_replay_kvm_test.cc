// The debugging sessions of gdb_server_test.cc over guest replays on KVM
// (label kvm): breakpoints in the CPU's debug registers, KVM's single
// step, and the replay still matching its recording afterwards.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/kvm/kvm.h"
#include "core/kvm/tests/require_kvm.h"
#include "record/record_session.h"
#include "replay/tests/gdb_replay_scenario.h"
#include "replay/tests/replay_test_util.h"

namespace kvmrr {
namespace {

std::string golden(const std::string& name) { return std::string(KVMRR_SOURCE_DIR) + "/fixtures/traces/" + name + ".trace"; }

// hello recorded on this KVM: its golden trace holds the dirty pages of
// the KVM it was recorded on, and KVMs differ there (the nested one
// dirties the page tables too), which is guest replay's business, not
// the debugger's.
std::string hello_on_this_kvm() {
    const std::string path = testing::temp_trace("gdb-hello-kvm");
    RecordRequest req;
    req.run.guest.fixture = "hello";
    req.run.accel = Accel::Kvm;
    req.run.serial_out = [](uint8_t) {};
    req.run.limits.timeout = std::chrono::seconds(60);
    req.output = path;
    record_guest(req);
    return path;
}

class GdbReplayKvm : public ::testing::Test {
protected:
    void SetUp() override {
        if (const std::string why = KvmSystem::unavailable_reason(); !why.empty()) KVMRR_SKIP_WITHOUT_KVM("needs KVM: " + why);
    }
};

TEST_F(GdbReplayKvm, StepsBreaksAndLetsTheReplayEndAsRecorded) {
    const std::string trace = hello_on_this_kvm();
    testing::debug_a_replay(trace, Accel::Kvm);
    std::filesystem::remove(trace);
}

TEST_F(GdbReplayKvm, ABreakpointFindsTheStateThatSteppingFound) {
    const std::string trace = hello_on_this_kvm();
    testing::same_state_at_a_breakpoint(trace, Accel::Kvm, 300);
    std::filesystem::remove(trace);
}

TEST_F(GdbReplayKvm, RealModeFirmwareWithInterruptsStopsAtTheSameState) {
    testing::same_state_at_a_breakpoint(golden("timer_irq_real"), Accel::Kvm, 400);
}

TEST_F(GdbReplayKvm, WaitingAfterAnEventFindsTheStateSteppingFinds) {
    const std::string trace = hello_on_this_kvm();
    testing::same_state_after_an_event(trace, Accel::Kvm, 5);
    std::filesystem::remove(trace);
    testing::same_state_after_an_event(golden("timer_irq_real"), Accel::Kvm, 40);
}

}  // namespace
}  // namespace kvmrr
