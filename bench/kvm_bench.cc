// What kvmrr costs on real KVM (needs /dev/kvm; every benchmark skips
// with the reason without it).
//
// Exits per second: the pio_loop guest (N port writes, then a line on the
// UART) on the same machine set-up, run two ways in one process:
//   BM_BareKvmRunPioLoop  a loop that calls KvmVcpu::run (KVM_RUN and the
//                         decode of its exit) and does nothing else (an IN
//                         gets the UART's "transmitter empty" so the
//                         guest's serial output does not spin, the
//                         debug-exit OUT ends it);
//   BM_KvmrrRunPioLoop    Session::run, i.e. `kvmrr run`: the run loop, the
//                         exit handler, dispatch through the I/O address
//                         space into the device models.
// Only the run is timed (manual time), not the machine's set-up.
//
// Dirty-log harvest of a 1 GiB slot after a guest wrote 0%, 0.1%, 1%, 10%
// or 100% of its pages (the argument is in per mille) (the writes are not timed):
//   BM_HarvestBare    KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG on that slot;
//   BM_HarvestKvmrr   MemslotListener::harvest (every logging slot: the
//                     1 GiB RAM slot and the 64 KiB ROM slot) and the
//                     conversion of each bitmap to a list of page addresses;
//   BM_HarvestRecord  the recorder's harvest: MemslotListener::harvest into
//                     the Recorder, which hands each slot's bitmap to a
//                     TraceWriter; the writer copies the words, and encodes
//                     the runs and compresses on its own thread, which is
//                     not in the vCPU's time (BM_MakeDirtyEvent1GiB in
//                     trace_bench measures that encoding alone).
// and the same in dirty ring mode (KVM_CAP_DIRTY_LOG_RING, the largest ring):
//   BM_HarvestRingDrain   KvmVm::drain_dirty_rings: read the entries, mark
//                         them, KVM_RESET_DIRTY_RINGS (the ring's bare cost);
//   BM_HarvestRingRecord  the recorder's harvest as above, in ring mode.
// A ring holds at most 65,536 entries here, fewer than the pages of a
// fully dirtied GiB: the 100% case needs ring-full exits, which this host's
// KVM does not deliver in time (see bench/README.md).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "core/kvm/kvm.h"
#include "record/recorder.h"
#include "record/trace_writer.h"
#include "vmm/guest_run.h"
#include "vmm/real_host_inputs.h"
#include "vmm/session.h"

namespace kvmrr {
namespace {

constexpr uint64_t kPioLoopWrites = 20000;
constexpr uint64_t kGiB = 1ull << 30;

bool kvm_missing(benchmark::State& state) {
    const std::string why = KvmSystem::unavailable_reason("/dev/kvm");
    if (why.empty()) return false;
    state.SkipWithError(("no KVM: " + why).c_str());
    return true;
}

// A machine with the pio_loop guest loaded on KVM.
SessionConfig kvm_session(MachineLayout layout = MachineLayout::default_layout(), DirtySink sink = {},
                          DirtyLogMode mode = DirtyLogMode::Bitmap) {
    SessionConfig c;
    c.layout = std::move(layout);
    c.serial_out = [](uint8_t) {};
    c.accel = Accel::Kvm;
    c.dirty_mode = mode;
    c.dirty_sink = std::move(sink);
    return c;
}

struct PioLoopVm {
    RealHostInputs inputs{-1, ""};
    Session runner{kvm_session(), inputs};
    PioLoopVm() {
        GuestSpec g;
        g.fixture = "pio_loop";
        runner.load(resolve_guest(g), {kPioLoopWrites});
    }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void BM_BareKvmRunPioLoop(benchmark::State& state) {
    if (kvm_missing(state)) return;
    uint64_t exits = 0;
    for (auto _ : state) {
        PioLoopVm vm;
        Vcpu& vcpu = vm.runner.vcpu();
        uint64_t n = 0;
        ExitKind last = ExitKind::Io;
        const auto t0 = std::chrono::steady_clock::now();
        for (;;) {
            std::optional<VcpuExit> e = vcpu.run();
            if (!e) continue;
            ++n;
            last = e->kind;
            if (e->kind != ExitKind::Io) break;  // not expected: stop
            if (!e->is_write) {
                e->data[0] = 0x60;
            } else if (e->addr == 0xf4) {
                break;
            }
        }
        state.SetIterationTime(seconds_since(t0));
        if (last != ExitKind::Io) {
            state.SkipWithError((std::string("unexpected exit ") + exit_kind_name(last)).c_str());
            return;
        }
        exits += n;
    }
    state.counters["exits/s"] = benchmark::Counter(static_cast<double>(exits), benchmark::Counter::kIsRate);
    state.counters["exits"] = static_cast<double>(exits / state.iterations());
}

void BM_KvmrrRunPioLoop(benchmark::State& state) {
    if (kvm_missing(state)) return;
    uint64_t exits = 0;
    for (auto _ : state) {
        PioLoopVm vm;
        const auto t0 = std::chrono::steady_clock::now();
        const RunResult r = vm.runner.run(RunOptions{});
        state.SetIterationTime(seconds_since(t0));
        if (r.reason != StopReason::GuestExit || r.exit_status != 0) {
            state.SkipWithError(r.describe().c_str());
            return;
        }
        exits += r.exits;
    }
    state.counters["exits/s"] = benchmark::Counter(static_cast<double>(exits), benchmark::Counter::kIsRate);
    state.counters["exits"] = static_cast<double>(exits / state.iterations());
}

// A 1 GiB RAM slot starting at 0 (no low ROM alias, no devices), logging,
// and a guest that writes one byte to every `stride`-th page from 2 MiB to
// the end of RAM, then OUTs to port 0x80, and starts over:
//   again: mov rax,rdi
//   next:  cmp rax,rdx; jae done; mov byte [rax],1; add rax,rsi; jmp next
//   done:  out 0x80,al; jmp again
struct DirtyVm {
    static constexpr uint64_t kFirst = 2ull << 20;
    RealHostInputs inputs{-1, ""};
    std::vector<DirtyBitmap> seen;  // what the sink got, when it keeps them
    Session runner;
    Machine& machine;
    const MemslotListener::Slot* slot = nullptr;

