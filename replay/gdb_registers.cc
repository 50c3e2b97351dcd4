#include "replay/gdb_registers.h"

#include <cstdio>
#include <cstring>
#include <vector>

namespace kvmrr {

namespace {

// Where an x87 or SSE register's value is in kvm_fpu.
enum class Fpu : uint8_t { None, St, Fcw, Fsw, Ftag, Fioff, Fooff, Fop, Xmm, Mxcsr };

// The registers, in the order of the target description and the 'g'
// packet: an integer from the general and system registers (`value`), or
// one from the FPU's (`fpu`, `index`); neither where the replay has
// nothing to show.
struct Reg {
    const char* name;
    unsigned bytes;
    const char* feature;
    const char* type;
    uint64_t (*value)(const kvm_regs&, const kvm_sregs&);
    Fpu fpu = Fpu::None;
    unsigned index = 0;
};

#define GPR(n, f) Reg{n, 8, "org.gnu.gdb.i386.core", "int64", [](const kvm_regs& r, const kvm_sregs&) -> uint64_t { return r.f; }}
#define GPR32(n, f) Reg{n, 4, "org.gnu.gdb.i386.core", "int32", [](const kvm_regs& r, const kvm_sregs&) -> uint64_t { return r.f; }}
#define SEG(n, f) Reg{n, 4, "org.gnu.gdb.i386.core", "int32", [](const kvm_regs&, const kvm_sregs& s) -> uint64_t { return s.f.selector; }}
#define NONE(n, b, feat, ty) Reg{n, b, feat, ty, nullptr}
#define FPU(n, b, feat, ty, kind, i) Reg{n, b, feat, ty, nullptr, Fpu::kind, i}
#define SYS(n, f) Reg{n, 8, "org.kvmrr.x86.system", "int64", [](const kvm_regs&, const kvm_sregs& s) -> uint64_t { return s.f; }}
#define BASE(n, f) Reg{n, 8, "org.kvmrr.x86.system", "int64", [](const kvm_regs&, const kvm_sregs& s) -> uint64_t { return s.f.base; }}

// GDB's amd64 and i386 layouts (its features/i386/64bit-*.xml and
// 32bit-*.xml): the general registers in each one's order, the FPU, eight
// or sixteen SSE registers, amd64's FS and GS bases; then the system
// registers.
std::vector<Reg> make_table(bool wide) {
    std::vector<Reg> t;
    if (wide) {
        t = {GPR("rax", rax), GPR("rbx", rbx), GPR("rcx", rcx), GPR("rdx", rdx), GPR("rsi", rsi), GPR("rdi", rdi),
             GPR("rbp", rbp), GPR("rsp", rsp), GPR("r8", r8),   GPR("r9", r9),   GPR("r10", r10), GPR("r11", r11),
             GPR("r12", r12), GPR("r13", r13), GPR("r14", r14), GPR("r15", r15)};
    } else {
        t = {GPR32("eax", rax), GPR32("ecx", rcx), GPR32("edx", rdx), GPR32("ebx", rbx),
             GPR32("esp", rsp), GPR32("ebp", rbp), GPR32("esi", rsi), GPR32("edi", rdi)};
    }
    t.push_back(Reg{wide ? "rip" : "eip", wide ? 8u : 4u, "org.gnu.gdb.i386.core", "code_ptr",
                    [](const kvm_regs& r, const kvm_sregs&) -> uint64_t { return r.rip; }});
    t.push_back(Reg{"eflags", 4, "org.gnu.gdb.i386.core", "int32",
                    [](const kvm_regs& r, const kvm_sregs&) -> uint64_t { return r.rflags; }});
    for (const Reg& r : {SEG("cs", cs), SEG("ss", ss), SEG("ds", ds), SEG("es", es), SEG("fs", fs), SEG("gs", gs)})
        t.push_back(r);
    static const char* const st[] = {"st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"};
    for (unsigned i = 0; i < 8; ++i) t.push_back(FPU(st[i], 10, "org.gnu.gdb.i386.core", "i387_ext", St, i));
    // FXSAVE's 64-bit form, which KVM_GET_FPU gives, keeps no selectors
    // for the last instruction and operand.
    const char* const core = "org.gnu.gdb.i386.core";
    for (const Reg& r : {FPU("fctrl", 4, core, "int", Fcw, 0), FPU("fstat", 4, core, "int", Fsw, 0),
                         FPU("ftag", 4, core, "int", Ftag, 0), NONE("fiseg", 4, core, "int"),
                         FPU("fioff", 4, core, "int", Fioff, 0), NONE("foseg", 4, core, "int"),
                         FPU("fooff", 4, core, "int", Fooff, 0), FPU("fop", 4, core, "int", Fop, 0)})
        t.push_back(r);
    static const char* const xmm[] = {"xmm0", "xmm1", "xmm2",  "xmm3",  "xmm4",  "xmm5",  "xmm6",  "xmm7",
                                      "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"};
    for (unsigned i = 0; i < (wide ? 16u : 8u); ++i) t.push_back(FPU(xmm[i], 16, "org.gnu.gdb.i386.sse", "uint128", Xmm, i));
    t.push_back(FPU("mxcsr", 4, "org.gnu.gdb.i386.sse", "int", Mxcsr, 0));
    if (wide) {
        t.push_back(Reg{"fs_base", 8, "org.gnu.gdb.i386.segments", "int64",
                        [](const kvm_regs&, const kvm_sregs& s) -> uint64_t { return s.fs.base; }});
        t.push_back(Reg{"gs_base", 8, "org.gnu.gdb.i386.segments", "int64",
                        [](const kvm_regs&, const kvm_sregs& s) -> uint64_t { return s.gs.base; }});
    }
    for (const Reg& r : {SYS("cr0", cr0), SYS("cr2", cr2), SYS("cr3", cr3), SYS("cr4", cr4), SYS("efer", efer)})
        t.push_back(r);
    // Where 32- and 16-bit code lives, every segment's base (`x/i
    // $cs_base + $pc`); not as GDB's i386 segments feature, with which
    // GDB 13 fails an assertion at `set architecture`.
    if (!wide)
        for (const Reg& r : {BASE("cs_base", cs), BASE("ss_base", ss), BASE("ds_base", ds), BASE("es_base", es),
                             BASE("fs_base", fs), BASE("gs_base", gs)})
            t.push_back(r);
    return t;
}

const std::vector<Reg>& regs_table(GdbArch arch) {
    static const std::vector<Reg> wide = make_table(true), narrow = make_table(false);
    return arch == GdbArch::Amd64 ? wide : narrow;
}

#undef GPR
#undef GPR32
#undef SEG
#undef NONE
#undef FPU
#undef SYS
#undef BASE

// An FPU register's bytes, little-endian as GDB reads them.
std::string fpu_hex(const Reg& reg, const FpuState& state) {
    const kvm_fpu& f = state.regs;
    switch (reg.fpu) {
        case Fpu::St: {
            std::string out;
            for (unsigned i = 0; i < 10; ++i) out += gdb_hex_le(f.fpr[reg.index][i], 1);
            return out;
        }
        case Fpu::Xmm: {
            std::string out;
            for (unsigned i = 0; i < 16; ++i) out += gdb_hex_le(f.xmm[reg.index][i], 1);
            return out;
        }
        case Fpu::Fcw: return gdb_hex_le(f.fcw, reg.bytes);
        case Fpu::Fsw: return gdb_hex_le(f.fsw, reg.bytes);
        case Fpu::Ftag: return gdb_hex_le(gdb_full_ftag(f), reg.bytes);
        case Fpu::Fioff: return gdb_hex_le(f.last_ip & 0xffffffff, reg.bytes);
        case Fpu::Fooff: return gdb_hex_le(f.last_dp & 0xffffffff, reg.bytes);
        case Fpu::Fop: return gdb_hex_le(f.last_opcode, reg.bytes);
        case Fpu::Mxcsr:
            if (!state.has_mxcsr) break;
            return gdb_hex_le(f.mxcsr, reg.bytes);
        case Fpu::None: break;
    }
    return std::string(2 * reg.bytes, 'x');
}

std::string reg_hex(const Reg& reg, const GdbCpuView& cpu) {
    if (reg.value) return gdb_hex_le(reg.value(cpu.regs, cpu.sregs), reg.bytes);
    if (reg.fpu != Fpu::None && cpu.fpu) return fpu_hex(reg, *cpu.fpu);
    return std::string(2 * reg.bytes, 'x');  // unavailable
}

std::string make_target_xml(GdbArch arch) {
    std::string s = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n"
                    "<architecture>" + std::string(gdb_arch_bfd_name(arch)) + "</architecture>\n";
    std::string feature;
    for (const Reg& r : regs_table(arch)) {
        if (feature != r.feature) {
            if (!feature.empty()) s += "</feature>\n";
            feature = r.feature;
            s += "<feature name=\"" + feature + "\">\n";
        }
        s += "<reg name=\"" + std::string(r.name) + "\" bitsize=\"" + std::to_string(8 * r.bytes) + "\" type=\"" + r.type + "\"/>\n";
    }
    return s + "</feature>\n</target>\n";
}

}  // namespace

std::string gdb_hex_le(uint64_t v, unsigned bytes) {
    std::string out;
    char b[3];
    for (unsigned i = 0; i < bytes; ++i) {
        std::snprintf(b, sizeof b, "%02x", static_cast<unsigned>(i < 8 ? (v >> (8 * i)) & 0xff : 0));
        out += b;
    }
    return out;
}

uint16_t gdb_full_ftag(const kvm_fpu& f) {
    const unsigned top = (f.fsw >> 11) & 7;
    uint16_t tags = 0;
    for (unsigned phys = 0; phys < 8; ++phys) {
        unsigned tag = 3;  // empty
        if (f.ftwx & (1u << phys)) {
            const uint8_t* v = f.fpr[(phys - top) & 7];  // R(phys) is ST(phys - TOP)
            uint64_t mantissa = 0;
            std::memcpy(&mantissa, v, 8);
            const unsigned exponent = (v[8] | v[9] << 8) & 0x7fff;
            if (exponent == 0x7fff) tag = 2;                      // infinity or NaN
            else if (exponent == 0 && mantissa == 0) tag = 1;     // zero
            else if (exponent == 0 || !(mantissa >> 63)) tag = 2;  // denormal, or unnormal
            else tag = 0;                                           // valid
        }
        tags |= static_cast<uint16_t>(tag << (2 * phys));
    }
    return tags;
}

const std::string& gdb_target_xml(GdbArch arch) {
    static const std::string amd64 = make_target_xml(GdbArch::Amd64), i386 = make_target_xml(GdbArch::I386),
                             i8086 = make_target_xml(GdbArch::I8086);
    return arch == GdbArch::Amd64 ? amd64 : arch == GdbArch::I386 ? i386 : i8086;
}

std::string gdb_registers_hex(GdbArch arch, const GdbCpuView& cpu) {
    std::string out;
    for (const Reg& reg : regs_table(arch)) out += reg_hex(reg, cpu);
    return out;
}

std::string gdb_register_hex(GdbArch arch, const GdbCpuView& cpu, unsigned number) {
    const std::vector<Reg>& t = regs_table(arch);
    return number < t.size() ? reg_hex(t[number], cpu) : "";
}

}  // namespace kvmrr
