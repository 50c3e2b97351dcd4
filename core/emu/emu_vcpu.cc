#include "core/emu/emu_vcpu.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/emu/abort_guard.h"
#include "core/emu/emu_vcpu_impl.h"
#include "core/emu/exception_state.h"
#include "core/error.h"

namespace kvmrr {

using emu::kRunWait;
using emu::read32;

EmuVcpu::Impl::Impl(EmuVm& vm, unsigned i) : eng(vm.engine()), id(i), hs([this] { worker_main(); }) {
    if (eng.sink()) throw Error("emulator: one vCPU per VM");
    // Found now, on the caller's thread: the search runs scratch engines,
    // which must not run inside this engine's hooks.
    emu::exception_state_known();
    install_hooks();
    eng.set_sink(this);
}

void EmuVcpu::Impl::reopen_engine(emu::CpuWidth w) {
    remove_hooks();
    eng.reopen(w);
    install_hooks();
}

bool EmuVcpu::Impl::park_or_stop() {
    if (hs.park()) {
        window_check_due = true;  // the exit's handler may have asked for the window
        return true;
    }
    uc_emu_stop(eng.uc());  // shutting down: the instruction is abandoned
    return false;
}

void EmuVcpu::Impl::post_access(ExitKind kind, bool is_write, uint64_t addr, unsigned size, unsigned count) {
    exit = VcpuExit{};
    exit.kind = kind;
    exit.is_write = is_write;
    exit.size = static_cast<uint8_t>(size);
    exit.count = count;
    exit.addr = addr;
    // KVM's MMIO exit carries an 8-byte data area whatever the size; an I/O
    // exit's data is exactly its elements.
    exit.data = std::span(data, kind == ExitKind::Mmio ? 8 : size * count);
    exit.interrupts_enabled = flags_if();
}

uint64_t EmuVcpu::Impl::mmio_read(uint64_t gpa, unsigned size) {
    if (!uc_running) return by_hand_met_device(gpa);
    if (!access.covers(false, gpa, size) && access.aligned_around(gpa, size)) return 0;
    // Not announced by the memory hook: Unicorn fetching an instruction.
    if (!access.covers(false, gpa, size)) {
        if (!fetch_from_mmio) fetch_from_mmio = gpa;
        uc_emu_stop(eng.uc());
        return ~0ull;
    }
    const auto [at, bytes] = access.part(gpa);
    if (!access.served || access.served_at != at) {
        std::memset(data, 0, 8);
        post_access(ExitKind::Mmio, false, at, bytes);
        if (!park_or_stop()) return ~0ull;
        std::memcpy(&access.value, data, sizeof access.value);
        access.served = true;
        access.served_at = at;
    }
    // The bytes of this piece that belong to the part (little-endian);
    // bytes of an aligned piece outside it are cut off by Unicorn.
    uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) {
        const uint64_t a = gpa + i;
        if (a >= at && a < at + bytes) v |= ((access.value >> (8 * (a - at))) & 0xff) << (8 * i);
    }
    return v;
}

void EmuVcpu::Impl::mmio_write(uint64_t gpa, unsigned size, uint64_t value) {
    if (!uc_running) {
        by_hand_met_device(gpa);
        return;
    }
    if (!access.covers(true, gpa, size)) access = {true, true, false, gpa, size, value, 0};
    const auto [at, bytes] = access.part(gpa);
    if (access.served && access.served_at == at) return;
    std::memset(data, 0, sizeof data);
    const uint64_t part_value = access.value >> (8 * (at - access.addr));
    std::memcpy(data, &part_value, bytes);
    post_access(ExitKind::Mmio, true, at, bytes);
    access.served = true;
    access.served_at = at;
    park_or_stop();
}

uint32_t EmuVcpu::Impl::port_in(uint32_t port, int size) {
    const auto bytes = static_cast<unsigned>(size);
    port &= 0xffff;
    StringIn& s = string_in;
    if (!(s.active && s.insn == insn_addr && s.port == port && s.size == bytes && s.next < s.count)) {
        const unsigned n = rep_ins_batch(bytes);
        std::memset(data, 0, bytes * n);
        post_access(ExitKind::Io, false, port, bytes, n);
        if (!park_or_stop()) return ~0u;
        s = {n > 1, insn_addr, port, bytes, n, 0};
    }
    uint32_t v = 0;
    std::memcpy(&v, data + s.next * bytes, bytes);
    if (++s.next == s.count) s.active = false;
    return v;
}

