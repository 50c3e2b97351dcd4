// What core/memory_system.h's unit tests (memory_system_test.cc,
// memory_system_listener_test.cc) share: a listener that logs every call
// as a line, and filters of those lines.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/address_space.h"
#include "core/error.h"
#include "core/flat_view.h"
#include "core/memory_listener.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr::test {

inline std::string sec(const MemoryRegionSection& s) {
    std::ostringstream os;
    os << std::hex << "[0x" << s.range.start() << ",0x" << s.range.end() << ") "
       << (s.mr ? s.mr->name() : "<null>") << " off=0x" << s.offset_within_region;
    if (s.readonly) os << " ro";
    if (s.nonvolatile) os << " nv";
    return os.str();
}

// Records every callback as a line; several listeners may share one log.
class Recorder : public MemoryListener {
public:
    Recorder(std::string tag, std::vector<std::string>& log) : tag_(std::move(tag)), log_(log) {}
    void begin() override { put("begin"); }
    void commit() override { put("commit"); }
    void region_add(const MemoryRegionSection& s) override {
        put("add " + sec(s));
        check_as(s);
    }
    void region_del(const MemoryRegionSection& s) override {
        put("del " + sec(s));
        check_as(s);
    }
    void region_nop(const MemoryRegionSection& s) override {
        put("nop " + sec(s));
        check_as(s);
    }
    void log_start(const MemoryRegionSection& s, uint8_t o, uint8_t n) override {
        put("log_start " + sec(s) + " old=" + std::to_string(o) + " new=" + std::to_string(n));
        check_as(s);
    }
    void log_stop(const MemoryRegionSection& s, uint8_t o, uint8_t n) override {
        put("log_stop " + sec(s) + " old=" + std::to_string(o) + " new=" + std::to_string(n));
        check_as(s);
    }
    AddressSpace* expected_as = nullptr;

private:
    void put(const std::string& s) { log_.push_back(tag_.empty() ? s : tag_ + " " + s); }
    void check_as(const MemoryRegionSection& s) {
        if (expected_as) {
            EXPECT_EQ(s.as, expected_as) << "section of the wrong address space";
        }
    }
    std::string tag_;
    std::vector<std::string>& log_;
};

inline std::vector<std::string> without(const std::vector<std::string>& v, const std::string& prefix) {
    std::vector<std::string> out;
    for (auto& s : v)
        if (s.rfind(prefix, 0) != 0) out.push_back(s);
    return out;
}
inline std::vector<std::string> only(const std::vector<std::string>& v, std::initializer_list<const char*> prefixes) {
    std::vector<std::string> out;
    for (auto& s : v)
        for (const char* p : prefixes)
            if (s.rfind(p, 0) == 0) {
                out.push_back(s);
                break;
            }
    return out;
}
using Lines = std::vector<std::string>;

}  // namespace kvmrr::test
