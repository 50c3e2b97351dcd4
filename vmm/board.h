// Board: which machine a session builds. `kvmrr` is kvmrr's own board (the
// default layout and its fixture devices, entered at a guest image's
// entry); `pc` is a PC compatible with QEMU's `pc` machine (i440FX, PIIX3)
// that boots unmodified firmware (SeaBIOS) from the reset vector.
//
// Also here: the pc board's layout (which device windows, where) and the
// checks a firmware file must pass before a machine is built from it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/machine_layout.h"
#include "devices/ide_channel.h"

namespace kvmrr {

enum class Board : uint8_t { Kvmrr, Pc };
const char* board_name(Board b);  // "kvmrr", "pc"
// Throws kvmrr::Error naming the text and the choices.
Board parse_board(std::string_view text);

// How the guest's clock runs: host time (each read recorded), or virtual
// time, a function of the exit count (kVirtualNsPerExit a exit, and a
// RDTSC on the emulator, which reads that time as a 1 GHz TSC), with a
// HLT jumping to the next timer: two recordings of the same guest are then
// the same trace.
enum class ClockMode : uint8_t { Host, Virtual };
const char* clock_mode_name(ClockMode m);  // "host", "virtual"
ClockMode parse_clock_mode(std::string_view text);
constexpr int64_t kVirtualNsPerExit = 1000;

constexpr uint64_t kPcDefaultRam = 256 * kMiB;
constexpr uint64_t kFirmwareMax = 16 * kMiB;
constexpr uint64_t kFirmwareUnit = 64 * kKiB;

// The pc board's layout: RAM from 0 (from 3.5 GiB of it, 3 GiB below 4 GiB
// and the rest from 4 GiB, as QEMU's pc splits it),
// the firmware ROM ending at 4 GiB (its low copy under 1 MiB is the board's
// business: PAM), and QEMU pc's device windows.
MachineLayout pc_layout(uint64_t ram_size, uint64_t firmware_size);
// Where its RAM below 4 GiB ends at most: QEMU's pc keeps 3 GiB below once
// it has 3.5 GiB or more, the rest from 4 GiB.
uint64_t pc_low_ram_limit(uint64_t ram_size);

// Reads a firmware image; throws kvmrr::Error (a usage error for the CLI)
// when it is missing, empty, not a multiple of 64 KiB or over 16 MiB.
std::vector<uint8_t> load_firmware(const std::string& path);

// The pc board's IDE disk: --disk's image, a whole number of 512-byte
// sectors (at least one, at most 2^48). Returns its size in sectors;
// throws kvmrr::Error naming the file otherwise.
constexpr uint64_t kDiskSector = IdeChannel::kSectorSize;
constexpr uint64_t kDiskMaxSectors = IdeChannel::kMaxSectors;
uint64_t pc_disk_sectors(const std::string& path);
// Its geometry and BIOS translation as QEMU's pc guesses them at start,
// from its size and the partition table in its first sector.
IdeGeometry pc_disk_geometry(const std::string& path, uint64_t sectors);

}  // namespace kvmrr
