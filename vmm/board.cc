#include "vmm/board.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/regular_file.h"
#include "devices/pc_firmware_config.h"

namespace kvmrr {

const char* board_name(Board b) { return b == Board::Pc ? "pc" : "kvmrr"; }

Board parse_board(std::string_view text) {
    if (text == "kvmrr") return Board::Kvmrr;
    if (text == "pc") return Board::Pc;
    throw Error("unknown board '" + std::string(text) + "' (choose kvmrr or pc)");
}

const char* clock_mode_name(ClockMode m) { return m == ClockMode::Virtual ? "virtual" : "host"; }

ClockMode parse_clock_mode(std::string_view text) {
    if (text == "host") return ClockMode::Host;
    if (text == "virtual") return ClockMode::Virtual;
    throw Error("unknown clock '" + std::string(text) + "' (choose host or virtual)");
}

uint64_t pc_low_ram_limit(uint64_t ram_size) {
    const PcRamSplit split = pc_ram_split(ram_size);
    return split.above_4g ? split.below_4g : kLowRamLimit;
}

MachineLayout pc_layout(uint64_t ram_size, uint64_t firmware_size) {
    MachineLayout l;
    l.ram_size = ram_size;
    l.low_ram_limit = pc_low_ram_limit(ram_size);
    l.rom_size = firmware_size;
    l.rom_low_alias = false;  // the board maps it itself, under PAM control
    using K = AddressSpace::Kind;
    l.devices = {
        {"pic-master", K::Io, 0x20, 2},   {"pit", K::Io, 0x40, 4},          {"i8042-data", K::Io, 0x60, 1},
        {"apm", K::Io, 0xb2, 2},
        {"pit-port61", K::Io, 0x61, 1},   {"i8042-cmd", K::Io, 0x64, 1},    {"cmos-rtc", K::Io, 0x70, 2},
        {"post", K::Io, 0x80, 1},         {"port92", K::Io, 0x92, 1},       {"pic-slave", K::Io, 0xa0, 2},
        // kvmrr's own exit port, for fixture guests on this board; QEMU's pc
        // has nothing there and SeaBIOS does not touch it.
        {"debug-exit", K::Io, 0xf4, 1},   {"uart16550", K::Io, 0x3f8, 8},   {"debugcon", K::Io, 0x402, 1},
        {"elcr", K::Io, 0x4d0, 2},        {"fw-cfg", K::Io, 0x510, 2},      {"fw-cfg-dma", K::Io, 0x514, 8},
        {"pci-conf", K::Io, 0xcf8, 8},    {"ioapic", K::Memory, 0xfec00000, 0x1000},
        // The PIIX3 IDE function's two channels in legacy mode.
        {"ide0", K::Io, 0x1f0, 8},        {"ide0-ctl", K::Io, 0x3f6, 1},
        {"ide1", K::Io, 0x170, 8},        {"ide1-ctl", K::Io, 0x376, 1},
        {"lapic", K::Memory, 0xfee00000, 0x1000},
    };
    l.validate();
    return l;
}

std::vector<uint8_t> load_firmware(const std::string& path) {
    return read_regular_file(path, "firmware", [&](uint64_t size) {
        if (size > kFirmwareMax)
            throw Error("firmware '" + path + "' is " + std::to_string(size) + " bytes: at most 16 MiB");
        if (size % kFirmwareUnit)
            throw Error("firmware '" + path + "' is " + std::to_string(size) + " bytes: not a multiple of 64 KiB");
    });
}

uint64_t pc_disk_sectors(const std::string& path) {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) throw Error("cannot use disk image '" + path + "': " + ec.message());
    if (size == 0 || size % kDiskSector)
        throw Error("disk image '" + path + "' is " + std::to_string(size) +
                    " bytes: the pc board's IDE disk needs a whole number of 512-byte sectors, at least one");
    if (size / kDiskSector > kDiskMaxSectors)
        throw Error("disk image '" + path + "' is past what LBA48 addresses (2^48 sectors)");
    return size / kDiskSector;
}

IdeGeometry pc_disk_geometry(const std::string& path, uint64_t sectors) {
    std::vector<uint8_t> first(kDiskSector);
    std::ifstream f(path, std::ios::binary);
    if (!f.read(reinterpret_cast<char*>(first.data()), static_cast<std::streamsize>(first.size())))
        throw Error("cannot read the first sector of disk image '" + path + "'");
    return ide_geometry_guess(sectors, first);
}

}  // namespace kvmrr
