#include "vmm/session.h"

#include "core/emu/emu_vcpu.h"
#include "core/emu/emu_vm.h"
#include "core/error.h"
#include "core/kvm/kvm.h"
#include "core/vcpu/cpu_setup.h"
#include "vmm/replay_vm.h"

namespace kvmrr {

namespace {

constexpr uint32_t kUsualKvmSlots = 509;  // KVM's table on x86 when a trace does not say

Machine::DmaObserver dma_tap(SessionObserver* observer) {
    if (!observer) return {};
    return [observer](uint64_t gpa, std::span<const uint8_t> bytes) { observer->dma_write(gpa, bytes); };
}

}  // namespace

Session::Session(const SessionConfig& config, HostInputs& inputs, SessionObserver* observer)
    : observer_(observer),
      machine_(std::make_unique<Machine>(config.layout, inputs, config.serial_out, dma_tap(observer))) {
    AccelChoice choice = choose_accel(config.accel);
    accel_ = choice.accel;
    fallback_reason_ = std::move(choice.fallback_reason);
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
        vcpu->set_cpuid(kvm_->supported_cpuid());
        vcpu_ = std::move(vcpu);
    } else if (accel_ == Accel::Emu) {
        vcpu_ = std::make_unique<EmuVcpu>(static_cast<EmuVm&>(*vm_), 0);
    }
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

RunResult Session::run(const RunOptions& opts) {
    slots_->set_global_dirty_log(opts.global_dirty_log);
    const ExitTargets targets{machine_->io_space(), machine_->memory_space()};
    return run_vcpu(vcpu(), targets, opts.policy, opts.limits, machine_->exit_request(), observer_, opts.handler);
}

}  // namespace kvmrr
