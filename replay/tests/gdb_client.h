// A GDB remote-protocol client for tests of the stub (replay/gdb_server.h):
// what GDB itself sends, one request and its reply at a time, with the
// framing written here independently of the stub's.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace kvmrr::testing {

class GdbClient {
public:
    explicit GdbClient(uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("cannot connect to the stub");
        // As GDB: no Nagle, or each request waits for the ack of the last.
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~GdbClient() { close(); }
    GdbClient(const GdbClient&) = delete;
    GdbClient& operator=(const GdbClient&) = delete;

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    static std::string frame(const std::string& payload) {
        unsigned sum = 0;
        for (const unsigned char c : payload) sum += c;
        char tail[4];
        std::snprintf(tail, sizeof tail, "#%02x", sum & 0xff);
        return "$" + payload + tail;
    }
    void send_raw(const std::string& bytes) {
        if (::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size()))
            throw std::runtime_error("send failed");
    }
    // Sends a request and expects its '+'.
    void send(const std::string& payload) {
        send_raw(frame(payload));
        if (acks_ && get() != '+') throw std::runtime_error("no ack for " + payload);
    }
    // The next reply's payload (its checksum checked, then acknowledged).
    std::string reply() {
        char c;
        while ((c = get()) != '$') {
            if (c != '+') throw std::runtime_error(std::string("unexpected byte before a reply: ") + c);
        }
        std::string payload;
        unsigned sum = 0;
        while ((c = get()) != '#') {
            payload += c;
            sum += static_cast<unsigned char>(c);
        }
        std::string check{get(), get()};
        if (std::stoul(check, nullptr, 16) != (sum & 0xff)) throw std::runtime_error("bad checksum in " + payload);
        if (acks_) send_raw("+");
        return payload;
    }
    std::string ask(const std::string& payload) {
        send(payload);
        return reply();
    }
    void no_acks() { acks_ = false; }
    // Whether the stub closed the connection (reads until it does).
    bool closed() {
        char c;
        return ::recv(fd_, &c, 1, 0) == 0;
    }

    // Little-endian hex as registers and memory come.
    static uint64_t le(const std::string& hex, size_t at, size_t bytes) {
        uint64_t v = 0;
        for (size_t i = 0; i < bytes; ++i) v |= std::stoull(hex.substr(at + 2 * i, 2), nullptr, 16) << (8 * i);
        return v;
    }

private:
    char get() {
        char c;
        if (::recv(fd_, &c, 1, MSG_WAITALL) != 1) throw std::runtime_error("the stub closed the connection");
        return c;
    }
    int fd_ = -1;
    bool acks_ = true;
};

}  // namespace kvmrr::testing
