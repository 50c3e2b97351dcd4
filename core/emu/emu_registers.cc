#include "core/emu/emu_registers.h"

#include <cstring>
#include <iterator>

#include "core/error.h"

namespace kvmrr::emu {

namespace {

template <class T>
void put(uc_engine* uc, int reg, T v, const char* name) {
    const uc_err e = uc_reg_write(uc, reg, &v);
    if (e != UC_ERR_OK) throw Error(std::string("emulator: cannot set ") + name + ": " + uc_error_text(e));
}

template <class T>
T get(uc_engine* uc, int reg) {
    T v{};
    uc_reg_read(uc, reg, &v);
    return v;
}

// Registers by kvm_regs order. Unicorn's 16-bit engine knows only the
// 32-bit names; r8-r15 do not exist there.
struct Gpr {
    unsigned long long kvm_regs::*field;
    int reg64;
    int reg32;
};
const Gpr kGprs[] = {
    {&kvm_regs::rax, UC_X86_REG_RAX, UC_X86_REG_EAX}, {&kvm_regs::rbx, UC_X86_REG_RBX, UC_X86_REG_EBX},
    {&kvm_regs::rcx, UC_X86_REG_RCX, UC_X86_REG_ECX}, {&kvm_regs::rdx, UC_X86_REG_RDX, UC_X86_REG_EDX},
    {&kvm_regs::rsi, UC_X86_REG_RSI, UC_X86_REG_ESI}, {&kvm_regs::rdi, UC_X86_REG_RDI, UC_X86_REG_EDI},
    {&kvm_regs::rsp, UC_X86_REG_RSP, UC_X86_REG_ESP}, {&kvm_regs::rbp, UC_X86_REG_RBP, UC_X86_REG_EBP},
    {&kvm_regs::r8, UC_X86_REG_R8, 0},                {&kvm_regs::r9, UC_X86_REG_R9, 0},
    {&kvm_regs::r10, UC_X86_REG_R10, 0},              {&kvm_regs::r11, UC_X86_REG_R11, 0},
    {&kvm_regs::r12, UC_X86_REG_R12, 0},              {&kvm_regs::r13, UC_X86_REG_R13, 0},
    {&kvm_regs::r14, UC_X86_REG_R14, 0},              {&kvm_regs::r15, UC_X86_REG_R15, 0},
    {&kvm_regs::rip, UC_X86_REG_RIP, UC_X86_REG_EIP}, {&kvm_regs::rflags, UC_X86_REG_RFLAGS, UC_X86_REG_EFLAGS},
};

struct Seg {
    kvm_segment kvm_sregs::*field;
    int reg;
    const char* name;
};
// CS first is not required, but SS before the data segments mirrors what
// a mode switch does.
const Seg kSegs[] = {
    {&kvm_sregs::cs, UC_X86_REG_CS, "cs"}, {&kvm_sregs::ss, UC_X86_REG_SS, "ss"}, {&kvm_sregs::ds, UC_X86_REG_DS, "ds"},
    {&kvm_sregs::es, UC_X86_REG_ES, "es"}, {&kvm_sregs::fs, UC_X86_REG_FS, "fs"}, {&kvm_sregs::gs, UC_X86_REG_GS, "gs"},
};

uint64_t gdt_entry(uc_engine* uc, uint16_t selector) {
    uc_x86_mmr gdt{};
    uc_reg_read(uc, UC_X86_REG_GDTR, &gdt);
    uint64_t d = 0;
    if ((selector & 4) || (selector | 7u) > gdt.limit) return 0;  // LDT or beyond: not a segment we can see
    uc_mem_read(uc, gdt.base + (selector & ~7u), &d, sizeof d);
    return d;
}

bool protected_mode(uc_engine* uc) { return get<uint32_t>(uc, UC_X86_REG_CR0) & kCr0Pe; }

}  // namespace

bool is_reset_cs(const kvm_segment& cs) { return cs.selector == 0xf000 && cs.base == 0xffff0000; }

kvm_segment segment_from_descriptor(uint16_t selector, uint64_t d) {
    kvm_segment s{};
    s.selector = selector;
    s.base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);
    s.limit = static_cast<uint32_t>((d & 0xffff) | ((d >> 32) & 0xf0000));
    s.type = (d >> 40) & 0xf;
    s.s = (d >> 44) & 1;
    s.dpl = (d >> 45) & 3;
    s.present = (d >> 47) & 1;
    s.avl = (d >> 52) & 1;
    s.l = (d >> 53) & 1;
    s.db = (d >> 54) & 1;
    s.g = (d >> 55) & 1;
    if (s.g) s.limit = (s.limit << 12) | 0xfff;
    return s;
}

