#include "vmm/accel.h"

#include "core/error.h"
#include "core/kvm/kvm.h"
#include "core/kvm/kvm_pvm.h"

namespace kvmrr {

const char* accel_name(Accel a) {
    switch (a) {
        case Accel::Auto: return "auto";
        case Accel::Kvm: return "kvm";
        case Accel::Emu: return "emu";
        case Accel::None: return "none";
    }
    return "?";
}

Accel parse_accel(std::string_view text) {
    for (Accel a : {Accel::Auto, Accel::Kvm, Accel::Emu})
        if (text == accel_name(a)) return a;
    throw Error("unknown accelerator '" + std::string(text) + "' (choose auto, kvm or emu)");
}

AccelChoice choose_accel(Accel a, Board board, bool deterministic_cpu, const std::string& kvm_unavailable, bool kvm_pvm) {
    if (a != Accel::Auto) return {a, ""};
    if (!kvm_unavailable.empty()) return {Accel::Emu, kvm_unavailable};
    if (kvm_pvm && board == Board::Pc)
        return {Accel::Emu, kvm_pvm_limits() + ", and a PC's firmware starts in real mode; --accel kvm tries it anyway"};
    if (kvm_pvm && deterministic_cpu)
        return {Accel::Emu, kvm_pvm_limits() + ", and shows its guests the host's own CPUID, which --deterministic-cpu "
                                               "cannot change there"};
    return {Accel::Kvm, ""};
}

AccelChoice choose_accel(Accel a, Board board, bool deterministic_cpu) {
    if (a != Accel::Auto) return {a, ""};
    return choose_accel(a, board, deterministic_cpu, KvmSystem::unavailable_reason(), host_kvm_is_pvm());
}

}  // namespace kvmrr
