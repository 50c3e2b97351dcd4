#include "vmm/session.h"

#include "core/emu/emu_vcpu.h"
#include "core/emu/emu_vm.h"
#include "core/error.h"
#include "core/kvm/kvm.h"
#include "core/kvm/kvm_pvm.h"
#include "core/vcpu/cpu_setup.h"
#include "core/vcpu/hidden_cpuid.h"
#include "vmm/pc_board.h"
#include "vmm/replay_vm.h"

namespace kvmrr {

namespace {

constexpr uint32_t kUsualKvmSlots = 509;  // KVM's table on x86 when a trace does not say

// Watches one output stream for `text`, then tells the machine to stop.
std::function<void(uint8_t)> watch_output(std::function<void(uint8_t)> out, const std::string& text,
                                          std::function<void()> matched) {
    if (text.empty()) return out;
    return [out = std::move(out), text, matched = std::move(matched), tail = std::string()](uint8_t b) mutable {
        if (out) out(b);
        tail.push_back(static_cast<char>(b));
        if (tail.size() > text.size()) tail.erase(0, tail.size() - text.size());
        if (tail == text) matched();
    };
}

Machine::DmaObserver dma_tap(SessionObserver* observer) {
    if (!observer) return {};
    return [observer](uint64_t gpa, std::span<const uint8_t> bytes) { observer->dma_write(gpa, bytes); };
}

Machine::DmaObserver dma_read_tap(SessionObserver* observer) {
    if (!observer) return {};
    return [observer](uint64_t gpa, std::span<const uint8_t> bytes) { observer->dma_read(gpa, bytes); };
}

}  // namespace

Session::Session(const SessionConfig& config, HostInputs& inputs, SessionObserver* observer)
    : observer_(observer),
      machine_(std::make_unique<Machine>(
          MachineConfig{config.board, config.layout, config.firmware, config.disk_sectors, config.disk_geometry,
                        config.ticks_between_exits,
                        config.clock,
                        watch_output(config.serial_out, config.stop_at_output, [this] { machine_->request_output_stop(); }),
                        watch_output(config.debugcon_out, config.stop_at_output, [this] { machine_->request_output_stop(); }),
                        dma_tap(observer), dma_read_tap(observer)},
          inputs)) {
    AccelChoice choice = choose_accel(config.accel, config.board, config.deterministic_cpu);
    accel_ = choice.accel;
    fallback_reason_ = std::move(choice.fallback_reason);
    // On kvm-pvm the guest's CPUID is the host's whatever KVM_SET_CPUID2
    // says (seen with fixtures/firmware/tsc_probe.bin): left to choose,
    // --deterministic-cpu takes the emulator there (choose_accel); asked
    // for KVM, it refuses rather than hide nothing.
    if (accel_ == Accel::Kvm && config.deterministic_cpu && host_kvm_is_pvm())
        throw Error("--deterministic-cpu cannot hide anything on this host's KVM: " + kvm_pvm_limits() +
                    ", and shows its guests the host's own CPUID; use --accel emu");
    if (accel_ == Accel::Emu && config.dirty_mode == DirtyLogMode::Ring)
        throw Error("the dirty ring is a KVM feature and this run is on the emulator" +
                    (fallback_reason_.empty() ? std::string() : " (" + fallback_reason_ + ")") +
                    ": use the bitmap mode, or KVM");
    KvmVm* kvm_vm = nullptr;
    switch (accel_) {
        case Accel::Kvm: {
            kvm_ = std::make_unique<KvmSystem>();
            auto vm = std::make_unique<KvmVm>(*kvm_, config.dirty_mode, config.dirty_ring_entries);
            kvm_vm = vm.get();
            vm_ = std::move(vm);
            break;
        }
        case Accel::Emu: vm_ = std::make_unique<EmuVm>(); break;
        default: vm_ = std::make_unique<ReplayVm>(config.max_memslots ? config.max_memslots : kUsualKvmSlots);
    }
    slots_ = std::make_unique<MemslotListener>(*vm_, config.dirty_sink);
    machine_->memory_space().add_listener(*slots_);
    if (kvm_vm) {
        auto vcpu = std::make_unique<KvmVcpu>(*kvm_vm, 0);
        std::vector<kvm_cpuid_entry2> cpuid = kvm_->supported_cpuid();
        // The pc board is a PC, not a KVM guest: without the hypervisor
        // leaves firmware does not take the paravirtual paths (kvmclock)
        // that QEMU's TCG and the emulator do not offer either.
        if (config.board == Board::Pc)
            std::erase_if(cpuid, [](const kvm_cpuid_entry2& e) { return e.function >= 0x40000000 && e.function < 0x50000000; });
        if (config.deterministic_cpu) hide_nondeterministic_cpuid(cpuid);
        vcpu->set_cpuid(cpuid);
        vcpu_ = std::move(vcpu);
    } else if (accel_ == Accel::Emu) {
        auto vcpu = std::make_unique<EmuVcpu>(static_cast<EmuVm&>(*vm_), 0);
        vcpu->use_pc_cpuid(config.board == Board::Pc);
        vcpu->hide_nondeterministic_cpuid(config.deterministic_cpu);
        vcpu_ = std::move(vcpu);
    }
    // On the virtual clock the guest's TSC is the board's time too, where
    // the accelerator can trap RDTSC (the emulator); KVM cannot.
    if (vcpu_ && config.clock == ClockMode::Virtual && machine_->pc()) vcpu_->set_tsc_source(machine_->pc());
}

Session::~Session() {
    // The vCPU goes first (the emulated one runs in the VM's engine), then
    // the slots, then the VM, then the machine.
    vcpu_.reset();
    machine_->memory_space().remove_listener(*slots_);
}

Vcpu& Session::vcpu() {
    if (!vcpu_) throw Error("this session has no vCPU (it replays devices only)");
    return *vcpu_;
}

void Session::load(const GuestImage& image, const std::vector<uint64_t>& args) {
    if (args.size() > 4) throw Error("at most 4 guest arguments (rdi, rsi, rdx, rcx)");
    image.load_into(machine_->memory_space());
    if (!vcpu_) return;
    CpuState st = image.mode == CpuMode::Long ? long_mode_state(machine_->memory_space(), vcpu_->sregs(), image.entry)
                                              : real_mode_state(vcpu_->sregs(), image.entry);
    unsigned long long* regs[4] = {&st.regs.rdi, &st.regs.rsi, &st.regs.rdx, &st.regs.rcx};
    for (size_t i = 0; i < args.size(); ++i) *regs[i] = args[i];
    vcpu_->set_sregs(st.sregs);
    vcpu_->set_regs(st.regs);
}

void Session::reset_cpu() {
    kvm_sregs s = vcpu().sregs();
    auto seg = [](kvm_segment& g, uint16_t sel, uint64_t base, uint8_t type) {
        g.selector = sel;
        g.base = base;
        g.limit = 0xffff;
        g.type = type;
        g.present = 1;
        g.dpl = 0;
        g.db = 0;
        g.s = 1;
        g.l = 0;
        g.g = 0;
        g.avl = 0;
        g.unusable = 0;
    };
    seg(s.cs, 0xf000, 0xffff0000, 0xb);  // execute/read, accessed
    for (kvm_segment* g : {&s.ds, &s.es, &s.fs, &s.gs, &s.ss}) seg(*g, 0, 0, 0x3);
    s.cr0 = 0x60000010;  // CD, NW, ET
    s.cr2 = s.cr3 = s.cr4 = 0;
    s.efer = 0;
    s.gdt.base = s.idt.base = 0;
    s.gdt.limit = s.idt.limit = 0xffff;
    vcpu().set_sregs(s);
    kvm_regs r{};
    r.rip = 0xfff0;
    r.rflags = 0x2;
    r.rdx = 0x600;  // the CPU's family/model/stepping signature, as after RESET
    vcpu().set_regs(r);
}

RunResult Session::run(const RunOptions& opts) {
    slots_->set_global_dirty_log(opts.global_dirty_log);
    const ExitTargets targets{machine_->io_space(), machine_->memory_space()};
    return run_vcpu(vcpu(), targets, opts.policy, opts.limits, machine_->exit_request(), observer_, opts.handler,
                    machine_->interrupts());
}

}  // namespace kvmrr
