// Register transfer between KVM's kvm_regs/kvm_sregs and a Unicorn engine
// (internal to core/emu).
//
// Unicorn has no call that loads a segment's cached part (base, limit,
// attributes) directly: writing a selector loads it the way the CPU would,
// from the GDT in protected mode or as selector * 16 in real mode. So a
// kvm_sregs is accepted only where that gives the same result: real mode
// with every base equal to selector * 16, or long mode with paging and a
// GDT in guest memory that holds the descriptors the selectors name (what
// cpu_setup.cc writes). Real mode runs in a Legacy32 engine, which follows
// the guest into 32-bit protected mode and back; there, segments read back
// from the GDT descriptor their selector names (what the CPU loaded, unless
// the guest changed the GDT since). The x86 reset state is accepted too:
// its CS base 0xffff0000 is run from the low alias 0xf0000. Anything else is refused with a kvmrr::Error
// rather than run differently from KVM.
#pragma once

#include <linux/kvm.h>

#include "core/emu/emu_engine.h"

namespace kvmrr::emu {

// The control-register and EFER bits the emulator looks at (x86).
inline constexpr uint64_t kCr0Pe = 1, kCr0Pg = 1ull << 31, kCr4Pae = 1u << 5;
inline constexpr uint32_t kMsrEfer = 0xc0000080;
inline constexpr uint64_t kEferSce = 1, kEferLme = 1u << 8, kEferLma = 1u << 10, kEferNxe = 1u << 11;

// The engine width a kvm_sregs needs; throws for modes the emulator lacks.
CpuWidth width_for(const kvm_sregs& s);

kvm_regs read_regs(uc_engine* uc, CpuWidth w);
void write_regs(uc_engine* uc, CpuWidth w, const kvm_regs& r);
// `shadow` is the last kvm_sregs written; the fields Unicorn can report
// (control registers, EFER, selectors, descriptor tables) replace its own.
kvm_sregs read_sregs(uc_engine* uc, CpuWidth w, const kvm_sregs& shadow);
void write_sregs(uc_engine* uc, CpuWidth w, const kvm_sregs& s);
// Where uc_emu_start begins: RIP, or EIP (the offset in CS) in a Legacy32
// engine.
uint64_t start_address(uc_engine* uc, CpuWidth w);
// CS's base as the CPU has it (selector * 16 in real mode, the GDT's
// descriptor in protected mode), and CS base + EIP.
uint64_t cs_base(uc_engine* uc, CpuWidth w);
uint64_t linear_pc(uc_engine* uc, CpuWidth w);
// A segment register as kvm_segment, for a Legacy32 or Long64 engine
// (long mode: the selector only).
kvm_segment read_segment(uc_engine* uc, CpuWidth w, int reg);
kvm_segment segment_from_descriptor(uint16_t selector, uint64_t descriptor);
bool is_reset_cs(const kvm_segment& cs);
// The state a KVM vCPU has after KVM_CREATE_VCPU (x86 reset).
kvm_sregs reset_sregs();
// The x87 and SSE registers in KVM_GET_FPU's form (FXSAVE's: ST(0) to
// ST(7) in stack order, the abridged tag byte); XMM8-15 only in a Long64
// engine.
kvm_fpu read_fpu(uc_engine* uc, CpuWidth w);
// The FPU every vCPU starts with, as QEMU's reset and KVM leave it
// (FNINIT's state, MXCSR 0x1F80: fixtures/firmware/fpu_reset.S), in a
// fresh engine:
// Unicorn 2.0.1 leaves the control word and MXCSR 0, every exception
// unmasked, and the tags "zero".
void reset_fpu(uc_engine* uc);

}  // namespace kvmrr::emu
