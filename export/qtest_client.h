// QtestClient: a QEMU process driven through its qtest protocol
// (QEMU's docs/devel/qtest.rst): one command a line on QEMU's stdin, one
// reply a line on its stdout ("OK", "OK 0x1f", "FAIL why"; lines starting
// "IRQ" are asynchronous interrupt notes and are skipped).
//
// kvmrr starts QEMU and stops it (SIGKILL at the latest, and waits for it).
// Every reply is awaited at most `timeout`, so a QEMU that hangs cannot
// hang kvmrr. A QEMU that is missing, dies, hangs or answers anything that
// is not a qtest reply is a QtestError naming the last command sent and
// what QEMU wrote on stderr.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace kvmrr {

class QtestError : public Error {
public:
    using Error::Error;
};

struct QtestReply {
    bool ok = false;                // "OK ..." (else "FAIL ...")
    std::optional<uint64_t> value;  // the number after OK, when there is one
    std::string text;               // the line without its newline
};

// Parses one reply line (without its newline). Throws QtestError for a
// line that is not a qtest reply.
QtestReply parse_qtest_reply(std::string_view line);

struct QemuCommand {
    std::string binary;             // qemu-system-x86_64, or a path
    std::vector<std::string> args;  // after the binary
    std::chrono::milliseconds timeout{10000};
};

class QtestClient {
public:
    // Starts QEMU. Throws QtestError when it cannot be started (not found,
    // not executable).
    explicit QtestClient(QemuCommand cmd);
    ~QtestClient();
    QtestClient(const QtestClient&) = delete;
    QtestClient& operator=(const QtestClient&) = delete;

    // Sends one command (no newline) and returns QEMU's reply. A FAIL reply
    // is returned, not thrown; death, silence past the time-out and garbage
    // throw QtestError.
    QtestReply send(const std::string& command);
    // Stops QEMU (kill and wait); idempotent.
    void stop();

    uint64_t commands_sent() const { return sent_; }
    const std::string& last_command() const { return last_; }

private:
    [[noreturn]] void fail(const std::string& what);
    std::string read_line();
    std::string drain_stderr();

    QemuCommand cmd_;
    pid_t pid_ = -1;
    int in_ = -1, out_ = -1, err_ = -1;
    std::string buf_;
    std::string last_;
    uint64_t sent_ = 0;
};

// Which QEMU binary to run: `option` when given, else $KVMRR_QEMU, else
// qemu-system-x86_64 from PATH.
std::string qemu_binary(const std::string& option);

}  // namespace kvmrr
