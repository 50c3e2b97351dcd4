// qemu_check: a trace's device reads asked again of QEMU's own device
// models, through qtest (qtest_script.h, qtest_client.h), and compared.
//
// QEMU is started for the trace's machine (QemuPcMap::qemu_machine_args)
// with the qtest accelerator where the QEMU binary has one (then its
// virtual clock is stepped to each access's recorded time); Debian's
// QEMU 7.2 is built without it, so there QEMU runs with -accel tcg -S
// (the CPU never starts; the devices answer qtest, and QEMU's virtual
// clock stands still). Each read QEMU answers is compared by its
// register's rule (QemuPcMap::rule): exactly, masked, by shape, or skipped.
// docs/QEMU_CHECK.md lists the rules and the differences they explain.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kvmrr {

struct QemuCheckOptions {
    std::string qemu;  // the binary (qemu_binary() decides when empty)
    std::chrono::milliseconds timeout{10000};  // per reply
    size_t max_listed = 100;                   // differences listed in full
};

struct ReadDifference {
    uint64_t seq = 0;
    std::string device, reg, command, rule;
    unsigned size = 0;
    uint64_t kvmrr = 0, qemu = 0;
};

struct QemuCheckReport {
    std::string qemu_command;  // how QEMU was started
    bool clock_stepped = false;
    uint64_t disk_sectors_known = 0;  // the disk QEMU was given: sectors taken from the trace
    uint64_t busy_waits = 0;          // accesses held back until QEMU's device was idle
    uint64_t accesses_sent = 0, commands = 0, reads = 0;
    uint64_t compared = 0, agreed = 0, differing = 0, skipped = 0;
    std::map<std::string, uint64_t> exact_by_device;  // reads compared exactly, by device
    std::map<std::string, uint64_t> by_rule;          // masked or shape reads, by rule
    std::map<std::string, uint64_t> skipped_by_rule;
    std::map<std::string, uint64_t> left_out;         // accesses not sent, by reason
    std::vector<ReadDifference> differences;          // the first max_listed
    std::optional<std::string> damage;
    std::string format() const;
};

// Throws kvmrr::Error (QtestError) when QEMU cannot be run or fails.
QemuCheckReport qemu_check(const std::string& trace_path, const QemuCheckOptions& options);

}  // namespace kvmrr
