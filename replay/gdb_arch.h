// Which of GDB's x86 architectures the GDB stub (replay/gdb_server.h)
// shows the replayed guest's registers as.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace kvmrr {

// How GDB sees the registers. amd64: 64 bits each. i386: their low 32
// bits, in i386's order (in long mode the upper halves are not shown).
// i8086: i386's registers, with GDB disassembling 16-bit code; GDB's
// `set architecture i386` or `i8086` switches between the two within a
// session (not to amd64: another layout).
enum class GdbArch : uint8_t { Amd64, I386, I8086 };

std::optional<GdbArch> parse_gdb_arch(std::string_view name);  // "amd64", "i386", "i8086"
const char* gdb_arch_name(GdbArch arch);
const char* gdb_arch_bfd_name(GdbArch arch);  // the target description's <architecture>
// The one for code in the mode these registers are in: long mode amd64,
// protected mode i386, real mode i8086.
GdbArch gdb_arch_for(const kvm_sregs& s);

}  // namespace kvmrr
