// EmuVcpu::Impl: the emulated vCPU's state and its parts, shared by the
// files that implement it: emu_vcpu.cc (Unicorn's hooks, the worker that
// runs the guest, the Vcpu interface) and emu_by_hand.cc (what the
// emulator does by hand where Unicorn does not do what the CPU does).
// Internal to core/emu, like emu_engine.h.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/emu/emu_engine.h"
#include "core/emu/emu_registers.h"
#include "core/emu/emu_vcpu.h"
#include "core/emu/exit_handshake.h"
#include "core/emu/linear_memory.h"

namespace kvmrr {

namespace emu {

inline constexpr auto kRunWait = std::chrono::milliseconds(10);
// KVM reads `rep ins` ahead in batches of at most this many bytes (its
// emulator's read-ahead buffer), one exit each.
constexpr unsigned kStringInMax = 1024;
// The longest x86 instruction, in bytes.
constexpr uint32_t kMaxInsnLength = 15;
constexpr uint32_t kIf = 1u << 9, kTf = 1u << 8, kNt = 1u << 14, kRf = 1u << 16, kVm = 1u << 17, kAc = 1u << 18;

inline uint32_t read32(uc_engine* uc, int reg) {
    uint32_t v = 0;
    uc_reg_read(uc, reg, &v);
    return v;
}

// The elements of KVM's `rep ins` batch for a count (already masked to the
// address size), DI and DF: see EmuVcpu::Impl::StringIn.
inline unsigned kvm_ins_batch(uint64_t count, uint64_t di, bool down, unsigned size) {
    const uint64_t in_page = down ? (di & 0xfff) : 0x1000 - (di & 0xfff);
    const uint64_t n = std::min({in_page, uint64_t{kStringInMax / size}, count});
    return n == 0 ? 1 : static_cast<unsigned>(n);
}

// An x86 legacy prefix: operand and address size, lock, rep/repne, segment.
// A table: the code hook asks for every instruction.
inline constexpr std::array<bool, 256> kLegacyPrefix = [] {
    std::array<bool, 256> t{};
    for (const uint8_t b : {0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65}) t[b] = true;
    return t;
}();
inline bool is_legacy_prefix(uint8_t b) { return kLegacyPrefix[b]; }

// Whether the instruction in `b` (`size` bytes) is `rep ins` (or `repne
// ins`, which the CPU runs the same).
inline bool is_rep_ins(const uint8_t* b, uint32_t size) {
    if (size < 2) return false;
    bool rep = false;
    uint32_t i = 0;
    for (; i + 1 < size && is_legacy_prefix(b[i]); ++i) rep |= b[i] == 0xf3 || b[i] == 0xf2;
    return rep && i + 1 == size && (b[i] == 0x6c || b[i] == 0x6d);
}

// Whether the instruction in `b` (`size` bytes) is RDTSC or RDTSCP, with
// no prefixes (none changes what either does).
inline bool is_rdtsc(const uint8_t* b, uint32_t size) {
    return b[0] == 0x0f && ((size == 2 && b[1] == 0x31) || (size == 3 && b[1] == 0x01 && b[2] == 0xf9));
}

// The opcode of the instruction at `addr` past its legacy prefixes, and the
// byte after it (ModRM), or 0s if unreadable.
// Reads of code bytes stop at the end of the page: every mapping boundary
// is page-aligned, so they stay in the RAM or ROM the instruction came
// from and never reach a device window (which would take them for an
// access of the guest's).
inline size_t code_bytes_at(uint64_t addr, size_t n) { return std::min<size_t>(n, 0x1000 - (addr & 0xfff)); }

// Whether the instruction in `b` (`size` bytes, real or protected mode)
// may change CR0.PE, CR0.PG or CS: moves to control registers, LMSW and
// the other 0x0f 0x00/0x01 system instructions, far jumps, calls and
// returns, IRET, INT n, SYSENTER/SYSEXIT/SYSCALL/SYSRET, RSM, WRMSR, and
// RDMSR (which reads the EFER a Legacy32 engine keeps by hand: the code
// hook looks only at these for long mode's entry). The rest leave the
// mode as it was.
inline bool may_change_mode(const uint8_t* b, uint32_t size) {
    uint32_t i = 0;
    while (i < size && is_legacy_prefix(b[i])) ++i;
    if (i >= size) return true;
    const uint8_t op = b[i], next = i + 1 < size ? b[i + 1] : 0;
    switch (op) {
        case 0x0f:
            return next == 0x00 || next == 0x01 || next == 0x05 || next == 0x06 || next == 0x07 || next == 0x22 ||
                   next == 0x30 || next == 0x32 || next == 0x34 || next == 0x35 || next == 0xaa;
        case 0x9a: case 0xea:              // call far, jmp far
        case 0xca: case 0xcb: case 0xcf:   // retf, iret
        case 0xcc: case 0xcd: case 0xce:   // int3, int n, into
        case 0xf1:                         // int1
            return true;
        case 0x8e: return ((next >> 3) & 7) == 1;                          // mov to CS (#UD)
        case 0xff: return ((next >> 3) & 7) == 3 || ((next >> 3) & 7) == 5;  // call far, jmp far
        default: return false;
    }
}

// What the code hook looks for in an instruction, in one look at its bytes
// (the hook runs for every instruction): emu::may_change_mode, is_rep_ins,
// is_rdtsc, as bits, and kInsnIfMaySet: an instruction after which
// EFLAGS.IF may be set when it was clear (STI, POPF, and what may change
// the mode: IRET, INT n through a task gate, far transfers to a task,
// SYSRET, RSM). Most instructions start, past their prefixes, with a byte
// that none of those can: they cost a table lookup a byte.
inline constexpr uint8_t kInsnModeChange = 1, kInsnRepIns = 2, kInsnRdtsc = 4, kInsnIfMaySet = 8;
inline constexpr uint8_t kInsnUnknown = kInsnModeChange | kInsnIfMaySet;  // bytes not at hand
inline constexpr std::array<bool, 256> kInsnLookCloser = [] {
    std::array<bool, 256> t{};
    for (const uint8_t b : {0x0f, 0x9a, 0xea, 0xca, 0xcb, 0xcf, 0xcc, 0xcd, 0xce, 0xf1, 0x8e, 0xff, 0x6c, 0x6d, 0xfb, 0x9d})
        t[b] = true;
    return t;
}();
// insn_kind past its common case: `i` is where the prefixes end.
[[gnu::noinline]] inline uint8_t insn_kind_closer(const uint8_t* b, uint32_t size, uint32_t i) {
    const bool mode = may_change_mode(b, size);
    const bool if_may_set = mode || (i < size && (b[i] == 0xfb || b[i] == 0x9d));  // sti, popf
    return static_cast<uint8_t>((mode ? kInsnModeChange : 0) | (if_may_set ? kInsnIfMaySet : 0) |
                                (is_rep_ins(b, size) ? kInsnRepIns : 0) | (is_rdtsc(b, size) ? kInsnRdtsc : 0));
}
[[gnu::always_inline]] inline uint8_t insn_kind(const uint8_t* b, uint32_t size) {
    uint32_t i = 0;
    while (i < size && is_legacy_prefix(b[i])) ++i;
    if (i < size && !kInsnLookCloser[b[i]]) [[likely]] return 0;
    return insn_kind_closer(b, size, i);
}

inline std::pair<uint8_t, uint8_t> opcode_at(uc_engine* uc, CpuWidth w, uint64_t addr) {
    uint8_t b[16] = {};
    if (!read_linear(uc, w, addr, b, code_bytes_at(addr, sizeof b))) return {0, 0};
    size_t i = 0;
    while (i < 14 && is_legacy_prefix(b[i])) ++i;
    return {b[i], b[i + 1]};
}

}  // namespace emu

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
    // Runs one batch of the `rep ins` at insn_addr as KVM does (see
    // RepInsByHand); EIP is at the instruction. Handled: false when the
    // emulator must run it itself (a destination outside RAM).
    enum class ByHand : uint8_t { Done, NotHandled, ShuttingDown };
    ByHand rep_ins_by_hand();

