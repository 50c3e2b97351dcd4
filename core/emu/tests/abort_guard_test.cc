// Unicorn 2.0.1's abort() on code it mistranslates (core/emu/abort_guard.h):
// the guard itself, and guests that hold such code, on the emulator.
#include "core/emu/abort_guard.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/emu/tests/emu_test_guest.h"

namespace kvmrr {
namespace {

using testing::EmuGuest;

TEST(AbortGuard, AGuardedCallReturnsTrueAndAnAbortInItFalse) {
    int ran = 0;
    EXPECT_TRUE(emu::call_surviving_abort([&] { ++ran; }));
    EXPECT_EQ(ran, 1);
    EXPECT_FALSE(emu::call_surviving_abort([&] {
        ++ran;
        std::abort();
    }));
    EXPECT_EQ(ran, 2);
    // Nested: the inner abort returns to the inner guard, the outer call goes on.
    bool inner = true;
    EXPECT_TRUE(emu::call_surviving_abort([&] { inner = emu::call_surviving_abort([] { std::abort(); }); }));
    EXPECT_FALSE(inner);
}

TEST(AbortGuard, AnAbortOutsideAGuardStillEndsTheProcess) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    ASSERT_TRUE(emu::call_surviving_abort([] {}));  // the handler is in place
    EXPECT_DEATH(std::abort(), "");
}

// The guest runs into an instruction Unicorn 2.0.1 cannot translate: the
// run ends with an internal error that says so (the process goes on), a
// second run() says it again without touching the engine, and a new guest
// in the same process runs as any other.
void ends_in_an_internal_error(EmuGuest& g) {
    ASSERT_EQ(g.next_exit(), ExitKind::InternalError);
    EXPECT_EQ(g.exit.reason_code, static_cast<uint64_t>(KVM_INTERNAL_ERROR_EMULATION));
    const std::string why = g.vcpu->last_error();
    EXPECT_NE(why.find("tcg fatal error"), std::string::npos) << why;
    EXPECT_NE(why.find("FF /5 or FF /3 with mod 3"), std::string::npos) << why;
    ASSERT_EQ(g.next_exit(), ExitKind::InternalError);
    EXPECT_EQ(g.vcpu->last_error(), why);
}

void then_a_new_guest_runs() {
    EmuGuest g;
    g.start_long({0xb0, 0x5a, 0xe6, 0x80, 0xf4});  // mov al,0x5a; out 0x80,al; hlt
    ASSERT_EQ(g.next_exit(), ExitKind::Io);
    EXPECT_EQ(g.io_data()[0], 0x5a);
    EXPECT_EQ(g.next_exit(), ExitKind::Hlt);
}

TEST(EmuVcpu, AFarJumpThroughARegisterInRealModeEndsTheRunNotTheProcess) {
    EmuGuest g;
    g.start_real({0xee, 0xff, 0xec});  // out dx,al; jmp far sp (FF /5, mod 3): found by random firmware
    ends_in_an_internal_error(g);
    then_a_new_guest_runs();
}

TEST(EmuVcpu, AFarCallOrJumpThroughARegisterInLongModeEndsTheRunNotTheProcess) {
    for (const std::vector<uint8_t>& code : {std::vector<uint8_t>{0x90, 0xff, 0xd8},  // nop; call far rax (FF /3)
                                             std::vector<uint8_t>{0x48, 0xff, 0xe9}}) {  // jmp far rcx, REX.W (FF /5)
        EmuGuest g;
        g.start_long(code);
        ends_in_an_internal_error(g);
    }
    then_a_new_guest_runs();
}

}  // namespace
}  // namespace kvmrr
