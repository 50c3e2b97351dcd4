#include "replay/gdb_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace kvmrr {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

[[noreturn]] void fail(const std::string& what) { throw Error("gdb server: " + what + ": " + std::strerror(errno)); }

}  // namespace

std::string gdb_frame(std::string_view payload) {
    std::string out = "$";
    uint8_t sum = 0;
    for (const char c : payload) {
        if (c == '#' || c == '$' || c == '}' || c == '*') {
            out += '}';
            sum = static_cast<uint8_t>(sum + '}');
            const char escaped = static_cast<char>(c ^ 0x20);
            out += escaped;
            sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(escaped));
        } else {
            out += c;
            sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
        }
    }
    char tail[4];
    std::snprintf(tail, sizeof tail, "#%02x", sum);
    return out + tail;
}

void GdbPacketParser::feed(std::string_view bytes, std::vector<Item>& out) {
    for (const char c : bytes) {
        switch (state_) {
            case State::Idle:
                if (c == '$') {
                    state_ = State::Payload;
                    payload_.clear();
                    too_long_ = false;
                    sum_ = 0;
                } else if (c == '\x03') {
                    out.push_back({Kind::Interrupt, {}});
                } else if (c == '+') {
                    out.push_back({Kind::Ack, {}});
                } else if (c == '-') {
                    out.push_back({Kind::Nack, {}});
                }
                break;
            case State::Payload:
                if (c == '#') {
                    state_ = State::Check1;
                } else {
                    sum_ = static_cast<uint8_t>(sum_ + static_cast<uint8_t>(c));
                    if (payload_.size() < kMaxPacket) payload_ += c;
                    else too_long_ = true;
                }
                break;
            case State::Check1:
            case State::Check2: {
                const int d = hex_digit(c);
                if (state_ == State::Check1) {
                    given_ = static_cast<uint8_t>(d < 0 ? 0 : d << 4);
                    if (d < 0) too_long_ = true;  // a malformed checksum: have it sent again
                    state_ = State::Check2;
                    break;
                }
                state_ = State::Idle;
                const bool ok = d >= 0 && !too_long_ && static_cast<uint8_t>(given_ | d) == sum_;
                if (ok) out.push_back({Kind::Packet, std::move(payload_)});
                else out.push_back({Kind::BadChecksum, {}});
                payload_.clear();
                break;
            }
        }
    }
}

GdbConnection::GdbConnection(uint16_t port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) fail("socket");
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        const int err = errno;
        ::close(listen_fd_);
        errno = err;
        fail("cannot listen on 127.0.0.1:" + std::to_string(port));
    }
    if (::listen(listen_fd_, 1) != 0) fail("listen");
    socklen_t len = sizeof a;
    if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) fail("getsockname");
    port_ = ntohs(a.sin_port);
}

GdbConnection::~GdbConnection() {
    close();
    if (listen_fd_ >= 0) ::close(listen_fd_);
}

void GdbConnection::accept() {
    for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
            fd_ = fd;
            break;
        }
        if (errno != EINTR) fail("accept");
    }
    ::close(listen_fd_);
    listen_fd_ = -1;
    // Replies are small and each waits for the next request: no Nagle.
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void GdbConnection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    items_.clear();
    next_ = 0;
}

bool GdbConnection::read_some(bool wait) {
    if (fd_ < 0) return false;
    for (;;) {
        pollfd p{fd_, POLLIN, 0};
        const int n = ::poll(&p, 1, wait ? -1 : 0);
        if (n < 0 && errno == EINTR) continue;  // the run loop's timer
        if (n < 0) fail("poll");
        if (n == 0) return true;
        char buf[4096];
        const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            close();
            return false;
        }
        items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(next_));
        next_ = 0;
        parser_.feed(std::string_view(buf, static_cast<size_t>(got)), items_);
        return true;
    }
}

std::optional<GdbPacketParser::Item> GdbConnection::next_item(bool wait) {
    while (next_ >= items_.size()) {
        if (!read_some(wait)) return std::nullopt;
        if (!wait && next_ >= items_.size()) return std::nullopt;
    }
    return std::move(items_[next_++]);
}

std::optional<std::string> GdbConnection::receive() {
    for (;;) {
        std::optional<GdbPacketParser::Item> item = next_item(true);
        if (!item) return std::nullopt;
        switch (item->kind) {
            case GdbPacketParser::Kind::Packet:
                if (acks_ && ::send(fd_, "+", 1, MSG_NOSIGNAL) != 1) {
                    close();
                    return std::nullopt;
                }
                return std::move(item->payload);
            case GdbPacketParser::Kind::BadChecksum:
                if (acks_) ::send(fd_, "-", 1, MSG_NOSIGNAL);
                break;
            case GdbPacketParser::Kind::Interrupt:
                return std::string("\x03");
            case GdbPacketParser::Kind::Ack:
            case GdbPacketParser::Kind::Nack:
                break;  // for a reply already settled
        }
    }
}

// While the guest runs gdb (in all-stop mode) sends nothing but the
// interrupt byte; anything else is dropped.
bool GdbConnection::interrupt_sent() {
    for (;;) {
        std::optional<GdbPacketParser::Item> item = next_item(false);
        if (!item) return false;
        if (item->kind == GdbPacketParser::Kind::Interrupt) return true;
    }
}

bool GdbConnection::send(std::string_view payload) {
    const std::string frame = gdb_frame(payload);
    constexpr int kTries = 5;
    for (int attempt = 0; attempt < kTries; ++attempt) {
        if (fd_ < 0) return false;
        size_t done = 0;
        while (done < frame.size()) {
            const ssize_t n = ::send(fd_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                close();
                return false;
            }
            done += static_cast<size_t>(n);
        }
        if (!acks_) return true;
        for (;;) {
            std::optional<GdbPacketParser::Item> item = next_item(true);
            if (!item) return false;
            if (item->kind == GdbPacketParser::Kind::Ack) return true;
            if (item->kind == GdbPacketParser::Kind::Nack) break;  // send it again
            // Anything else before the ack is dropped: GDB sends its next
            // request only once it has the reply.
        }
    }
    return false;
}

}  // namespace kvmrr
