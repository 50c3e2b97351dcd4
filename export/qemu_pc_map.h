// QemuPcMap: which of a trace's device accesses QEMU's `pc` machine can
// answer, and how each register read is compared (docs/QEMU_CHECK.md).
//
// An access is sent to QEMU when the device that answered it in kvmrr sits
// where QEMU's pc has the same device: a window of the trace's machine
// whose name and address match QEMU's (the pc board's 8259s, 8254, i8042,
// CMOS, UART, fw_cfg, PCI host, I/O APIC, ...; of kvmrr's own board only
// the UART at 0x3f8 and the CMOS at 0x70), or a PIIX4 PM or PIIX3 IDE
// bus-master register, which both place where the firmware's PCI
// configuration writes put them. RAM
// and ROM, unassigned ports, devices QEMU's pc lacks (kvmrr's debug-exit,
// its MMIO devices) and the local APIC (per CPU: qtest accesses come from
// no CPU) are left out, counted by reason.
//
// The map also follows the index and address latches (CMOS index, PCI
// CONFIG_ADDRESS, I/O APIC IOREGSEL, the UART's DLAB), so a read is named
// by the register it reads ("cmos[0x0a]", "pci 00:01.0 [0x0e]") and
// compared by that register's rule: exactly; with some bits masked off
// (bits that follow time or host input); by shape only (values of time or
// host input: in range, monotonic where they count up); or not at all (a
// deliberate difference of configuration, listed in docs/QEMU_CHECK.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "record/trace_event.h"

namespace kvmrr {

enum class CompareKind {
    Exact,   // every bit
    Masked,  // the bits in `mask`
    Shape,   // time or host input: the value's shape only (shape_ok())
    Skip,    // not compared, by a documented rule
};

enum class ShapeKind { Fits, Bcd, Monotonic24 };

struct ReadRule {
    CompareKind kind = CompareKind::Exact;
    uint64_t mask = ~uint64_t{0};
    ShapeKind shape = ShapeKind::Fits;
    uint64_t max = 0;   // ShapeKind::Bcd: the largest value of the register
    std::string why;    // for Masked, Shape and Skip: the rule's name in the report
};

class QemuPcMap {
public:
    explicit QemuPcMap(const TraceHeader& header);

    // nullopt when QEMU's pc has this access's device at the same place;
    // else why it is left out. `region_name` names the region that answered.
    std::optional<std::string> left_out(const AccessEvent& a, const std::string& region_name) const;
    // The device's name, for reports (the window's name, or the region's).
    std::string device(const AccessEvent& a, const std::string& region_name) const;

    // Follows a write that was sent, to keep the latches.
    void observe_write(const AccessEvent& a, const std::string& device, uint64_t value);
    // Follows every access that was sent (where the bus masters are).
    void observe_access(const AccessEvent& a, const std::string& device);
    // The register a read (of a sent access) reads, and its rule.
    std::string register_name(const AccessEvent& a, const std::string& device) const;
    ReadRule rule(const AccessEvent& a, const std::string& device) const;

    // Qtest reads that show whether QEMU's `device` is still busy with
    // work QEMU finishes asynchronously, to repeat before an access to it
    // while any of the probe's conditions holds (a condition holds when
    // each of its reads, masked with `mask`, is its `when`): an IDE
    // channel's alternate status with BSY (QEMU reads and writes sectors,
    // flushes and resets in the background; kvmrr's model is never busy),
    // and its bus master active while the drive still wants data (a DMA
    // transfer in flight). None for a device without such work.
    struct BusyRead {
        std::string command;
        uint64_t mask = 0, when = 0;
    };
    using BusyCondition = std::vector<BusyRead>;
    using BusyProbe = std::vector<BusyCondition>;
    BusyProbe busy_probe(const std::string& device) const;
    // The bus-master condition of channel 0 or 1 alone (where the guest
    // last reached its bus master), for what follows its DMA; none before
    // the guest reached it.
    BusyProbe bus_master_probe(unsigned channel) const;

    // The QEMU command line's machine part for this trace (-m, devices),
    // with `disk_image` (if any) as the primary master IDE disk.
    std::vector<std::string> qemu_machine_args(const std::string& disk_image = "") const;

private:
    const TraceHeader& header_;
    bool pc_board_ = false;
    bool has_ide_ = false;  // the trace's board has the PIIX3 IDE function
    uint8_t cmos_index_ = 0;
    uint32_t pci_address_ = 0;
    uint32_t ioapic_select_ = 0;
    uint8_t uart_lcr_ = 0;
    std::optional<uint64_t> bm_base_[2];  // where each bus master's block was last reached
};

// Whether `v` fits the shape (see ReadRule).
bool shape_ok(const ReadRule& r, uint64_t v, unsigned size, std::optional<uint64_t> previous);

}  // namespace kvmrr
