#include "devices/vm_runner.h"

#include "core/error.h"
#include "core/kvm/cpu_setup.h"

namespace kvmrr {

VmRunner::VmRunner(Machine& machine, KvmSystem& kvm, DirtySink dirty_sink) : machine_(machine), vm_(kvm) {
    slots_ = std::make_unique<MemslotListener>(vm_, std::move(dirty_sink));
    machine_.memory_space().add_listener(*slots_);
    vcpu_ = std::make_unique<KvmVcpu>(vm_, 0);
    vcpu_->set_cpuid(kvm.supported_cpuid());
}

VmRunner::~VmRunner() { machine_.memory_space().remove_listener(*slots_); }

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
    return run_vcpu(*vcpu_, targets, opts.policy, opts.limits, machine_.exit_request(), observer);
}

}  // namespace kvmrr
