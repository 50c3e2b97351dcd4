// What a test does where it needs KVM and this machine has none: it skips,
// saying why, so that a developer's plain `ctest` stays green; but where
// KVMRR_REQUIRE_KVM is set (tools/check.sh sets it for the run of the `kvm`
// label, on /dev/kvm or in the nested-KVM VM) the same test fails instead,
// so that no kvm-labelled test is ever skipped where KVM was promised.
#pragma once

#include <gtest/gtest.h>
#include <cstdlib>
#include <string>

namespace kvmrr::testing {

inline bool kvm_is_required() {
    const char* v = std::getenv("KVMRR_REQUIRE_KVM");
    return v != nullptr && *v != '\0' && std::string(v) != "0";
}

}  // namespace kvmrr::testing

// Skips the current test with WHY, or fails it where KVM is required.
#define KVMRR_SKIP_WITHOUT_KVM(why)                                                       \
    do {                                                                                  \
        if (::kvmrr::testing::kvm_is_required())                                          \
            GTEST_FAIL() << "KVMRR_REQUIRE_KVM is set, but: " << (why);                   \
        else                                                                              \
            GTEST_SKIP() << (why);                                                        \
    } while (0)
