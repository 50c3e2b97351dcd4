// Long mode on the pc board's emulator: the guest goes from real mode
// through protected mode into long mode as on a CPU, and takes interrupts
// and CPU exceptions through a 64-bit IDT.
//
// The pc board starts in a Legacy32 engine (real and protected mode),
// whose CPUID and EFER have no long mode, and Unicorn cannot turn one into
// a Long64 engine: so the emulator does the entry by hand. It keeps EFER
// itself (RDMSR and WRMSR of EFER), takes the CR0 write that activates long
// mode (paging with EFER.LME), and at the far return or far jump into a
// 64-bit code segment moves the guest's registers into a fresh Long64
// engine, x87 and SSE state included. Between those two, the CPU's
// compatibility mode, the engine runs the guest's 32-bit code with paging
// off (see emu_vcpu_impl.h).
//
// Unicorn reports an exception or interrupt to its hook and stops without
// delivering it, in every mode; the error code comes from
// emu/exception_state.h.
#include <iterator>
#include <utility>

#include "core/emu/emu_vcpu_impl.h"
#include "core/emu/exception_state.h"
#include "core/vcpu/hidden_cpuid.h"
#include "core/error.h"

namespace kvmrr {

using emu::read32;

namespace {

using emu::kCr0Pg;
using emu::kCr4Pae;
using emu::kEferLma;
using emu::kEferLme;
using emu::kEferNxe;
using emu::kEferSce;
using emu::kMsrEfer;
// ModRM's register numbers.
constexpr int kGpr32[8] = {UC_X86_REG_EAX, UC_X86_REG_ECX, UC_X86_REG_EDX, UC_X86_REG_EBX,
                           UC_X86_REG_ESP, UC_X86_REG_EBP, UC_X86_REG_ESI, UC_X86_REG_EDI};

// CPUID leaf 1 EDX: FPU, PSE, TSC, MSR, PAE, CX8, APIC, PGE, CMOV, which
// Unicorn's CPU implements but its CPUID leaves out (a 64-bit Linux
// requires all but APIC: arch/x86/include/asm/required-features.h).
constexpr uint32_t kLeaf1Edx = 1u << 0 | 1u << 3 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 8 | 1u << 9 | 1u << 13 | 1u << 15;
// Leaf 0x80000001 EDX: LM. Not NX, nor SYSCALL: Unicorn 2.0.1's WRMSR keeps
// EFER.NXE and EFER.SCE only where its own CPUID has them, and its SYSCALL
// does nothing.
constexpr uint32_t kLeaf80000001Edx = 1u << 29;

// The x87 and SSE registers a 32-bit engine has, in the order Unicorn
// must be given them (FPSW after the stack, which it places by TOP; FPTAG
// last); each value fits in 16 bytes.
constexpr int kFpuRegs[] = {
    UC_X86_REG_FP0,  UC_X86_REG_FP1,  UC_X86_REG_FP2,  UC_X86_REG_FP3,   UC_X86_REG_FP4,  UC_X86_REG_FP5,  UC_X86_REG_FP6,
    UC_X86_REG_FP7,  UC_X86_REG_FPCW, UC_X86_REG_FPSW, UC_X86_REG_FPTAG, UC_X86_REG_MXCSR, UC_X86_REG_XMM0, UC_X86_REG_XMM1,
    UC_X86_REG_XMM2, UC_X86_REG_XMM3, UC_X86_REG_XMM4, UC_X86_REG_XMM5,  UC_X86_REG_XMM6, UC_X86_REG_XMM7,
};

}  // namespace

void EmuVcpu::Impl::fix_cpuid() {
    const uint32_t leaf = std::exchange(cpuid_fix_leaf, 0);
    uc_engine* uc = eng.uc();
    if (pc_cpuid.load(std::memory_order_relaxed) && (leaf == 1 || leaf == 0x80000001)) {
        uint32_t edx = read32(uc, UC_X86_REG_EDX) | (leaf == 1 ? kLeaf1Edx : kLeaf80000001Edx);
        uc_reg_write(uc, UC_X86_REG_EDX, &edx);
    }
    if (!hidden_cpuid.load(std::memory_order_relaxed)) return;
    for (const auto& [uc_reg, reg] : {std::pair{UC_X86_REG_EAX, CpuidReg::Eax}, std::pair{UC_X86_REG_EBX, CpuidReg::Ebx},
                                     std::pair{UC_X86_REG_ECX, CpuidReg::Ecx}, std::pair{UC_X86_REG_EDX, CpuidReg::Edx}}) {
        const uint32_t hide = nondeterministic_cpuid_bits(leaf, cpuid_fix_subleaf, reg);
        if (!hide) continue;
        uint32_t v = read32(uc, uc_reg) & ~hide;
        uc_reg_write(uc, uc_reg, &v);
    }
}

bool EmuVcpu::Impl::long_mode_step(const uint8_t* code, uint64_t addr, uint32_t size) {
    // RDMSR, WRMSR: 2 bytes; MOV to CR0: 3; then the far transfers.
    if (!compat_mode && (size < 2 || size > 4)) return false;
    uint8_t buf[emu::kMaxInsnLength];
    if (!code) {
        if (size > sizeof buf || !emu::read_linear(eng.uc(), eng.width(), addr, buf, size)) return false;
        code = buf;
    }
    uint32_t i = 0;
    while (i < size && emu::is_legacy_prefix(code[i])) ++i;
    if (i >= size) return false;
    const uint8_t op = code[i];
    if (op == 0x0f && i + 1 < size) {
        const uint8_t op2 = code[i + 1];
        if (op2 == 0x30 || op2 == 0x32) {
            if (read32(eng.uc(), UC_X86_REG_ECX) != kMsrEfer) return false;
            long_step = op2 == 0x30 ? LongStep::Wrmsr : LongStep::Rdmsr;
            return true;
        }
        if (op2 == 0x22 && i + 2 < size && ((code[i + 2] >> 3) & 7) == 0) {
            const uint32_t value = read32(eng.uc(), kGpr32[code[i + 2] & 7]);
            if (compat_mode && !(value & kCr0Pg)) {
                // Leaving long mode: the engine, whose paging is off, runs it.
                compat_mode = false;
                efer &= ~kEferLma;
                return false;
            }
            if (compat_mode || ((value & kCr0Pg) && (efer & kEferLme))) {
                long_step = LongStep::Cr0;
                return true;
            }
        }
        return false;
    }
    if (!compat_mode) return false;
    if (op == 0xcb || op == 0xca) {
        long_step = LongStep::FarReturn;
        return true;
    }
    if (op == 0xea) {
        long_step = LongStep::FarJump;
        return true;
    }
    return false;
}

bool EmuVcpu::Impl::long_mode_by_hand() {
    const LongStep step = std::exchange(long_step, LongStep::None);
    uc_engine* uc = eng.uc();
    const std::string where = " at " + hex(insn_addr);
    auto fail = [&](const std::string& why) {
        post_stop(ExitKind::InternalError, why, KVM_INTERNAL_ERROR_EMULATION);
        return false;
    };
    uint8_t b[emu::kMaxInsnLength] = {};
    if (insn_size > sizeof b || !emu::read_linear(uc, eng.width(), insn_addr, b, insn_size))
        return fail("cannot read the instruction" + where);
    uint32_t i = 0;
    bool op16 = false;  // 32-bit code: 0x66 makes the operand 16-bit
    for (; i < insn_size && emu::is_legacy_prefix(b[i]); ++i) op16 |= b[i] == 0x66;
    const uint32_t eip = read32(uc, UC_X86_REG_EIP);
    const uint32_t next = eip + insn_size;
    auto set = [&](int reg, uint32_t v) { uc_reg_write(uc, reg, &v); };

    switch (step) {
        case LongStep::Rdmsr:
            set(UC_X86_REG_EAX, static_cast<uint32_t>(efer));
            set(UC_X86_REG_EDX, static_cast<uint32_t>(efer >> 32));
            set(UC_X86_REG_EIP, next);
            return true;
        case LongStep::Wrmsr: {
            const uint64_t v = read32(uc, UC_X86_REG_EAX) | uint64_t{read32(uc, UC_X86_REG_EDX)} << 32;
            efer = (v & (kEferSce | kEferLme | kEferNxe)) | (efer & kEferLma);
            set(UC_X86_REG_EIP, next);
            return true;
        }
        case LongStep::Cr0: {
            const uint32_t value = read32(uc, kGpr32[b[i + 2] & 7]);
            if (!compat_mode) {
                // Long mode needs PAE; without it the CPU raises #GP(0).
                if (!(read32(uc, UC_X86_REG_CR4) & kCr4Pae)) return deliver_or_shut_down(13, 0);
                compat_mode = true;
                efer |= kEferLma;
                // The engine's paging stays off (legacy paging would read
                // the 4-level tables as PAE's 3).
                set(UC_X86_REG_CR0, static_cast<uint32_t>(value & ~kCr0Pg));
            }
            guest_cr0 = value;
            set(UC_X86_REG_EIP, next);
            return true;
        }
        case LongStep::FarReturn:
        case LongStep::FarJump: {
            const unsigned n = op16 ? 2 : 4;
            const kvm_segment ss = emu::read_segment(uc, eng.width(), UC_X86_REG_SS);
            uint32_t esp = read32(uc, UC_X86_REG_ESP), offset = 0, selector = 0;
            if (step == LongStep::FarReturn) {
                if (!emu::read_linear(uc, eng.width(), ss.base + esp, &offset, n) ||
                    !emu::read_linear(uc, eng.width(), ss.base + esp + n, &selector, 2))
                    return fail("cannot read the far return's stack" + where);
                const uint32_t imm = b[i] == 0xca ? uint32_t{b[i + 1]} | uint32_t{b[i + 2]} << 8 : 0;
                esp += 2 * n + imm;
            } else {
                std::memcpy(&offset, b + i + 1, n);
                std::memcpy(&selector, b + i + 1 + n, 2);
            }
            const auto sel = static_cast<uint16_t>(selector);
            uc_x86_mmr gdt{};
            uc_reg_read(uc, UC_X86_REG_GDTR, &gdt);
            uint64_t d = 0;
            if ((sel & 4) || (sel | 7u) > gdt.limit || !emu::read_linear(uc, eng.width(), gdt.base + (sel & ~7u), &d, 8))
                return deliver_or_shut_down(13, sel & 0xfffcu);
            if ((d >> 53) & 1) {
                std::string why;
                if (!enter_long_mode(sel, offset, esp, d, why)) return fail(why + where);
                return true;
            }
            // Another 32-bit segment: still compatibility mode.
            uc_reg_write(uc, UC_X86_REG_CS, &sel);
            set(UC_X86_REG_EIP, offset);
            set(UC_X86_REG_ESP, esp);
            return true;
        }
        case LongStep::None:
            break;
    }
    return true;
}

bool EmuVcpu::Impl::enter_long_mode(uint16_t cs, uint64_t rip, uint64_t rsp, uint64_t descriptor, std::string& why) {
    uc_engine* old = eng.uc();
    kvm_regs r = emu::read_regs(old, emu::CpuWidth::Legacy32);
    r.rip = rip;
    r.rsp = rsp;
    kvm_sregs s = emu::read_sregs(old, emu::CpuWidth::Legacy32, shadow);
    s.cr0 = guest_cr0;
    s.efer = efer;
    s.cs = emu::segment_from_descriptor(cs, descriptor);
    uc_x86_mmr tr{}, ldtr{};
    uc_reg_read(old, UC_X86_REG_TR, &tr);
    uc_reg_read(old, UC_X86_REG_LDTR, &ldtr);
    uint8_t fpu[std::size(kFpuRegs)][16] = {};
    for (size_t i = 0; i < std::size(kFpuRegs); ++i) uc_reg_read(old, kFpuRegs[i], fpu[i]);
    try {
        reopen_engine(emu::CpuWidth::Long64);
        eng.settle();  // loading FS and GS reads their descriptors
        uc_engine* uc = eng.uc();
        emu::write_sregs(uc, emu::CpuWidth::Long64, s);
        emu::write_regs(uc, emu::CpuWidth::Long64, r);
        uc_reg_write(uc, UC_X86_REG_TR, &tr);
        uc_reg_write(uc, UC_X86_REG_LDTR, &ldtr);
        for (size_t i = 0; i < std::size(kFpuRegs); ++i) uc_reg_write(uc, kFpuRegs[i], fpu[i]);
    } catch (const Error& e) {
        why = std::string("cannot enter long mode: ") + e.what();
        return false;
    }
    shadow = s;
    compat_mode = false;
    mode_known = false;
    block_real_cs.reset();
    block_physical = false;
    block_host = nullptr;
    return true;
}

std::string EmuVcpu::Impl::identity_note(uint64_t linear) const {
    const std::optional<uint64_t> phys = emu::physical_of(eng.uc(), eng.width(), linear);
    if (!phys || *phys == linear) return "";
    return "; the guest's page tables map " + hex(linear) + " to " + hex(*phys) +
           ", and Unicorn 2.0.1 (Debian 12's) goes to the linear address as if it were the physical one: the emulator "
           "runs only guests whose page tables map addresses to themselves";
}

bool EmuVcpu::Impl::real_mode() const {
    return eng.width() == emu::CpuWidth::Legacy32 && !(read32(eng.uc(), UC_X86_REG_CR0) & emu::kCr0Pe);
}

int EmuVcpu::Impl::cpu_exception(uc_err err) const {
    // In real mode the return address is the last instruction the code
    // hook saw: none, none to deliver.
    if (!guest_vectors.load() || (insn_size == 0 && real_mode())) return -1;
    if (err == UC_ERR_INSN_INVALID) return 6;  // #UD
    if (err == UC_ERR_OK && fault_vector >= 0 && fault_vector < 32) return fault_vector;
    return -1;
}

// In protected and long mode EIP (RIP) is at the faulting instruction:
// QEMU's translator restores it there before raising, and Unicorn moves it
// only for int n. In real mode the code hook leaves the linear address
// there (see run_segment): IP is taken from the instruction it saw last.
// No real-mode exception pushes an error code.
bool EmuVcpu::Impl::deliver_cpu_exception(int vector) {
    std::optional<uint32_t> code;
    if (real_mode()) {
        const auto ip = static_cast<uint32_t>((insn_addr - emu::cs_base(eng.uc(), eng.width())) & 0xffff);
        uc_reg_write(eng.uc(), UC_X86_REG_EIP, &ip);
    } else if (emu::pushes_error_code(static_cast<unsigned>(vector))) {
        code = fault_error_code;
        if (!code) {
            post_stop(ExitKind::Shutdown, "CPU exception " + std::to_string(vector) + " at " +
                                              hex(emu::linear_pc(eng.uc(), eng.width())) +
                                              ": this Unicorn build does not show its error code");
            return false;
        }
    }
    if (!deliver_or_shut_down(static_cast<uint8_t>(vector), code)) return false;
    emu::mark_exception_delivered(eng.uc());
    return true;
}

bool EmuVcpu::Impl::deliver_long(uint8_t vector, std::optional<uint32_t> error_code, const std::string& what,
                                 std::string& why) {
    constexpr auto w = emu::CpuWidth::Long64;
    uc_engine* uc = eng.uc();
    auto fail = [&](const std::string& reason) {
        why = what + ": " + reason;
        return false;
    };
    uc_x86_mmr idt{};
    uc_reg_read(uc, UC_X86_REG_IDTR, &idt);
    if (vector * 16u + 15 > idt.limit) return fail("beyond the IDT limit " + hex(idt.limit));
    uint64_t gate[2] = {};
    if (!emu::read_linear(uc, w, idt.base + vector * 16u, gate, sizeof gate))
        return fail("its IDT gate at " + hex(idt.base + vector * 16u) + " is not mapped");
    const uint64_t lo = gate[0], hi = gate[1];
    const unsigned type = (lo >> 40) & 0xf, ist = (lo >> 32) & 7;
    if (!((lo >> 47) & 1)) return fail("its IDT gate is not present");
    if (type != 0xe && type != 0xf) return fail("IDT gate type " + hex(type) + " (64-bit interrupt and trap gates only)");
    const auto selector = static_cast<uint16_t>(lo >> 16);
    const uint64_t target = (lo & 0xffff) | (((lo >> 48) & 0xffff) << 16) | ((hi & 0xffffffffu) << 32);
    uint64_t rip = 0, rsp = 0, rflags = 0;
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    uc_reg_read(uc, UC_X86_REG_RSP, &rsp);
    uc_reg_read(uc, UC_X86_REG_RFLAGS, &rflags);
    const uint64_t cs = read32(uc, UC_X86_REG_CS) & 0xffff, ss = read32(uc, UC_X86_REG_SS) & 0xffff;
    // Unicorn loads no privilege level with a selector: a change of ring
    // cannot be made through its API.
    if ((cs & 3) != 0) return fail("from ring " + std::to_string(cs & 3) + " (the emulator delivers at ring 0 only)");
    uint64_t stack = rsp;
    if (ist) {
        uc_x86_mmr tr{};
        uc_reg_read(uc, UC_X86_REG_TR, &tr);
        if (!emu::read_linear(uc, w, tr.base + 0x24 + (ist - 1) * 8, &stack, sizeof stack))
            return fail("cannot read IST " + std::to_string(ist) + " from the TSS");
    }
    stack &= ~uint64_t{0xf};
    // Lowest address first: [error code], RIP, CS, RFLAGS, RSP, SS.
    uint64_t frame[6];
    size_t k = 0;
    if (error_code) frame[k++] = *error_code;
    for (const uint64_t v : {rip, cs, rflags, rsp, ss}) frame[k++] = v;
    stack -= k * 8;
    if (!emu::write_linear(uc, w, stack, frame, k * 8, &eng)) return fail("cannot push the interrupt frame at " + hex(stack));
    rflags &= ~uint64_t{emu::kTf | emu::kNt | emu::kRf | emu::kVm | (type == 0xe ? emu::kIf : 0)};
    uc_reg_write(uc, UC_X86_REG_RFLAGS, &rflags);
    uc_reg_write(uc, UC_X86_REG_RSP, &stack);
    uc_reg_write(uc, UC_X86_REG_RIP, &target);
    if (selector != cs) uc_reg_write(uc, UC_X86_REG_CS, &selector);
    return true;
}

}  // namespace kvmrr
