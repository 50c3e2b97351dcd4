// The accelerator differential test: every fixture guest and fixture
// firmware, and the hostile firmware of fixtures/firmware/ (self-modifying
// code, string I/O of every size, IP wrapping in its segment, accesses to
// nothing and to ROM, a triple fault), recorded on KVM and on the
// emulator. The two traces must be the same up to the differences
// docs/ACCELERATORS.md lists (`kvmrr diff` names them: a non-deterministic
// input, or the guest's unrecorded TSC on KVM), and each must guest-replay
// on the other accelerator. Each guest is its own test (one ctest entry,
// "accel_diff/AccelDiff.*/GUEST"), so each stays well inside the kvm
// suite's time-out in the nested VM. Label kvm: it needs both accelerators.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/kvm/kvm.h"
#include "core/kvm/tests/require_kvm.h"
#include "core/tests/run_command.h"

namespace {

namespace fs = std::filesystem;
using kvmrr::test::slurp;
using Result = kvmrr::test::CliResult;

Result kvmrr(const std::string& args) { return kvmrr::test::run_command(KVMRR_BINARY, args); }

// What the two recordings of a guest may differ by (docs/ACCELERATORS.md).
enum class Allowed {
    Nothing,  // the same trace
    Inputs,   // from the first non-deterministic input on (host clock, entropy)
    Tsc,      // from its first TSC reading (KVM leaks the host's; the emulator's moves the virtual clock)
};

struct Guest {
    std::string name;
    std::string args;    // what `kvmrr record` runs, without --accel and -o
    int status = 0;      // its exit status on both
    Allowed allowed = Allowed::Nothing;
    std::string output;  // what a pc guest prints on the debug console ("": not checked)
    // Its other allowed end: nondet's planted bug fires on one entropy
    // value in 16, and the VMM stops it at the unmapped store (125).
    bool may_hit_unmapped = false;
};

std::ostream& operator<<(std::ostream& o, const Guest& g) { return o << g.name; }

Guest fixture(const std::string& name, std::string extra = "", Allowed allowed = Allowed::Nothing, int status = 0) {
    return {name, "--guest " + name + (extra.empty() ? "" : " " + extra), status, allowed, ""};
}

Guest firmware(const std::string& name, std::string output, int status = 0, Allowed allowed = Allowed::Nothing) {
    return {name, "--board pc --firmware " + std::string(KVMRR_FIRMWARE_DIR) + "/" + name + ".bin --clock virtual",
            status, allowed, std::move(output)};
}

Guest with_disk(Guest g) {
    g.args += " --disk @DISK@";
    return g;
}

Guest planted_bug(Guest g) {
    g.may_hit_unmapped = true;
    return g;
}

std::vector<Guest> guests() {
    return {
        fixture("hello"),
        fixture("pio_loop"),
        fixture("mmio_mix"),
        // 4 rounds, not 200: each bank switch empties the emulator's whole
        // translation cache (about 0.1 s here, seconds in the nested VM;
        // 20 rounds took 3 minutes there).
        fixture("bank_switch", "--arg 4"),
        fixture("rom_shadow"),
        // Harvests at each epoch the guest marks: dirty bitmaps at the same
        // exits on both, compared page by page.
        fixture("dirty_walker", "--dirty-at-port 0x3ff"),
        // The RTC and entropy it reads are host inputs.
        planted_bug(fixture("nondet", "", Allowed::Inputs)),
        fixture("dma_disk", "--disk @DISK@"),
        firmware("timer_irq_real", "timer_irq: real mode, 10 timer interrupts\n", 10),
        firmware("timer_irq_prot", "timer_irq: protected mode, 10 timer interrupts\n", 10),
        // Into long mode as Linux goes; a #PF and a #GP with their error
        // codes, then the ticks through a 64-bit IDT.
        firmware("timer_irq_long", "timer_irq: long mode, 10 timer interrupts\n", 10),
        firmware("tsc_probe", "", 0, Allowed::Tsc),
        firmware("string_io", "hello"),
        // The IDE channel, with a disk of 128 sectors (written as well).
        with_disk(firmware("ide_walk", "ide_walk: done\n")),
        // Bus-master DMA into guest memory and out of it.
        with_disk(firmware("ide_dma", "ide_dma: done\n")),
        // The hostile ones.
        firmware("self_modify", "AD0123EBD0123E"),
        firmware("string_ops", ""),
        firmware("ip_wrap", "VWVW"),
        firmware("ip_wrap_straddle", "X"),
        firmware("unmapped", ""),
        // A triple fault ends the run (status 125: it ended otherwise than
        // by the guest's exit).
        firmware("triple_fault", "tf", 125),
        // Two pushes ran where the NOPs were: SP 0x6ffc - 4.
        firmware("rep_ins_code", "\xf8"),
        firmware("rep_ins_wrap", "QEMU\x86\x80\x86\x80"),
        // Runs into memory with nothing behind it: an internal error (125).
        firmware("fetch_fault", "f", 125),
        // A #UD and a #DE in real mode, handled through its own IVT.
        firmware("exceptions", "UDK"),
        // The x87 and SSE state at the start: QEMU's reset's on both.
        firmware("fpu_reset", "Fk"),
    };
}

class AccelDiff : public ::testing::TestWithParam<Guest> {
protected:
    void SetUp() override {
        if (const std::string why = kvmrr::KvmSystem::unavailable_reason(); !why.empty())
            KVMRR_SKIP_WITHOUT_KVM("needs /dev/kvm: " + why);
        dir_ = fs::current_path() / ("accel-diff-" + std::to_string(getpid()) + "-" + GetParam().name);
        fs::create_directories(dir_);
        disk_ = dir_ / "disk.img";
        // 64 KiB whose every 512-byte sector names itself (as
        // fixtures/traces/record.sh makes for dma_disk).
        std::string bytes;
        for (int s = 0; s < 128; ++s)
            for (int i = 0; i < 256; ++i) bytes += {static_cast<char>(s & 0xff), static_cast<char>(s >> 8)};
        std::ofstream(disk_, std::ios::binary) << bytes;
    }
    void TearDown() override {
        if (!dir_.empty()) fs::remove_all(dir_);
    }