unsigned EmuVcpu::Impl::rep_ins_batch(unsigned size) const {
    uint8_t b[16] = {};
    if (!emu::read_linear(eng.uc(), eng.width(), insn_addr, b, emu::code_bytes_at(insn_addr, sizeof b))) return 1;
    bool rep = false, addr_override = false;
    size_t i = 0;
    for (; i < 14 && emu::is_legacy_prefix(b[i]); ++i) {
        rep |= b[i] == 0xf3 || b[i] == 0xf2;
        addr_override |= b[i] == 0x67;
    }
    const bool long_mode = eng.width() == emu::CpuWidth::Long64;
    if (long_mode && (b[i] & 0xf0) == 0x40) ++i;  // REX
    if (!rep || (b[i] != 0x6c && b[i] != 0x6d)) return 1;
    unsigned addr_bits = long_mode ? 64 : (emu::read_segment(eng.uc(), eng.width(), UC_X86_REG_CS).db ? 32 : 16);
    if (addr_override) addr_bits = long_mode ? 32 : (addr_bits == 32 ? 16 : 32);
    uint64_t rcx = 0, rdi = 0;
    uc_reg_read(eng.uc(), long_mode ? UC_X86_REG_RCX : UC_X86_REG_ECX, &rcx);
    uc_reg_read(eng.uc(), long_mode ? UC_X86_REG_RDI : UC_X86_REG_EDI, &rdi);
    if (addr_bits < 64) rcx &= (1ull << addr_bits) - 1;
    const bool down = (read32(eng.uc(), UC_X86_REG_EFLAGS) & (1u << 10)) != 0;  // DF
    return emu::kvm_ins_batch(rcx, rdi, down, size);
}

void EmuVcpu::Impl::port_out(uint32_t port, int size, uint32_t value) {
    std::memcpy(data, &value, sizeof value);
    post_access(ExitKind::Io, true, port & 0xffff, static_cast<unsigned>(size));
    park_or_stop();
}

void EmuVcpu::Impl::worker_main() {
    while (hs.wait_for_start()) hs.segment_ended(run_segment());
}

std::string EmuVcpu::Impl::device_by_hand_text() const {
    return "the emulator's own access at " + hex(device_by_hand.value_or(0)) +
           ", made by hand where Unicorn 2.0.1 falls short, met a device window, which such an access cannot reach "
           "(KVM would make an MMIO exit there)";
}

