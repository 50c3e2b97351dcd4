// VmRunner: a Machine with a VM and one vCPU in front of it, on KVM or on
// the emulator (Accel, core/kvm/accel.h).
//
// It keeps the VM's memslots equal to the machine's memory FlatView (a
// MemslotListener on the memory address space), loads a guest image, sets
// up the vCPU for the image's mode, and runs it until something ends the
// run. Accel::Kvm needs /dev/kvm; Accel::Emu runs anywhere; Accel::Auto
// takes KVM where it can be used.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/guest_image.h"
#include "core/kvm/accel.h"
#include "core/kvm/kvm.h"
#include "core/kvm/memslot_listener.h"
#include "core/kvm/run_loop.h"
#include "core/kvm/vcpu.h"
#include "core/kvm/vm_backend.h"
#include "devices/machine.h"

namespace kvmrr {

struct RunOptions {
    RunLimits limits;
    ExitPolicy policy;
    std::vector<uint64_t> args;  // rdi, rsi, rdx, rcx at entry (long mode)
    bool global_dirty_log = false;
    ExitHandlerFn handler;  // instead of dispatching to the devices (guest replay)
};

class VmRunner {
public:
    // Throws kvmrr::Error when the accelerator cannot be used (Kvm without
    // /dev/kvm), or the dirty ring is asked of the emulator or of a KVM
    // without one.
    VmRunner(Machine& machine, Accel accel = Accel::Auto, DirtySink dirty_sink = {},
             DirtyLogMode dirty_mode = DirtyLogMode::Bitmap, uint32_t ring_entries = kDefaultDirtyRingEntries);
    ~VmRunner();
    VmRunner(const VmRunner&) = delete;
    VmRunner& operator=(const VmRunner&) = delete;

    // Loads the image and sets the vCPU up to start it.
    void load(const GuestImage& image, const std::vector<uint64_t>& args = {});
    RunResult run(const RunOptions& opts, ExitObserver* observer = nullptr);

    MemslotListener& memslots() { return *slots_; }
    VmBackend& vm() { return *vm_; }
    Vcpu& vcpu() { return *vcpu_; }
    Accel accel() const { return accel_; }  // Kvm or Emu, never Auto
    // The KVM system when running on KVM, else null (capability queries).
    KvmSystem* kvm() { return kvm_.get(); }
    // Why Auto did not take KVM ("" when it did, or was not asked to choose).
    const std::string& fallback_reason() const { return fallback_reason_; }

private:
    Machine& machine_;
    Accel accel_;
    std::string fallback_reason_;
    std::unique_ptr<KvmSystem> kvm_;
    std::unique_ptr<VmBackend> vm_;
    std::unique_ptr<MemslotListener> slots_;
    std::unique_ptr<Vcpu> vcpu_;
};

}  // namespace kvmrr