    // The access in flight, as the memory hook saw it before Unicorn cut it
    // up: Unicorn's MMIO callbacks get at most 4 bytes at a time, and an
    // unaligned access as aligned pieces, but KVM (and so the devices and
    // the trace) see one access. The first piece makes the exit; the others
    // are served from it. Reset at every instruction.
    //
    // An access that crosses a page boundary KVM cuts in two there, and
    // makes an exit only for a part that is not RAM (x86.c,
    // emulator_read_write): a dword half in RAM and half in MMIO is an
    // exit of the MMIO half. So the exit is the part on the page of the
    // piece Unicorn asks for (`part`), and a part is served once.
    struct Access {
        bool valid = false;
        bool is_write = false;
        bool served = false;
        uint64_t addr = 0;
        unsigned size = 0;
        uint64_t value = 0;      // written value, or the read data of the part served
        uint64_t served_at = 0;  // where that part starts
        bool covers(bool w, uint64_t a, unsigned s) const {
            return valid && is_write == w && a < addr + size && addr < a + s;
        }
        // Whether a read piece at `a` is one of the aligned loads by which
        // Unicorn reads an unaligned access (the two of the access's size
        // around it): one wholly outside its bytes contributes nothing.
        bool aligned_around(uint64_t a, unsigned s) const {
            const uint64_t first = addr & ~uint64_t{size - 1};
            return valid && !is_write && size && (size & (size - 1)) == 0 && a >= first && a + s <= first + 2 * size;
        }
        // The part on the page of `gpa` (which the access covers): start, bytes.
        std::pair<uint64_t, unsigned> part(uint64_t gpa) const {
            const uint64_t page = gpa & ~uint64_t{0xfff};
            const uint64_t lo = std::max(addr, page), hi = std::min(addr + size, page + 0x1000);
            return {lo, static_cast<unsigned>(hi - lo)};
        }
    };

