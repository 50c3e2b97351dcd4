// A pseudo-terminal pair for tests of the serial console: the test holds
// the master side, as a user's terminal emulator does, and gives the slave
// side to what is tested. Both are closed with the object; `slave` is -1
// when the pair could not be made.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

namespace kvmrr::test {

struct PseudoTerminal {
    int master = -1, slave = -1;
    PseudoTerminal() {
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return;
        slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    ~PseudoTerminal() {
        if (slave >= 0) close(slave);
        if (master >= 0) close(master);
    }
    PseudoTerminal(const PseudoTerminal&) = delete;
    PseudoTerminal& operator=(const PseudoTerminal&) = delete;
};

}  // namespace kvmrr::test
