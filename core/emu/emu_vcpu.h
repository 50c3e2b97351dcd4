// EmuVcpu: a Vcpu that runs the guest in EmuVm's Unicorn engine
// (Accel::Emu).
//
// It returns the exits KVM would, as VcpuExits, so the run loop, the exit
// handler and the recorder do not know which accelerator ran:
//   in/out            Io, one exit per element for string I/O
//   MMIO (no slot, or a write to a read-only slot)
//                     Mmio with the whole access (1..8 bytes)
//   hlt               Hlt
//   any CPU exception (the emulator never delivers through an IDT, and
//   kvmrr guests have none, so on KVM each would triple-fault)
//                     Shutdown
//   fetch from MMIO, ROM or unmapped memory, other emulator errors
//                     InternalError (emulation), see last_error()
// A worker thread runs the guest; ExitHandshake (exit_handshake.h) makes
// its synchronous callbacks look like KVM's exits. regs(), sregs() and the
// destructor first bring the guest to rest. Real mode and long mode are
// supported (emu_registers.h says which kvm_sregs); setting sregs of the
// other mode re-creates the engine and clears the general registers, so
// set sregs before regs, as VmRunner does.
#pragma once

#include <memory>
#include <string>

#include "core/emu/emu_vm.h"
#include "core/vcpu/vcpu.h"

namespace kvmrr {

class EmuVcpu final : public Vcpu {
public:
    // One vCPU per EmuVm; it must not outlive the VM.
    EmuVcpu(EmuVm& vm, unsigned id);
    ~EmuVcpu() override;
    EmuVcpu(const EmuVcpu&) = delete;
    EmuVcpu& operator=(const EmuVcpu&) = delete;

    unsigned id() const override;
    // Waits at most 10 ms for the next exit.
    std::optional<VcpuExit> run() override;
    void complete_exit() override;
    kvm_regs regs() const override;
    void set_regs(const kvm_regs& r) override;
    kvm_sregs sregs() const override;
    void set_sregs(const kvm_sregs& s) override;

    // Why the last InternalError or Shutdown exit happened, in words (""
    // before any).
    std::string last_error() const;
    std::string stop_note() const override;  // "emulator: " and last_error(), or ""
    bool interrupt_window_open() const override;
    void inject_interrupt(uint8_t vector) override;
    void request_interrupt_window(bool on) override;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace kvmrr