    uint64_t mmio_read(uint64_t gpa, unsigned size) override;
    void mmio_write(uint64_t gpa, unsigned size, uint64_t value) override;
    // The block the vCPU waits in, if it meets the range, may run on with
    // what was there before: it stops at the next boundary (as after a
    // store by hook over code).
    void code_forgotten(uint64_t start, uint64_t end) override {
        if (block_end == 0 || (start < block_end && block_start < end)) code_written = true;
    }
    uint32_t port_in(uint32_t port, int size);
    void port_out(uint32_t port, int size, uint32_t value);
    bool park_or_stop();
    // The guest is at rest (or the worker is between uc_emu_start calls).
    // Delivers `vector` through the IVT or IDT with the current CS:EIP as
    // the return address; false with `why` when the CPU would triple-fault.
    bool deliver(uint8_t vector, std::string& why, std::optional<uint32_t> error_code = std::nullopt);
    // deliver() in a Long64 engine: a 64-bit IDT gate at ring 0 (IST
    // stacks too); `what` names the interrupt for `why`.
    bool deliver_long(uint8_t vector, std::optional<uint32_t> error_code, const std::string& what, std::string& why);
    bool push(uint32_t value, unsigned size, std::string& why);
    // deliver() from the worker between uc_emu_start calls; where the CPU
    // would triple-fault, posts the Shutdown exit and returns false.
    bool deliver_or_shut_down(uint8_t vector, std::optional<uint32_t> error_code = std::nullopt);
    // After uc_emu_start ended with `err` (and no software interrupt): the
    // vector of a CPU exception the CPU would deliver through the guest's
    // IVT or IDT (a guest with its own vectors), else -1.
    int cpu_exception(uc_err err) const;
    // Legacy32 with CR0.PE clear.
    bool real_mode() const;
    // Delivers that exception (in protected and long mode with its error
    // code, emu/exception_state.h), the faulting instruction its return
    // address; false when it posted the final exit instead.
    bool deliver_cpu_exception(int vector);
    // Posts the exit that ends the run (Shutdown, InternalError), with
    // `why` for last_error().
    void post_stop(ExitKind kind, std::string why, uint64_t reason_code = 0);
    // A fresh engine of width `w` with the same map and this vCPU's hooks
    // (a Long64 one for long mode; a Legacy32 one to be in real mode).
    // Throws kvmrr::Error if Unicorn refuses.
    void reopen_engine(emu::CpuWidth w);
    // The code hook, in a Legacy32 engine: whether the instruction is one
    // of long mode's entry that the worker does by hand (sets long_step).
    bool long_mode_step(const uint8_t* code, uint64_t addr, uint32_t size);
    // The worker: runs long_step's instruction (at insn_addr); false when
    // it posted the final exit instead.
    bool long_mode_by_hand();
    // Moves the guest to a Long64 engine, at CS:RIP with RSP (CS's GDT
    // descriptor given); false with `why` when the engine refuses.
    bool enter_long_mode(uint16_t cs, uint64_t rip, uint64_t rsp, uint64_t descriptor, std::string& why);
    // CPUID's result for cpuid_fix_leaf, as the pc board shows it, less
    // what --deterministic-cpu hides.
    void fix_cpuid();
    // Unicorn 2.0.1 walks the guest's page tables for faults and
    // permissions, then accesses the linear address as if it were the
    // physical one (target/i386/excp_helper.c: "paddr = vaddr"), so only
    // guests whose page tables map addresses to themselves run right. For
    // an error at `linear`: a sentence saying so where the tables map it
    // elsewhere, else "".
    std::string identity_note(uint64_t linear) const;
    // Whether the instruction at `addr` (`size` bytes, `code` where at
    // hand) is a move to CR0 that sets PG (emu_by_hand.cc).
    bool turns_paging_on(const uint8_t* code, uint64_t addr, uint32_t size) const;
    // Whether the instruction last completed leaves an interrupt shadow
    // (STI, MOV SS, POP SS).
    bool shadow_after(uint64_t addr, uint32_t size) const;
    bool software_interrupt_stop();
    // Whether the instruction at `addr` (`size` bytes) is a far return
    // (retf, retf imm16) in real mode with a CS base other than 0; fills
    // far_ret. See far_return_by_hand.
    bool real_far_return(uint64_t addr, uint32_t size);
    // Reads block_real_cs and block_physical for the block starting now.
    void read_block_mode();
    // Whether block_real_cs and block_physical still hold for the next
    // block: cleared before each uc_emu_start and after an instruction that
    // may change the mode (emu::may_change_mode) or whose bytes were not at
    // hand, so CR0 and CS (a register read each, costlier than the rest of
    // the block hook) are read only then.
    bool mode_known = false;
    // The CPU's mode as of the start of the translated block running now,
    // which the block hook reads for all its instructions: whatever
    // changes the mode, paging or CS (mov to CR0, far jumps, calls and
    // returns, interrupts) ends a block in QEMU's translator, and the
    // worker's own changes happen between uc_emu_start calls, each starting
    // a block. block_real_cs: CS's selector in real mode (CR0.PE clear),
    // none otherwise. block_physical: linear addresses are physical ones
    // (no paging), so code bytes can be read from the slots' host memory.
    std::optional<uint16_t> block_real_cs;
    bool block_physical = false;
    // Where that block ends (0: unknown). A far return ends its block, so
    // only a block's last instruction can be one.
    uint64_t block_end = 0;
    // Where it starts, and its bytes in host memory where they are there
    // (linear is physical): the code hook looks at each instruction's
    // bytes for `rep ins`, RDTSC and a change of mode.
    uint64_t block_start = 0;
    const uint8_t* block_host = nullptr;
    // The bytes of the instruction at `address` (`size` bytes) in the
    // block's, or null where they are not at hand.
    const uint8_t* insn_bytes(uint64_t address, uint32_t size) const {
        return block_host && address >= block_start && address + size <= block_end ? block_host + (address - block_start)
                                                                                   : nullptr;
    }
    // `rep ins` is run by hand, a batch at a time between uc_emu_start
    // calls, where the block's code is in RAM without paging: KVM decodes
    // the instruction once for a whole batch, writes the batch to memory,
    // and fetches the instruction again only for the next one, while
    // Unicorn fetches it anew after every element that overwrites it (a
    // `rep ins` over its own code then stops early, or wraps DI into a
    // translation it is still running). The code hook stops before one
    // (rep_ins_pending); rep_ins_skip is the one the emulator runs itself
    // because its batch cannot be done by hand.
    bool rep_ins_pending = false;
    uint64_t rep_ins_skip = ~0ull;
    // Whether the instruction at `addr` (`size` bytes) lies past the end of
    // its real-mode code segment: Unicorn lets IP run on past 0xffff into
    // the next 64 KiB, where the CPU wraps it to 0. Sets ip_wrap for the
    // worker. An instruction whose own bytes straddle the end runs with
    // its last bytes from past it, as QEMU's TCG (and so the nested VM's
    // KVM, docs/ACCELERATORS.md) fetches them; IP wraps after it.
    bool past_segment_end(uint64_t addr, uint16_t cs);
    // emu::is_rdtsc of the instruction at `addr`, its bytes read through
    // Unicorn (where they are not in the block's host bytes).
    bool is_rdtsc(uint64_t addr, uint32_t size) const;
    // EDX:EAX from the TSC source, over what Unicorn's RDTSC left there.
    void replace_tsc();
    void far_return_by_hand();
    uint8_t flags_if() const { return (emu::read32(eng.uc(), UC_X86_REG_EFLAGS) & emu::kIf) != 0; }
    void install_hooks();
    void remove_hooks();
    void worker_main();
    bool run_segment();
    void post_final_exit(uc_err err);
    void settle_map();
    // After uc_emu_start ended with `err`: whether to run on, stepping
    // toward an instruction that cannot be fetched (see emu_vcpu.cc).
    bool narrow_fetch_fault(uc_err err);
    void end_narrowing();
    struct Narrowing {
        bool on = false;
        uint64_t page = 0, page_end = 0;  // the linear page stepped through
        uint64_t from = 0;                // the instruction to run next, alone
    } narrow;

