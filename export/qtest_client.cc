#include "export/qtest_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace kvmrr {

namespace {

// Replies are short; a line longer than this is not one.
constexpr size_t kMaxReplyLine = 4096;

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 120)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (s.size() > 120) out += "...";
    return out;
}

}  // namespace

QtestReply parse_qtest_reply(std::string_view line) {
    QtestReply r;
    r.text = std::string(line);
    if (line == "OK") {
        r.ok = true;
        return r;
    }
    if (line.rfind("FAIL", 0) == 0 && (line.size() == 4 || line[4] == ' ')) return r;
    if (line.rfind("OK ", 0) != 0) throw QtestError("not a qtest reply: '" + printable(line) + "'");
    r.ok = true;
    std::string_view rest = line.substr(3);
    const size_t end = rest.find(' ');
    const std::string word(rest.substr(0, end));
    // "OK 0x1f" (in*, read*); clock_step answers "OK <ns>" in decimal.
    const bool hexnum = word.size() > 2 && word[0] == '0' && (word[1] == 'x' || word[1] == 'X');
    const std::string digits = hexnum ? word.substr(2) : word;
    if (digits.empty() || digits.size() > 16 + (hexnum ? 0 : 4) ||
        digits.find_first_not_of(hexnum ? "0123456789abcdefABCDEF" : "0123456789") != std::string::npos)
        throw QtestError("not a qtest reply: '" + printable(line) + "'");
    errno = 0;
    const unsigned long long v = std::strtoull(digits.c_str(), nullptr, hexnum ? 16 : 10);
    if (errno) throw QtestError("not a qtest reply (number out of range): '" + printable(line) + "'");
    r.value = v;
    return r;
}

std::string qemu_binary(const std::string& option) {
    if (!option.empty()) return option;
    if (const char* env = std::getenv("KVMRR_QEMU"); env && *env) return env;
    return "qemu-system-x86_64";
}

QtestClient::QtestClient(QemuCommand cmd) : cmd_(std::move(cmd)) {
    // QEMU's stdin is a socket so that writes to a dead QEMU fail with
    // EPIPE (MSG_NOSIGNAL) instead of raising SIGPIPE in kvmrr.
    int in[2], out[2], err[2], exec_err[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(exec_err, O_CLOEXEC))
        throw QtestError(std::string("cannot make pipes for QEMU: ") + std::strerror(errno));
    std::vector<char*> argv;
    argv.push_back(cmd_.binary.data());
    for (std::string& a : cmd_.args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) throw QtestError(std::string("cannot start QEMU: fork: ") + std::strerror(errno));
    if (pid_ == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execvp(argv[0], argv.data());
        const int e = errno;
        (void)!write(exec_err[1], &e, sizeof e);
        _exit(127);
    }
    ::close(in[0]);
    shutdown(in[1], SHUT_RD);
    ::close(out[1]);
    ::close(err[1]);
    ::close(exec_err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
    int e = 0;
    const ssize_t n = read(exec_err[0], &e, sizeof e);  // EOF once exec succeeded (close-on-exec)
    ::close(exec_err[0]);
    if (n == static_cast<ssize_t>(sizeof e)) {
        stop();
        throw QtestError("cannot run QEMU '" + cmd_.binary + "': " + std::strerror(e) +
                         (e == ENOENT ? " (install qemu-system-x86, or name the binary with --qemu or KVMRR_QEMU)" : ""));
    }
    fcntl(out_, F_SETFL, O_NONBLOCK);
    fcntl(err_, F_SETFL, O_NONBLOCK);
}

QtestClient::~QtestClient() { stop(); }

void QtestClient::stop() {
    close_fd(in_);
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        int st = 0;
        while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }
    close_fd(out_);
    close_fd(err_);
}

std::string QtestClient::drain_stderr() {
    std::string s;
    if (err_ < 0) return s;
    char b[4096];
    ssize_t n;
    while (s.size() < 2000 && (n = read(err_, b, sizeof b)) > 0) s.append(b, static_cast<size_t>(n));
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

void QtestClient::fail(const std::string& what) {
    std::string msg = "QEMU " + what + " (last command sent: " + (last_.empty() ? "none" : "'" + last_ + "'") + ")";
    // Stopped first, so that everything it wrote on stderr is there to read.
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        int st = 0;
        while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
        }
        if (WIFEXITED(st)) msg += "; QEMU exited with status " + std::to_string(WEXITSTATUS(st));
        pid_ = -1;
    }
    if (const std::string e = drain_stderr(); !e.empty()) msg += "; QEMU's stderr: " + printable(e);
    stop();
    throw QtestError(msg);
}

std::string QtestClient::read_line() {
    const auto deadline = std::chrono::steady_clock::now() + cmd_.timeout;
    for (;;) {
        if (const size_t nl = buf_.find('\n'); nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return line;
        }
        if (buf_.size() > kMaxReplyLine) fail("answered garbage: a line of more than 4096 bytes");
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            fail("did not answer within " + std::to_string(cmd_.timeout.count()) + " ms");
        pollfd p{out_, POLLIN, 0};
        const int r = poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail(std::string("could not be read: ") + std::strerror(errno));
        if (r == 0) continue;
        char b[4096];
        const ssize_t n = read(out_, b, sizeof b);
        if (n > 0) {
            buf_.append(b, static_cast<size_t>(n));
        } else if (n == 0) {
            fail("died: its stdout closed");
        } else if (errno != EAGAIN && errno != EINTR) {
            fail(std::string("could not be read: ") + std::strerror(errno));
        }
    }
}

QtestReply QtestClient::send(const std::string& command) {
    if (pid_ <= 0) throw QtestError("QEMU is not running (last command sent: '" + last_ + "')");
    last_ = command;
    ++sent_;
    const std::string line = command + "\n";
    size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::send(in_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(errno == EPIPE ? "died: its stdin closed" : std::string("could not be written to: ") + std::strerror(errno));
        done += static_cast<size_t>(n);
    }
    for (;;) {
        const std::string reply = read_line();
        if (reply.rfind("IRQ ", 0) == 0) continue;  // asynchronous, with irq_intercept_*
        try {
            return parse_qtest_reply(reply);
        } catch (const QtestError& e) {
            fail("answered garbage: " + std::string(e.what()));
        }
    }
}

}  // namespace kvmrr
