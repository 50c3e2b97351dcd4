#include "core/emu/emu_registers.h"

#include <iterator>

#include "core/error.h"

namespace kvmrr::emu {

namespace {

constexpr uint64_t kCr0Pe = 1, kCr0Pg = 1ull << 31, kEferLma = 1u << 10;
constexpr uint32_t kMsrEfer = 0xc0000080;

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

}  // namespace

CpuWidth width_for(const kvm_sregs& s) {
    if (!(s.cr0 & kCr0Pe)) {
        for (const Seg& g : kSegs) {
            const kvm_segment& seg = s.*g.field;
            if (seg.base != static_cast<uint64_t>(seg.selector) << 4)
                throw Error(std::string("emulator: real-mode ") + g.name + " base " + hex(seg.base) +
                            " is not its selector * 16 (" + hex(seg.selector) + "); Unicorn cannot load such a base");
        }
        return CpuWidth::Real16;
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
        seg.selector = static_cast<uint16_t>(get<uint32_t>(uc, g.reg));
        if (w == CpuWidth::Real16) seg.base = static_cast<uint64_t>(seg.selector) << 4;
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
    return (static_cast<uint64_t>(get<uint32_t>(uc, UC_X86_REG_CS) & 0xffff) << 4) + (get<uint32_t>(uc, UC_X86_REG_EIP) & 0xffff);
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

}  // namespace kvmrr::emu
