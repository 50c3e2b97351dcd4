#include "devices/pc_firmware_config.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace kvmrr {

namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;

void put_le(std::vector<uint8_t>& out, uint64_t v, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint8_t boot_nibble(char c) {
    switch (c) {
        case 'a': case 'b': return 0x01;
        case 'c': return 0x02;
        case 'd': return 0x03;
        case 'n': return 0x04;
        default: return 0;
    }
}

}  // namespace

std::vector<uint8_t> e820_table(const std::vector<E820Entry>& entries) {
    std::vector<uint8_t> out;
    out.reserve(entries.size() * 20);
    for (const E820Entry& e : entries) {
        put_le(out, e.addr, 8);
        put_le(out, e.size, 8);
        put_le(out, e.type, 4);
    }
    return out;
}

PcRamSplit pc_ram_split(uint64_t ram_size) {
    uint64_t lowmem = 0xe0000000;  // max-ram-below-4g's default
    if (ram_size >= lowmem) lowmem = std::min<uint64_t>(lowmem, 0xc0000000);  // gigabyte_align
    if (ram_size >= lowmem) return {lowmem, ram_size - lowmem};
    return {ram_size, 0};
}

std::vector<E820Entry> pc_e820_entries(const PcRamSplit& ram) {
    std::vector<E820Entry> e{{0, ram.below_4g, kE820Ram}};
    if (ram.above_4g) e.push_back({4 * kGiB, ram.above_4g, kE820Ram});
    return e;
}

std::vector<std::pair<uint8_t, uint8_t>> pc_cmos_bytes(uint64_t below, uint64_t above, unsigned cpus,
                                                       std::string_view boot_order,
                                                       std::optional<IdeGeometry> primary_master) {
    if (boot_order.size() > 3) throw Error("pc cmos: too many boot devices for PC: '" + std::string(boot_order) + "'");
    uint8_t bds[3] = {0, 0, 0};
    for (size_t i = 0; i < boot_order.size(); ++i) {
        bds[i] = boot_nibble(boot_order[i]);
        if (!bds[i]) throw Error("pc cmos: invalid boot device for PC: '" + std::string(1, boot_order[i]) + "'");
    }
    const uint64_t base = std::min<uint64_t>(below / kKiB, 640);
    const uint64_t ext = std::min<uint64_t>(below > 1 * kMiB ? (below - 1 * kMiB) / kKiB : 0, 65535);
    const uint64_t ext2 = std::min<uint64_t>(below > 16 * kMiB ? (below - 16 * kMiB) / (64 * kKiB) : 0, 65535);
    // QEMU keeps the count above 4 GiB in an int and stores its low 24 bits.
    const auto high = static_cast<uint32_t>(above / (64 * kKiB));
    const bool fd_bootchk = true;
    auto lo = [](uint64_t v) { return static_cast<uint8_t>(v); };
    auto hi = [](uint64_t v) { return static_cast<uint8_t>(v >> 8); };
    const IdeGeometry hd = primary_master.value_or(IdeGeometry{});
    const uint8_t hd_types = primary_master ? 0xf0 : 0x00;
    std::vector<std::pair<uint8_t, uint8_t>> drive;
    if (primary_master)
        drive = {{0x19, 47},
                 {0x1b, lo(hd.cylinders)},
                 {0x1c, hi(hd.cylinders)},
                 {0x1d, hd.heads},
                 {0x1e, 0xff},
                 {0x1f, 0xff},
                 {0x20, static_cast<uint8_t>(0xc0 | (hd.heads > 8 ? 0x08 : 0))},
                 {0x21, lo(hd.cylinders)},
                 {0x22, hi(hd.cylinders)},
                 {0x23, hd.secs}};
    std::vector<std::pair<uint8_t, uint8_t>> bytes = {
        {0x10, 0x00},
        {0x12, hd_types},
        {0x14, 0x02 | 0x04},
        {0x15, lo(base)},
        {0x16, hi(base)},
        {0x17, lo(ext)},
        {0x18, hi(ext)},
        {0x30, lo(ext)},
        {0x31, hi(ext)},
        {0x34, lo(ext2)},
        {0x35, hi(ext2)},
        // The IBM PS/2 century byte: QEMU's RTC stores the century there, in
        // BCD, when it starts; 0x20 for every date from 2000 to 2099, the
        // virtual clock's 2024 included.
        {0x37, 0x20},
        {0x38, static_cast<uint8_t>(bds[2] << 4 | (fd_bootchk ? 0 : 1))},
        {0x39, static_cast<uint8_t>(primary_master ? hd.translation & 3 : 0)},
        {0x3d, static_cast<uint8_t>(bds[1] << 4 | bds[0])},
        {0x5b, static_cast<uint8_t>(high)},
        {0x5c, static_cast<uint8_t>(high >> 8)},
        {0x5d, static_cast<uint8_t>(high >> 16)},
        {0x5f, static_cast<uint8_t>(cpus > 0xff || cpus == 0 ? 0 : cpus - 1)},
    };
    bytes.insert(bytes.end(), drive.begin(), drive.end());
    std::sort(bytes.begin(), bytes.end());  // index order
    return bytes;
}

}  // namespace kvmrr
