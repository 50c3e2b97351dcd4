#include "core/machine_layout.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

MachineLayout MachineLayout::default_layout() {
    using K = AddressSpace::Kind;
    MachineLayout l;
    // Device windows of the default machine. Addresses are part of the
    // guest ABI (fixture guests hard-code them), so they never move.
    l.devices = {
        {"uart16550", K::Io, 0x3f8, 8},         // COM1
        {"cmos-rtc", K::Io, 0x70, 2},           // index/data pair
        {"debug-exit", K::Io, 0xf4, 1},         // one byte: the run's exit status
        {"bank-window", K::Memory, 0xe0000000, 64 * kKiB},
        {"framebuffer", K::Memory, 0xe1000000, 1 * kMiB},
        {"entropy", K::Memory, 0xfeb00000, 0x1000},
        {"bank-switch", K::Memory, 0xfeb01000, 0x1000},
        {"framebuffer-ctl", K::Memory, 0xfeb02000, 0x1000},
        {"dma-disk", K::Memory, 0xfeb03000, 0x1000},
        {"rom-shadow", K::Memory, 0xfeb04000, 0x1000},
    };
    return l;
}

namespace {

uint64_t parse_number(std::string_view word, const std::string& where, bool allow_suffix) {
    const std::string_view original = word;
    uint64_t mult = 1;
    if (allow_suffix && !word.empty()) {
        switch (word.back()) {
            case 'K': case 'k': mult = kKiB; break;
            case 'M': case 'm': mult = kMiB; break;
            case 'G': case 'g': mult = kGiB; break;
            case 'T': case 't': mult = 1024 * kGiB; break;
            default: break;
        }
        if (mult != 1) word.remove_suffix(1);
    }
    int base = 10;
    if (word.size() > 2 && word[0] == '0' && (word[1] == 'x' || word[1] == 'X')) {
        word.remove_prefix(2);
        base = 16;
    }
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(word.data(), word.data() + word.size(), v, base);
    // from_chars takes no sign for an unsigned type, so "-1" is refused
    // here rather than wrapping.
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && v > UINT64_MAX / mult))
        throw Error(where + ": '" + std::string(original) + "' is too large (at most 2^64 - 1)");
    if (ec != std::errc() || p != word.data() + word.size() || word.empty())
        throw Error(where + ": '" + std::string(original) + "' is not a number (digits, 0x hex" +
                    (allow_suffix ? ", or a size with K, M, G or T)" : ")"));
    return v * mult;
}

}  // namespace

MachineLayout MachineLayout::parse(std::string_view text, const std::string& source) {
    MachineLayout l = default_layout();
    std::map<std::string, std::string> window_line;  // window name -> "source:line" that set it
    std::string ram_line = source, rom_line = source;
    std::istringstream in{std::string(text)};
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        const std::string where = source + ":" + std::to_string(lineno);
        if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string x; words >> x;) w.push_back(x);
        if (w.empty()) continue;
        auto want = [&](size_t n) {
            if (w.size() != n)
                throw Error(where + ": '" + w[0] + "' takes " + std::to_string(n - 1) + " argument(s), got " +
                            std::to_string(w.size() - 1));
        };
        if (w[0] == "ram") {
            want(2);
            l.ram_size = parse_number(w[1], where, true);
            ram_line = where;
        } else if (w[0] == "rom") {
            want(2);
            l.rom_size = parse_number(w[1], where, true);
            rom_line = where;
        } else if (w[0] == "rom-low-alias") {
            want(2);
            if (w[1] != "on" && w[1] != "off") throw Error(where + ": rom-low-alias takes on or off");
            l.rom_low_alias = w[1] == "on";
        } else if (w[0] == "no-devices") {
            want(1);
            l.devices.clear();
        } else if (w[0] == "mmio" || w[0] == "pio") {
            want(4);
            DeviceWindow d{w[1], w[0] == "mmio" ? AddressSpace::Kind::Memory : AddressSpace::Kind::Io,
                           parse_number(w[2], where, false), parse_number(w[3], where, true)};
            // A window of the same name replaces the default one.
            std::erase_if(l.devices, [&](const DeviceWindow& o) { return o.name == d.name; });
            l.devices.push_back(d);
            window_line[d.name] = where;
        } else {
            throw Error(where + ": unknown directive '" + w[0] + "' (expected ram, rom, rom-low-alias, mmio, pio or no-devices)");
        }
    }
    if (auto p = l.problem()) {
        // Name the line that set what is wrong: a window's own line, or
        // the ram/rom line a window now collides with.
        std::string where = source;
        if (p->window) {
            auto it = window_line.find(*p->window);
            where = it != window_line.end() ? it->second : source + " (a default window)";
        } else if (p->what == LayoutProblem::What::Ram) {
            where = ram_line;
        } else if (p->what == LayoutProblem::What::Rom) {
            where = rom_line;
        }
        throw Error(where + ": " + p->message);
    }
    return l;
}

MachineLayout MachineLayout::load(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw Error("cannot open machine description '" + path + "'");
    // Read to a bound: the path may name a device or pipe with no end
    // (/dev/zero), and no description comes near this size.
    constexpr size_t kMaxDescription = 1 << 20;
    std::string text(kMaxDescription + 1, '\0');
    f.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(f.gcount()));
    if (f.bad()) throw Error("cannot read machine description '" + path + "'");
    if (text.size() > kMaxDescription) throw Error("machine description '" + path + "' is larger than 1 MiB");
    return parse(text, path);
}

