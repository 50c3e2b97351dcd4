// End-to-end tests of Session on one accelerator, the same bodies for
// each: built twice, as session_kvm_test (KVMRR_TEST_ACCEL=Kvm, CTest
// label `kvm`; every test skips with the reason where /dev/kvm cannot be
// used) and session_emu_test (KVMRR_TEST_ACCEL=Emu, runs anywhere).
#include "vmm/session.h"
#include "core/kvm/kvm.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "devices/bank_switch.h"
#include "vmm/guest_run.h"
#include "devices/rom_shadow.h"
#include "core/kvm/tests/require_kvm.h"
#include "devices/tests/fake_host_inputs.h"
#include "fixtures/guests/dirty_walker_pattern.h"

namespace kvmrr {

// Test names and failure messages say "kvm"/"emu", not a byte.
inline void PrintTo(Accel a, std::ostream* os) { *os << accel_name(a); }

namespace {

using testing::FakeHostInputs;

#ifndef KVMRR_TEST_ACCEL
#error "build with KVMRR_TEST_ACCEL=Kvm or Emu"
#endif

#define REQUIRE_ACCEL()                                                                  \
    do {                                                                                 \
        if (GetParam() == Accel::Kvm)                                                    \
            if (std::string why = KvmSystem::unavailable_reason(); !why.empty())         \
                KVMRR_SKIP_WITHOUT_KVM("needs /dev/kvm: " + why);                        \
    } while (0)

struct Run {
    std::string serial;
    RunResult result;
};

// Runs a fixture (or image) on a fresh machine with scripted host inputs.
struct SessionTest : ::testing::TestWithParam<Accel> {
    FakeHostInputs inputs;
    std::string serial;
    // Before the session: its listener harvests into it when it goes.
    std::vector<DirtyBitmap> harvested;
    std::unique_ptr<Session> session;

    void SetUp() override {
        REQUIRE_ACCEL();
        make_session();
    }
    void TearDown() override { session.reset(); }

    // A fresh session (and machine), told of every exit by `observer`.
    void make_session(SessionObserver* observer = nullptr) {
        session.reset();
        SessionConfig c;
        c.serial_out = [this](uint8_t b) { serial.push_back(static_cast<char>(b)); };
        c.accel = GetParam();
        c.dirty_sink = [this](const DirtyBitmap& b) { harvested.push_back(b); };
        session = std::make_unique<Session>(c, inputs, observer);
        ASSERT_EQ(session->accel(), GetParam());
    }

    RunResult run_fixture(const std::string& name, std::vector<uint64_t> args = {}, SessionObserver* obs = nullptr,
                          bool global_log = false) {
        if (obs) make_session(obs);
        GuestSpec spec;
        spec.fixture = name;
        session->load(resolve_guest(spec), args);
        RunOptions opts;
        opts.limits.timeout = std::chrono::seconds(30);
        opts.global_dirty_log = global_log;
        return session->run(opts);
    }

    RunResult run_bytes(const std::vector<uint8_t>& code, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                        RunOptions opts = {}) {
        char path[] = "/tmp/kvmrr-test-XXXXXX";
        const int fd = mkstemp(path);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(write(fd, code.data(), code.size()), static_cast<ssize_t>(code.size()));
        close(fd);
        session->load(GuestImage::raw(path, 0x100000, 0x100000, CpuMode::Long));
        unlink(path);
        opts.limits.timeout = timeout;
        return session->run(opts);
    }

