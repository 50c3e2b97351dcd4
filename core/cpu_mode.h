// CpuMode: the two ways a kvmrr guest starts, and where the boot structures
// for them live in guest RAM. A guest image (core/guest_image.h) says its
// mode and must keep clear of that area; the vCPU set-up
// (core/vcpu/cpu_setup.h) builds the state. Both see it here, so the
// memory model needs nothing of the vCPU layer.
#pragma once

#include <cstdint>

namespace kvmrr {

enum class CpuMode : uint8_t { Real, Long };
inline const char* cpu_mode_name(CpuMode m) { return m == CpuMode::Real ? "real" : "long"; }

// Long mode: a flat GDT and identity-mapped page tables below kBootAreaEnd.
constexpr uint64_t kGdtAddr = 0x500;
constexpr uint64_t kPml4Addr = 0x1000;
constexpr uint64_t kPdptAddr = 0x2000;
constexpr uint64_t kPdAddr = 0x3000;        // four page directories: 0x3000..0x6fff
constexpr uint64_t kBootAreaEnd = 0x7000;   // long-mode images must load above this
constexpr uint64_t kLongModeStackTop = 0x80000;
constexpr uint64_t kRealModeStackTop = 0x7000;

}  // namespace kvmrr