// Runs the guest until it stops for good (true: a final exit is posted) or
// on request (false). A stop for a pending memory-map change applies the
// change and goes on.
bool EmuVcpu::Impl::run_segment() {
    for (;;) {
        if (device_by_hand) {  // after something done by hand below
            post_stop(ExitKind::InternalError, device_by_hand_text(), KVM_INTERNAL_ERROR_EMULATION);
            device_by_hand.reset();
            return true;
        }
        if (!broken.empty()) {
            post_stop(ExitKind::InternalError, broken, KVM_INTERNAL_ERROR_EMULATION);
            return true;
        }
        stopped_by_hook = false;
        window_stop = false;
        debug_stop = false;
        pause_stop = false;
        mode_known = false;  // whatever ran between uc_emu_start calls may have changed it
        window_check_due = true;
        fault_vector = -1;
        try {
            eng.begin_emulation();
        } catch (const Error& e) {
            post_stop(ExitKind::InternalError, e.what());
            return true;
        }
        uc_running = true;
        uc_err err = UC_ERR_OK;
        const uint64_t start = emu::start_address(eng.uc(), eng.width());
        const bool survived = emu::call_surviving_abort([&] { err = uc_emu_start(eng.uc(), start, ~0ull, 0, 0); });
        uc_running = false;
        eng.end_emulation();
        if (!survived) {  // the engine stopped inside a translation: it never runs again (the loop's top)
            broken = "Unicorn 2.0.1 aborted (\"tcg fatal error\") translating the guest's code in the block at " +
                     hex(emu::linear_pc(eng.uc(), eng.width())) +
                     ": it mistranslates some instructions a CPU refuses with #UD (an indirect far JMP or CALL with a "
                     "register operand, FF /5 or FF /3 with mod 3), where KVM would deliver the #UD; the emulator "
                     "cannot go on";
            continue;
        }
        if (const std::optional<uint64_t> at = std::exchange(fetch_from_mmio, std::nullopt)) {
            end_narrowing();
            const uint64_t pc = emu::linear_pc(eng.uc(), eng.width());
            post_stop(ExitKind::InternalError,
                      "instruction fetch from a device window or unmapped memory at " + hex(*at) + " (at " + hex(pc) + ")" +
                          identity_note(pc),
                      KVM_INTERNAL_ERROR_EMULATION);
            return true;
        }
        if (stopped_by_hook) {
            // Stopped before the instruction at insn_addr. The code hook
            // leaves the linear address in EIP, not the offset in CS
            // (visible when CS's base is not 0): put the offset back.
            if (eng.width() == emu::CpuWidth::Legacy32) {
                auto ip = static_cast<uint32_t>(insn_addr - emu::cs_base(eng.uc(), eng.width()));
                if (ip_wrap) ip &= 0xffff;  // where the CPU goes on: IP wraps in a 64 KiB segment
                uc_reg_write(eng.uc(), UC_X86_REG_EIP, &ip);
            }
            if (std::exchange(ip_wrap, false)) {
                insn_size = 0;  // nothing ran: no shadow, no far return
                continue;
            }
            const uint64_t stop_addr = insn_addr;
            const uint32_t stop_size = insn_size;
            insn_addr = prev_addr;  // the last instruction done, for the shadow
            insn_size = prev_size;
            if (far_ret.pending) {
                ++retired;
                far_return_by_hand();
                insn_addr = stop_addr;  // now the last instruction done
                insn_size = stop_size;
                continue;
            }
            if (long_step != LongStep::None) {
                insn_addr = stop_addr;  // now the last instruction done
                insn_size = stop_size;
                if (!long_mode_by_hand()) return true;
                ++retired;
                continue;
            }
            if (std::exchange(rep_ins_pending, false)) {
                insn_addr = stop_addr;  // what a batch's exit belongs to
                insn_size = stop_size;
                switch (rep_ins_by_hand()) {
                    case ByHand::Done:
                        ++retired;
                        break;
                    case ByHand::NotHandled:
                        rep_ins_skip = stop_addr;
                        break;
                    case ByHand::ShuttingDown:
                        return false;
                }
                continue;
            }
        }
        if (fault_vector >= 0 && guest_vectors.load() && software_interrupt_stop()) {
            // int n, int3, into in a guest with its own IVT/IDT: Unicorn
            // only reports them, so deliver them as the CPU would.
            if (deliver_or_shut_down(static_cast<uint8_t>(fault_vector))) continue;
            return true;
        }
        if (const int vector = cpu_exception(err); vector >= 0) {
            // Unicorn only reports it and stops; delivered as the CPU does.
            if (deliver_cpu_exception(vector)) continue;
            return true;
        }
        if (stopped_by_hook && fault_vector < 0) {
            if (hs.stop_requested() || pause_stop) return false;
            if (window_stop) {
                exit = VcpuExit{};
                exit.kind = ExitKind::InterruptWindow;
                exit.interrupts_enabled = true;
                return true;
            }
            if (debug_stop) {
                exit = VcpuExit{};
                exit.kind = ExitKind::Debug;
                exit.addr = debug_at;
                exit.interrupts_enabled = flags_if();
                exit.watch_hit = std::exchange(watch_hit, std::nullopt);
                return true;
            }
            continue;
        }
        if (narrow_fetch_fault(err)) continue;
        post_final_exit(err);
        return true;
    }
}

