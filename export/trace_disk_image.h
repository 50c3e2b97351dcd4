// TraceDiskImage: the pc board's IDE disk as a recorded run found it,
// rebuilt from the trace, for QEMU to read when `kvmrr qemu-check` asks
// its IDE model the trace's disk accesses.
//
// A trace holds every sector the guest read from the disk (disk-read
// events, the host input) and where it wrote (disk-write events: the data
// came from the guest, and reaches QEMU through the same data-register
// writes). A sector's content before the run is known when the guest read
// it before writing it; those sectors are put in the image, everything
// else is zeros (never read, or written first: QEMU then reads what the
// writes stored). The image is a sparse temporary file of the header's
// disk size, removed with the object.
#pragma once

#include <cstdint>
#include <string>

namespace kvmrr {

class TraceDiskImage {
public:
    // Reads the trace at `trace_path` (up to its last whole chunk).
    // Throws kvmrr::Error when the header names no disk or the file cannot
    // be made (a disk past what the temporary directory's file system
    // holds, say).
    explicit TraceDiskImage(const std::string& trace_path);
    ~TraceDiskImage();
    TraceDiskImage(const TraceDiskImage&) = delete;
    TraceDiskImage& operator=(const TraceDiskImage&) = delete;

    const std::string& path() const { return path_; }
    uint64_t sectors_known() const { return sectors_known_; }

private:
    std::string path_;
    uint64_t sectors_known_ = 0;
};

}  // namespace kvmrr