kvm_segment read_segment(uc_engine* uc, CpuWidth w, int reg) {
    const auto sel = static_cast<uint16_t>(get<uint32_t>(uc, reg));
    if (w == CpuWidth::Legacy32 && protected_mode(uc)) return segment_from_descriptor(sel, gdt_entry(uc, sel));
    kvm_segment s{};
    s.selector = sel;
    s.base = w == CpuWidth::Legacy32 ? static_cast<uint64_t>(sel) << 4 : 0;
    s.limit = 0xffff;
    s.present = s.s = 1;
    s.type = reg == UC_X86_REG_CS ? 0xb : 3;
    return s;
}

CpuWidth width_for(const kvm_sregs& s) {
    if (!(s.cr0 & kCr0Pe)) {
        for (const Seg& g : kSegs) {
            const kvm_segment& seg = s.*g.field;
            // The reset state's CS base 0xffff0000 cannot be loaded; the
            // vCPU runs it from the low alias 0xf0000 (emu_vcpu.h).
            if (g.field == &kvm_sregs::cs && is_reset_cs(seg)) continue;
            if (seg.base != static_cast<uint64_t>(seg.selector) << 4)
                throw Error(std::string("emulator: real-mode ") + g.name + " base " + hex(seg.base) +
                            " is not its selector * 16 (" + hex(seg.selector) + "); Unicorn cannot load such a base");
        }
        return CpuWidth::Legacy32;
    }
    if ((s.cr0 & kCr0Pg) && (s.efer & kEferLma)) return CpuWidth::Long64;
    throw Error("emulator: only real mode and long mode are supported (cr0 " + hex(s.cr0) + ", efer " + hex(s.efer) + ")");
}

kvm_regs read_regs(uc_engine* uc, CpuWidth w) {
    kvm_regs r{};
    for (const Gpr& g : kGprs) {
        if (w == CpuWidth::Long64) {
            r.*g.field = get<uint64_t>(uc, g.reg64);
        } else if (g.reg32) {
            r.*g.field = get<uint32_t>(uc, g.reg32);
        }
    }
    return r;
}

void write_regs(uc_engine* uc, CpuWidth w, const kvm_regs& r) {
    for (const Gpr& g : kGprs) {
        if (w == CpuWidth::Long64) {
            put<uint64_t>(uc, g.reg64, r.*g.field, "a general register");
        } else if (g.reg32) {
            put<uint32_t>(uc, g.reg32, static_cast<uint32_t>(r.*g.field), "a general register");
        }
    }
}

kvm_sregs read_sregs(uc_engine* uc, CpuWidth w, const kvm_sregs& shadow) {
    kvm_sregs s = shadow;
    s.cr0 = get<uint64_t>(uc, UC_X86_REG_CR0);
    s.cr2 = get<uint64_t>(uc, UC_X86_REG_CR2);
    s.cr3 = get<uint64_t>(uc, UC_X86_REG_CR3);
    s.cr4 = get<uint64_t>(uc, UC_X86_REG_CR4);
    for (const Seg& g : kSegs) {
        kvm_segment& seg = s.*g.field;
        if (w == CpuWidth::Long64) {
            seg.selector = static_cast<uint16_t>(get<uint32_t>(uc, g.reg));
        } else {
            seg = read_segment(uc, w, g.reg);
        }
    }
    if (w == CpuWidth::Long64) {
        uc_x86_msr efer{kMsrEfer, 0};
        uc_reg_read(uc, UC_X86_REG_MSR, &efer);
        s.efer = efer.value;
        s.fs.base = get<uint64_t>(uc, UC_X86_REG_FS_BASE);
        s.gs.base = get<uint64_t>(uc, UC_X86_REG_GS_BASE);
    }
    for (auto [reg, table] : {std::pair{UC_X86_REG_GDTR, &s.gdt}, std::pair{UC_X86_REG_IDTR, &s.idt}}) {
        uc_x86_mmr m{};
        uc_reg_read(uc, reg, &m);
        table->base = m.base;
        table->limit = static_cast<uint16_t>(m.limit);
    }
    return s;
}

