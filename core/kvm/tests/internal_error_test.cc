// describe_internal_error on kvm_run areas made up as KVM fills them
// (Documentation/virt/kvm/api.rst: KVM_EXIT_INTERNAL_ERROR and its
// emulation_failure overlay).
#include "core/kvm/internal_error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace kvmrr {
namespace {

kvm_run emulation_failure(const std::vector<uint8_t>& insn, bool with_flag) {
    kvm_run run;
    std::memset(&run, 0, sizeof run);
    run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
    run.emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
    run.emulation_failure.ndata = 3;
    run.emulation_failure.flags = with_flag ? KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES : 0;
    run.emulation_failure.insn_size = static_cast<uint8_t>(insn.size());
    std::memcpy(run.emulation_failure.insn_bytes, insn.data(), std::min(insn.size(), sizeof run.emulation_failure.insn_bytes));
    return run;
}

TEST(InternalError, AnEmulationFailureNamesTheInstructionsBytes) {
    // What kvm-pvm gave QEMU and kvmrr for exceptions.bin's UD2.
    const kvm_run run = emulation_failure({0x0f, 0x0b, 0xb8, 0x05}, true);
    EXPECT_EQ(describe_internal_error(run, false), "KVM could not emulate an instruction of the guest's: its bytes 0f 0b b8 05");
}

TEST(InternalError, BytesWithoutTheirFlagOrBeyondFifteenAreNotShown) {
    EXPECT_EQ(describe_internal_error(emulation_failure({0x0f, 0x0b}, false), false),
              "KVM could not emulate an instruction of the guest's");
    kvm_run lying = emulation_failure({0x90}, true);
    lying.emulation_failure.insn_size = 200;  // more than the 15 bytes there are
    EXPECT_EQ(describe_internal_error(lying, false), "KVM could not emulate an instruction of the guest's");
    kvm_run short_data = emulation_failure({0x90}, true);
    short_data.emulation_failure.ndata = 1;  // the flags only: no bytes after them
    EXPECT_EQ(describe_internal_error(short_data, false), "KVM could not emulate an instruction of the guest's");
}

TEST(InternalError, OnKvmPvmAnEmulationFailureSaysWhatToRunInstead) {
    const std::string text = describe_internal_error(emulation_failure({0xf4}, true), true);
    EXPECT_NE(text.find("its bytes f4; this host's KVM is kvm-pvm"), std::string::npos) << text;
    EXPECT_NE(text.find("--accel emu"), std::string::npos) << text;
}

TEST(InternalError, OtherSuberrorsAreNamedAndNoPvmNoteIsAddedToThem) {
    kvm_run run;
    std::memset(&run, 0, sizeof run);
    run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
    run.internal.suberror = KVM_INTERNAL_ERROR_SIMUL_EX;
    EXPECT_EQ(describe_internal_error(run, true), "an exception came while KVM delivered another one");
    run.internal.suberror = KVM_INTERNAL_ERROR_DELIVERY_EV;
    EXPECT_EQ(describe_internal_error(run, false), "KVM could not deliver an event to the guest");
    run.internal.suberror = KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON;
    EXPECT_EQ(describe_internal_error(run, false), "the CPU left the guest for a reason KVM does not handle");
    run.internal.suberror = 77;
    EXPECT_EQ(describe_internal_error(run, false), "KVM's internal error 77");
}

}  // namespace
}  // namespace kvmrr
