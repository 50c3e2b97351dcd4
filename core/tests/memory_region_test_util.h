// What core/memory_region.h's unit tests (memory_region_test.cc,
// memory_region_rules_test.cc) share: device ops that do nothing, the
// names of regions, and a check that a call throws kvmrr::Error.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/memory_region.h"
#include "core/region_ops.h"

namespace kvmrr::test {

inline FunctionOps null_ops() {
    return FunctionOps([](uint64_t, unsigned) -> uint64_t { return 0; }, [](uint64_t, uint64_t, unsigned) {});
}

inline std::vector<std::string> names(const std::vector<MemoryRegion*>& v) {
    std::vector<std::string> out;
    for (auto* r : v) out.push_back(r->name());
    return out;
}

// Expects `fn` to throw kvmrr::Error (and nothing else).
template <class F>
inline void expect_error(F&& fn, const char* what) {
    try {
        fn();
        ADD_FAILURE() << what << ": no kvmrr::Error thrown";
    } catch (const Error&) {
    } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": wrong exception type: " << e.what();
    }
}

}  // namespace kvmrr::test
