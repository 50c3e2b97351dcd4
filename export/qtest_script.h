// QtestScript: a trace's device accesses as QEMU qtest commands.
//
// The trace is read in groups (replay/event_groups.h: an access and what
// followed it). Each access QEMU's pc machine can answer (qemu_pc_map.h)
// becomes one command per element: outb/outw/outl and inb/inw/inl for
// ports, writeb..writeq and readb..readq for memory; a string access
// (count > 1) one command per element, from its bulk data. What a device
// read from guest memory by DMA (dma-read events: fw_cfg's descriptors) is
// written into QEMU's RAM first (`write ADDR SIZE 0xDATA`), so QEMU's
// device finds the same descriptor. What the IDE bus master wrote into
// guest memory (dma-write events of a bus-master or IDE access) is read
// back from QEMU's RAM once QEMU's own transfer is over, and compared.
// With `step_clock`, a `clock_step`
// before an access moves QEMU's virtual clock to the access's recorded
// time (the group's first monotonic clock reading).
//
// The same steps feed `kvmrr export --qtest` (written as text, the
// recorded value of each read as a comment after the command: QEMU's qtest
// ignores words after a command's arguments) and `kvmrr qemu-check`
// (sent to QEMU, every read's answer compared).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "export/qemu_pc_map.h"
#include "record/trace_event.h"
#include "record/trace_text.h"
#include "replay/event_groups.h"

namespace kvmrr {

struct QtestStep {
    // Memory: what a device read by DMA, written into QEMU's RAM first;
    // DmaCheck: what the IDE bus master wrote into guest memory, read back
    // from QEMU's RAM (8 bytes at a time) and compared.
    enum class Kind { Access, Memory, Clock, DmaCheck };
    Kind kind = Kind::Access;
    std::string command;  // one qtest command, no newline
    uint64_t seq = 0;     // of the access (or the event) it comes from
    bool read = false;
    unsigned size = 0;
    uint64_t recorded = 0;  // a read's recorded value
    std::string device, reg;
    ReadRule rule;          // how a read is compared
    // A read to repeat first while it shows QEMU's device busy with work
    // QEMU does asynchronously (QemuPcMap::busy_probe); no command: none.
    QemuPcMap::BusyProbe busy;
    std::string comment() const;
};

class QtestScript {
public:
    QtestScript(const TraceHeader& header, bool step_clock);

    // The steps of one group (its first event an access, or the prologue
    // or the end), appended to `out`. `names` as far as the groups read.
    void add_group(std::span<const TraceEvent> group, const RegionNames& names, std::vector<QtestStep>& out);
    // Every group of `groups` to the end (or the damage), each step handed
    // to `each` in order.
    void add_trace(EventGroupReader& groups, const std::function<void(const QtestStep&)>& each);

    // Accesses left out, by reason; accesses and commands made.
    const std::map<std::string, uint64_t>& left_out() const { return left_out_; }
    uint64_t accesses_sent() const { return sent_; }
    uint64_t reads() const { return reads_; }
    const QemuPcMap& map() const { return map_; }

private:
    void access_steps(const AccessEvent& a, uint64_t seq, const std::string& device, std::vector<QtestStep>& out);
    void dma_check_steps(std::span<const TraceEvent> group, const std::string& device, std::vector<QtestStep>& out);

    QemuPcMap map_;
    bool step_clock_;
    uint64_t clock_ns_ = 0;  // where QEMU's clock stands after the steps so far
    std::map<std::string, uint64_t> left_out_;
    uint64_t sent_ = 0, reads_ = 0;
};

struct QtestExport {
    uint64_t accesses_sent = 0, commands = 0, reads = 0;
    std::map<std::string, uint64_t> left_out;
    std::optional<std::string> damage;
};

// `kvmrr export --qtest`: reads the trace twice (the header comment gives
// the counts) and writes the script to `out`.
QtestExport export_qtest(const std::string& path, std::ostream& out);

// The qtest command for one element of an access.
std::string qtest_command(bool io, bool write, unsigned size, uint64_t addr, uint64_t value);

}  // namespace kvmrr