// Unicorn translates a block before running any of it, so an instruction
// that cannot be fetched (from an MMIO area, or across into one) fails its
// whole block, reported at the block's start with none of the instructions
// before it run; KVM runs those and fails at the instruction itself. So the
// emulator goes on one instruction at a time up to the end of the faulting
// block's page: Unicorn's exits (each ends a translation as a HLT would)
// at every address after the next instruction to run. A fault at an
// instruction run alone is the instruction's own. The translations made
// with exits are forgotten when stepping ends.
bool EmuVcpu::Impl::narrow_fetch_fault(uc_err err) {
    constexpr uint64_t kMaxInsn = 15;  // x86's longest instruction
    uc_engine* uc = eng.uc();
    const uint64_t pc = emu::linear_pc(uc, eng.width());
    const bool fetch = err == UC_ERR_FETCH_PROT || err == UC_ERR_FETCH_UNMAPPED;
    auto step_from = [&](uint64_t from) {
        if (!narrow.on) narrow = {true, from & ~0xfffull, (from | 0xfff) + 1, from};
        narrow.from = from;
        std::vector<uint64_t> exits;
        // Up to the longest instruction into the next page: a block that
        // reaches the end of the page stops there instead of fetching on.
        for (uint64_t a = from + 1; a < narrow.page_end + kMaxInsn; ++a) exits.push_back(a);
        uc_ctl_set_exits(uc, exits.data(), exits.size());
        uc_ctl_remove_cache(uc, narrow.page, narrow.page_end);
        return true;
    };
    if (!narrow.on) return fetch && step_from(pc);
    if (fetch && pc != narrow.from) return step_from(pc);  // another block failed: step through it
    const bool at_exit = err == UC_ERR_OK && fault_vector < 0 && pc > narrow.from && pc < narrow.page_end + kMaxInsn &&
                         !(pc == insn_addr + insn_size && insn_size == 1 && emu::opcode_at(uc, eng.width(), insn_addr).first == 0xf4);
    if (at_exit) return step_from(pc);
    end_narrowing();
    return false;
}

void EmuVcpu::Impl::end_narrowing() {
    if (!narrow.on) return;
    uc_ctl_set_exits(eng.uc(), nullptr, 0);  // none: see EmuEngine::open
    uc_ctl_remove_cache(eng.uc(), narrow.page, narrow.page_end);
    narrow = {};
}

void EmuVcpu::Impl::post_final_exit(uc_err err) {
    exit = VcpuExit{};
    exit.interrupts_enabled = flags_if();
    const uint64_t pc = emu::linear_pc(eng.uc(), eng.width());
    if (err == UC_ERR_OK && fault_vector < 0) {
        // Unicorn ends uc_emu_start without an error after hlt, and also
        // after some exceptions (#DE) without calling the interrupt hook;
        // only hlt leaves the PC just past a completed hlt instruction.
        uint8_t last = 0;
        if (pc == insn_addr + insn_size && insn_size == 1 && emu::read_linear(eng.uc(), eng.width(), insn_addr, &last, 1) &&
            last == 0xf4) {
            exit.kind = ExitKind::Hlt;
            return;
        }
        last_error = "CPU exception at " + hex(pc) + " that the emulator reported without a vector";
        exit.kind = ExitKind::Shutdown;
        return;
    }
    switch (err) {
        case UC_ERR_OK: {  // the interrupt hook saw an exception or int n
            // The guest's own int n, int3 or into is named as such: not a
            // fault of the CPU's.
            const auto [op, imm] = emu::opcode_at(eng.uc(), eng.width(), insn_addr);
            const bool software = (op == 0xcd && imm == fault_vector) || (op == 0xcc && fault_vector == 3) ||
                                  (op == 0xce && fault_vector == 4);
            const std::string vec = std::to_string(fault_vector);
            if (!software)
                last_error = "CPU exception " + vec + " at " + hex(pc) +
                             (guest_vectors.load() ? " (the emulator delivers no CPU exceptions, only int n, int3 and into)"
                                                   : " with no IDT");
            else
                last_error = (op == 0xcd ? "int " + hex(static_cast<uint64_t>(fault_vector)) : op == 0xcc ? "int3" : "into") +
                             std::string(" (vector ") + vec + ") at " + hex(insn_addr) + (guest_vectors.load() ? "" : " with no IDT");
            exit.kind = ExitKind::Shutdown;
            return;
        }
        case UC_ERR_INSN_INVALID:
        case UC_ERR_EXCEPTION:
        // Everything below kEmuPhysLimit is mapped, so these are page
        // faults (or an access beyond the map through the guest's own
        // page tables); with no IDT, KVM would triple-fault.
        case UC_ERR_READ_UNMAPPED:
        case UC_ERR_WRITE_UNMAPPED:
        case UC_ERR_READ_PROT:
        case UC_ERR_WRITE_PROT:
            last_error = emu::uc_error_text(err) + " at " + hex(pc) + identity_note(pc);
            exit.kind = ExitKind::Shutdown;
            return;
        default:
            // Fetching from an MMIO area (a device window or unmapped
            // memory, which Unicorn cannot execute) and the rest.
            // KVM's own word for an instruction it cannot emulate.
            last_error = emu::uc_error_text(err) + " at " + hex(pc) + identity_note(pc);
            exit.kind = ExitKind::InternalError;
            exit.reason_code = KVM_INTERNAL_ERROR_EMULATION;
    }
}