    static MachineLayout layout() {
        MachineLayout l = MachineLayout::default_layout();
        l.ram_size = kGiB;
        l.rom_low_alias = false;
        l.devices.clear();
        return l;
    }

    // permille: 0, 1, 10, 100 or 1000 (0%, 0.1%, 1%, 10%, 100%).
    DirtyVm(int permille, DirtySink sink, DirtyLogMode mode = DirtyLogMode::Bitmap)
        : runner(kvm_session(layout(), std::move(sink), mode), inputs), machine(runner.machine()) {
        const uint8_t code[] = {0x48, 0x89, 0xf8, 0x48, 0x39, 0xd0, 0x73, 0x08, 0xc6, 0x00, 0x01,
                                0x48, 0x01, 0xf0, 0xeb, 0xf3, 0xe6, 0x80, 0xeb, 0xec};
        const std::string path = (std::filesystem::temp_directory_path() / ("kvmrr-dirty-" + std::to_string(getpid()))).string();
        {
            const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0 || write(fd, code, sizeof code) != static_cast<ssize_t>(sizeof code)) throw Error("cannot write " + path);
            close(fd);
        }
        const uint64_t stride = permille == 0 ? 1 : 1000 / permille;
        const uint64_t start = permille == 0 ? kGiB : kFirst;  // 0%: start at the end
        runner.load(GuestImage::raw(path, 0x100000, 0x100000, CpuMode::Long), {start, stride * kPageSize, kGiB});
        std::filesystem::remove(path);
        runner.memslots().set_global_dirty_log(true);
        for (const auto& [gpa, s] : runner.memslots().slots())
            if (s.spec.size == kGiB) slot = &s;
        if (!slot) throw Error("no 1 GiB slot");
    }

