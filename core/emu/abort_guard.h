// Calls into Unicorn that survive its abort().
//
// Unicorn 2.0.1 ends the process with abort() ("tcg fatal error") when its
// translator meets code it mistranslates: an indirect far JMP or CALL with
// a register operand (FF /5 or FF /3 with mod 3, which a CPU answers with
// #UD) makes its code generator load a value it never set. A guest may
// hold any bytes, so such a guest would take kvmrr down with it. Around
// uc_emu_start the emulator catches that abort instead: the call returns
// false, and the engine, left in the middle of a translation, must not
// run again (EmuVcpu ends the run with an internal error that says why).
//
// The abort is caught only on the thread that is inside the guarded call;
// an abort anywhere else goes on to whatever handled SIGABRT before.
#pragma once

#include <functional>

namespace kvmrr::emu {

// Runs `call` (which must not throw, and must hold no C++ object whose
// destructor matters across an abort: only Unicorn's C frames lie between
// it and the abort). False if it aborted.
bool call_surviving_abort(const std::function<void()>& call);

}  // namespace kvmrr::emu
