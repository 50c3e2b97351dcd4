// The replayed guest's registers as the GDB stub (replay/gdb_server.h)
// shows them: a target description in one of GDB's x86 layouts
// (replay/gdb_arch.h) and the 'g' and 'p' replies in its order.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>

#include "core/vcpu/vcpu.h"
#include "replay/gdb_arch.h"

namespace kvmrr {

// What the registers are read from; `fpu` null where the vCPU cannot
// say (its registers are then "unavailable", as MXCSR is where it lacks
// that).
struct GdbCpuView {
    const kvm_regs& regs;
    const kvm_sregs& sregs;
    const FpuState* fpu;
};

// The target description (qXfer:features:read:target.xml).
const std::string& gdb_target_xml(GdbArch arch);
// Every register in its order, as a 'g' reply holds them.
std::string gdb_registers_hex(GdbArch arch, const GdbCpuView& cpu);
// One register (the 'p' packet), or "" for a number past the last.
std::string gdb_register_hex(GdbArch arch, const GdbCpuView& cpu, unsigned number);
// `v`'s low `bytes` bytes as hex, least significant first: how the
// protocol sends registers and memory (bytes past 8 are 0).
std::string gdb_hex_le(uint64_t v, unsigned bytes);
// The x87 tag word as FSTENV stores it (two bits for each physical
// register: valid, zero, special, empty) from FXSAVE's abridged one (a bit
// for each: not empty) and the registers' values, as the CPU has it.
uint16_t gdb_full_ftag(const kvm_fpu& fpu);

}  // namespace kvmrr
