// What Unicorn keeps of a CPU exception in its CPU state but shows through
// no register: the error code, and the exception "in flight" (internal to
// core/emu).
//
// Unicorn 2.0.1 reports an exception (#PF, #GP, ...) to the interrupt hook
// and stops, never delivering it. QEMU's raise_interrupt2 keeps the error
// code in CPUX86State::error_code, and its check_exception keeps a
// contributory exception or #PF in CPUX86State::old_exception until
// delivery succeeds (x86_cpu_do_interrupt sets it to -1): left there, the
// next exception becomes a #DF, and the one after that a reset. So the
// emulator reads the code and, having delivered the exception by hand,
// clears the one in flight, through the CPU state that uc_context_save
// and uc_context_restore copy whole.
//
// Where the two fields lie in that copy is a fact of the Unicorn build,
// found once per process: the error code as the one place that holds each
// of two known codes after a #GP raised in a scratch engine, the
// exception in flight 112 bytes past it (QEMU 5's CPUX86State: the
// error code, exception_is_int, exception_next_eip, dr[8], four
// breakpoint pointers), checked to read -1 before the scratch engine runs
// and 13 after each #GP. Where they are not found, exceptions that push an
// error code are not delivered, and the others are, as far as Unicorn lets
// them.
#pragma once

#include <unicorn/unicorn.h>

#include <cstdint>
#include <optional>

namespace kvmrr::emu {

// Whether the exception vector pushes an error code (x86: #DF, #TS, #NP,
// #SS, #GP, #PF, #AC, #CP, #VC, #SX).
bool pushes_error_code(unsigned vector);

// Whether this Unicorn build's layout was found (and so the two calls
// below work).
bool exception_state_known();

// The error code of the exception `uc` reports, or none when the layout
// is not known. Only from the interrupt hook: once uc_emu_start has
// returned, Unicorn may have raised (and swallowed) a fault of its own
// (see EmuEngine::open).
std::optional<uint32_t> last_error_code(uc_engine* uc);

// After an exception was delivered by hand, outside uc_emu_start: no
// exception in flight. False when the layout is not known (nothing done).
bool mark_exception_delivered(uc_engine* uc);

}  // namespace kvmrr::emu