    // Posts an I/O or MMIO exit of `size` bytes at `addr` whose data is
    // `data` (its first `size` bytes: written data, or zeros for the
    // handler to fill).
    void post_access(ExitKind kind, bool is_write, uint64_t addr, unsigned size, unsigned count = 1);

    emu::EmuEngine& eng;
    unsigned id;
    // The exit handed to run()'s caller, and its data: one access of at
    // most 8 bytes, or a `rep ins` batch of at most kStringInMax (string
    // output is one exit per element).
    VcpuExit exit;
    uint8_t data[emu::kStringInMax] = {};
    emu::ExitHandshake hs;
    kvm_sregs shadow = emu::reset_sregs();
    bool sregs_set = false;
    std::vector<uc_hook> hooks;
    std::string last_error;

    // Worker-only state.
    Access access;
    // Inside uc_emu_start, where a device-window read that the memory hook
    // did not announce is Unicorn fetching an instruction from it, which
    // KVM cannot do either (an emulation failure): the address, and the
    // engine stopped before the instruction runs.
    bool uc_running = false;
    // Why the engine can never run again (Unicorn aborted inside it), or "".
    std::string broken;
    std::optional<uint64_t> fetch_from_mmio;
    // Outside uc_emu_start, a device window met by an access the emulator
    // makes by hand (an interrupt's vector or frame, a far return's
    // stack): Unicorn hands it to the window's callback, from which no
    // exit can be made. The first such address; the run then ends.
    std::optional<uint64_t> device_by_hand;
    uint64_t by_hand_met_device(uint64_t gpa) {
        if (!device_by_hand) device_by_hand = gpa;
        return ~0ull;
    }
    std::string device_by_hand_text() const;
    StringIn string_in;
    uint64_t insn_addr = 0;  // the instruction the code hook saw last (linear)
    uint32_t insn_size = 0;  // 0: none since a delivery or set_sregs
    uint64_t prev_addr = 0;  // the one before it
    uint32_t prev_size = 0;
    bool stopped_by_hook = false;
    bool code_written = false;  // a store by hook or a DMA went over translated code: stop at the next boundary
    bool window_stop = false;  // the code hook stopped because the window opened
    // Whether the code hook must look at EFLAGS.IF for an interrupt window
    // asked for. IF goes from 0 to 1 only in a few instructions (STI, POPF,
    // IRET, task switches, RSM, SYSRET: emu::kInsnIfMaySet), so reading
    // EFLAGS, which costs more than the rest of the hook, is needed only
    // after one of those, after an exit's handler ran or a pause (either
    // may have asked for the window), at the start of each uc_emu_start,
    // and after an instruction that left an interrupt shadow.
    bool window_check_due = false;
    // The code hook stopped before a real-mode far return that the worker
    // performs by hand (far_return_by_hand).
    struct FarReturn {
        bool pending = false;
        bool op32 = false;  // lretd (0x66)
        uint16_t imm = 0;   // retf imm16
    } far_ret;
    int fault_vector = -1;
    std::optional<uint32_t> fault_error_code;  // the interrupt hook's exception's, when it pushes one
    bool ip_wrap = false;        // the code hook stopped at an IP past 0xffff: wrap it
    // Unicorn cannot hook RDTSC (its result is the host's TSC), so the code
    // hook notes one about to run and replaces its result at the next
    // instruction boundary, before anything can read EDX:EAX.
    bool tsc_pending = false;
    // The same for the CPUID leaves the pc board shows more of (the CPUID
    // hook sees the leaf before the instruction runs, not its result).
    uint32_t cpuid_fix_leaf = 0;
    uint32_t cpuid_fix_subleaf = 0;

