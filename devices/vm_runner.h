// VmRunner: a Machine with a KVM VM and one vCPU in front of it.
//
// It keeps the VM's memslots equal to the machine's memory FlatView (a
// MemslotListener on the memory address space), loads a guest image, sets
// up the vCPU for the image's mode, and runs it until something ends the
// run. Creating one needs /dev/kvm; everything it uses is tested without.
#pragma once

#include <memory>
#include <vector>

#include "core/guest_image.h"
#include "core/kvm/kvm.h"
#include "core/kvm/memslot_listener.h"
#include "core/kvm/run_loop.h"
#include "devices/machine.h"

namespace kvmrr {

struct RunOptions {
    RunLimits limits;
    ExitPolicy policy;
    std::vector<uint64_t> args;  // rdi, rsi, rdx, rcx at entry (long mode)
    bool global_dirty_log = false;
};

class VmRunner {
public:
    VmRunner(Machine& machine, KvmSystem& kvm, DirtySink dirty_sink = {});
    ~VmRunner();
    VmRunner(const VmRunner&) = delete;
    VmRunner& operator=(const VmRunner&) = delete;

    // Loads the image and sets the vCPU up to start it.
    void load(const GuestImage& image, const std::vector<uint64_t>& args = {});
    RunResult run(const RunOptions& opts, ExitObserver* observer = nullptr);

    MemslotListener& memslots() { return *slots_; }
    KvmVm& vm() { return vm_; }
    KvmVcpu& vcpu() { return *vcpu_; }

private:
    Machine& machine_;
    KvmVm vm_;
    std::unique_ptr<MemslotListener> slots_;
    std::unique_ptr<KvmVcpu> vcpu_;
};

}  // namespace kvmrr
