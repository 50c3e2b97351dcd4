#include "devices/ide_geometry.h"

#include <algorithm>

namespace kvmrr {

namespace {

constexpr uint16_t kMaxCylinders = 16383;

IdeGeometry for_size(uint64_t sectors) {
    IdeGeometry g;
    g.cylinders = static_cast<uint16_t>(std::clamp<uint64_t>(sectors / (16 * 63), 2, kMaxCylinders));
    g.heads = 16;
    g.secs = 63;
    return g;
}

// The first partition entry (of four at 0x1be, 16 bytes each) with a size
// and an end head whose end CHS gives 1..16383 cylinders for the disk.
bool guess_from_partitions(uint64_t sectors, std::span<const uint8_t> s0, unsigned& heads, unsigned& secs,
                           uint64_t& cylinders) {
    if (s0.size() < 512 || s0[510] != 0x55 || s0[511] != 0xaa) return false;
    for (unsigned i = 0; i < 4; ++i) {
        const uint8_t* p = s0.data() + 0x1be + 16 * i;
        const uint32_t nr_sects = uint32_t{p[12]} | uint32_t{p[13]} << 8 | uint32_t{p[14]} << 16 | uint32_t{p[15]} << 24;
        const uint8_t end_head = p[5];
        if (!nr_sects || !end_head) continue;
        heads = end_head + 1u;
        secs = p[6] & 63u;
        if (secs == 0) continue;
        cylinders = sectors / (heads * secs);
        if (cylinders < 1 || cylinders > kMaxCylinders) continue;
        return true;
    }
    return false;
}

}  // namespace

bool IdeGeometry::valid() const {
    return cylinders >= 1 && cylinders <= kMaxCylinders && heads >= 1 && heads <= 16 && secs >= 1 && secs <= 63 &&
           translation <= kLarge;
}

std::string IdeGeometry::chs() const {
    return std::to_string(cylinders) + "/" + std::to_string(heads) + "/" + std::to_string(secs);
}

IdeGeometry ide_geometry_guess(uint64_t sectors, std::span<const uint8_t> sector0) {
    unsigned heads = 0, secs = 0;
    uint64_t cylinders = 0;
    if (!guess_from_partitions(sectors, sector0, heads, secs, cylinders)) {
        IdeGeometry g = for_size(sectors);
        g.translation = g.cylinders <= 1024 ? IdeGeometry::kNone : IdeGeometry::kLba;
        return g;
    }
    if (heads > 16) {
        IdeGeometry g = for_size(sectors);
        g.translation = uint32_t{g.cylinders} * g.heads <= 131072 ? IdeGeometry::kLarge : IdeGeometry::kLba;
        return g;
    }
    IdeGeometry g;
    g.cylinders = static_cast<uint16_t>(cylinders);
    g.heads = static_cast<uint8_t>(heads);
    g.secs = static_cast<uint8_t>(secs);
    g.translation = IdeGeometry::kNone;
    return g;
}

}  // namespace kvmrr
