// KVM_EXIT_INTERNAL_ERROR in words. KVM's exit names a sub-error (it could
// not emulate an instruction, an exception hit the delivery of another,
// ...) and, for an emulation failure, may carry the instruction's bytes
// (KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES; the kernel's
// Documentation/virt/kvm/api.rst, "struct emulation_failure"). A user who
// sees only "KVM internal error (detail 0x1)" cannot tell a guest bug from
// a host KVM that cannot run the guest at all: this says which.
#pragma once

#include <linux/kvm.h>

#include <string>

namespace kvmrr {

// The sub-error and, when KVM gave them, the instruction's bytes. With
// `kvm_pvm` (host_kvm_is_pvm(), core/kvm/kvm_pvm.h) an emulation failure
// also says what that KVM cannot do, and what to run instead.
std::string describe_internal_error(const kvm_run& run, bool kvm_pvm);

}  // namespace kvmrr
