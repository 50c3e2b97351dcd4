// What core/address_space.h's unit tests (address_space_test.cc,
// address_space_rules_test.cc) share: a register-file device that logs its
// calls, host-memory helpers, and a fixture with one memory address space.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "core/address_space.h"
#include "core/error.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/ram_block.h"
#include "core/region_ops.h"

namespace kvmrr::test {

// A device that behaves like a little-endian register file (so values are
// independent of how an access is split) and logs every call.
class RegDev final : public RegionOps {
public:
    explicit RegDev(size_t n) : regs(n) {
        for (size_t i = 0; i < n; ++i) regs[i] = static_cast<uint8_t>(0x80 + i);
    }
    uint64_t read(uint64_t offset, unsigned size) override {
        log.push_back(call('R', offset, size, 0));
        uint64_t v = 0;
        for (unsigned i = 0; i < size; ++i)
            if (offset + i < regs.size()) v |= uint64_t(regs[offset + i]) << (8 * i);
        return v;
    }
    void write(uint64_t offset, uint64_t value, unsigned size) override {
        log.push_back(call('W', offset, size, value));
        for (unsigned i = 0; i < size; ++i)
            if (offset + i < regs.size()) regs[offset + i] = static_cast<uint8_t>(value >> (8 * i));
    }
    // Little-endian value of regs[off, off + n).
    uint64_t le(uint64_t off, unsigned n) const {
        uint64_t v = 0;
        for (unsigned i = 0; i < n; ++i) v |= uint64_t(regs[off + i]) << (8 * i);
        return v;
    }
    std::string calls() const {
        std::string s;
        for (auto& c : log) s += c + "\n";
        return s;
    }
    static std::string call(char kind, uint64_t off, unsigned size, uint64_t value) {
        std::ostringstream os;
        os << kind << " off=0x" << std::hex << off << " size=" << std::dec << size;
        if (kind == 'W') os << " val=0x" << std::hex << value;
        return os.str();
    }

    std::vector<uint8_t> regs;
    std::vector<std::string> log;
};

inline std::string calls(std::initializer_list<std::string> l) {
    std::string s;
    for (auto& c : l) s += c + "\n";
    return s;
}
std::string R(uint64_t off, unsigned size) { return RegDev::call('R', off, size, 0); }
std::string W(uint64_t off, unsigned size, uint64_t v) { return RegDev::call('W', off, size, v); }

inline uint64_t host_le(const MemoryRegion& mr, uint64_t off, unsigned n) {
    const uint8_t* h = mr.ram_block()->host() + mr.ram_offset() + off;
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= uint64_t(h[i]) << (8 * i);
    return v;
}

inline void fill_pattern(MemoryRegion& mr, uint8_t seed) {
    uint8_t* h = mr.ram_block()->host() + mr.ram_offset();
    for (uint64_t i = 0; i < mr.size(); ++i) h[i] = static_cast<uint8_t>(seed + i * 7);
}

struct AsTest : ::testing::Test {
    MemorySystem sys;
    MemoryRegion& root = sys.create_container("sysmem", 0x100000);
    MemoryAddressSpace& as = sys.create_memory_space("mem", root);
    std::vector<FaultReport> faults;

    void SetUp() override {
        as.set_fault_handler([this](const FaultReport& f) { faults.push_back(f); });
    }
};

}  // namespace kvmrr::test