void write_sregs(uc_engine* uc, CpuWidth w, const kvm_sregs& s) {
    uc_x86_mmr gdt{0, s.gdt.base, s.gdt.limit, 0}, idt{0, s.idt.base, s.idt.limit, 0};
    put(uc, UC_X86_REG_GDTR, gdt, "gdtr");
    put(uc, UC_X86_REG_IDTR, idt, "idtr");
    if (w == CpuWidth::Legacy32) put<uint32_t>(uc, UC_X86_REG_CR0, static_cast<uint32_t>(s.cr0), "cr0");
    if (w == CpuWidth::Long64) {
        // Paging state before CR0, so that the engine never sees PG with
        // half-written tables registers.
        put<uint64_t>(uc, UC_X86_REG_CR3, s.cr3, "cr3");
        put<uint64_t>(uc, UC_X86_REG_CR4, s.cr4, "cr4");
        put(uc, UC_X86_REG_MSR, uc_x86_msr{kMsrEfer, s.efer}, "efer");
        put<uint64_t>(uc, UC_X86_REG_CR0, s.cr0, "cr0");
    }
    for (const Seg& g : kSegs) put<uint32_t>(uc, g.reg, (s.*g.field).selector, g.name);
    if (w == CpuWidth::Long64) {
        put<uint64_t>(uc, UC_X86_REG_FS_BASE, s.fs.base, "fs base");
        put<uint64_t>(uc, UC_X86_REG_GS_BASE, s.gs.base, "gs base");
    }
}

uint64_t start_address(uc_engine* uc, CpuWidth w) {
    if (w == CpuWidth::Long64) return get<uint64_t>(uc, UC_X86_REG_RIP);
    return get<uint32_t>(uc, UC_X86_REG_EIP);  // a UC_MODE_32 engine's begin is EIP itself
}

uint64_t cs_base(uc_engine* uc, CpuWidth w) {
    if (w == CpuWidth::Long64) return 0;
    return read_segment(uc, w, UC_X86_REG_CS).base;
}

uint64_t linear_pc(uc_engine* uc, CpuWidth w) {
    if (w == CpuWidth::Long64) return get<uint64_t>(uc, UC_X86_REG_RIP);
    return cs_base(uc, w) + get<uint32_t>(uc, UC_X86_REG_EIP);
}

kvm_sregs reset_sregs() {
    kvm_sregs s{};
    kvm_segment data{};
    data.limit = 0xffff;
    data.type = 3;
    data.present = 1;
    data.s = 1;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.cs = data;
    s.cs.type = 0xb;
    s.cs.selector = 0xf000;
    s.cs.base = 0xffff0000;
    s.gdt.limit = s.idt.limit = 0xffff;
    s.ldt.limit = s.tr.limit = 0xffff;
    s.ldt.type = 2;
    s.tr.type = 0xb;
    s.ldt.present = s.tr.present = 1;
    s.cr0 = 0x60000010;
    return s;
}

kvm_fpu read_fpu(uc_engine* uc, CpuWidth w) {
    kvm_fpu f{};
    uint64_t v = 0;
    uc_reg_read(uc, UC_X86_REG_FPCW, &v);
    f.fcw = static_cast<uint16_t>(v);
    v = 0;
    uc_reg_read(uc, UC_X86_REG_FPSW, &v);
    f.fsw = static_cast<uint16_t>(v);
    v = 0;
    uc_reg_read(uc, UC_X86_REG_FPTAG, &v);  // the full tag word, a pair of bits per physical register
    for (unsigned i = 0; i < 8; ++i)
        if (((v >> (2 * i)) & 3) != 3) f.ftwx |= static_cast<uint8_t>(1u << i);
    v = 0;
    uc_reg_read(uc, UC_X86_REG_FOP, &v);
    f.last_opcode = static_cast<uint16_t>(v);
    uc_reg_read(uc, UC_X86_REG_FIP, &f.last_ip);
    uc_reg_read(uc, UC_X86_REG_FDP, &f.last_dp);
    // Unicorn's FP0-FP7 are the physical registers R0-R7; ST(i) is
    // R((TOP + i) mod 8).
    const unsigned top = (f.fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; ++i) {
        uint8_t r[16] = {};  // mantissa, then the sign and exponent
        uc_reg_read(uc, UC_X86_REG_FP0 + static_cast<int>((top + i) & 7), r);
        std::memcpy(f.fpr[i], r, 10);
    }
    const unsigned xmms = w == CpuWidth::Long64 ? 16 : 8;
    for (unsigned i = 0; i < xmms; ++i) uc_reg_read(uc, UC_X86_REG_XMM0 + static_cast<int>(i), f.xmm[i]);
    v = 0;
    uc_reg_read(uc, UC_X86_REG_MXCSR, &v);
    f.mxcsr = static_cast<uint32_t>(v);
    return f;
}

void reset_fpu(uc_engine* uc) {
    const uint64_t fcw = 0x37f, mxcsr = 0x1f80, ftag = 0xffff;
    uc_reg_write(uc, UC_X86_REG_FPCW, &fcw);
    uc_reg_write(uc, UC_X86_REG_MXCSR, &mxcsr);
    uc_reg_write(uc, UC_X86_REG_FPTAG, &ftag);
}

}  // namespace kvmrr::emu
