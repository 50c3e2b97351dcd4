// Tests for export/trace_disk_image.h: the disk QEMU is given is what the
// recorded run read before writing, zeros elsewhere, of the header's size;
// a trace without a disk, or whose writes lie about their length, is
// handled.
#include "export/trace_disk_image.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "record/tests/trace_test_util.h"
#include "record/trace_writer.h"

namespace kvmrr {
namespace {

using test::sample_header;
using test::TempDir;

std::vector<uint8_t> filled(size_t n, uint8_t v) { return std::vector<uint8_t>(n, v); }

std::string slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string write_trace(TempDir& dir, uint64_t disk_sectors, const std::vector<EventBody>& events) {
    const std::string path = dir.file("disk.trace");
    TraceHeader h = sample_header();
    h.board = "pc";
    h.disk_sectors = disk_sectors;
    TraceWriter w(path, h);
    for (const EventBody& b : events) w.append(0, b);
    w.close();
    return path;
}

TEST(TraceDiskImage, SectorsReadBeforeAnyWriteAreTheRecordedOnesTheRestZeros) {
    TempDir dir;
    const std::string path = write_trace(
        dir, 16,
        {DiskReadEvent{0, filled(512, 0x11)},
         // sector 3 written, then read: QEMU gets it from the write, not here
         DiskWriteEvent{3 * 512, 512}, DiskReadEvent{3 * 512, filled(512, 0x33)},
         // a read of two sectors, and one of sector 5 again (the first wins)
         DiskReadEvent{5 * 512, filled(1024, 0x55)}, DiskReadEvent{5 * 512, filled(512, 0x77)},
         // sector 0 read again after a write to it: the first read stays
         DiskWriteEvent{0, 512}, DiskReadEvent{0, filled(512, 0x22)},
         // past the disk's end: not in the image
         DiskReadEvent{20 * 512, filled(512, 0x99)}});
    std::string image_path;
    {
        TraceDiskImage image(path);
        image_path = image.path();
        EXPECT_EQ(image.sectors_known(), 3u);  // 0, 5, 6
        const std::string img = slurp(image.path());
        ASSERT_EQ(img.size(), 16u * 512);
        const auto sector = [&](unsigned s) { return img.substr(s * 512, 512); };
        EXPECT_EQ(sector(0), std::string(512, '\x11'));
        EXPECT_EQ(sector(1), std::string(512, '\0'));
        EXPECT_EQ(sector(3), std::string(512, '\0'));
        EXPECT_EQ(sector(5), std::string(512, '\x55'));
        EXPECT_EQ(sector(6), std::string(512, '\x55'));
    }
    EXPECT_FALSE(std::filesystem::exists(image_path));  // removed with the object
}

TEST(TraceDiskImage, AWriteOfAnyLengthCostsNothing) {
    TempDir dir;
    // A write that covers every sector there could be.
    const std::string path = write_trace(dir, uint64_t{1} << 20,
                                         {DiskWriteEvent{512, uint64_t{1} << 62}, DiskReadEvent{0, filled(512, 1)},
                                          DiskReadEvent{4096, filled(512, 2)}});
    const TraceDiskImage image(path);
    EXPECT_EQ(image.sectors_known(), 1u);  // only sector 0 is before the write
    struct stat st{};
    ASSERT_EQ(stat(image.path().c_str(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), uint64_t{512} << 20);
    EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, uint64_t{1} << 20);  // sparse
}

TEST(TraceDiskImage, ATraceWithoutADiskOrWithTooBigADiskIsAnError) {
    TempDir dir;
    EXPECT_THROW(TraceDiskImage(write_trace(dir, 0, {})), Error);
    // A disk no IDE address reaches (a lying header): a clear error.
    try {
        TraceDiskImage image(write_trace(dir, uint64_t{1} << 62, {}));
        ADD_FAILURE() << "made " << image.path();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("past what LBA48 addresses"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace kvmrr
