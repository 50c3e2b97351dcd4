#include "replay/gdb_arch.h"

namespace kvmrr {

std::optional<GdbArch> parse_gdb_arch(std::string_view name) {
    if (name == "amd64") return GdbArch::Amd64;
    if (name == "i386") return GdbArch::I386;
    if (name == "i8086") return GdbArch::I8086;
    return std::nullopt;
}

const char* gdb_arch_name(GdbArch arch) {
    return arch == GdbArch::Amd64 ? "amd64" : arch == GdbArch::I386 ? "i386" : "i8086";
}

const char* gdb_arch_bfd_name(GdbArch arch) {
    return arch == GdbArch::Amd64 ? "i386:x86-64" : arch == GdbArch::I386 ? "i386" : "i8086";
}

GdbArch gdb_arch_for(const kvm_sregs& s) {
    if (s.efer & 0x400) return GdbArch::Amd64;  // EFER.LMA
    return s.cr0 & 1 ? GdbArch::I386 : GdbArch::I8086;  // CR0.PE
}

}  // namespace kvmrr
