// The serial console on a pseudo-terminal (the test holds its master side,
// as a user's terminal emulator does): raw mode for the run and the
// settings given back after, keys passed to the guest's input, Ctrl-A's
// escapes, and an end that does not wait for a guest that takes nothing.
#include "tools/serial_console.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

#include "tools/tests/pseudo_terminal.h"

namespace kvmrr::cli {
namespace {

struct Pty : test::PseudoTerminal {
    void type(const std::string& keys) const { ASSERT_EQ(write(master, keys.data(), keys.size()), static_cast<ssize_t>(keys.size())); }
};

// What `fd` gives within `within`, stopping once `want` bytes came.
std::string read_some(int fd, size_t want, std::chrono::milliseconds within = std::chrono::milliseconds(2000)) {
    std::string got;
    const auto until = std::chrono::steady_clock::now() + within;
    while (got.size() < want) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
        char buf[256];
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
    }
    return got;
}

TEST(SerialConsole, TakesTheTerminalRawAndGivesItBack) {
    Pty t;
    ASSERT_GE(t.slave, 0);
    termios before{};
    ASSERT_EQ(tcgetattr(t.slave, &before), 0);
    ASSERT_TRUE(before.c_lflag & ICANON);  // a new terminal edits lines, echoes, sends signals
    ASSERT_TRUE(before.c_lflag & ECHO);
    ASSERT_TRUE(before.c_lflag & ISIG);
    {
        SerialConsole c(t.slave, [] {});
        termios during{};
        ASSERT_EQ(tcgetattr(t.slave, &during), 0);
        EXPECT_FALSE(during.c_lflag & (ICANON | ECHO | ISIG | IEXTEN));
        EXPECT_FALSE(during.c_iflag & (ICRNL | IXON));  // Enter is "\r", Ctrl-S a key
        EXPECT_TRUE(during.c_oflag & OPOST);            // the guest's "\n" starts a line
        EXPECT_EQ(during.c_cc[VMIN], 1);
    }
    termios after{};
    ASSERT_EQ(tcgetattr(t.slave, &after), 0);
    EXPECT_EQ(after.c_lflag, before.c_lflag);
    EXPECT_EQ(after.c_iflag, before.c_iflag);
    EXPECT_EQ(after.c_oflag, before.c_oflag);
    EXPECT_EQ(after.c_cflag, before.c_cflag);
}

TEST(SerialConsole, PassesKeysToTheGuestAndKeepsItsEscapes) {
    Pty t;
    ASSERT_GE(t.slave, 0);
    std::atomic<int> quits{0};
    SerialConsole c(t.slave, [&quits] { ++quits; });
    // Ctrl-C is a key like any other; Ctrl-A Ctrl-A one Ctrl-A; Ctrl-A q
    // (no escape of the console's) and Ctrl-A h nothing for the guest.
    t.type(std::string("ab\x03\x01\x01") + "c\x01q" + "d\x01h" + "e\r");
    EXPECT_EQ(read_some(c.input_fd(), 8), std::string("ab\x03\x01") + "cde\r");
    EXPECT_EQ(quits.load(), 0);
    // Ctrl-A x: the run's end asked for, nothing after it passed on.
    t.type("f\x01xgh");
    EXPECT_EQ(read_some(c.input_fd(), 2, std::chrono::milliseconds(500)), "f");
    EXPECT_EQ(quits.load(), 1);
    t.type("\x01x");
    read_some(c.input_fd(), 1, std::chrono::milliseconds(200));
    EXPECT_EQ(quits.load(), 1);
}

// A guest that never takes its input: the console's pipe fills, and the
// console still ends when the run does.
TEST(SerialConsole, EndsWithAFullPipe) {
    Pty t;
    ASSERT_GE(t.slave, 0);
    ASSERT_EQ(fcntl(t.master, F_SETFL, O_NONBLOCK), 0);
    const auto start = std::chrono::steady_clock::now();
    {
        SerialConsole c(t.slave, [] {});
        const std::string keys(4096, 'k');
        size_t sent = 0;
        for (int i = 0; i < 200 && sent < (160u << 10); ++i) {
            const ssize_t n = write(t.master, keys.data(), keys.size());
            if (n > 0) sent += static_cast<size_t>(n);
            else std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        EXPECT_GT(sent, 64u << 10);  // more than a pipe holds
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace kvmrr::cli
