// The emulator's looks at instruction bytes (emu_vcpu_impl.h): which
// instructions may change the CPU mode, `rep ins`, RDTSC.
#include <gtest/gtest.h>

#include <vector>

#include "core/emu/emu_vcpu_impl.h"

namespace kvmrr::emu {
namespace {

bool mode(std::vector<uint8_t> b) { return may_change_mode(b.data(), static_cast<uint32_t>(b.size())); }

TEST(InsnBytes, WhatMayChangeTheModeAndWhatCannot) {
    // Control registers, LMSW, far transfers, interrupts and their returns.
    EXPECT_TRUE(mode({0x0f, 0x22, 0xc0}));                    // mov cr0, eax
    EXPECT_TRUE(mode({0x0f, 0x01, 0xf0}));                    // lmsw ax
    EXPECT_TRUE(mode({0xea, 0x00, 0x10, 0x08, 0x00}));        // jmp far 0x08:0x1000 (16-bit)
    EXPECT_TRUE(mode({0x66, 0xea, 0, 0x10, 0, 0, 0x08, 0}));  // jmp far with 0x66
    EXPECT_TRUE(mode({0x9a, 0x00, 0x10, 0x00, 0xf0}));        // call far
    EXPECT_TRUE(mode({0xff, 0x1e, 0x00, 0x20}));              // call far [0x2000] (ff /3)
    EXPECT_TRUE(mode({0xff, 0x2e, 0x00, 0x20}));              // jmp far [0x2000] (ff /5)
    EXPECT_TRUE(mode({0xcb}));                                // retf
    EXPECT_TRUE(mode({0x66, 0xcb}));                          // retfd
    EXPECT_TRUE(mode({0xca, 0x04, 0x00}));                    // retf 4
    EXPECT_TRUE(mode({0xcf}));                                // iret
    EXPECT_TRUE(mode({0xcd, 0x10}));                          // int 0x10
    EXPECT_TRUE(mode({0x0f, 0xaa}));                          // rsm
    EXPECT_TRUE(mode({0x0f, 0x35}));                          // sysexit
    EXPECT_TRUE(mode({0x0f, 0x30}));                          // wrmsr
    EXPECT_TRUE(mode({0x0f, 0x32}));                          // rdmsr (EFER, kept by hand)
    EXPECT_TRUE(mode({0x66}));                                // prefixes only: cannot tell
    // The rest: near transfers and plain instructions.
    EXPECT_FALSE(mode({0xeb, 0xfe}));                   // jmp short
    EXPECT_FALSE(mode({0xe9, 0x00, 0x10, 0x00, 0x00}));  // jmp near
    EXPECT_FALSE(mode({0x74, 0x05}));                   // je
    EXPECT_FALSE(mode({0x0f, 0x84, 0, 0, 0, 0}));       // je near
    EXPECT_FALSE(mode({0xe8, 0, 0, 0, 0}));             // call near
    EXPECT_FALSE(mode({0xff, 0xd0}));                   // call eax (ff /2)
    EXPECT_FALSE(mode({0xff, 0xe0}));                   // jmp eax (ff /4)
    EXPECT_FALSE(mode({0xc3}));                         // ret
    EXPECT_FALSE(mode({0x0f, 0x20, 0xc0}));             // mov eax, cr0 (a read)
    EXPECT_FALSE(mode({0x8e, 0xd8}));                   // mov ds, ax
    EXPECT_FALSE(mode({0xf4}));                         // hlt
}

TEST(InsnBytes, RepInsAndRdtsc) {
    const uint8_t rep_insb[] = {0xf3, 0x6c}, rep_insw[] = {0x66, 0xf3, 0x6d}, insb[] = {0x6c, 0x90},
                  rep_stosb[] = {0xf3, 0xaa};
    EXPECT_TRUE(is_rep_ins(rep_insb, 2));
    EXPECT_TRUE(is_rep_ins(rep_insw, 3));
    EXPECT_FALSE(is_rep_ins(insb, 1));
    EXPECT_FALSE(is_rep_ins(rep_stosb, 2));
    const uint8_t rdtsc[] = {0x0f, 0x31}, rdtscp[] = {0x0f, 0x01, 0xf9}, lgdt[] = {0x0f, 0x01, 0x10};
    EXPECT_TRUE(is_rdtsc(rdtsc, 2));
    EXPECT_TRUE(is_rdtsc(rdtscp, 3));
    EXPECT_FALSE(is_rdtsc(lgdt, 3));
}

// insn_kind is the three looks above in one: the same answers for each.
TEST(InsnBytes, InsnKindAgreesWithEachLook) {
    const std::vector<std::vector<uint8_t>> cases = {
        {0x0f, 0x22, 0xc0}, {0x66, 0xea, 0, 0x10, 0, 0, 0x08, 0}, {0xff, 0x1e, 0x00, 0x20}, {0xff, 0xd0}, {0xcb},
        {0x66, 0xcb}, {0xcd, 0x10}, {0x8e, 0xc8}, {0x8e, 0xd8}, {0x66}, {0xf3, 0x6c}, {0x66, 0xf3, 0x6d},
        {0x6c}, {0xf3, 0xaa}, {0x0f, 0x31}, {0x0f, 0x01, 0xf9}, {0x0f, 0x01, 0x10}, {0x66, 0x0f, 0x31},
        {0x0f, 0x84, 0, 0, 0, 0}, {0x67, 0xc6, 0x02, 0x00}, {0x66, 0x4a}, {0xeb, 0xf3}, {0x90}, {0xf4}};
    for (const auto& b : cases) {
        const auto n = static_cast<uint32_t>(b.size());
        const uint8_t k = insn_kind(b.data(), n);
        SCOPED_TRACE(::testing::PrintToString(b));
        EXPECT_EQ((k & kInsnModeChange) != 0, may_change_mode(b.data(), n));
        EXPECT_EQ((k & kInsnRepIns) != 0, is_rep_ins(b.data(), n));
        EXPECT_EQ((k & kInsnRdtsc) != 0, is_rdtsc(b.data(), n));
        EXPECT_EQ((k & kInsnIfMaySet) != 0, may_change_mode(b.data(), n));  // none of these is sti or popf
    }
    const uint8_t sti[] = {0xfb}, popf[] = {0x66, 0x9d}, cli[] = {0xfa}, pushf[] = {0x9c};
    EXPECT_EQ(insn_kind(sti, 1), kInsnIfMaySet);
    EXPECT_EQ(insn_kind(popf, 2), kInsnIfMaySet);
    EXPECT_EQ(insn_kind(cli, 1), 0);
    EXPECT_EQ(insn_kind(pushf, 1), 0);
}

}  // namespace
}  // namespace kvmrr::emu
