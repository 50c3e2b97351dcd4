// What core/flat_view.h's unit tests (flat_view_test.cc,
// flat_view_lookup_test.cc) share: expected ranges, their formatting for
// failure messages, and a fixture with a memory system.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "core/flat_view.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/region_ops.h"

namespace kvmrr::test {

// An expected flat range. romd is only compared for ROM devices (for other
// kinds the flag has no meaning).
struct Exp {
    uint64_t start;
    uint64_t size;
    const MemoryRegion* mr;
    uint64_t off;
    bool ro = false;
    bool nv = false;
    uint8_t mask = 0;
    bool romd = true;
};

inline std::string fmt_one(uint64_t start, uint64_t size, const MemoryRegion* mr, uint64_t off, bool ro, bool nv,
                    uint8_t mask, bool romd) {
    std::ostringstream os;
    os << std::hex << "[0x" << start << ",0x" << start + size << ") " << (mr ? mr->name() : "<null>") << " off=0x"
       << off;
    if (ro) os << " ro";
    if (nv) os << " nv";
    if (mask) os << " mask=" << unsigned(mask);
    if (mr && mr->kind() == MemoryRegion::Kind::RomDevice) os << (romd ? " romd" : " !romd");
    return os.str();
}

inline std::string fmt(const std::vector<FlatRange>& v) {
    std::string s;
    for (const auto& fr : v)
        s += fmt_one(fr.range.start(), fr.range.size(), fr.mr, fr.offset_in_region, fr.readonly, fr.nonvolatile,
                     fr.dirty_log_mask, fr.romd_mode) +
             "\n";
    return s;
}

inline std::string fmt(const std::vector<Exp>& v) {
    std::string s;
    for (const auto& e : v) s += fmt_one(e.start, e.size, e.mr, e.off, e.ro, e.nv, e.mask, e.romd) + "\n";
    return s;
}

inline std::string rendered(const MemoryRegion& root) { return fmt(FlatView::render(root)->ranges()); }

inline FlatRange make_fr(uint64_t start, uint64_t size, MemoryRegion& mr, uint64_t off) {
    FlatRange fr;
    fr.range = AddrRange::make(start, size);
    fr.mr = &mr;
    fr.offset_in_region = off;
    return fr;
}

struct Fixture : ::testing::Test {
    MemorySystem sys;
    FunctionOps ops{[](uint64_t, unsigned) -> uint64_t { return 0; }, [](uint64_t, uint64_t, unsigned) {}};
};

}  // namespace kvmrr::test
