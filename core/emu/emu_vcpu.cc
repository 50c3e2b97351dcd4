#include "core/emu/emu_vcpu.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "core/emu/emu_engine.h"
#include "core/emu/emu_registers.h"
#include "core/emu/exit_handshake.h"
#include "core/error.h"

namespace kvmrr {

namespace {

constexpr auto kRunWait = std::chrono::milliseconds(10);
// KVM reads `rep ins` ahead in batches of at most this many bytes (its
// emulator's read-ahead buffer), one exit each.
constexpr unsigned kStringInMax = 1024;
constexpr uint32_t kIf = 1u << 9, kTf = 1u << 8, kNt = 1u << 14, kRf = 1u << 16, kVm = 1u << 17, kAc = 1u << 18;

uint32_t read32(uc_engine* uc, int reg) {
    uint32_t v = 0;
    uc_reg_read(uc, reg, &v);
    return v;
}

// The opcode of the instruction at `addr` past its legacy prefixes, and the
// byte after it (ModRM), or 0s if unreadable.
std::pair<uint8_t, uint8_t> opcode_at(uc_engine* uc, uint64_t addr) {
    uint8_t b[16] = {};
    if (uc_mem_read(uc, addr, b, sizeof b) != UC_ERR_OK) return {0, 0};
    size_t i = 0;
    while (i < 14 && (b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf0 || b[i] == 0xf2 || b[i] == 0xf3 || b[i] == 0x2e ||
                      b[i] == 0x36 || b[i] == 0x3e || b[i] == 0x26 || b[i] == 0x64 || b[i] == 0x65))
        ++i;
    return {b[i], b[i + 1]};
}

}  // namespace

struct EmuVcpu::Impl final : emu::MmioSink {
    Impl(EmuVm& vm, unsigned id);

    // A `rep ins` batch: KVM makes one exit of n elements, n = min(the
    // count in (R/E)CX for the address size, 1024 bytes / element size,
    // bytes from (R)DI to the end of its page, or its offset in the page
    // when DF is set), at least 1 (linux arch/x86/kvm/emulate.c,
    // pio_in_emulated). Unicorn's IN hook runs once per element: the
    // first of a batch makes the exit; the others are served from its data.
    struct StringIn {
        bool active = false;
        uint64_t insn = 0;  // the instruction's linear address
        uint32_t port = 0;
        unsigned size = 0, count = 0, next = 0;
    };
    // The elements of a `rep ins` batch starting now, or 1 when the
    // instruction at insn_addr is not one.
    unsigned rep_ins_batch(unsigned size) const;

    // The access in flight, as the memory hook saw it before Unicorn cut it
    // up: Unicorn's MMIO callbacks get at most 4 bytes at a time, and an
    // unaligned access as aligned pieces, but KVM (and so the devices and
    // the trace) see one access. The first piece makes the exit; the others
    // are served from it. Reset at every instruction.
    struct Access {
        bool valid = false;
        bool is_write = false;
        bool served = false;
        uint64_t addr = 0;
        unsigned size = 0;
        uint64_t value = 0;  // written value, or the read data once served
        bool covers(bool w, uint64_t a, unsigned s) const {
            return valid && is_write == w && a < addr + size && addr < a + s;
        }
    };

    uint64_t mmio_read(uint64_t gpa, unsigned size) override;
    void mmio_write(uint64_t gpa, unsigned size, uint64_t value) override;
    uint32_t port_in(uint32_t port, int size);
    void port_out(uint32_t port, int size, uint32_t value);
    bool park_or_stop();
    // The guest is at rest (or the worker is between uc_emu_start calls).
    // Delivers `vector` through the IVT or IDT with the current CS:EIP as
    // the return address; false with `why` when the CPU would triple-fault.
    bool deliver(uint8_t vector, std::string& why);
    bool push(uint32_t value, unsigned size, std::string& why);
    // Whether the instruction last completed leaves an interrupt shadow
    // (STI, MOV SS, POP SS).
    bool shadow_after(uint64_t addr, uint32_t size) const;
    bool software_interrupt_stop();
    // Whether the instruction at `addr` (`size` bytes) is a far return
    // (retf, retf imm16) in real mode with a CS base other than 0; fills
    // far_ret. See far_return_by_hand.
    bool real_far_return(uint64_t addr, uint32_t size);
    // Whether the instruction at `addr` is RDTSC or RDTSCP (no prefixes:
    // none changes what either does).
    bool is_rdtsc(uint64_t addr, uint32_t size) const;
    // EDX:EAX from the TSC source, over what Unicorn's RDTSC left there.
    void replace_tsc();
    void far_return_by_hand();
    uint8_t flags_if() const { return (read32(eng.uc(), UC_X86_REG_EFLAGS) & kIf) != 0; }
    void install_hooks();
    void remove_hooks();
    void worker_main();
    bool run_segment();
    void post_final_exit(uc_err err);

