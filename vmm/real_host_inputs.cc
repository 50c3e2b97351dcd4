#include "vmm/real_host_inputs.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace kvmrr {

namespace {

int64_t clock_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

RealHostInputs::RealHostInputs(int serial_fd, const std::string& disk_path)
    : serial_fd_(serial_fd), disk_path_(disk_path), start_ns_(clock_ns(CLOCK_MONOTONIC)) {
    if (!disk_path.empty()) {
        disk_fd_ = open(disk_path.c_str(), O_RDWR | O_CLOEXEC);
        if (disk_fd_ < 0) throw Error("cannot open disk image '" + disk_path + "': " + std::strerror(errno));
    }
}

RealHostInputs::~RealHostInputs() {
    if (disk_fd_ >= 0) close(disk_fd_);
}

int64_t RealHostInputs::wall_clock_ns() {
    if (virtual_now_) return kVirtualEpochNs + virtual_now_();
    return clock_ns(CLOCK_REALTIME);
}

int64_t RealHostInputs::monotonic_ns() {
    if (virtual_now_) return virtual_now_();
    return clock_ns(CLOCK_MONOTONIC) - start_ns_;
}

void RealHostInputs::entropy(std::span<uint8_t> out) {
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error(std::string("getrandom failed: ") + std::strerror(errno));
        }
        done += static_cast<size_t>(n);
    }
}

std::optional<uint8_t> RealHostInputs::serial_in() {
    if (serial_fd_ < 0) return std::nullopt;
    // Poll without blocking: the guest polls LSR, and a VMM that blocked on
    // the host terminal would freeze it.
    const int flags = fcntl(serial_fd_, F_GETFL);
    if (!(flags & O_NONBLOCK)) fcntl(serial_fd_, F_SETFL, flags | O_NONBLOCK);
    uint8_t b;
    const ssize_t n = read(serial_fd_, &b, 1);
    if (n == 1) return b;
    if (n == 0) serial_fd_ = -1;  // end of input: stop asking
    return std::nullopt;
}

bool RealHostInputs::wait_for_serial_in(std::chrono::steady_clock::time_point until, const std::atomic<int>* stop) {
    using Clock = std::chrono::steady_clock;
    if (serial_fd_ < 0) return true;  // no input, or no more: serial_in() says so at once
    // In slices, to see `stop`: the signal that sets it is taken by
    // another thread, and does not cut a poll here short.
    constexpr std::chrono::milliseconds kSlice{10};
    for (;;) {
        if (stop && stop->load(std::memory_order_relaxed)) return false;
        const Clock::time_point now = Clock::now();
        if (now >= until) return false;
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now);
        pollfd p{serial_fd_, POLLIN, 0};
        const int n = poll(&p, 1, static_cast<int>(std::min<std::chrono::milliseconds>(left, kSlice).count()));
        // Readable, hung up or in error: serial_in() finds out which.
        if (n > 0 || (n < 0 && errno != EINTR)) return true;
    }
}

void RealHostInputs::disk_read(uint64_t offset, std::span<uint8_t> out) {
    std::memset(out.data(), 0, out.size());
    if (disk_fd_ < 0) return;
    size_t done = 0;
    while (done < out.size()) {
        // Offsets no file can reach (a guest's last sectors) are past the
        // end of this one: zeros, as the interface promises, not EINVAL.
        constexpr auto kMaxOffset = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
        const uint64_t at = offset + done;
        if (at >= kMaxOffset) break;
        const size_t want = static_cast<size_t>(std::min<uint64_t>(out.size() - done, kMaxOffset - at));
        const ssize_t n = pread(disk_fd_, out.data() + done, want, static_cast<off_t>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error("reading disk image '" + disk_path_ + "': " + std::strerror(errno));
        if (n == 0) break;  // past the end: zeros
        done += static_cast<size_t>(n);
    }
}

void RealHostInputs::disk_write(uint64_t offset, std::span<const uint8_t> in) {
    if (disk_fd_ < 0) return;
    size_t done = 0;
    while (done < in.size()) {
        const ssize_t n = pwrite(disk_fd_, in.data() + done, in.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error("writing disk image '" + disk_path_ + "': " + std::strerror(errno));
        done += static_cast<size_t>(n);
    }
}

}  // namespace kvmrr
