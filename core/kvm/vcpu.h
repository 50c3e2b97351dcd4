// Vcpu: what the run loop and VmRunner need from a virtual CPU, whichever
// accelerator provides it.
//
// KVM's structures stay the currency: run() leaves an exit in a struct
// kvm_run that the vCPU owns (run_area()), exactly as KVM_RUN does, so
// decode_exit, the exit handler and the recorder's taps are the same for
// every accelerator; registers travel as kvm_regs/kvm_sregs. KvmVcpu
// (kvm.h) is the hardware one; EmuVcpu (core/emu/emu_vcpu.h) emulates.
#pragma once

#include <linux/kvm.h>

namespace kvmrr {

class Vcpu {
public:
    virtual ~Vcpu() = default;
    virtual unsigned id() const = 0;
    // Enters the guest until the next exit, which is then in run_area().
    // An exit that needs data (an I/O or MMIO read) is completed by the next
    // run() with what the handler wrote into run_area(). Returns false when
    // interrupted before any exit (a signal for KVM, a bounded wait for the
    // emulator), so that callers can check a deadline and call run() again.
    virtual bool run() = 0;
    virtual kvm_run* run_area() const = 0;
    // Completes the instruction of the exit that run() last returned,
    // without running the guest further: what KVM_RUN with immediate_exit
    // does. Until then the registers are not defined alike everywhere
    // (after an OUT, RIP may or may not be past it on KVM, depending on
    // whether the host took the fast path or emulated the instruction).
    // A no-op when no I/O or MMIO exit is pending.
    virtual void complete_exit() = 0;
    virtual kvm_regs regs() const = 0;
    virtual void set_regs(const kvm_regs& r) = 0;
    virtual kvm_sregs sregs() const = 0;
    virtual void set_sregs(const kvm_sregs& s) = 0;
};

}  // namespace kvmrr
