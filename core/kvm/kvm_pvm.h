// kvm-pvm: the KVM of a host that is itself a PVM guest (no VMX or SVM).
// It runs 64-bit guest code natively and every real-mode and 32-bit
// instruction through the kernel's instruction emulator, which fails at
// much of what such guests do (docs/ACCELERATORS.md). What kvmrr says of
// it, and how it tells, in one place.
#pragma once

#include <string>

namespace kvmrr {

// Whether this host's KVM is kvm-pvm (its module is loaded).
bool host_kvm_is_pvm();

// What such a KVM cannot do, as a clause for messages: "this host's KVM is
// kvm-pvm, which ...".
std::string kvm_pvm_limits();

}  // namespace kvmrr