    // Posts an I/O or MMIO exit of `size` bytes at `addr` whose data is
    // `data` (its first `size` bytes: written data, or zeros for the
    // handler to fill).
    void post_access(ExitKind kind, bool is_write, uint64_t addr, unsigned size, unsigned count = 1);

    emu::EmuEngine& eng;
    unsigned id;
    // The exit handed to run()'s caller, and its data: one access of at
    // most 8 bytes (string I/O is one exit per element).
    VcpuExit exit;
    uint8_t data[kStringInMax] = {};
    emu::ExitHandshake hs;
    kvm_sregs shadow = emu::reset_sregs();
    bool sregs_set = false;
    std::vector<uc_hook> hooks;
    std::string last_error;

    // Worker-only state.
    Access access;
    StringIn string_in;
    uint64_t insn_addr = 0;  // the instruction the code hook saw last (linear)
    uint32_t insn_size = 0;  // 0: none since a delivery or set_sregs
    uint64_t prev_addr = 0;  // the one before it
    uint32_t prev_size = 0;
    bool stopped_by_hook = false;
    bool window_stop = false;  // the code hook stopped because the window opened
    // The code hook stopped before a real-mode far return that the worker
    // performs by hand (far_return_by_hand).
    struct FarReturn {
        bool pending = false;
        bool op32 = false;  // lretd (0x66)
        uint16_t imm = 0;   // retf imm16
    } far_ret;
    int fault_vector = -1;
    // Unicorn cannot hook RDTSC (its result is the host's TSC), so the code
    // hook notes one about to run and replaces its result at the next
    // instruction boundary, before anything can read EDX:EAX.
    bool tsc_pending = false;
    // The same for CPUID leaf 1's APIC bit (the CPUID hook sees the leaf
    // before the instruction runs, not its result).
    bool apic_fix_pending = false;

    // Shared with the caller of run(): set between runs, read by the hook.
    std::atomic<bool> window_wanted{false};
    std::atomic<bool> guest_vectors{false};
    TscSource* tsc_source = nullptr;
    std::atomic<bool> show_apic{false};
    bool ran = false;                     // run() since set_sregs
    std::optional<std::string> failed_injection;  // a Shutdown for the next run()

