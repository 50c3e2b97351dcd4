// Loading a guest image into memory: the zero fill of a segment is written
// as zeros over whatever was there, and a segment whose sizes would wrap
// the address space (a lying trace header, a hostile ELF) is refused with
// an error rather than sized into a vector.
#include "core/guest_image.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {
namespace {

TEST(GuestImage, ZeroFillIsWrittenAsZerosPastItsBytes) {
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    constexpr uint64_t kAt = 0x200000, kFill = 200 * 1024 + 3;  // several pieces and a ragged end
    const std::vector<uint8_t> junk(kFill + 64, 0xa5);
    m.memory->write_bytes(Gpa(kAt), junk);
    GuestImage img;
    img.name = "fill";
    img.segments.push_back({kAt, {1, 2, 3}, kFill});
    img.load_into(*m.memory);
    std::vector<uint8_t> back(junk.size());
    m.memory->read_bytes(Gpa(kAt), back);
    EXPECT_EQ(back[0], 1);
    EXPECT_EQ(back[2], 3);
    for (uint64_t i = 3; i < 3 + kFill; ++i) ASSERT_EQ(back[i], 0) << "byte " << i;
    EXPECT_EQ(back[3 + kFill], 0xa5);  // the first byte past the fill is left alone
}

TEST(GuestImage, ASegmentWhoseSizesWrapIsRefused) {
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());
    GuestImage img;
    img.name = "wraps";
    // 10 bytes and 2^64 - 5 zeros "add up" to 5 bytes, which fit.
    img.segments.push_back({0x200000, std::vector<uint8_t>(10, 0x90), UINT64_MAX - 4});
    try {
        img.load_into(*m.memory);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("guest image 'wraps'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("larger than the address space"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace kvmrr
