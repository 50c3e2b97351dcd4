#include "tools/serial_console.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

#include "core/error.h"

namespace kvmrr::cli {

namespace {

constexpr unsigned char kEscape = 0x01;  // Ctrl-A

// Writes all of `s` to `fd`; with `wake` (an eventfd) given, a full
// non-blocking `fd` is waited for until `wake` says to stop.
void write_all(int fd, std::string_view s, int wake = -1) {
    while (!s.empty()) {
        const ssize_t n = write(fd, s.data(), s.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN && wake >= 0) {
            pollfd fds[2] = {{fd, POLLOUT, 0}, {wake, POLLIN, 0}};
            if ((poll(fds, 2, -1) < 0 && errno != EINTR) || fds[1].revents) return;
            continue;
        }
        if (n <= 0) return;
        s.remove_prefix(static_cast<size_t>(n));
    }
}

}  // namespace

SerialConsole::SerialConsole(int tty, std::function<void()> quit) : tty_(tty), quit_(std::move(quit)) {
    if (tcgetattr(tty_, &saved_) != 0) throw Error(std::string("cannot read the terminal's settings: ") + std::strerror(errno));
    // The write end does not block: a guest that takes no input must not
    // keep the thread from its word to stop. (The read end is read without
    // blocking anyway: RealHostInputs polls it.)
    if (pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0)
        throw Error(std::string("cannot make the serial console's pipe: ") + std::strerror(errno));
    wake_fd_ = eventfd(0, EFD_CLOEXEC);
    // The settings QEMU's stdio character device uses: bytes as typed,
    // output still translated (a guest's "\n" starts a line).
    termios raw = saved_;
    raw.c_iflag &= ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_oflag |= OPOST;
    raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | IEXTEN | ISIG);
    raw.c_cflag &= ~static_cast<tcflag_t>(CSIZE | PARENB);
    raw.c_cflag |= CS8;
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (wake_fd_ < 0 || tcsetattr(tty_, TCSANOW, &raw) != 0) {
        const int err = errno;
        for (int fd : {pipe_[0], pipe_[1], wake_fd_})
            if (fd >= 0) close(fd);
        throw Error(std::string("cannot put the terminal in raw mode: ") + std::strerror(err));
    }
    static constexpr std::string_view kHello = "kvmrr: the terminal is the guest's serial port; Ctrl-A x ends the run, Ctrl-A h says more\n";
    write_all(STDERR_FILENO, kHello);
    try {
        thread_ = std::thread([this] { read_keys(); });
    } catch (const std::system_error& e) {
        restorer()();
        for (int fd : {pipe_[0], pipe_[1], wake_fd_}) close(fd);
        throw Error(std::string("cannot start the serial console: ") + e.what());
    }
}

SerialConsole::~SerialConsole() {
    const uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof one) == sizeof one) thread_.join();
    else thread_.detach();  // cannot happen with an eventfd; never hang here
    restorer()();
    for (int fd : {pipe_[0], pipe_[1], wake_fd_}) close(fd);
}

std::function<void()> SerialConsole::restorer() const {
    return [tty = tty_, saved = saved_] { tcsetattr(tty, TCSANOW, &saved); };
}

bool SerialConsole::pass(unsigned char key, unsigned char& out) {
    if (!escape_) {
        if (key == kEscape) {
            escape_ = true;
            return false;
        }
        out = key;
        return true;
    }
    escape_ = false;
    switch (key) {
    case kEscape:
        out = kEscape;
        return true;
    case 'x':
    case 'X':
        write_all(STDERR_FILENO, "\nkvmrr: Ctrl-A x\n");
        quitting_ = true;
        if (quit_) quit_();
        return false;
    case 'h':
    case 'H':
    case '?':
        write_all(STDERR_FILENO,
                  "\nkvmrr: Ctrl-A x  end the run (a recording is kept, ending \"interrupted\")\n"
                  "kvmrr: Ctrl-A Ctrl-A  send Ctrl-A to the guest\n");
        return false;
    default:
        return false;
    }
}

void SerialConsole::read_keys() {
    pollfd fds[2] = {{tty_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    unsigned char keys[256], out[256];
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        const ssize_t n = read(tty_, keys, sizeof keys);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        // The terminal gone: the guest's input ends with it (the pipe's
        // write end stays open until the run ends, so that the board does
        // not see an end of input the user did not type).
        if (n <= 0) return;
        size_t m = 0;
        for (ssize_t i = 0; i < n && !quitting_; ++i)  // nothing typed after Ctrl-A x
            if (pass(keys[i], out[m])) ++m;
        write_all(pipe_[1], std::string_view(reinterpret_cast<const char*>(out), m), wake_fd_);
    }
}

}  // namespace kvmrr::cli
