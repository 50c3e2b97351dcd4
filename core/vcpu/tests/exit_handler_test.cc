#include "core/vcpu/exit_handler.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {
namespace {

// A register file behind the debug-exit window and a data port, recording
// every device access so tests can see what the handler did.
struct Fixture : ::testing::Test {
    struct Access {
        uint64_t offset;
        uint64_t value;
        unsigned size;
        bool write;
    };
    std::vector<Access> log;
    uint64_t next_read = 0x11223344;
    FunctionOps ops{[this](uint64_t o, unsigned s) {
                        log.push_back({o, 0, s, false});
                        return next_read++;
                    },
                    [this](uint64_t o, uint64_t v, unsigned s) { log.push_back({o, v, s, true}); }};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    ExitTargets targets{*m.io_space, *m.memory};

    void SetUp() override {
        MemoryRegion& port = sys.create_io("port", 4, ops);
        m.io->add_subregion(0x500, port);
        MemoryRegion& mmio = sys.create_io("mmio", 0x1000, ops);
        m.system->add_subregion(0xfec00000, mmio);
    }
};

TEST_F(Fixture, PioOutWritesEachRepetition) {
    uint8_t data[3] = {'a', 'b', 'c'};
    VcpuExit e{ExitKind::Io, true, 1, 3, 0x500, std::span(data), 0};
    EXPECT_EQ(handle_exit(e, targets).stop, StopReason::None);
    ASSERT_EQ(log.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(log[i].write);
        EXPECT_EQ(log[i].value, static_cast<uint64_t>('a' + i));
        EXPECT_EQ(log[i].size, 1u);
    }
}

TEST_F(Fixture, PioInFillsTheDataAreaPerRepetition) {
    uint8_t data[8] = {};
    VcpuExit e{ExitKind::Io, false, 4, 2, 0x500, std::span(data), 0};
    EXPECT_EQ(handle_exit(e, targets).stop, StopReason::None);
    uint32_t v[2];
    std::memcpy(v, data, 8);
    EXPECT_EQ(v[0], 0x11223344u);
    EXPECT_EQ(v[1], 0x11223345u);
}

TEST_F(Fixture, PioSizesOneTwoFour) {
    for (uint8_t size : {1, 2, 4}) {
        log.clear();
        uint8_t data[4] = {0xaa, 0xbb, 0xcc, 0xdd};
        VcpuExit e{ExitKind::Io, true, size, 1, 0x500, std::span(data), 0};
        handle_exit(e, targets);
        ASSERT_EQ(log.size(), 1u);
        EXPECT_EQ(log[0].size, size);
        EXPECT_EQ(log[0].value, 0xddccbbaaull & ((1ull << (8 * size)) - 1));
    }
    uint8_t data[8] = {};
    VcpuExit bad{ExitKind::Io, true, 8, 1, 0x500, std::span(data), 0};
    EXPECT_EQ(handle_exit(bad, targets).stop, StopReason::InvalidAccess);
}

TEST_F(Fixture, UnassignedPortReadsAllOnesAndContinuesByDefault) {
    uint8_t data[2] = {};
    VcpuExit e{ExitKind::Io, false, 2, 1, 0x600, std::span(data), 0};
    EXPECT_EQ(handle_exit(e, targets).stop, StopReason::None);
    EXPECT_EQ(data[0], 0xff);
    EXPECT_EQ(data[1], 0xff);
    ExitPolicy strict;
    strict.stop_on_unassigned_pio = true;
    const ExitOutcome o = handle_exit(e, targets, strict);
    EXPECT_EQ(o.stop, StopReason::UnassignedAccess);
    EXPECT_EQ(o.detail, 0x600u);
}

TEST_F(Fixture, MmioReadAndWriteOfEverySize) {
    for (uint8_t size : {1, 2, 4, 8}) {
        log.clear();
        uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        VcpuExit w{ExitKind::Mmio, true, size, 1, 0xfec00010, std::span(data), 0};
        EXPECT_EQ(handle_exit(w, targets).stop, StopReason::None);
        ASSERT_EQ(log.size(), 1u);
        EXPECT_EQ(log[0].offset, 0x10u);
        uint64_t want = 0;
        std::memcpy(&want, data, size);
        EXPECT_EQ(log[0].value, want);
        VcpuExit r{ExitKind::Mmio, false, size, 1, 0xfec00010, std::span(data), 0};
        EXPECT_EQ(handle_exit(r, targets).stop, StopReason::None);
        uint64_t got = 0;
        std::memcpy(&got, data, size);
        EXPECT_EQ(got, (next_read - 1) & (size == 8 ? ~0ull : ((1ull << (8 * size)) - 1)));
    }
}

TEST_F(Fixture, MmioToRamIsServedFromMemory) {
    // KVM sends RAM accesses here only at unaligned slot edges, but they
    // must still work.
    uint8_t data[8] = {0xde, 0xad, 0xbe, 0xef};
    VcpuExit w{ExitKind::Mmio, true, 4, 1, 0x2000, std::span(data), 0};
    EXPECT_EQ(handle_exit(w, targets).stop, StopReason::None);
    EXPECT_EQ(std::memcmp(m.ram->ram_block()->host() + 0x2000, data, 4), 0);
}

TEST_F(Fixture, MmioToUnmappedMemoryStopsWithTheAddress) {
    uint8_t data[8] = {};
    VcpuExit e{ExitKind::Mmio, true, 4, 1, 0x40000000, std::span(data), 0};
    const ExitOutcome o = handle_exit(e, targets);
    EXPECT_EQ(o.stop, StopReason::UnassignedAccess);
    EXPECT_EQ(o.detail, 0x40000000u);
    ExitPolicy lax;
    lax.stop_on_unassigned_mmio = false;
    EXPECT_EQ(handle_exit(e, targets, lax).stop, StopReason::None);
    EXPECT_EQ(m.memory->stats().unassigned_writes, 2u);
}

TEST_F(Fixture, OddMmioSizeGoesThroughTheBytePath) {
    uint8_t data[8] = {9, 8, 7};
    VcpuExit e{ExitKind::Mmio, true, 3, 1, 0x3000, std::span(data), 0};
    EXPECT_EQ(handle_exit(e, targets).stop, StopReason::None);
    EXPECT_EQ(std::memcmp(m.ram->ram_block()->host() + 0x3000, data, 3), 0);
}

TEST_F(Fixture, TerminalExitsStopWithTheirReason) {
    VcpuExit e;
    e.kind = ExitKind::Hlt;
    EXPECT_EQ(handle_exit(e, targets).stop, StopReason::Halt);
    e.kind = ExitKind::Shutdown;
    EXPECT_EQ(handle_exit(e, targets).stop, StopReason::Shutdown);
    e.kind = ExitKind::FailEntry;
    e.reason_code = 0x80000021;
    EXPECT_EQ(handle_exit(e, targets).stop, StopReason::FailEntry);
    EXPECT_EQ(handle_exit(e, targets).detail, 0x80000021u);
    e.kind = ExitKind::InternalError;
    e.reason_code = 1;
    EXPECT_EQ(handle_exit(e, targets).stop, StopReason::InternalError);
    e.kind = ExitKind::Unknown;
    e.reason_code = 77;
    EXPECT_EQ(handle_exit(e, targets).stop, StopReason::UnknownExit);
    EXPECT_EQ(handle_exit(e, targets).detail, 77u);
}

TEST_F(Fixture, ShortDataAreaIsAnInternalErrorNotAnOverrun) {
    uint8_t data[2] = {};
    VcpuExit e{ExitKind::Io, false, 1, 4, 0x500, std::span(data), 0};
    EXPECT_EQ(handle_exit(e, targets).stop, StopReason::InternalError);
    EXPECT_TRUE(log.empty());
}

}  // namespace
}  // namespace kvmrr
