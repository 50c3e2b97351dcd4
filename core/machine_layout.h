// MachineLayout: where RAM, ROM and device windows sit in a kvmrr machine,
// and how that layout becomes a region tree.
//
// The layout is data, so that `kvmrr mtree` can show it, a machine
// description file can change it, and a trace header can record it. The
// default is a small PC-like machine: RAM from 0 up to at most 3.5 GiB (more
// RAM continues at 4 GiB), an MMIO hole from 3.5 GiB to 4 GiB with the
// device windows, a BIOS ROM ending at 4 GiB and shown again below 1 MiB,
// and the legacy I/O ports. Device windows start out as reservations;
// device models claim them by name (build_machine returns them).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/address_space.h"

namespace kvmrr {

class MemoryRegion;
class MemorySystem;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
// x86-64 MAXPHYADDR is at most 52 bits: the memory space is that large.
constexpr uint64_t kPhysAddrSpace = 1ull << 52;
constexpr uint64_t kIoSpace = 1ull << 16;
constexpr uint64_t kLowRamLimit = 3584 * kMiB;  // 0xe0000000: the MMIO hole starts here
constexpr uint64_t kHighRamStart = 4 * kGiB;
// RAM is one anonymous mapping of this size; beyond 16 TiB a typo (an
// extra digit) is likelier than a wish, and mmap would fail less clearly.
constexpr uint64_t kMaxRamSize = 16384 * kGiB;

struct DeviceWindow {
    std::string name;
    AddressSpace::Kind space = AddressSpace::Kind::Memory;
    uint64_t addr = 0;
    uint64_t size = 0;
    bool operator==(const DeviceWindow&) const = default;
};

// What is wrong with a layout: which part (so a description file can name
// the line that set it) and a message.
struct LayoutProblem {
    enum class What { Ram, Rom, Window } what;
    std::optional<std::string> window;  // the window's name, for What::Window
    std::string message;
};

struct MachineLayout {
    uint64_t ram_size = 256 * kMiB;
    uint64_t rom_size = 64 * kKiB;  // BIOS, ends at 4 GiB
    // RAM below 4 GiB ends here at most; the rest continues at 4 GiB. (QEMU's
    // pc keeps only 3 GiB below once it has 3.5 GiB or more.)
    uint64_t low_ram_limit = kLowRamLimit;
    bool rom_low_alias = true;      // also at 1 MiB - min(rom_size, 128 KiB)
    std::vector<DeviceWindow> devices;

    static MachineLayout default_layout();
    // Parses a machine description (see docs/ARCHITECTURE.md), one
    // directive a line, '#' comments:
    //   ram SIZE | rom SIZE | rom-low-alias on|off
    //   mmio NAME ADDR SIZE | pio NAME PORT SIZE | no-devices
    // Sizes take K/M/G/T suffixes; numbers may be 0x-prefixed. Starts from
    // the default layout. Throws kvmrr::Error naming `source` and the line.
    static MachineLayout parse(std::string_view text, const std::string& source);
    static MachineLayout load(const std::string& path);
    // Throws on a layout that cannot be built (RAM too large, windows out
    // of their space or overlapping RAM, the BIOS or each other, duplicate
    // names); problem() says the same without throwing.
    void validate() const;
    std::optional<LayoutProblem> problem() const;
    bool operator==(const MachineLayout&) const = default;
};

struct MachineMemory {
    MemoryRegion* system = nullptr;  // memory space root
    MemoryRegion* io = nullptr;      // I/O space root
    MemoryRegion* ram = nullptr;     // the RAM region (block 0)
    MemoryRegion* rom = nullptr;     // the BIOS ROM
    MemoryAddressSpace* memory = nullptr;
    IoAddressSpace* io_space = nullptr;
    std::map<std::string, MemoryRegion*> windows;  // reservation per device window
};

// Builds the layout's tree into `sys` in one transaction.
MachineMemory build_machine(MemorySystem& sys, const MachineLayout& layout);

}  // namespace kvmrr
