// Guest memory at linear addresses, for what the emulator does by hand
// (internal to core/emu).
//
// Unicorn 2.0.1's uc_mem_read and uc_mem_write take physical addresses;
// the addresses the emulator holds (an instruction's, the IDT's, the
// stack's) are linear. In long mode with paging they are translated here
// through the guest's 4-level page tables as the CPU walks them (present
// bits, 1 GiB and 2 MiB pages); without paging linear is physical. A
// Legacy32 engine with paging on is taken as identity-mapped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/emu/emu_engine.h"

namespace kvmrr::emu {

std::optional<uint64_t> physical_of(uc_engine* uc, CpuWidth w, uint64_t linear);
// Page by page; false when a page is not mapped or Unicorn refuses (a
// write then writes nothing where a page is not mapped).
bool read_linear(uc_engine* uc, CpuWidth w, uint64_t linear, void* out, size_t n);
// `dirty_to` (when given) marks each physical range written dirty.
bool write_linear(uc_engine* uc, CpuWidth w, uint64_t linear, const void* in, size_t n,
                  const EmuEngine* dirty_to = nullptr);

}  // namespace kvmrr::emu