    // Long mode entered from a Legacy32 engine (emu_long_mode.cc). Its
    // EFER keeps none of LME, LMA, SCE, NXE (its CPUID has no long mode),
    // so EFER is the guest's here; between the CR0 write that activates
    // long mode and the far transfer into a 64-bit code segment (the CPU's
    // compatibility mode) the engine runs the guest's 32-bit code with
    // paging off, which is the same where that code is identity-mapped,
    // as an OS's mode switch is.
    uint64_t efer = 0;
    bool compat_mode = false;
    uint64_t guest_cr0 = 0;  // CR0 as the guest wrote it in compatibility mode
    enum class LongStep : uint8_t { None, Rdmsr, Wrmsr, Cr0, FarReturn, FarJump };
    LongStep long_step = LongStep::None;

    // Shared with the caller of run(): set between runs, read by the hook.
    std::atomic<bool> window_wanted{false};
    std::atomic<bool> guest_vectors{false};
    TscSource* tsc_source = nullptr;
    std::atomic<bool> pc_cpuid{false};
    std::atomic<bool> hidden_cpuid{false};  // --deterministic-cpu
    bool ran = false;                     // run() since set_sregs
    // A debugger's stops (Vcpu::set_debug): set between runs, read by the
    // code hook, which stops before an instruction at a breakpoint, or at
    // any when single-stepping, once an instruction has run since the last
    // such stop (or the guest has moved from it, by an interrupt).
    DebugSettings debug;
    bool debug_on = false;
    bool debug_stop = false;       // the code hook stopped for the debugger
    bool debug_ran = true;         // an instruction ran since the last such stop
    uint64_t debug_at = 0;         // the linear address of the last such stop
    uint64_t debug_count = ~0ull;  // `retired` at the last such stop (or where set_debug found the guest at rest)
    // Instructions done: counted where the code hook lets one run, and
    // where one is done by hand (a stop before an instruction, which then
    // runs when the guest goes on, does not count).
    uint64_t retired = 0;
    // Vcpu::set_pause_at: the code hook stops before the instruction that
    // comes when `retired` reaches it (~0: none), once.
    uint64_t pause_at = ~0ull;
    bool pause_stop = false;  // the code hook stopped there
    // A watchpoint's access seen by the memory hook, for a stop at the
    // next instruction boundary (a stop from the memory hook itself would
    // leave the instruction half done).
    std::optional<uint64_t> watch_hit;
    // A delivery that failed: the exit the next run() returns instead of
    // running (a Shutdown, as KVM's triple fault, or an internal error).
    struct FailedInjection {
        ExitKind kind;
        uint64_t reason_code;
        std::string why;
    };
    std::optional<FailedInjection> failed_injection;

};

}  // namespace kvmrr
