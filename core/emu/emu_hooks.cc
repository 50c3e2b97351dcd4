// Unicorn's hooks of the emulated vCPU: what the emulator looks at and does
// at every instruction, block, memory access, port access, CPUID and
// interrupt, while Unicorn runs the guest (EmuVcpu::Impl's worker).
#include <algorithm>
#include <cstring>
#include <utility>

#include "core/emu/emu_vcpu_impl.h"
#include "core/emu/exception_state.h"
#include "core/error.h"

namespace kvmrr {

using emu::read32;

namespace {

using Impl = EmuVcpu::Impl;

// Everything the code hook looks at but the common case (on_code).
[[gnu::noinline]] void look_closer(uc_engine* uc, uint64_t address, uint32_t size, void* user) {
    auto* v = static_cast<Impl*>(user);
    v->access.valid = false;
    v->prev_addr = v->insn_addr;
    v->prev_size = v->insn_size;
    v->insn_addr = address;
    v->insn_size = size;
    // The instruction's bytes, where the block's are at hand (no paging).
    const uint8_t* code = v->insn_bytes(address, size);
    const uint8_t kind = code ? emu::insn_kind(code, size) : emu::kInsnUnknown;
    if (v->tsc_pending) v->replace_tsc();  // the RDTSC before this instruction ran
    if (v->cpuid_fix_leaf) v->fix_cpuid();  // the CPUID before it ran
    // An instruction that may change the mode (or cannot be looked at) has
    // the next block read it again. Only a block's last one can, but every
    // one is looked at: the mode then never hangs on the block's size that
    // Unicorn reports being right.
    const bool may_change_mode = (kind & emu::kInsnModeChange) != 0;
    if (may_change_mode) v->mode_known = false;
    // The only place the guest stops on request: an instruction boundary,
    // with the PC Unicorn synced for this hook. An interrupt window asked
    // for is checked here too: IF set and the instruction just done not
    // one that blocks interrupts for one more instruction.
    // A store over the code of a translated block: the rest of this
    // block may be what was there before, so it is translated anew.
    bool stop = v->hs.stop_requested() || v->eng.pending_sync() || std::exchange(v->code_written, false);
    // A planned stop between exits (guest replay): before the interrupt
    // window's and the debugger's, as the recording's run loop stopped
    // the guest there before this hook looked at anything.
    if (!stop && v->retired == v->pause_at && !v->string_in.active) {
        v->pause_at = ~0ull;
        v->pause_stop = stop = true;
    }
    if (!stop && v->window_check_due && !v->string_in.active) {
        v->window_check_due = false;
        if (v->window_wanted.load(std::memory_order_relaxed) && v->flags_if()) {
            if (v->shadow_after(v->prev_addr, v->prev_size)) {
                v->window_check_due = true;  // it opens after this instruction
            } else {
                v->window_stop = true;
                stop = true;
            }
        }
    }
    // IF may rise in this instruction: look again after it.
    if (kind & emu::kInsnIfMaySet) v->window_check_due = true;
    // Before the stops that run their instruction by hand (a far return,
    // a step into long mode, rep ins), which a breakpoint must not miss.
    if (!stop && v->debug_on && !v->string_in.active) {
        const bool moved = v->debug_ran || address != v->debug_at;
        const auto& bps = v->debug.breakpoints;
        const bool count_reached = v->debug.stop_at_instruction == v->retired && v->debug_count != v->retired;
        if (v->watch_hit || count_reached ||
            (moved && (v->debug.single_step || std::find(bps.begin(), bps.end(), address) != bps.end()))) {
            v->debug_stop = stop = true;
            v->debug_ran = false;
            v->debug_at = address;
            v->debug_count = v->retired;
        } else {
            v->debug_ran = true;
        }
    }
    if (!stop && v->eng.width() == emu::CpuWidth::Legacy32)
        if (const std::optional<uint16_t> cs = v->block_real_cs)
            stop = v->past_segment_end(address, *cs) ||
                   (size <= 6 && (v->block_end == 0 || address + size == v->block_end) && v->real_far_return(address, size));
    if (!stop && may_change_mode && v->eng.width() == emu::CpuWidth::Legacy32 && v->long_mode_step(code, address, size))
        stop = true;
    if (!stop && may_change_mode && v->eng.stores_by_hook() && v->turns_paging_on(code, address, size)) {
        v->eng.end_stores_by_hook();  // applied before the instruction runs
        stop = true;
    }
    if (!stop && (kind & emu::kInsnRepIns) && address != v->rep_ins_skip) {
        v->rep_ins_pending = true;
        stop = true;
    }
    if (address != v->rep_ins_skip) v->rep_ins_skip = ~0ull;
    if (stop) {
        v->stopped_by_hook = true;
        uc_emu_stop(uc);
        return;
    }
    ++v->retired;
    if (v->tsc_source && (code ? (kind & emu::kInsnRdtsc) : (size == 2 || size == 3) && v->is_rdtsc(address, size))) {
        v->tsc_pending = true;  // it runs now (a stop here would run it later, and see it again)
    }
}

// Runs before every instruction, so its common case (an instruction that
// nothing waits for, whose bytes say it changes nothing the emulator
// follows) is a few loads and no call: everything else is look_closer's.
void on_code(uc_engine* uc, uint64_t address, uint32_t size, void* user) {
    auto* v = static_cast<Impl*>(user);
    const uint8_t* code = v->insn_bytes(address, size);
    if (code && !(v->tsc_pending | v->code_written | v->debug_on | v->window_check_due) && !v->cpuid_fix_leaf &&
        !v->block_real_cs && v->rep_ins_skip == ~0ull && v->retired != v->pause_at && !v->hs.stop_requested() &&
        !v->eng.pending_sync()) [[likely]] {
        uint32_t i = 0;
        while (i < size && emu::is_legacy_prefix(code[i])) ++i;
        if (i < size && !emu::kInsnLookCloser[code[i]]) [[likely]] {
            v->access.valid = false;
            v->prev_addr = v->insn_addr;
            v->prev_size = v->insn_size;
            v->insn_addr = address;
            v->insn_size = size;
            ++v->retired;
            return;
        }
    }
    look_closer(uc, address, size, user);
}

void on_mem(uc_engine*, uc_mem_type type, uint64_t address, int size, int64_t value, void* user) {
    auto* v = static_cast<Impl*>(user);
    const bool w = type == UC_MEM_WRITE;
    const auto s = static_cast<unsigned>(size);
    if (w && v->eng.logging()) v->eng.mark_written(address, s);
    if (v->debug_on && !v->watch_hit)
        for (const Watchpoint& wp : v->debug.watchpoints)
            if (address < wp.addr + wp.len && wp.addr < address + s &&
                (wp.kind == Watchpoint::Kind::Access || (wp.kind == Watchpoint::Kind::Write) == w)) {
                v->watch_hit = wp.addr;
                break;
            }
    if (v->access.covers(w, address, s)) return;  // Unicorn's piece of the access already seen
    v->access = {true, w, false, address, s, static_cast<uint64_t>(value), 0};
}

uint32_t on_in(uc_engine*, uint32_t port, int size, void* user) { return static_cast<Impl*>(user)->port_in(port, size); }

void on_out(uc_engine*, uint32_t port, int size, uint32_t value, void* user) {
    static_cast<Impl*>(user)->port_out(port, size, value);
}

// A store to RAM while the engine stores by hook (emu_engine.h), or a
// write to a read-only slot: an MMIO exit, as KVM leaves ROM alone. Either
// way Unicorn then drops the write (the region is read-only to it).
bool on_write_prot(uc_engine*, uc_mem_type, uint64_t address, int size, int64_t value, void* user) {
    auto* v = static_cast<Impl*>(user);
    const auto s = static_cast<unsigned>(size);
    switch (v->eng.store_ram(address, s, static_cast<uint64_t>(value))) {
        case emu::EmuEngine::Store::Done:
        case emu::EmuEngine::Store::Partial:
            break;
        case emu::EmuEngine::Store::Code:
            // The block running now, if it was forgotten, may run on with
            // what was there before: it stops at the next boundary.
            if (v->block_end == 0 || (emu::EmuEngine::stored_lines_start(address) < v->block_end &&
                                      v->block_start < emu::EmuEngine::stored_lines_end(address, s)))
                v->code_written = true;
            break;
        case emu::EmuEngine::Store::NotRam:
            v->mmio_write(address, s, static_cast<uint64_t>(value));
            break;
    }
    return true;
}

void on_block(uc_engine*, uint64_t address, uint32_t size, void* user) {
    auto* v = static_cast<Impl*>(user);
    // A guest that runs on without exits hands control back once run()'s
    // wait is over, here at the boundary before the block's first
    // instruction (whose code hook then stops it, if asked to).
    if (v->hs.pause_due()) {
        v->hs.pause();
        v->window_check_due = true;  // the window may have been asked for meanwhile
    }
    v->eng.note_block(address, size);
    if (!v->mode_known) v->read_block_mode();
    v->block_end = size ? address + size : 0;
    v->block_start = address;
    v->block_host = v->block_physical && size ? v->eng.host_bytes(address, size) : nullptr;
    // Without the block's bytes its last instruction cannot be looked at:
    // the next block reads the mode again.
    v->mode_known = v->block_host != nullptr;
}

int on_cpuid(uc_engine* uc, void* user) {
    auto* v = static_cast<Impl*>(user);
    const bool pc = v->pc_cpuid.load(std::memory_order_relaxed);
    const bool hidden = v->hidden_cpuid.load(std::memory_order_relaxed);
    if (pc || hidden) {
        // Leaf 0 is never fixed: it stands for none.
        const uint32_t leaf = read32(uc, UC_X86_REG_EAX);
        if ((pc && (leaf == 1 || leaf == 0x80000001)) || (hidden && leaf != 0)) {
            v->cpuid_fix_leaf = leaf;
            v->cpuid_fix_subleaf = read32(uc, UC_X86_REG_ECX);
        }
    }
    return 0;  // Unicorn runs the instruction
}

void on_interrupt(uc_engine* uc, uint32_t vector, void* user) {
    auto* v = static_cast<Impl*>(user);
    v->fault_vector = static_cast<int>(vector);
    // Read here: Unicorn's CPU state no longer holds it once
    // uc_emu_start has returned.
    v->fault_error_code = emu::pushes_error_code(vector) ? emu::last_error_code(uc) : std::nullopt;
    uc_emu_stop(uc);
}

}  // namespace

void EmuVcpu::Impl::install_hooks() {
    uc_engine* uc = eng.uc();
    auto add = [&](int type, void* cb, const char* what, auto... extra) {
        uc_hook h{};
        const uc_err e = uc_hook_add(uc, &h, type, cb, this, 1, 0, extra...);
        if (e != UC_ERR_OK) throw Error(std::string("emulator: cannot add the ") + what + " hook: " + emu::uc_error_text(e));
        hooks.push_back(h);
    };
    add(UC_HOOK_CODE, reinterpret_cast<void*>(on_code), "instruction");
    add(UC_HOOK_BLOCK, reinterpret_cast<void*>(on_block), "block");
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


}  // namespace kvmrr
