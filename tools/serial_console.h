// SerialConsole: `--serial-in -` on a terminal, as QEMU's `-serial stdio`
// has it: for the run the terminal is in raw mode (no line editing, no
// echo of its own, keys send no signals: Ctrl-C reaches the guest, whose
// console echoes what it takes), and after it as it was. Ctrl-A is the
// escape: Ctrl-A x ends the run as Ctrl-C ends one elsewhere (a recording
// is kept, ending "interrupted"), Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A h
// lists these; any other key after Ctrl-A is dropped.
//
// A thread of its own reads the terminal and writes what is for the guest
// into a pipe, whose read end is the serial input: the board's wait for
// input (HostInputs::wait_for_serial_in) sees input only where there is
// some, never an escape half typed.
#pragma once

#include <termios.h>

#include <atomic>
#include <functional>
#include <thread>

namespace kvmrr::cli {

class SerialConsole {
public:
    // Takes over the terminal `tty`; `quit` runs (on the console's thread)
    // at Ctrl-A x. Throws kvmrr::Error if the terminal cannot be set or
    // the thread started.
    SerialConsole(int tty, std::function<void()> quit);
    // Stops the thread and gives the terminal its settings back.
    ~SerialConsole();
    SerialConsole(const SerialConsole&) = delete;
    SerialConsole& operator=(const SerialConsole&) = delete;

    // The serial input to give the board.
    int input_fd() const { return pipe_[0]; }
    // What gives the terminal its settings back, from any thread and
    // after the console is gone (a signal's last word).
    std::function<void()> restorer() const;

private:
    void read_keys();
    // What the guest gets of `key`, if anything: escapes are handled here.
    bool pass(unsigned char key, unsigned char& out);

    int tty_;
    termios saved_{};
    std::function<void()> quit_;
    int pipe_[2] = {-1, -1};
    int wake_fd_ = -1;  // an eventfd: the destructor's word to stop
    bool escape_ = false;    // Ctrl-A came: the next key is the console's
    bool quitting_ = false;  // Ctrl-A x came
    std::thread thread_;
};

}  // namespace kvmrr::cli
