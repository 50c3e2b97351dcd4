#include "core/error.h"

#include <cstdio>

namespace kvmrr {

std::string hex(unsigned long long v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", v);
    return buf;
}

}  // namespace kvmrr