std::optional<LayoutProblem> MachineLayout::problem() const {
    using W = LayoutProblem::What;
    auto bad = [](W what, std::string msg, std::optional<std::string> window = std::nullopt) {
        return LayoutProblem{what, std::move(window), std::move(msg)};
    };
    if (ram_size == 0) return bad(W::Ram, "RAM size must not be zero");
    if (ram_size % 4096) return bad(W::Ram, "RAM size " + hex(ram_size) + " is not a multiple of 4 KiB");
    if (ram_size > kMaxRamSize)
        return bad(W::Ram, "RAM size " + hex(ram_size) + " is more than kvmrr's limit of " + hex(kMaxRamSize) + " (16 TiB)");
    if (low_ram_limit == 0 || low_ram_limit % 4096 || low_ram_limit > kLowRamLimit)
        return bad(W::Ram, "RAM below 4 GiB may end at " + hex(low_ram_limit) + ": not a non-zero multiple of 4 KiB up to " +
                               hex(kLowRamLimit));
    if (rom_size == 0 || rom_size % 4096 || rom_size > 16 * kMiB)
        return bad(W::Rom, "ROM size " + hex(rom_size) + " must be a non-zero multiple of 4 KiB, at most 16 MiB");
    // What the board itself puts in the memory space; device windows may
    // not overlap it or each other (only the low BIOS alias is allowed to
    // overlap, and it is placed that way on purpose).
    struct Fixed {
        const char* name;
        uint64_t start, size;
        W what;
    };
    std::vector<Fixed> fixed{{"ram-below-4g", 0, std::min(ram_size, low_ram_limit), W::Ram}};
    if (ram_size > low_ram_limit) fixed.push_back({"ram-above-4g", kHighRamStart, ram_size - low_ram_limit, W::Ram});
    fixed.push_back({"bios", kHighRamStart - rom_size, rom_size, W::Rom});
    auto overlaps = [](uint64_t a, uint64_t as, uint64_t b, uint64_t bs) { return a < b + bs && b < a + as; };
    std::set<std::string> names;
    for (size_t i = 0; i < devices.size(); ++i) {
        const DeviceWindow& d = devices[i];
        const bool io = d.space == AddressSpace::Kind::Io;
        if (d.name.empty()) return bad(W::Window, "a device window needs a name", d.name);
        if (!names.insert(d.name).second) return bad(W::Window, "device window '" + d.name + "' is listed twice", d.name);
        const uint64_t limit = io ? kIoSpace : kPhysAddrSpace;
        if (d.size == 0 || d.addr >= limit || d.size > limit - d.addr)
            return bad(W::Window, "device window '" + d.name + "' at " + hex(d.addr) + " size " + hex(d.size) +
                                      " lies outside its " + (io ? "I/O" : "memory") + " space",
                       d.name);
        if (!io)
            for (const Fixed& f : fixed)
                if (overlaps(d.addr, d.size, f.start, f.size))
                    return bad(W::Window, "device window '" + d.name + "' at " + hex(d.addr) + " size " + hex(d.size) +
                                              " overlaps " + f.name + " at " + hex(f.start) + " size " + hex(f.size),
                               d.name);
        for (size_t j = 0; j < i; ++j) {
            const DeviceWindow& o = devices[j];
            if (o.space == d.space && overlaps(d.addr, d.size, o.addr, o.size))
                return bad(W::Window, "device window '" + d.name + "' at " + hex(d.addr) + " size " + hex(d.size) +
                                          " overlaps device window '" + o.name + "' at " + hex(o.addr) + " size " +
                                          hex(o.size),
                           d.name);
        }
    }
    return std::nullopt;
}

void MachineLayout::validate() const {
    if (auto p = problem()) throw Error(p->message);
}

MachineMemory build_machine(MemorySystem& sys, const MachineLayout& layout) {
    layout.validate();
    MachineMemory m;
    {
        Transaction t(sys);
        m.system = &sys.create_container("system", kPhysAddrSpace);
        m.io = &sys.create_container("io", kIoSpace);
        m.ram = &sys.create_ram("ram", layout.ram_size);
        const uint64_t below = std::min(layout.ram_size, layout.low_ram_limit);
        m.system->add_subregion(0, sys.create_alias("ram-below-4g", *m.ram, 0, below));
        if (layout.ram_size > below)
            m.system->add_subregion(kHighRamStart,
                                    sys.create_alias("ram-above-4g", *m.ram, below, layout.ram_size - below));
        m.rom = &sys.create_rom("bios", layout.rom_size);
        m.system->add_subregion(kHighRamStart - layout.rom_size, *m.rom);
        if (layout.rom_low_alias) {
            // The last 128 KiB (at most) of the BIOS also answer below 1 MiB,
            // over RAM, where a real-mode reset vector expects them.
            const uint64_t n = std::min(layout.rom_size, 128 * kKiB);
            m.system->add_subregion_overlap(1 * kMiB - n, sys.create_alias("bios-low", *m.rom, layout.rom_size - n, n), 1);
        }
        for (const DeviceWindow& d : layout.devices) {
            MemoryRegion& r = sys.create_reservation(d.name, d.size);
            (d.space == AddressSpace::Kind::Io ? m.io : m.system)->add_subregion(d.addr, r);
            m.windows[d.name] = &r;
        }
        t.commit();
    }
    m.memory = &sys.create_memory_space("memory", *m.system);
    m.io_space = &sys.create_io_space("io", *m.io);
    return m;
}

}  // namespace kvmrr