    std::string args() const {
        std::string a = GetParam().args;
        if (const size_t at = a.find("@DISK@"); at != std::string::npos) a.replace(at, 6, disk_.string());
        return a;
    }

    // Records the guest on `accel` into dir_/ACCEL.trace and checks its end.
    fs::path record(const std::string& accel) {
        const Guest& g = GetParam();
        const fs::path trace = dir_ / (accel + ".trace"), log = dir_ / (accel + ".log");
        const bool pc = g.args.find("--board pc") != std::string::npos;
        const Result r = kvmrr("record " + args() + " --accel " + accel + " --timeout 300000" +
                               (pc ? " --debugcon " + log.string() : std::string()) + " -o " + trace.string());
        if (g.may_hit_unmapped && r.status == 125) {
            EXPECT_NE(r.out.find("access to unmapped memory"), std::string::npos) << accel << ":\n" << r.out;
        } else {
            EXPECT_EQ(r.status, g.status) << accel << ":\n" << r.out;
        }
        if (pc && !g.output.empty()) {
            EXPECT_EQ(slurp(log), g.output) << "on " << accel;
        }
        return trace;
    }

    // Guest-replays `trace` on `accel`.
    void replay_on(const std::string& accel, const fs::path& trace, bool tsc_differs) {
        const Result r = kvmrr("replay --guest --accel " + accel + " --timeout 300000 " + trace.string());
        if (tsc_differs) {
            // The other accelerator's guest reads another TSC, and says so.
            EXPECT_EQ(r.status, 1) << r.out;
            EXPECT_NE(r.out.find("most likely it read the time-stamp counter"), std::string::npos) << r.out;
            return;
        }
        EXPECT_EQ(r.status, 0) << "replayed on " << accel << ":\n" << r.out;
        EXPECT_NE(r.out.find("reproduced:"), std::string::npos) << r.out;
    }

    fs::path dir_, disk_;
};

TEST_P(AccelDiff, SameTraceOnKvmAndTheEmulatorAndEachReplaysOnTheOther) {
    const Guest& g = GetParam();
    const fs::path on_kvm = record("kvm");
    const fs::path on_emu = record("emu");
    ASSERT_FALSE(HasFailure());

    const Result d = kvmrr("diff " + on_kvm.string() + " " + on_emu.string());
    switch (g.allowed) {
        case Allowed::Nothing:
            EXPECT_EQ(d.status, 0) << d.out;
            EXPECT_NE(d.out.find("traces match"), std::string::npos) << d.out;
            break;
        case Allowed::Inputs:
            // Two runs may by chance get the same inputs; otherwise the
            // first difference is one, or is what one returned.
            if (d.status != 0) {
                EXPECT_EQ(d.status, 1) << d.out;
                EXPECT_TRUE(d.out.find("it is a non-deterministic input") != std::string::npos ||
                            d.out.find("it follows from a non-deterministic input") != std::string::npos)
                    << d.out;
            }
            break;
        case Allowed::Tsc:
            // On the emulator each RDTSC moves the virtual clock on by an
            // exit's worth, which the next clock reading shows first; or
            // the first difference is what the guest wrote of its TSC.
            EXPECT_EQ(d.status, 1) << d.out;
            EXPECT_TRUE(d.out.find("it is a non-deterministic input") != std::string::npos ||
                        d.out.find("most likely the time-stamp counter") != std::string::npos)
                << d.out;
            break;
    }

    replay_on("emu", on_kvm, g.allowed == Allowed::Tsc);
    replay_on("kvm", on_emu, g.allowed == Allowed::Tsc);
}

INSTANTIATE_TEST_SUITE_P(accel_diff, AccelDiff, ::testing::ValuesIn(guests()),
                         [](const ::testing::TestParamInfo<Guest>& i) { return i.param.name; });

}  // namespace
