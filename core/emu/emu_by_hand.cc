// What the emulator does by hand where Unicorn does not do what the CPU
// (and so KVM) does: external and software interrupts delivered through
// the IVT or IDT, the interrupt shadow, real-mode far returns with a CS
// base and IP wrapping at a segment's end, and RDTSC's result from the
// board's clock.
#include "core/emu/emu_vcpu_impl.h"

#include "core/error.h"

namespace kvmrr {

using emu::kAc;
using emu::kMaxInsnLength;
using emu::kIf;
using emu::kNt;
using emu::kRf;
using emu::kTf;
using emu::kVm;
using emu::opcode_at;
using emu::read32;

bool EmuVcpu::Impl::is_rdtsc(uint64_t addr, uint32_t size) const {
    uint8_t b[3] = {};
    return emu::read_linear(eng.uc(), eng.width(), addr, b, size) && emu::is_rdtsc(b, size);
}

void EmuVcpu::Impl::replace_tsc() {
    tsc_pending = false;
    const uint64_t tsc = tsc_source->read_tsc();
    if (eng.width() == emu::CpuWidth::Legacy32) {
        const auto lo = static_cast<uint32_t>(tsc), hi = static_cast<uint32_t>(tsc >> 32);
        uc_reg_write(eng.uc(), UC_X86_REG_EAX, &lo);
        uc_reg_write(eng.uc(), UC_X86_REG_EDX, &hi);
    } else {
        const uint64_t lo = tsc & 0xffffffffu, hi = tsc >> 32;  // RDTSC clears the upper halves
        uc_reg_write(eng.uc(), UC_X86_REG_RAX, &lo);
        uc_reg_write(eng.uc(), UC_X86_REG_RDX, &hi);
    }
}

bool EmuVcpu::Impl::shadow_after(uint64_t addr, uint32_t size) const {
    if (size == 0) return false;
    const auto [op, modrm] = opcode_at(eng.uc(), eng.width(), addr);
    return op == 0xfb || op == 0x17 || (op == 0x8e && ((modrm >> 3) & 7) == 2);  // sti, pop ss, mov ss
}

bool EmuVcpu::Impl::turns_paging_on(const uint8_t* code, uint64_t addr, uint32_t size) const {
    uint8_t b[emu::kMaxInsnLength] = {};
    if (!code) {
        if (size > sizeof b || !emu::read_linear(eng.uc(), eng.width(), addr, b, size)) return true;  // unknown: assume so
        code = b;
    }
    uint32_t i = 0;
    while (i < size && emu::is_legacy_prefix(code[i])) ++i;
    // mov cr0, r32: 0f 22 /r with reg 0 (CR0); the operand is always a register.
    if (i + 3 > size || code[i] != 0x0f || code[i + 1] != 0x22 || ((code[i + 2] >> 3) & 7) != 0) return false;
    static constexpr int kGpr[] = {UC_X86_REG_EAX, UC_X86_REG_ECX, UC_X86_REG_EDX, UC_X86_REG_EBX,
                                   UC_X86_REG_ESP, UC_X86_REG_EBP, UC_X86_REG_ESI, UC_X86_REG_EDI};
    return (read32(eng.uc(), kGpr[code[i + 2] & 7]) & emu::kCr0Pg) != 0;
}

// After the interrupt hook: whether it was int n, int3 or into (EIP just
// past the instruction the code hook saw), not a CPU exception.
bool EmuVcpu::Impl::software_interrupt_stop() {
    if (insn_size == 0 || emu::linear_pc(eng.uc(), eng.width()) != insn_addr + insn_size) return false;
    const uint8_t op = opcode_at(eng.uc(), eng.width(), insn_addr).first;
    return op == 0xcd || op == 0xcc || op == 0xce;
}

bool EmuVcpu::Impl::deliver_or_shut_down(uint8_t vector, std::optional<uint32_t> error_code) {
    std::string why;
    if (deliver(vector, why, error_code)) {
        insn_size = 0;  // the handler's first instruction is in no shadow
        return true;
    }
    post_stop(ExitKind::Shutdown, why);
    return false;
}

void EmuVcpu::Impl::post_stop(ExitKind kind, std::string why, uint64_t reason_code) {
    exit = VcpuExit{};
    exit.kind = kind;
    exit.reason_code = reason_code;
    exit.interrupts_enabled = flags_if();
    last_error = std::move(why);
}

// On the worker, which must not throw: a map Unicorn refuses is reported
// when the guest next runs (run_segment), where settling is tried again.
void EmuVcpu::Impl::settle_map() {
    try {
        eng.settle();
    } catch (const Error&) {
    }
}

// CR0 alone tells both: virtual-8086 mode (EFLAGS.VM) needs CR0.PE set.
void EmuVcpu::Impl::read_block_mode() {
    if (eng.width() != emu::CpuWidth::Legacy32) {
        block_real_cs.reset();
        block_physical = false;
        return;
    }
    uc_engine* uc = eng.uc();
    const uint32_t cr0 = read32(uc, UC_X86_REG_CR0);
    block_physical = (cr0 & emu::kCr0Pg) == 0;
    if (cr0 & emu::kCr0Pe) {
        block_real_cs.reset();
    } else {
        block_real_cs = static_cast<uint16_t>(read32(uc, UC_X86_REG_CS));
    }
}

// Only just past the end is taken for a wrap (Unicorn stops here at the
// first instruction beyond it): IP = linear - CS * 16 is the offset only
// when CS's base is its selector * 16, which right after CR0.PE is
// cleared, before the far jump that reloads CS, it is not.
bool EmuVcpu::Impl::past_segment_end(uint64_t addr, uint16_t cs) {
    const uint64_t ip = addr - (uint64_t{cs} << 4);
    if (ip >= 0x10000 && ip < 0x10000 + kMaxInsnLength) {
        ip_wrap = true;
        return true;
    }
    return false;
}

// Unicorn 2.0.1 (fixed in 2.1.0) with a UC_HOOK_MEM_READ hook syncs EIP
// to the linear address of the current instruction before every guest
// load, not to its offset in CS. A real-mode far return loads the new IP,
// writes it to EIP, then loads the new CS, and that second load overwrites
// EIP with the return's own linear address: the guest went on at new CS
// base + that address (SeaBIOS's call16 lands in zeroed RAM at 0x1ee982
// after `int 0x1c; lretw` at 0xfe980; SYSLINUX's BIOS-call thunk, `retf`
// at 0:8c2e into SeaBIOS's INT 10h, at f000:8c2e). With CS base 0 that
// address is the return's own offset, as wrong as any other. So every
// such return stops the engine in the code hook, before it runs, and the
// worker does it here. (Protected mode takes a helper that is not hit;
// near returns and jumps write EIP after their loads.)
bool EmuVcpu::Impl::real_far_return(uint64_t addr, uint32_t size) {
    uc_engine* uc = eng.uc();
    uint8_t b[6] = {};
    if (uc_mem_read(uc, addr, b, size) != UC_ERR_OK) return false;
    bool op32 = false;
    uint32_t i = 0;
    // Real mode: 16-bit by default, 32-bit with 0x66 (repeated or not).
    for (; i < size && emu::is_legacy_prefix(b[i]); ++i) op32 |= b[i] == 0x66;
    uint16_t imm = 0;
    if (i + 1 == size && b[i] == 0xcb) {
        imm = 0;
    } else if (i + 3 == size && b[i] == 0xca) {
        imm = static_cast<uint16_t>(b[i + 1] | b[i + 2] << 8);
    } else {
        return false;
    }
    far_ret = {true, op32, imm};
    return true;
}

// retf / retf imm16 in real mode, 16-bit stack: pop IP (EIP with 0x66),
// pop CS, release imm16 more bytes.
void EmuVcpu::Impl::far_return_by_hand() {
    uc_engine* uc = eng.uc();
    const FarReturn f = far_ret;
    far_ret = {};
    const kvm_segment ss = emu::read_segment(uc, eng.width(), UC_X86_REG_SS);
    const uint32_t esp = read32(uc, UC_X86_REG_ESP);
    const unsigned n = f.op32 ? 4 : 2;
    uint32_t ip = 0, cs = 0;
    uc_mem_read(uc, ss.base + (esp & 0xffff), &ip, n);
    uc_mem_read(uc, ss.base + ((esp + n) & 0xffff), &cs, 2);
    const uint32_t next = (esp & 0xffff0000u) | ((esp + 2 * n + f.imm) & 0xffffu);
    const auto sel = static_cast<uint16_t>(cs);
    uc_reg_write(uc, UC_X86_REG_CS, &sel);
    uc_reg_write(uc, UC_X86_REG_EIP, &ip);
    uc_reg_write(uc, UC_X86_REG_ESP, &next);
}

bool EmuVcpu::Impl::push(uint32_t value, unsigned size, std::string& why) {
    uc_engine* uc = eng.uc();
    const kvm_segment ss = emu::read_segment(uc, eng.width(), UC_X86_REG_SS);
    const uint32_t esp = read32(uc, UC_X86_REG_ESP);
    // A 16-bit stack (real mode, or a descriptor without B) wraps in SP.
    const uint32_t next = ss.db ? esp - size : (esp & 0xffff0000u) | ((esp - size) & 0xffffu);
    const uint64_t at = ss.base + (ss.db ? next : (next & 0xffffu));
    if (!eng.write_physical(at, &value, size)) {
        why = "cannot push the interrupt frame at " + hex(at);
        return false;
    }
    // Written behind Unicorn's back (no write hook): dirty the page as the
    // CPU's own push does on KVM.
    if (eng.logging()) eng.mark_written(at, size);
    uc_reg_write(uc, UC_X86_REG_ESP, &next);
    return true;
}

bool EmuVcpu::Impl::deliver(uint8_t vector, std::string& why, std::optional<uint32_t> error_code) {
    settle_map();  // the vectors and the stack are read and written below
    uc_engine* uc = eng.uc();
    const std::string what = "interrupt " + std::to_string(vector) + " at " + hex(emu::linear_pc(uc, eng.width()));
    if (eng.width() == emu::CpuWidth::Long64) return deliver_long(vector, error_code, what, why);
    uc_x86_mmr idt{};
    uc_reg_read(uc, UC_X86_REG_IDTR, &idt);
    uint32_t eflags = read32(uc, UC_X86_REG_EFLAGS);
    const uint32_t cs = read32(uc, UC_X86_REG_CS) & 0xffff;
    const uint32_t eip = read32(uc, UC_X86_REG_EIP);
    const bool real = real_mode();
    const unsigned entry = real ? 4 : 8;
    if (vector * entry + entry - 1 > idt.limit) {
        why = what + ": beyond the " + (real ? "IVT" : "IDT") + " limit " + hex(idt.limit);
        return false;
    }
    uint64_t gate = 0;
    if (uc_mem_read(uc, idt.base + vector * entry, &gate, entry) != UC_ERR_OK) {
        why = what + ": cannot read its IVT/IDT entry";
        return false;
    }
    uint32_t new_cs = 0, new_eip = 0;
    unsigned size = 2;
    if (real) {
        new_eip = gate & 0xffff;
        new_cs = (gate >> 16) & 0xffff;
        eflags &= ~(kIf | kTf | kAc);
    } else {
        // 32-bit interrupt (0xe) and trap (0xf) gates at the same privilege
        // level; kvmrr's guests run at ring 0.
        const unsigned type = (gate >> 40) & 0xf;
        if (!((gate >> 47) & 1)) {
            why = what + ": its IDT gate is not present";
            return false;
        }
        if (type != 0xe && type != 0xf) {
            why = what + ": IDT gate type " + hex(type) + " (the emulator takes 32-bit interrupt and trap gates only)";
            return false;
        }
        new_eip = static_cast<uint32_t>((gate & 0xffff) | ((gate >> 32) & 0xffff0000u));
        new_cs = (gate >> 16) & 0xffff;
        size = 4;
        eflags &= ~(kTf | kNt | kRf | kVm | (type == 0xe ? kIf : 0));
    }
    const uint32_t old_flags = read32(uc, UC_X86_REG_EFLAGS);
    if (!push(old_flags, size, why) || !push(cs, size, why) || !push(eip, size, why) ||
        (error_code && !real && !push(*error_code, size, why))) {
        why = what + ": " + why;
        return false;
    }
    const uint16_t sel = static_cast<uint16_t>(new_cs);
    if (uc_reg_write(uc, UC_X86_REG_CS, &sel) != UC_ERR_OK) {
        why = what + ": its gate's code segment " + hex(new_cs) + " cannot be loaded";
        return false;
    }
    uc_reg_write(uc, UC_X86_REG_EFLAGS, &eflags);
    uc_reg_write(uc, UC_X86_REG_EIP, &new_eip);
    return true;
}


// One batch as linux arch/x86/kvm/emulate.c's pio_in_emulated reads it
// (rep_ins_batch), each element written where the CPU would put it (ES:DI,
// DI stepping by the element size, up or down with DF, wrapping at the
// address size), then DI and CX moved on; EIP moves past the instruction
// only when CX reaches 0, else the instruction runs again for the next
// batch. Only where linear is physical (no paging: the block's mode) and
// every element lands in RAM.
EmuVcpu::Impl::ByHand EmuVcpu::Impl::rep_ins_by_hand() {
    uc_engine* uc = eng.uc();
    const uint8_t* b = block_host + (insn_addr - block_start);
    bool op_override = false, addr_override = false;
    uint32_t i = 0;
    for (; emu::is_legacy_prefix(b[i]); ++i) {
        op_override |= b[i] == 0x66;
        addr_override |= b[i] == 0x67;
    }
    const bool db = emu::read_segment(uc, eng.width(), UC_X86_REG_CS).db;
    const unsigned size = b[i] == 0x6c ? 1 : ((db != op_override) ? 4 : 2);
    const uint32_t mask = (db != addr_override) ? 0xffffffffu : 0xffffu;
    const uint32_t ecx = read32(uc, UC_X86_REG_ECX), edi = read32(uc, UC_X86_REG_EDI);
    const bool down = (read32(uc, UC_X86_REG_EFLAGS) & (1u << 10)) != 0;
    const uint32_t eip = read32(uc, UC_X86_REG_EIP);
    const uint32_t ip_mask = db ? 0xffffffffu : 0xffffu;
    const uint32_t next_eip = (eip & ~ip_mask) | ((eip + insn_size) & ip_mask);
    if ((ecx & mask) == 0) {  // nothing to do: the instruction is done
        uc_reg_write(uc, UC_X86_REG_EIP, &next_eip);
        return ByHand::Done;
    }
    const unsigned n = emu::kvm_ins_batch(ecx & mask, edi, down, size);
    const uint64_t es = emu::read_segment(uc, eng.width(), UC_X86_REG_ES).base;
    auto element_at = [&](unsigned k) {
        const uint32_t step = k * size;
        return es + ((down ? edi - step : edi + step) & mask);
    };
    for (unsigned k = 0; k < n; ++k)
        if (!eng.host_bytes(element_at(k), size, true)) return ByHand::NotHandled;
    const auto port = static_cast<uint32_t>(read32(uc, UC_X86_REG_EDX) & 0xffff);
    std::memset(data, 0, size * n);
    post_access(ExitKind::Io, false, port, size, n);
    if (!hs.park()) return ByHand::ShuttingDown;
    window_check_due = true;
    settle_map();  // the exit's handler may have changed the map
    for (unsigned k = 0; k < n; ++k) {
        // Forgetting the translations of code written over.
        eng.write_physical(element_at(k), data + k * size, size);
        if (eng.logging()) eng.mark_written(element_at(k), size);
    }
    const uint32_t moved = n * size;
    const uint32_t di = (edi & ~mask) | ((down ? edi - moved : edi + moved) & mask);
    const uint32_t cx = (ecx & ~mask) | ((ecx - n) & mask);
    uc_reg_write(uc, UC_X86_REG_EDI, &di);
    uc_reg_write(uc, UC_X86_REG_ECX, &cx);
    if ((cx & mask) == 0) uc_reg_write(uc, UC_X86_REG_EIP, &next_eip);
    return ByHand::Done;
}

}  // namespace kvmrr
