// The GDB remote serial protocol's transport, for a debugger attached to a
// guest replay: one connection over TCP on the loopback interface, and the
// protocol's framing ("$payload#checksum", "+"/"-" acknowledgements, the
// interrupt byte 0x03), as GDB's manual, "Remote Protocol", describes it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvmrr {

// "$payload#xx", with '#', '$', '}' and '*' escaped ('}' then the byte
// XOR 0x20), so that the payload may hold any byte.
std::string gdb_frame(std::string_view payload);

// What a debugger sends, byte by byte, taken apart.
class GdbPacketParser {
public:
    enum class Kind : uint8_t { Packet, BadChecksum, Interrupt, Ack, Nack };
    struct Item {
        Kind kind;
        std::string payload;  // Packet: as sent (no unescaping: only binary packets escape)
    };
    // Consumes `bytes`; complete items are appended to `out`. Bytes outside
    // a packet other than '+', '-' and 0x03 are ignored, as is a packet
    // longer than kMaxPacket (reported as BadChecksum, so the sender resends).
    void feed(std::string_view bytes, std::vector<Item>& out);
    static constexpr size_t kMaxPacket = 0x10000;

private:
    enum class State : uint8_t { Idle, Payload, Check1, Check2 };
    State state_ = State::Idle;
    std::string payload_;
    bool too_long_ = false;
    uint8_t sum_ = 0, given_ = 0;
};

class GdbConnection {
public:
    // Listens on 127.0.0.1:port; 0 takes a free port (port() says which).
    // Throws kvmrr::Error when it cannot.
    explicit GdbConnection(uint16_t port);
    ~GdbConnection();
    GdbConnection(const GdbConnection&) = delete;
    GdbConnection& operator=(const GdbConnection&) = delete;

    uint16_t port() const { return port_; }
    // Waits for the debugger to connect (one at a time), then stops
    // listening.
    void accept();
    bool connected() const { return fd_ >= 0; }
    // The next packet's payload, acknowledged; "\x03" for an interrupt.
    // Nothing once the debugger has gone (the connection is then closed).
    std::optional<std::string> receive();
    // Whether the debugger sent the interrupt byte, without waiting.
    bool interrupt_sent();
    // Sends a packet and, unless acknowledgements are off, waits for its
    // '+', resending on '-'. False once the debugger has gone.
    bool send(std::string_view payload);
    // QStartNoAckMode: no '+' or '-' after the reply to it.
    void stop_acknowledging() { acks_ = false; }
    void close();

private:
    bool read_some(bool wait);  // into items_; false when the peer is gone
    std::optional<GdbPacketParser::Item> next_item(bool wait);

    int listen_fd_ = -1;
    int fd_ = -1;
    uint16_t port_ = 0;
    bool acks_ = true;
    GdbPacketParser parser_;
    std::vector<GdbPacketParser::Item> items_;
    size_t next_ = 0;
};

}  // namespace kvmrr