    std::thread worker;  // last: starts once everything above exists
};

namespace {

using Impl = EmuVcpu::Impl;

void on_code(uc_engine* uc, uint64_t address, uint32_t size, void* user) {
    auto* v = static_cast<Impl*>(user);
    if (v->tsc_pending) v->replace_tsc();  // the RDTSC before this instruction ran
    if (v->apic_fix_pending) {             // the CPUID leaf 1 before it ran
        v->apic_fix_pending = false;
        uint32_t edx = read32(uc, UC_X86_REG_EDX) | (1u << 9);
        uc_reg_write(uc, UC_X86_REG_EDX, &edx);
    }
    v->access.valid = false;
    v->prev_addr = v->insn_addr;
    v->prev_size = v->insn_size;
    v->insn_addr = address;
    v->insn_size = size;
    v->eng.note_executed(address);
    // The only place the guest stops on request: an instruction boundary,
    // with the PC Unicorn synced for this hook. An interrupt window asked
    // for is checked here too: IF set and the instruction just done not
    // one that blocks interrupts for one more instruction.
    bool stop = v->hs.stop_requested() || v->eng.pending_sync();
    if (!stop && v->window_wanted.load(std::memory_order_relaxed) && !v->string_in.active && v->flags_if() &&
        !v->shadow_after(v->prev_addr, v->prev_size)) {
        v->window_stop = true;
        stop = true;
    }
    if (!stop && size <= 6 && v->eng.width() == emu::CpuWidth::Legacy32 && v->real_far_return(address, size)) stop = true;
    if (stop) {
        v->stopped_by_hook = true;
        uc_emu_stop(uc);
    } else if (v->tsc_source && (size == 2 || size == 3) && v->is_rdtsc(address, size)) {
        v->tsc_pending = true;  // it runs now (a stop here would run it later, and see it again)
    }
}

void on_mem(uc_engine*, uc_mem_type type, uint64_t address, int size, int64_t value, void* user) {
    auto* v = static_cast<Impl*>(user);
    const bool w = type == UC_MEM_WRITE;
    const auto s = static_cast<unsigned>(size);
    if (w && v->eng.logging()) v->eng.mark_written(address, s);
    if (v->access.covers(w, address, s)) return;  // Unicorn's piece of the access already seen
    v->access = {true, w, false, address, s, static_cast<uint64_t>(value)};
}

uint32_t on_in(uc_engine*, uint32_t port, int size, void* user) { return static_cast<Impl*>(user)->port_in(port, size); }

void on_out(uc_engine*, uint32_t port, int size, uint32_t value, void* user) {
    static_cast<Impl*>(user)->port_out(port, size, value);
}

// A write to a read-only slot: an MMIO exit; then Unicorn drops the write
// (the region is read-only), as KVM leaves ROM alone.
bool on_write_prot(uc_engine*, uc_mem_type, uint64_t address, int size, int64_t value, void* user) {
    static_cast<Impl*>(user)->mmio_write(address, static_cast<unsigned>(size), static_cast<uint64_t>(value));
    return true;
}

int on_cpuid(uc_engine* uc, void* user) {
    auto* v = static_cast<Impl*>(user);
    if (v->show_apic.load(std::memory_order_relaxed) && read32(uc, UC_X86_REG_EAX) == 1) v->apic_fix_pending = true;
    return 0;  // Unicorn runs the instruction
}

void on_interrupt(uc_engine* uc, uint32_t vector, void* user) {
    static_cast<Impl*>(user)->fault_vector = static_cast<int>(vector);
    uc_emu_stop(uc);
}

}  // namespace

EmuVcpu::Impl::Impl(EmuVm& vm, unsigned i) : eng(vm.engine()), id(i) {
    if (eng.sink()) throw Error("emulator: one vCPU per VM");
    install_hooks();
    eng.set_sink(this);
    worker = std::thread([this] { worker_main(); });
}

void EmuVcpu::Impl::install_hooks() {
    uc_engine* uc = eng.uc();
    auto add = [&](int type, void* cb, const char* what, auto... extra) {
        uc_hook h{};
        const uc_err e = uc_hook_add(uc, &h, type, cb, this, 1, 0, extra...);
        if (e != UC_ERR_OK) throw Error(std::string("emulator: cannot add the ") + what + " hook: " + emu::uc_error_text(e));
        hooks.push_back(h);
    };
    add(UC_HOOK_CODE, reinterpret_cast<void*>(on_code), "instruction");
    add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(on_mem), "memory");
    add(UC_HOOK_MEM_WRITE_PROT, reinterpret_cast<void*>(on_write_prot), "write-protect");
    add(UC_HOOK_INSN, reinterpret_cast<void*>(on_in), "in", UC_X86_INS_IN);
    add(UC_HOOK_INSN, reinterpret_cast<void*>(on_out), "out", UC_X86_INS_OUT);
    add(UC_HOOK_INTR, reinterpret_cast<void*>(on_interrupt), "interrupt");
    add(UC_HOOK_INSN, reinterpret_cast<void*>(on_cpuid), "cpuid", UC_X86_INS_CPUID);
}

void EmuVcpu::Impl::remove_hooks() {
    for (uc_hook h : hooks) uc_hook_del(eng.uc(), h);
    hooks.clear();
}

bool EmuVcpu::Impl::park_or_stop() {
    if (hs.park()) return true;
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
    if (!access.covers(false, gpa, size)) access = {true, false, false, gpa, size, 0};
    if (!access.served) {
        std::memset(data, 0, 8);
        post_access(ExitKind::Mmio, false, access.addr, access.size);
        if (!park_or_stop()) return ~0ull;
        std::memcpy(&access.value, data, sizeof access.value);
        access.served = true;
    }
    // The bytes of this piece that belong to the access (little-endian);
    // bytes of an aligned piece outside it are cut off by Unicorn.
    uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) {
        const uint64_t a = gpa + i;
        if (a >= access.addr && a < access.addr + access.size)
            v |= ((access.value >> (8 * (a - access.addr))) & 0xff) << (8 * i);
    }
    return v;
}

