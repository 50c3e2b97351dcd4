#include "devices/vm_runner.h"

#include "core/emu/emu_vcpu.h"
#include "core/emu/emu_vm.h"
#include "core/error.h"
#include "core/kvm/cpu_setup.h"

namespace kvmrr {

VmRunner::VmRunner(Machine& machine, Accel accel, DirtySink dirty_sink, DirtyLogMode dirty_mode, uint32_t ring_entries)
    : machine_(machine) {
    if (accel == Accel::Auto) fallback_reason_ = KvmSystem::unavailable_reason();
    accel_ = accel == Accel::Auto ? (fallback_reason_.empty() ? Accel::Kvm : Accel::Emu) : accel;
    if (accel_ == Accel::Emu && dirty_mode == DirtyLogMode::Ring)
        throw Error("the dirty ring is a KVM feature and this run is on the emulator" +
                    (fallback_reason_.empty() ? std::string() : " (" + fallback_reason_ + ")") +
                    ": use the bitmap mode, or KVM");
    KvmVm* kvm_vm = nullptr;
    if (accel_ == Accel::Kvm) {
        kvm_ = std::make_unique<KvmSystem>();
        auto vm = std::make_unique<KvmVm>(*kvm_, dirty_mode, ring_entries);
        kvm_vm = vm.get();
        vm_ = std::move(vm);
    } else {
        vm_ = std::make_unique<EmuVm>();
    }
    slots_ = std::make_unique<MemslotListener>(*vm_, std::move(dirty_sink));
    machine_.memory_space().add_listener(*slots_);
    if (kvm_vm) {
        auto vcpu = std::make_unique<KvmVcpu>(*kvm_vm, 0);
        vcpu->set_cpuid(kvm_->supported_cpuid());
        vcpu_ = std::move(vcpu);
    } else {
        vcpu_ = std::make_unique<EmuVcpu>(static_cast<EmuVm&>(*vm_), 0);
    }
}

VmRunner::~VmRunner() {
    // The vCPU goes first (the emulated one runs in the VM's engine), then
    // the slots, then the VM.
    vcpu_.reset();
    machine_.memory_space().remove_listener(*slots_);
}

void VmRunner::load(const GuestImage& image, const std::vector<uint64_t>& args) {
    image.load_into(machine_.memory_space());
    CpuState st = image.mode == CpuMode::Long ? long_mode_state(machine_.memory_space(), vcpu_->sregs(), image.entry)
                                              : real_mode_state(vcpu_->sregs(), image.entry);
    if (args.size() > 4) throw Error("at most 4 guest arguments (rdi, rsi, rdx, rcx)");
    unsigned long long* regs[4] = {&st.regs.rdi, &st.regs.rsi, &st.regs.rdx, &st.regs.rcx};
    for (size_t i = 0; i < args.size(); ++i) *regs[i] = args[i];
    vcpu_->set_sregs(st.sregs);
    vcpu_->set_regs(st.regs);
}

RunResult VmRunner::run(const RunOptions& opts, ExitObserver* observer) {
    slots_->set_global_dirty_log(opts.global_dirty_log);
    ExitTargets targets{machine_.io_space(), machine_.memory_space()};
    RunResult r = run_vcpu(*vcpu_, targets, opts.policy, opts.limits, machine_.exit_request(), observer, opts.handler);
    if (r.reason == StopReason::Shutdown || r.reason == StopReason::InternalError)
        if (const auto* emu = dynamic_cast<const EmuVcpu*>(vcpu_.get()); emu && !emu->last_error().empty())
            r.note = "emulator: " + emu->last_error();
    return r;
}

}  // namespace kvmrr
