#include "export/trace_disk_image.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <set>
#include <variant>

#include "core/error.h"
#include "devices/ide_channel.h"
#include "record/trace_reader.h"

namespace kvmrr {

namespace {

constexpr uint64_t kSector = IdeChannel::kSectorSize;
constexpr uint64_t kMaxSectors = IdeChannel::kMaxSectors;

// Sectors the guest wrote, as merged ranges [first, end): a lying trace's
// write of any length costs one entry.
class SectorRanges {
public:
    void add(uint64_t first, uint64_t end) {
        if (first >= end) return;
        auto it = r_.upper_bound(first);
        if (it != r_.begin() && std::prev(it)->second >= first) {
            --it;
            first = it->first;
            end = std::max(end, it->second);
        }
        while (it != r_.end() && it->first <= end) {
            end = std::max(end, it->second);
            it = r_.erase(it);
        }
        r_[first] = end;
    }
    bool contains(uint64_t s) const {
        auto it = r_.upper_bound(s);
        return it != r_.begin() && std::prev(it)->second > s;
    }

private:
    std::map<uint64_t, uint64_t> r_;
};

std::string temp_dir() {
    const char* t = std::getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

}  // namespace

TraceDiskImage::TraceDiskImage(const std::string& trace_path) {
    TraceReader reader = TraceReader::open(trace_path);
    const uint64_t sectors = reader.header().disk_sectors;
    if (!sectors) throw Error("the trace '" + trace_path + "' names no disk");
    if (sectors > kMaxSectors)
        throw Error("the trace '" + trace_path + "' names a disk of " + std::to_string(sectors) +
                    " sectors, past what LBA48 addresses");
    std::string tmpl = temp_dir() + "/kvmrr-disk-XXXXXX";
    const int fd = mkstemp(tmpl.data());
    if (fd < 0) throw Error("cannot make a temporary disk image in " + temp_dir() + ": " + std::strerror(errno));
    path_ = tmpl;
    const auto fail = [&](const std::string& what) {
        const std::string why = std::strerror(errno);
        close(fd);
        unlink(path_.c_str());
        throw Error(what + " (" + path_ + "): " + why);
    };
    if (ftruncate(fd, static_cast<off_t>(sectors * kSector)) != 0)
        fail("cannot make a disk image of " + std::to_string(sectors) + " sectors");
    SectorRanges written;
    std::set<uint64_t> known;
    TraceEvent e;
    while (reader.next(e)) {
        if (const auto* w = std::get_if<DiskWriteEvent>(&e.body)) {
            const uint64_t end = w->length > UINT64_MAX - w->offset ? UINT64_MAX : w->offset + w->length;
            written.add(w->offset / kSector, end / kSector + (end % kSector ? 1 : 0));
        } else if (const auto* r = std::get_if<DiskReadEvent>(&e.body)) {
            for (uint64_t at = 0; at < r->data.size();) {
                const uint64_t off = r->offset + at, s = off / kSector;
                const uint64_t n = std::min<uint64_t>(kSector - off % kSector, r->data.size() - at);
                if (s < sectors && !written.contains(s) && !known.count(s)) {
                    if (pwrite(fd, r->data.data() + at, n, static_cast<off_t>(off)) != static_cast<ssize_t>(n))
                        fail("cannot write the disk image");
                    known.insert(s);
                }
                at += n;
            }
        }
    }
    sectors_known_ = known.size();
    if (close(fd) != 0) {
        unlink(path_.c_str());
        throw Error("cannot write the disk image " + path_ + ": " + std::strerror(errno));
    }
}

TraceDiskImage::~TraceDiskImage() {
    if (!path_.empty()) unlink(path_.c_str());
}

}  // namespace kvmrr