void EmuVcpu::Impl::mmio_write(uint64_t gpa, unsigned size, uint64_t value) {
    if (!access.covers(true, gpa, size)) access = {true, true, false, gpa, size, value};
    if (access.served) return;
    std::memset(data, 0, sizeof data);
    std::memcpy(data, &access.value, access.size);
    post_access(ExitKind::Mmio, true, access.addr, access.size);
    access.served = true;
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
    if (uc_mem_read(eng.uc(), insn_addr, b, sizeof b) != UC_ERR_OK) return 1;
    bool rep = false, addr_override = false;
    size_t i = 0;
    for (; i < 14; ++i) {
        const uint8_t p = b[i];
        if (p == 0xf3 || p == 0xf2) rep = true;
        else if (p == 0x67) addr_override = true;
        else if (!(p == 0x66 || p == 0xf0 || p == 0x2e || p == 0x36 || p == 0x3e || p == 0x26 || p == 0x64 || p == 0x65)) break;
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
    const uint64_t in_page = down ? (rdi & 0xfff) : 0x1000 - (rdi & 0xfff);
    const uint64_t n = std::min({in_page, uint64_t{kStringInMax / size}, rcx});
    return n == 0 ? 1 : static_cast<unsigned>(n);
}

void EmuVcpu::Impl::port_out(uint32_t port, int size, uint32_t value) {
    std::memcpy(data, &value, sizeof value);
    post_access(ExitKind::Io, true, port & 0xffff, static_cast<unsigned>(size));
    park_or_stop();
}

void EmuVcpu::Impl::worker_main() {
    while (hs.wait_for_start()) hs.segment_ended(run_segment());
}

// Runs the guest until it stops for good (true: a final exit is posted) or
// on request (false). A stop for a pending memory-map change applies the
// change and goes on.
bool EmuVcpu::Impl::run_segment() {
    for (;;) {
        stopped_by_hook = false;
        window_stop = false;
        fault_vector = -1;
        eng.begin_emulation();
        const uc_err err = uc_emu_start(eng.uc(), emu::start_address(eng.uc(), eng.width()), ~0ull, 0, 0);
        eng.end_emulation();
        if (stopped_by_hook) {
            // Stopped before the instruction at insn_addr. The code hook
            // leaves the linear address in EIP, not the offset in CS
            // (visible when CS's base is not 0): put the offset back.
            if (eng.width() == emu::CpuWidth::Legacy32) {
                const auto ip = static_cast<uint32_t>(insn_addr - emu::cs_base(eng.uc(), eng.width()));
                uc_reg_write(eng.uc(), UC_X86_REG_EIP, &ip);
            }
            const uint64_t stop_addr = insn_addr;
            const uint32_t stop_size = insn_size;
            insn_addr = prev_addr;  // the last instruction done, for the shadow
            insn_size = prev_size;
            if (far_ret.pending) {
                far_return_by_hand();
                insn_addr = stop_addr;  // now the last instruction done
                insn_size = stop_size;
                continue;
            }
        }
        if (fault_vector >= 0 && guest_vectors.load() && software_interrupt_stop()) {
            // int n, int3, into in a guest with its own IVT/IDT: Unicorn
            // only reports them, so deliver them as the CPU would.
            std::string why;
            if (deliver(static_cast<uint8_t>(fault_vector), why)) {
                insn_size = 0;
                continue;
            }
            exit = VcpuExit{};
            exit.kind = ExitKind::Shutdown;
            exit.interrupts_enabled = flags_if();
            last_error = why;
            return true;
        }
        if (stopped_by_hook && fault_vector < 0) {
            if (hs.stop_requested()) return false;
            if (window_stop) {
                exit = VcpuExit{};
                exit.kind = ExitKind::InterruptWindow;
                exit.interrupts_enabled = true;
                return true;
            }
            continue;
        }
        post_final_exit(err);
        return true;
    }
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
        if (pc == insn_addr + insn_size && insn_size == 1 && uc_mem_read(eng.uc(), insn_addr, &last, 1) == UC_ERR_OK &&
            last == 0xf4) {
            exit.kind = ExitKind::Hlt;
            return;
        }
        last_error = "CPU exception at " + hex(pc) + " that the emulator reported without a vector";
        exit.kind = ExitKind::Shutdown;
        return;
    }
    switch (err) {
        case UC_ERR_OK:  // the interrupt hook saw an exception or int n
            last_error = "CPU exception " + std::to_string(fault_vector) + " at " + hex(pc) +
                         (guest_vectors.load() ? " (the emulator delivers no CPU exceptions, only int n, int3 and into)"
                                               : " with no IDT");
            exit.kind = ExitKind::Shutdown;
            return;
        case UC_ERR_INSN_INVALID:
        case UC_ERR_EXCEPTION:
        // Everything below kEmuPhysLimit is mapped, so these are page
        // faults (or an access beyond the map through the guest's own
        // page tables); with no IDT, KVM would triple-fault.
        case UC_ERR_READ_UNMAPPED:
        case UC_ERR_WRITE_UNMAPPED:
        case UC_ERR_READ_PROT:
        case UC_ERR_WRITE_PROT:
            last_error = emu::uc_error_text(err) + " at " + hex(pc);
            exit.kind = ExitKind::Shutdown;
            return;
        default:
            // Fetching from an MMIO area (a device window or unmapped
            // memory, which Unicorn cannot execute) and the rest.
            // KVM's own word for an instruction it cannot emulate.
            last_error = emu::uc_error_text(err) + " at " + hex(pc);
            exit.kind = ExitKind::InternalError;
            exit.reason_code = KVM_INTERNAL_ERROR_EMULATION;
    }
}

