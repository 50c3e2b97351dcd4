#include "core/kvm/kvm_pvm.h"

#include <sys/stat.h>

namespace kvmrr {

bool host_kvm_is_pvm() {
    struct stat st {};
    return stat("/sys/module/kvm_pvm", &st) == 0 && S_ISDIR(st.st_mode);
}

std::string kvm_pvm_limits() {
    return "this host's KVM is kvm-pvm, which runs only 64-bit guest code natively and emulates real-mode and 32-bit "
           "code in its kernel, where much of what such guests do fails (a UD2's #UD, a protected-mode IRET; QEMU "
           "stops there alike)";
}

}  // namespace kvmrr
