// The replayed guest as the GDB stub sees it (replay/gdb_server.h): the
// replay's vCPU and the memory behind it, which is only read.
//
// Breakpoints go where the vCPU can stop: on the emulator all of them
// into its code hook, and watchpoints into its memory hook. On KVM the hardware ones (GDB's `hbreak`) into the
// CPU's four debug registers; the software ones (`break`) by stepping
// the guest one instruction at a time and stopping where one is, which is
// slower but writes nothing into the guest (no INT3 that the guest or a
// device's DMA could read back) and works wherever KVM's single step does
// (QEMU 7.2's nested SVM, which the nested-KVM runner uses, fires neither
// the debug registers nor an INT3's intercept in its guests).
#pragma once

#include "core/vcpu/vcpu.h"
#include "replay/gdb_server.h"
#include "replay/guest_memory_reader.h"

namespace kvmrr {

class ReplayedGuest final : public GdbTarget {
public:
    ReplayedGuest(Vcpu& vcpu, const MemoryAddressSpace& memory) : vcpu_(vcpu), memory_(memory) {}

    kvm_regs regs() override { return vcpu_.regs(); }
    kvm_sregs sregs() override { return vcpu_.sregs(); }
    bool read_memory(uint64_t linear, void* out, size_t n) override {
        return memory_.read_linear(vcpu_.sregs(), linear, out, n);
    }
    bool set_stops(const GdbStops& stops) override;
    bool stop_wanted(uint64_t linear) override;
    bool watches() const override { return vcpu_.stops_anywhere(); }
    std::optional<uint64_t> position() override { return vcpu_.instructions_retired(); }
    std::optional<FpuState> fpu() override { return vcpu_.fpu(); }

private:
    Vcpu& vcpu_;
    GuestMemoryReader memory_;
    GdbStops stops_;
};

}  // namespace kvmrr