bool EmuVcpu::Impl::is_rdtsc(uint64_t addr, uint32_t size) const {
    uint8_t b[3] = {};
    if (uc_mem_read(eng.uc(), addr, b, size) != UC_ERR_OK) return false;
    return b[0] == 0x0f && ((size == 2 && b[1] == 0x31) || (size == 3 && b[1] == 0x01 && b[2] == 0xf9));
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
    const auto [op, modrm] = opcode_at(eng.uc(), addr);
    return op == 0xfb || op == 0x17 || (op == 0x8e && ((modrm >> 3) & 7) == 2);  // sti, pop ss, mov ss
}

// After the interrupt hook: whether it was int n, int3 or into (EIP just
// past the instruction the code hook saw), not a CPU exception.
bool EmuVcpu::Impl::software_interrupt_stop() {
    if (insn_size == 0 || emu::linear_pc(eng.uc(), eng.width()) != insn_addr + insn_size) return false;
    const uint8_t op = opcode_at(eng.uc(), insn_addr).first;
    return op == 0xcd || op == 0xcc || op == 0xce;
}

// Unicorn 2.0.1 (fixed in 2.1.0) with a UC_HOOK_MEM_READ hook syncs EIP
// to the linear address of the current instruction before every guest
// load, not to its offset in CS. A real-mode far return loads the new IP,
// writes it to EIP, then loads the new CS, and that second load overwrites
// EIP with the return's own linear address: with a CS base other than 0
// the guest went on at new CS base + that address (SeaBIOS's call16 lands
// in zeroed RAM at 0x1ee982 after `int 0x1c; lretw` at 0xfe980). So such
// a return stops the engine in the code hook, before it runs, and the
// worker does it here. (Protected mode takes a helper that is not hit;
// near returns and jumps write EIP after their loads.)
bool EmuVcpu::Impl::real_far_return(uint64_t addr, uint32_t size) {
    // Registers first: reading them is cheaper than reading the code, and
    // most firmware instructions run in protected mode.
    uc_engine* uc = eng.uc();
    if ((read32(uc, UC_X86_REG_CR0) & 1) || (read32(uc, UC_X86_REG_EFLAGS) & kVm)) return false;
    // With CS base 0 the linear address is the offset: nothing to correct.
    if ((read32(uc, UC_X86_REG_CS) & 0xffff) == 0) return false;
    uint8_t b[6] = {};
    if (uc_mem_read(uc, addr, b, size) != UC_ERR_OK) return false;
    bool op32 = false;
    uint32_t i = 0;
    for (; i < size; ++i) {
        if (b[i] == 0x66) {
            op32 = true;  // real mode: 16-bit by default, 32-bit with the prefix (repeated or not)
        } else if (!(b[i] == 0x67 || b[i] == 0xf0 || b[i] == 0xf2 || b[i] == 0xf3 || b[i] == 0x2e || b[i] == 0x36 ||
                     b[i] == 0x3e || b[i] == 0x26 || b[i] == 0x64 || b[i] == 0x65)) {
            break;
        }
    }
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
    if (uc_mem_write(uc, at, &value, size) != UC_ERR_OK) {
        why = "cannot push the interrupt frame at " + hex(at);
        return false;
    }
    // Written behind Unicorn's back (no write hook): dirty the page as the
    // CPU's own push does on KVM.
    if (eng.logging()) eng.mark_written(at, size);
    uc_reg_write(uc, UC_X86_REG_ESP, &next);
    return true;
}