EmuVcpu::EmuVcpu(EmuVm& vm, unsigned id) : impl_(std::make_unique<Impl>(vm, id)) {}

EmuVcpu::~EmuVcpu() {
    impl_->hs.shut_down();
    impl_->remove_hooks();
    impl_->eng.set_sink(nullptr);
}

unsigned EmuVcpu::id() const { return impl_->id; }

std::optional<VcpuExit> EmuVcpu::run() {
    impl_->ran = true;
    if (const std::optional<Impl::FailedInjection> f = std::exchange(impl_->failed_injection, std::nullopt)) {
        impl_->post_stop(f->kind, f->why, f->reason_code);
        return impl_->exit;
    }
    if (!impl_->hs.run(kRunWait)) return std::nullopt;
    return impl_->exit;
}

void EmuVcpu::complete_exit() { impl_->hs.complete(); }

kvm_regs EmuVcpu::regs() const {
    impl_->hs.quiesce();
    kvm_regs r = emu::read_regs(impl_->eng.uc(), impl_->eng.width());
    // Inside the hook of a pending access (a run that a time limit or a
    // signal ended there) Unicorn's EIP is not the instruction's: its
    // linear address at a port access, a stale value at a memory access.
    // RIP is then the instruction's own IP within CS, where KVM leaves it
    // at such an exit.
    if (impl_->hs.parked() && (impl_->exit.kind == ExitKind::Io || impl_->exit.kind == ExitKind::Mmio))
        r.rip = impl_->insn_addr - emu::cs_base(impl_->eng.uc(), impl_->eng.width());
    return r;
}

void EmuVcpu::set_regs(const kvm_regs& r) {
    impl_->hs.quiesce();
    if (impl_->hs.parked()) throw Error("emulator: cannot set registers while an exit is pending");
    impl_->end_narrowing();
    emu::write_regs(impl_->eng.uc(), impl_->eng.width(), r);
    impl_->string_in = {};
}

kvm_sregs EmuVcpu::sregs() const {
    impl_->hs.quiesce();
    // Until the guest runs, what was set (the reset state's CS base too).
    if (!impl_->sregs_set || !impl_->ran) return impl_->shadow;
    impl_->eng.settle();  // descriptors are read from the GDT
    kvm_sregs s = emu::read_sregs(impl_->eng.uc(), impl_->eng.width(), impl_->shadow);
    if (impl_->eng.width() == emu::CpuWidth::Legacy32) {
        // EFER, and CR0 in compatibility mode, are kept by hand there.
        s.efer = impl_->efer;
        if (impl_->compat_mode) s.cr0 = impl_->guest_cr0;
    }
    return s;
}

void EmuVcpu::set_sregs(const kvm_sregs& s) {
    impl_->hs.quiesce();
    if (impl_->hs.parked()) throw Error("emulator: cannot set registers while an exit is pending");
    impl_->string_in = {};
    impl_->end_narrowing();
    const emu::CpuWidth w = emu::width_for(s);
    // A Legacy32 engine may be in protected mode; only a fresh one is in
    // real mode (emu_engine.h).
    if (w != impl_->eng.width() || w == emu::CpuWidth::Legacy32) impl_->reopen_engine(w);
    impl_->eng.settle();  // loading a selector reads its descriptor
    emu::write_sregs(impl_->eng.uc(), w, s);
    impl_->shadow = s;
    impl_->efer = w == emu::CpuWidth::Legacy32 ? s.efer : 0;
    impl_->compat_mode = false;
    impl_->long_step = Impl::LongStep::None;
    impl_->sregs_set = true;
    impl_->ran = false;
    impl_->insn_size = 0;
    impl_->failed_injection.reset();
    // The x86 reset state is how a PC board starts its firmware.
    if (emu::is_reset_cs(s.cs)) impl_->guest_vectors = true;
}

