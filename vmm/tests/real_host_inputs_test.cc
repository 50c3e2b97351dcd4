// The host's disk as the DMA disk sees it: bytes past the backing file's
// end read as zero, at any offset a guest can name, including those no
// file offset (off_t) can reach.
#include "vmm/real_host_inputs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace kvmrr {
namespace {

struct DiskFile {
    std::string path;
    DiskFile() {
        char name[] = "/tmp/kvmrr_disk_XXXXXX";
        const int fd = mkstemp(name);
        EXPECT_GE(fd, 0);
        const std::array<uint8_t, 4> bytes{1, 2, 3, 4};
        EXPECT_EQ(write(fd, bytes.data(), bytes.size()), 4);
        close(fd);
        path = name;
    }
    ~DiskFile() { unlink(path.c_str()); }
};

TEST(RealHostInputsDisk, ReadsPastTheEndAreZeros) {
    DiskFile f;
    RealHostInputs in(-1, f.path);
    std::array<uint8_t, 8> out{};
    out.fill(0xee);
    in.disk_read(2, out);
    EXPECT_EQ(out, (std::array<uint8_t, 8>{3, 4, 0, 0, 0, 0, 0, 0}));
    for (uint64_t offset : {uint64_t{1} << 40, (uint64_t{1} << 63) - 4, uint64_t{1} << 63, UINT64_MAX - 8}) {
        SCOPED_TRACE(offset);
        out.fill(0xee);
        ASSERT_NO_THROW(in.disk_read(offset, out));
        EXPECT_EQ(out, (std::array<uint8_t, 8>{}));
    }
}

}  // namespace
}  // namespace kvmrr
