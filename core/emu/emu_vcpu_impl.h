// EmuVcpu::Impl: the emulated vCPU's state and its parts, shared by the
// files that implement it: emu_vcpu.cc (Unicorn's hooks, the worker that
// runs the guest, the Vcpu interface) and emu_by_hand.cc (what the
// emulator does by hand where Unicorn does not do what the CPU does).
// Internal to core/emu, like emu_engine.h.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/emu/emu_engine.h"
#include "core/emu/emu_registers.h"
#include "core/emu/emu_vcpu.h"
#include "core/emu/exit_handshake.h"

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

// An x86 legacy prefix: operand and address size, lock, rep/repne, segment.
inline bool is_legacy_prefix(uint8_t b) {
    return b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x2e || b == 0x36 || b == 0x3e ||
           b == 0x26 || b == 0x64 || b == 0x65;
}

// The opcode of the instruction at `addr` past its legacy prefixes, and the
// byte after it (ModRM), or 0s if unreadable.
inline std::pair<uint8_t, uint8_t> opcode_at(uc_engine* uc, uint64_t addr) {
    uint8_t b[16] = {};
    if (uc_mem_read(uc, addr, b, sizeof b) != UC_ERR_OK) return {0, 0};
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
        // The part on the page of `gpa` (which the access covers): start, bytes.
        std::pair<uint64_t, unsigned> part(uint64_t gpa) const {
            const uint64_t page = gpa & ~uint64_t{0xfff};
            const uint64_t lo = std::max(addr, page), hi = std::min(addr + size, page + 0x1000);
            return {lo, static_cast<unsigned>(hi - lo)};
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
    bool real_far_return(uint64_t addr, uint32_t size, uint16_t cs);
    // Real mode only (CR0.PE clear, not virtual-8086): CS's selector.
    std::optional<uint16_t> real_mode_cs() const;
    // real_mode_cs() as of the start of the translated block running now,
    // which the block hook reads once for all its instructions: whatever
    // changes the mode or CS (mov to CR0, far jumps, calls and returns,
    // interrupts) ends a block in QEMU's translator, and the worker's own
    // changes happen between uc_emu_start calls, each starting a block.
    std::optional<uint16_t> block_real_cs;
    // Where that block ends (0: unknown). A far return ends its block, so
    // only a block's last instruction can be one.
    uint64_t block_end = 0;
    // Whether the instruction at `addr` (`size` bytes) lies past the end of
    // its real-mode code segment: Unicorn lets IP run on past 0xffff into
    // the next 64 KiB, where the CPU wraps it to 0. Sets ip_wrap for the
    // worker, or straddle_error when the instruction itself straddles the
    // end (its bytes would wrap too, which Unicorn cannot do).
    bool past_segment_end(uint64_t addr, uint32_t size, uint16_t cs);
    // Whether the instruction at `addr` is RDTSC or RDTSCP (no prefixes:
    // none changes what either does).
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
    bool ip_wrap = false;        // the code hook stopped at an IP past 0xffff: wrap it
    std::string straddle_error;  // ... or at an instruction that straddles 0xffff
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

}  // namespace kvmrr