    // Runs the guest through one pass of writes.
    void dirty() {
        Vcpu& vcpu = runner.vcpu();
        for (;;) {
            const std::optional<VcpuExit> e = vcpu.run();
            if (!e) continue;
            if (e->kind == ExitKind::Io && e->addr == 0x80) return;
            throw Error(std::string("dirty guest: unexpected exit ") + exit_kind_name(e->kind));
        }
    }
};

int percent_arg(const benchmark::State& s) { return static_cast<int>(s.range(0)); }  // in permille

// `harvest` is timed and returns the dirty pages it saw, or `counted` after
// the timing when it does not count them itself.
template <class Harvest, class Counted>
void harvest_bench(benchmark::State& state, DirtyVm& vm, Harvest&& harvest, Counted&& counted) {
    // A first pass faults the guest's pages in; its dirty pages are
    // harvested and thrown away.
    try {
        vm.dirty();
        vm.runner.memslots().harvest();
    } catch (const Error& e) {
        state.SkipWithError(e.what());
        return;
    }
    uint64_t pages = 0;
    for (auto _ : state) {
        try {
            vm.dirty();
        } catch (const Error& e) {
            state.SkipWithError(e.what());
            break;
        }
        const auto t0 = std::chrono::steady_clock::now();
        uint64_t n = 0;
        try {
            n = harvest();
        } catch (const Error& e) {
            state.SkipWithError(e.what());
            break;
        }
        state.SetIterationTime(seconds_since(t0));
        pages += n + counted();
    }
    state.counters["dirty pages"] = static_cast<double>(pages / state.iterations());
    char label[16];
    std::snprintf(label, sizeof label, "%g%%", percent_arg(state) / 10.0);
    state.SetLabel(label);
}

void BM_HarvestBare(benchmark::State& state) {
    if (kvm_missing(state)) return;
    DirtyVm vm(percent_arg(state), {});
    const int fd = dynamic_cast<KvmVm&>(vm.runner.vm()).fd();
    const uint32_t slot = vm.slot->spec.slot;
    const uint64_t pages = kGiB / kPageSize;
    std::vector<uint64_t> bitmap(pages / 64);
    harvest_bench(state, vm, [&]() -> uint64_t {
        kvm_dirty_log log{};
        log.slot = slot;
        log.dirty_bitmap = bitmap.data();
        if (ioctl(fd, KVM_GET_DIRTY_LOG, &log) != 0) throw Error("KVM_GET_DIRTY_LOG failed");
        kvm_clear_dirty_log clear{};
        clear.slot = slot;
        clear.first_page = 0;
        clear.num_pages = static_cast<uint32_t>(pages);
        clear.dirty_bitmap = bitmap.data();
        if (ioctl(fd, KVM_CLEAR_DIRTY_LOG, &clear) != 0) throw Error("KVM_CLEAR_DIRTY_LOG failed");
        return 0;
    }, [&] {
        uint64_t n = 0;
        for (uint64_t w : bitmap) n += static_cast<uint64_t>(__builtin_popcountll(w));
        return n;
    });
}

void BM_HarvestKvmrr(benchmark::State& state) {
    if (kvm_missing(state)) return;
    uint64_t pages = 0;
    std::vector<uint64_t> addrs;
    DirtyVm vm(percent_arg(state), [&](const DirtyBitmap& b) {
        b.page_addresses(addrs);
        pages += addrs.size();
    });
    harvest_bench(state, vm, [&]() -> uint64_t {
        pages = 0;
        vm.runner.memslots().harvest();
        return pages;
    }, [] { return uint64_t{0}; });
}

// The recorder's harvest: the Recorder emits a DirtyEvent per slot into a
// TraceWriter. The recorder's other taps are on `vm.machine`, which was
// built with other inputs: only the harvest path is measured here.
void record_harvest(benchmark::State& state, DirtyLogMode mode) {
    if (kvm_missing(state)) return;
    DirtyVm vm(percent_arg(state), {}, mode);
    RealHostInputs real(-1, "");
    Recorder rec(real, RecorderOptions{});
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("kvmrr-harvest-" + std::to_string(getpid()) + dirty_log_mode_name(mode) + ".trace"))
                                 .string();
    // The recorder's sink is the writer itself; the dirty pages are
    // counted after the timing, from the bitmaps the listener kept.
    {
        TraceWriter writer(path, TraceHeader{});
        rec.start(writer, vm.machine, &vm.runner.memslots());
        harvest_bench(state, vm, [&]() -> uint64_t {
            vm.runner.memslots().harvest();
            return 0;
        }, [&] {
            uint64_t n = 0;
            for (const auto& [gpa, s] : vm.runner.memslots().slots())
                if (s.spec.flags & kMemLogDirtyPages) n += s.bitmap.count();
            return n;
        });
        rec.detach();
        writer.close();
        if (state.iterations() > 0)
            state.counters["trace bytes/iter"] =
                static_cast<double>(std::filesystem::file_size(path)) / static_cast<double>(state.iterations());
    }
    std::filesystem::remove(path);
}

void BM_HarvestRecord(benchmark::State& state) { record_harvest(state, DirtyLogMode::Bitmap); }

void BM_HarvestRingDrain(benchmark::State& state) {
    if (kvm_missing(state)) return;
    DirtyVm vm(percent_arg(state), {}, DirtyLogMode::Ring);
    auto& kvm_vm = dynamic_cast<KvmVm&>(vm.runner.vm());
    harvest_bench(state, vm, [&]() -> uint64_t { return kvm_vm.drain_dirty_rings(); }, [] { return uint64_t{0}; });
    // The drained entries wait in pending bitmaps: drop them between rounds.
    state.counters["ring-full exits"] = static_cast<double>(kvm_vm.ring_full_exits());
}

void BM_HarvestRingRecord(benchmark::State& state) { record_harvest(state, DirtyLogMode::Ring); }

BENCHMARK(BM_BareKvmRunPioLoop)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10);
BENCHMARK(BM_KvmrrRunPioLoop)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10);

// Harvests of a clean or lightly dirtied slot take microseconds and vary
// with the host: many iterations. A 10 % or 100 % pass makes the guest
// take tens of thousands of write faults first: fewer.
void harvest_iterations(benchmark::internal::Benchmark* b, int permille) {
    b->UseManualTime()->Unit(benchmark::kMicrosecond)->Arg(permille)->Iterations(permille >= 1000 ? 20 : permille >= 100 ? 40 : 200);
}
const int kRegisterHarvests = [] {
    const std::pair<const char*, void (*)(benchmark::State&)> suites[] = {
        {"BM_HarvestBare", BM_HarvestBare},           {"BM_HarvestKvmrr", BM_HarvestKvmrr},
        {"BM_HarvestRecord", BM_HarvestRecord},       {"BM_HarvestRingDrain", BM_HarvestRingDrain},
        {"BM_HarvestRingRecord", BM_HarvestRingRecord},
    };
    for (const auto& [name, fn] : suites)
        for (int permille : {0, 1, 10, 100, 1000}) harvest_iterations(benchmark::RegisterBenchmark(name, fn), permille);
    return 0;
}();

}  // namespace
}  // namespace kvmrr