    // The memslot table must equal what the memory FlatView says.
    void expect_slots_match_view() {
        std::vector<std::pair<uint64_t, uint64_t>> want;
        for (const FlatRange& fr : session->machine().memory_space().view()->ranges()) {
            using K = MemoryRegion::Kind;
            const K k = fr.mr->kind();
            if (!(k == K::Ram || k == K::Rom || (k == K::RomDevice && fr.romd_mode))) continue;
            want.emplace_back(fr.range.start(), fr.range.size());
        }
        std::vector<std::pair<uint64_t, uint64_t>> have;
        for (const MemslotSpec& s : session->memslots().table()) have.emplace_back(s.guest_phys, s.size);
        EXPECT_EQ(have, want);
    }
};

TEST_P(SessionTest, HelloPrintsAndExitsZero) {
    const RunResult r = run_fixture("hello");
    EXPECT_EQ(r.reason, StopReason::GuestExit) << r.describe();
    EXPECT_EQ(r.exit_status, 0);
    EXPECT_NE(serial.find("Hello from kvmrr guest"), std::string::npos) << serial;
}

TEST_P(SessionTest, PioLoopMakesOneExitPerWrite) {
    const RunResult r = run_fixture("pio_loop", {5000});
    EXPECT_EQ(r.reason, StopReason::GuestExit) << r.describe();
    EXPECT_EQ(r.exit_status, 0);
    EXPECT_NE(serial.find("pio_loop: 5000 writes"), std::string::npos) << serial;
    EXPECT_GE(r.exits, 5000u);
}

TEST_P(SessionTest, MmioMixBankSwitchRomShadowDmaAndNondetRunToSuccess) {
    for (const char* name : {"mmio_mix", "bank_switch", "rom_shadow", "dma_disk", "nondet"}) {
        SCOPED_TRACE(name);
        SetUp();  // a fresh machine per guest
        if (std::string(name) == "dma_disk") {
            inputs.disk.resize(512 * 2000);
            for (size_t i = 0; i < inputs.disk.size(); ++i) inputs.disk[i] = static_cast<uint8_t>(i * 7);
        }
        inputs.next_entropy = 0x10;  // nondet: low nibble 0, the planted bug stays quiet
        const RunResult r = run_fixture(name);
        EXPECT_EQ(r.reason, StopReason::GuestExit) << r.describe() << "\n" << serial;
        EXPECT_EQ(r.exit_status, 0) << serial;
        expect_slots_match_view();
    }
}

// Code a device's DMA brings in over code that already ran: the emulator
// must not go on running what it translated before.
TEST_P(SessionTest, CodeBroughtInByDmaRunsAsBroughtIn) {
    const RunResult r = run_fixture("dma_code");
    EXPECT_EQ(r.reason, StopReason::GuestExit) << r.describe() << "\n" << serial;
    EXPECT_EQ(r.exit_status, 0) << serial;
    EXPECT_NE(serial.find("dma_code: before 1 after 2"), std::string::npos) << serial;
}

// The pages a device's DMA wrote are dirty, though no vCPU wrote them:
// dma_disk only reads the buffer its DMA fills (2 pages for 16 sectors).
TEST_P(SessionTest, PagesWrittenByDmaAreDirty) {
    inputs.disk.assign(512 * 16, 0x5a);
    const RunResult r = run_fixture("dma_disk", {}, nullptr, true);
    ASSERT_EQ(r.reason, StopReason::GuestExit) << r.describe() << "\n" << serial;
    session->memslots().harvest();
    std::set<uint64_t> pages;
    for (const DirtyBitmap& b : harvested)
        for (uint64_t a : b.page_addresses())
            if (a >= 0x2000000 && a < 0x2100000) pages.insert(a);
    EXPECT_EQ(pages, (std::set<uint64_t>{0x2000000, 0x2001000}));
}

TEST_P(SessionTest, NondetPlantedBugEndsTheRunAtUnmappedMemory) {
    inputs.next_entropy = 0x0f;  // low nibble 0xf fires the bug
    const RunResult r = run_fixture("nondet");
    EXPECT_EQ(r.reason, StopReason::UnassignedAccess) << r.describe() << "\n" << serial;
    EXPECT_GE(r.detail, 0x40000000u);
}

// Every bank switch changes the topology; after each exit the slots must
// still equal the view.
class SlotCheck final : public SessionObserver {
public:
    explicit SlotCheck(SessionTest& f) : f_(f) {}
    void dma_write(uint64_t, std::span<const uint8_t>) override {}
    void on_exit(const VcpuExit& e, const ExitOutcome&) override {
        if (e.kind == ExitKind::Mmio && e.is_write) {
            f_.expect_slots_match_view();
            ++checks;
        }
    }
    int checks = 0;

private:
    SessionTest& f_;
};

TEST_P(SessionTest, MemslotsFollowEveryTopologyChange) {
    SlotCheck check(*this);
    const RunResult r = run_fixture("bank_switch", {50}, &check);
    EXPECT_EQ(r.reason, StopReason::GuestExit) << r.describe();
    EXPECT_GT(check.checks, 50);
}

// Harvests at each epoch mark the guest writes to the UART scratch port.
class EpochHarvest final : public SessionObserver {
public:
    explicit EpochHarvest(SessionTest& f) : f_(f) {}
    void dma_write(uint64_t, std::span<const uint8_t>) override {}
    void on_exit(const VcpuExit& e, const ExitOutcome&) override {
        if (e.kind == ExitKind::Io && e.is_write && e.addr == 0x3ff) {
            f_.harvested.clear();
            f_.session->memslots().harvest();
            std::set<uint64_t> pages;
            for (const DirtyBitmap& b : f_.harvested)
                for (uint64_t a : b.page_addresses())
                    if (a >= DIRTY_WALKER_BASE) pages.insert((a - DIRTY_WALKER_BASE) / DIRTY_WALKER_PAGE_SIZE);
            epochs.push_back(pages);
        }
    }
    std::vector<std::set<uint64_t>> epochs;

private:
    SessionTest& f_;
};

TEST_P(SessionTest, DirtyWalkerBitmapsEqualTheWrittenPages) {
    for (uint32_t pattern : {DIRTY_WALKER_SEQUENTIAL, DIRTY_WALKER_RANDOM, DIRTY_WALKER_HOT_COLD}) {
        SCOPED_TRACE(pattern);
        SetUp();
        EpochHarvest h(*this);
        const uint32_t pages = 1024, epochs = 6;
        const RunResult r = run_fixture("dirty_walker", {pattern, pages, epochs}, &h, true);
        ASSERT_EQ(r.reason, StopReason::GuestExit) << r.describe() << "\n" << serial;
        ASSERT_EQ(h.epochs.size(), epochs);
        for (uint32_t e = 0; e < epochs; ++e) {
            std::vector<uint32_t> want(pages);
            const uint32_t n = dirty_walker_pages(pattern, pages, e, want.data(), pages);
            std::set<uint64_t> want_set(want.begin(), want.begin() + n);
            std::set<uint64_t> got;
            for (uint64_t p : h.epochs[e])
                if (p < pages) got.insert(p);
            EXPECT_EQ(got, want_set) << "epoch " << e;
        }
    }
}

TEST_P(SessionTest, TripleFaultIsReportedWithRegisters) {
    const RunResult r = run_bytes({0x0f, 0x0b});  // ud2 with no IDT
    EXPECT_EQ(r.reason, StopReason::Shutdown) << r.describe();
    EXPECT_NE(r.describe().find("triple"), std::string::npos);
    // The emulator also says what it saw.
    if (GetParam() == Accel::Emu) {
        EXPECT_NE(r.describe().find("(emulator: Invalid instruction"), std::string::npos) << r.describe();
    }
    EXPECT_EQ(exit_status_for(r), kStatusAbnormal);
}

// The guest's own int n with no IDT to take it: a triple fault on KVM
// (kvm-pvm cannot emulate the instruction: an internal error); the
// emulator names the instruction, not a CPU exception.
void expect_ended_at_int(Accel accel, const RunResult& r) {
    if (accel == Accel::Emu) {
        EXPECT_EQ(r.reason, StopReason::Shutdown) << r.describe();
    } else {
        EXPECT_TRUE(r.reason == StopReason::Shutdown || r.reason == StopReason::InternalError) << r.describe();
    }
}

TEST_P(SessionTest, AnIntNWithNoIdtIsNamedAsTheGuestsInstruction) {
    const RunResult r = run_bytes({0x90, 0xcd, 0x80});  // nop; int 0x80
    expect_ended_at_int(GetParam(), r);
    if (GetParam() == Accel::Emu) {
        EXPECT_NE(r.note.find("int 0x80 (vector 128) at 0x100001 with no IDT"), std::string::npos) << r.describe();
        EXPECT_EQ(r.note.find("CPU exception"), std::string::npos) << r.describe();
    }
}

TEST_P(SessionTest, GuestThatNeverStopsTimesOut) {
    const RunResult r = run_bytes({0xeb, 0xfe}, std::chrono::milliseconds(300));  // jmp $
    EXPECT_EQ(r.reason, StopReason::Timeout) << r.describe();
    EXPECT_EQ(exit_status_for(r), kStatusTimeout);
}

// A request from another thread (the CLI's Ctrl-C) ends a guest that spins
// without exits, with no time limit set: KVM is kicked out of KVM_RUN.
TEST_P(SessionTest, AGuestThatNeverStopsEndsWhenInterrupted) {
    std::atomic<int> interrupt{0};
    std::thread asker([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        interrupt.store(SIGINT);
    });
    RunOptions opts;
    opts.limits.interrupt = &interrupt;
    const auto start = std::chrono::steady_clock::now();
    const RunResult r = run_bytes({0xeb, 0xfe}, std::chrono::milliseconds(0), opts);  // jmp $, no time limit
    asker.join();
    EXPECT_EQ(r.reason, StopReason::Interrupted) << r.describe();
    EXPECT_EQ(r.detail, static_cast<uint64_t>(SIGINT));
    EXPECT_EQ(r.exits, 0u);
    EXPECT_EQ(exit_status_for(r), 130);
    EXPECT_NE(r.describe().find("interrupted by SIGINT after 0 exits"), std::string::npos) << r.describe();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_P(SessionTest, WriteToUnmappedMemoryNamesTheAddress) {
    // mov dword [0x40000000], 1
    const RunResult r = run_bytes({0xc7, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x00});
    EXPECT_EQ(r.reason, StopReason::UnassignedAccess) << r.describe();
    EXPECT_EQ(r.detail, 0x40000000u);
    EXPECT_EQ(r.regs.rip, 0x100000u + 11);  // the store is complete: RIP is past it
}

// Where RIP stands when a run ends at an I/O or MMIO exit differs between
// KVM hosts and the emulator unless the run loop completes the exit; the
// final registers go into every trace's end event, so they must agree.
TEST_P(SessionTest, FinalRipIsPastTheLastAccessingInstruction) {
    // mov al, 3; out 0xf4, al (the debug-exit port)
    const RunResult r = run_bytes({0xb0, 0x03, 0xe6, 0xf4});
    EXPECT_EQ(r.reason, StopReason::GuestExit) << r.describe();
    EXPECT_EQ(r.regs.rip, 0x100004u);
}

TEST_P(SessionTest, ExitLimitCompletesTheLastReadBeforeTheRegistersAreRead) {
    // mov al,[0x40000000]; mov al,[0x40000000] (MMIO reads that this
    // test's handler answers), stopped by the exit limit after the first:
    // RIP is past the first load, whose value has landed in AL.
    RunOptions opts;
    opts.limits.max_exits = 1;
    opts.handler = [](VcpuExit& e) {
        if (e.kind == ExitKind::Mmio && !e.is_write) std::memset(e.data.data(), 0x5a, e.size);
        return ExitOutcome{};
    };
    const RunResult r = run_bytes({0x8a, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0x8a, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40},
                                  std::chrono::seconds(10), opts);
    EXPECT_EQ(r.reason, StopReason::MaxExits) << r.describe();
    EXPECT_EQ(r.regs.rip, 0x100007u);
    EXPECT_EQ(r.regs.rax & 0xff, 0x5au);
}

TEST_P(SessionTest, RealModeImageAtOrg0x1000) {
    // mov al, 7; out 0xf4, al
    char path[] = "/tmp/kvmrr-real-XXXXXX";
    const int fd = mkstemp(path);
    const uint8_t code[] = {0xb0, 0x07, 0xe6, 0xf4};
    ASSERT_EQ(write(fd, code, sizeof code), static_cast<ssize_t>(sizeof code));
    close(fd);
    session->load(GuestImage::raw(path, 0x1000, 0x1000, CpuMode::Real));
    unlink(path);
    RunOptions opts;
    opts.limits.timeout = std::chrono::seconds(10);
    const RunResult r = session->run(opts);
    EXPECT_EQ(r.reason, StopReason::GuestExit) << r.describe();
    EXPECT_EQ(r.exit_status, 7);
}

INSTANTIATE_TEST_SUITE_P(Accel, SessionTest, ::testing::Values(Accel::KVMRR_TEST_ACCEL),
                         [](const auto& info) { return std::string(accel_name(info.param)); });

}  // namespace
}  // namespace kvmrr