bool EmuVcpu::Impl::deliver(uint8_t vector, std::string& why) {
    uc_engine* uc = eng.uc();
    const std::string what = "interrupt " + std::to_string(vector) + " at " + hex(emu::linear_pc(uc, eng.width()));
    if (eng.width() != emu::CpuWidth::Legacy32) {
        why = what + ": the emulator delivers no interrupts in long mode";
        return false;
    }
    uc_x86_mmr idt{};
    uc_reg_read(uc, UC_X86_REG_IDTR, &idt);
    uint32_t eflags = read32(uc, UC_X86_REG_EFLAGS);
    const uint32_t cs = read32(uc, UC_X86_REG_CS) & 0xffff;
    const uint32_t eip = read32(uc, UC_X86_REG_EIP);
    const bool real = !(read32(uc, UC_X86_REG_CR0) & 1);
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
    if (!push(old_flags, size, why) || !push(cs, size, why) || !push(eip, size, why)) {
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

EmuVcpu::EmuVcpu(EmuVm& vm, unsigned id) : impl_(std::make_unique<Impl>(vm, id)) {}

EmuVcpu::~EmuVcpu() {
    impl_->hs.shut_down();
    impl_->worker.join();
    impl_->remove_hooks();
    impl_->eng.set_sink(nullptr);
}

unsigned EmuVcpu::id() const { return impl_->id; }

std::optional<VcpuExit> EmuVcpu::run() {
    impl_->ran = true;
    if (impl_->failed_injection) {
        // What KVM does when delivering would triple-fault: a Shutdown exit.
        impl_->last_error = *impl_->failed_injection;
        impl_->failed_injection.reset();
        impl_->exit = VcpuExit{};
        impl_->exit.kind = ExitKind::Shutdown;
        impl_->exit.interrupts_enabled = impl_->flags_if();
        return impl_->exit;
    }
    if (!impl_->hs.run(kRunWait)) return std::nullopt;
    return impl_->exit;
}

void EmuVcpu::complete_exit() { impl_->hs.complete(); }

kvm_regs EmuVcpu::regs() const {
    impl_->hs.quiesce();
    return emu::read_regs(impl_->eng.uc(), impl_->eng.width());
}

void EmuVcpu::set_regs(const kvm_regs& r) {
    impl_->hs.quiesce();
    if (impl_->hs.parked()) throw Error("emulator: cannot set registers while an exit is pending");
    emu::write_regs(impl_->eng.uc(), impl_->eng.width(), r);
    impl_->string_in = {};
}

kvm_sregs EmuVcpu::sregs() const {
    impl_->hs.quiesce();
    // Until the guest runs, what was set (the reset state's CS base too).
    if (!impl_->sregs_set || !impl_->ran) return impl_->shadow;
    return emu::read_sregs(impl_->eng.uc(), impl_->eng.width(), impl_->shadow);
}

void EmuVcpu::set_sregs(const kvm_sregs& s) {
    impl_->hs.quiesce();
    if (impl_->hs.parked()) throw Error("emulator: cannot set registers while an exit is pending");
    impl_->string_in = {};
    const emu::CpuWidth w = emu::width_for(s);
    // A Legacy32 engine may be in protected mode; only a fresh one is in
    // real mode (emu_engine.h).
    if (w != impl_->eng.width() || w == emu::CpuWidth::Legacy32) {
        impl_->remove_hooks();
        impl_->eng.reopen(w);
        impl_->install_hooks();
    }
    emu::write_sregs(impl_->eng.uc(), w, s);
    impl_->shadow = s;
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
    if (!v.deliver(vector, why)) {
        v.failed_injection = why;
        return;
    }
    v.insn_size = 0;  // the handler's first instruction is in no shadow
}

void EmuVcpu::request_interrupt_window(bool on) { impl_->window_wanted = on; }

void EmuVcpu::show_apic_in_cpuid(bool on) { impl_->show_apic = on; }

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
