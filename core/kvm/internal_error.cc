#include "core/kvm/internal_error.h"

#include <cinttypes>
#include <cstdio>

#include "core/kvm/kvm_pvm.h"

namespace kvmrr {

namespace {

const char* suberror_text(uint32_t suberror) {
    switch (suberror) {
        case KVM_INTERNAL_ERROR_EMULATION: return "KVM could not emulate an instruction of the guest's";
        case KVM_INTERNAL_ERROR_SIMUL_EX: return "an exception came while KVM delivered another one";
        case KVM_INTERNAL_ERROR_DELIVERY_EV: return "KVM could not deliver an event to the guest";
        case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: return "the CPU left the guest for a reason KVM does not handle";
        default: return nullptr;
    }
}

}  // namespace

std::string describe_internal_error(const kvm_run& run, bool kvm_pvm) {
    const auto& f = run.emulation_failure;
    std::string text;
    if (const char* s = suberror_text(f.suberror)) {
        text = s;
    } else {
        char buf[64];
        std::snprintf(buf, sizeof buf, "KVM's internal error %" PRIu32, f.suberror);
        text = buf;
    }
    // flags and the 16 bytes after it are two and a half of the u64s that
    // ndata counts; KVM sets the flag only when it fetched the bytes.
    if (f.suberror == KVM_INTERNAL_ERROR_EMULATION && f.ndata >= 3 &&
        (f.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) && f.insn_size > 0 &&
        f.insn_size <= sizeof f.insn_bytes) {
        text += ": its bytes";
        for (unsigned i = 0; i < f.insn_size; ++i) {
            char b[4];
            std::snprintf(b, sizeof b, " %02x", f.insn_bytes[i]);
            text += b;
        }
    }
    if (kvm_pvm && f.suberror == KVM_INTERNAL_ERROR_EMULATION) {
        text += "; " + kvm_pvm_limits() + ": run it with --accel emu, or on a KVM with VMX or SVM (tools/in-kvm-vm.sh gives one)";
    }
    return text;
}

}  // namespace kvmrr