std::string EmuVcpu::last_error() const {
    impl_->hs.quiesce();
    return impl_->last_error;
}

bool EmuVcpu::interrupt_window_open() const {
    Impl& v = *impl_;
    v.hs.quiesce();
    if (v.failed_injection || !v.flags_if()) return false;
    // KVM takes no interrupt inside a `rep ins` batch (it drains its
    // read-ahead before the guest runs again): nor does the emulator.
    if (v.string_in.active || (v.hs.parked() && v.exit.kind == ExitKind::Io && v.exit.count > 1)) return false;
    // A parked exit's instruction is completed before a delivery, which
    // ends any shadow it stood in.
    return v.hs.parked() || !v.shadow_after(v.insn_addr, v.insn_size);
}

void EmuVcpu::inject_interrupt(uint8_t vector) {
    Impl& v = *impl_;
    if (v.hs.parked()) {
        v.hs.complete();
    } else {
        v.hs.quiesce();
    }
    std::string why;
    v.device_by_hand.reset();
    const bool delivered = v.deliver(vector, why);
    if (v.device_by_hand) {
        v.failed_injection = Impl::FailedInjection{ExitKind::InternalError, KVM_INTERNAL_ERROR_EMULATION,
                                                   "interrupt " + std::to_string(vector) + ": " + v.device_by_hand_text()};
        v.device_by_hand.reset();
        return;
    }
    if (!delivered) {  // what KVM does when delivering would triple-fault
        v.failed_injection = Impl::FailedInjection{ExitKind::Shutdown, 0, why};
        return;
    }
    v.insn_size = 0;  // the handler's first instruction is in no shadow
}

void EmuVcpu::request_interrupt_window(bool on) { impl_->window_wanted = on; }

bool EmuVcpu::set_debug(const DebugSettings& settings) {
    impl_->hs.quiesce();
    impl_->debug = settings;
    impl_->debug_on = settings.active();
    impl_->watch_hit.reset();
    // The guest at rest before an instruction runs it when it goes on (a
    // step runs one); inside an exit's instruction, the next one stops.
    if (impl_->hs.parked()) {
        impl_->debug_ran = true;
        impl_->debug_count = ~0ull;
    } else {
        impl_->debug_ran = false;
        impl_->debug_at = emu::linear_pc(impl_->eng.uc(), impl_->eng.width());
        impl_->debug_count = impl_->retired;
    }
    return true;
}

std::optional<uint64_t> EmuVcpu::instructions_retired() const { return impl_->retired; }

bool EmuVcpu::set_pause_at(std::optional<uint64_t> instructions) {
    impl_->pause_at = instructions.value_or(~0ull);
    return true;
}

std::optional<FpuState> EmuVcpu::fpu() const {
    impl_->hs.quiesce();
    return FpuState{emu::read_fpu(impl_->eng.uc(), impl_->eng.width())};
}

void EmuVcpu::use_pc_cpuid(bool on) { impl_->pc_cpuid = on; }

void EmuVcpu::hide_nondeterministic_cpuid(bool on) { impl_->hidden_cpuid = on; }

bool EmuVcpu::set_tsc_source(TscSource* source) {
    impl_->hs.quiesce();  // the hook reads it while the guest runs
    impl_->tsc_source = source;
    impl_->tsc_pending = false;
    return true;
}

void EmuVcpu::set_guest_vectors(bool on) { impl_->guest_vectors = on; }

bool EmuVcpu::guest_vectors() const { return impl_->guest_vectors; }

std::string EmuVcpu::stop_note() const {
    const std::string e = last_error();
    return e.empty() ? e : "emulator: " + e;
}

}  // namespace kvmrr
