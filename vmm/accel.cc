#include "vmm/accel.h"

#include "core/error.h"
#include "core/kvm/kvm.h"

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

AccelChoice choose_accel(Accel a) {
    if (a != Accel::Auto) return {a, ""};
    std::string why = KvmSystem::unavailable_reason();
    return {why.empty() ? Accel::Kvm : Accel::Emu, std::move(why)};
}

}  // namespace kvmrr
