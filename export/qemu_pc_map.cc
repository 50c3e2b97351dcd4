#include "export/qemu_pc_map.h"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>

#include "export/access_naming.h"

namespace kvmrr {

namespace {

struct QemuWindow {
    const char* name;  // kvmrr's window of the same device
    bool io;
    uint64_t addr, size;
    bool pc_board_only;  // kvmrr's own board has a device of that name elsewhere, or none
};

// What QEMU 7.2's `pc` machine (i440FX, PIIX3/4) has at fixed places, by
// the name of kvmrr's window for the same device.
constexpr std::array<QemuWindow, 21> kQemuPc = {{
    {"pic-master", true, 0x20, 2, true},     {"pit", true, 0x40, 4, true},
    {"i8042-data", true, 0x60, 1, true},     {"pit-port61", true, 0x61, 1, true},
    {"i8042-cmd", true, 0x64, 1, true},      {"cmos-rtc", true, 0x70, 2, false},
    {"post", true, 0x80, 1, true},           {"port92", true, 0x92, 1, true},
    {"pic-slave", true, 0xa0, 2, true},      {"apm", true, 0xb2, 2, true},
    {"uart16550", true, 0x3f8, 8, false},    {"debugcon", true, 0x402, 1, true},
    {"elcr", true, 0x4d0, 2, true},          {"fw-cfg", true, 0x510, 2, true},
    {"fw-cfg-dma", true, 0x514, 8, true},    {"pci-conf", true, 0xcf8, 8, true},
    {"ioapic", false, 0xfec00000, 0x1000, true},
    {"ide0", true, 0x1f0, 8, true},          {"ide0-ctl", true, 0x3f6, 1, true},
    {"ide1", true, 0x170, 8, true},          {"ide1-ctl", true, 0x376, 1, true},
}};

bool is_pm_region(const std::string& r) { return r == "acpi-evt" || r == "acpi-cnt" || r == "acpi-tmr"; }
// The PIIX3 IDE function's bus-master blocks (devices/piix3_ide.h), which
// both place where the firmware's BMIBA write puts them.
bool is_bmdma_region(const std::string& r) { return r == "bmdma0" || r == "bmdma1" || r == "bmdma0-prd" || r == "bmdma1-prd"; }
unsigned bmdma_channel(const std::string& r) { return r.size() > 5 && r[5] == '1' ? 1 : 0; }

std::string hex2(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%02" PRIx64, v);
    return b;
}

bool is_bcd(uint64_t v) { return (v & 0xf) <= 9 && ((v >> 4) & 0xf) <= 9; }

}  // namespace

QemuPcMap::QemuPcMap(const TraceHeader& header) : header_(header), pc_board_(header.board == "pc") {
    for (const DeviceRecord& d : header.devices) has_ide_ |= d.name == "piix3-ide";
}

std::string QemuPcMap::device(const AccessEvent& a, const std::string& region_name) const {
    return device_name(header_, a, region_name);
}

std::optional<std::string> QemuPcMap::left_out(const AccessEvent& a, const std::string& region_name) const {
    const bool qtest_size = a.size == 1 || a.size == 2 || a.size == 4 || (!a.io && a.size == 8);
    if (!qtest_size) return "sizes qtest has no command for";
    if (a.status == TraceAccessStatus::Invalid) return "accesses kvmrr's device refused";
    if (a.status == TraceAccessStatus::Unassigned || a.region == kNoRegion) {
        // The pc board leaves out some of QEMU's devices (the HPET, the DMA
        // controllers, ACPI hot-plug): QEMU is asked, and its answers are
        // skipped by rule. kvmrr's own board shares nothing else with QEMU's.
        if (pc_board_) return std::nullopt;
        return "unassigned ports and addresses";
    }
    if (is_pm_region(region_name) || is_bmdma_region(region_name))
        return pc_board_ ? std::nullopt : std::optional<std::string>("devices QEMU's pc lacks");
    const WindowRecord* w = window_at(header_, a);
    if (!w) return "RAM and ROM";
    if (w->name == "lapic") return "the local APIC (per CPU; qtest accesses come from no CPU)";
    for (const QemuWindow& q : kQemuPc) {
        if (w->name != q.name || w->io != q.io) continue;
        if (q.pc_board_only && !pc_board_) break;
        if (w->addr != q.addr || w->size > q.size) return "devices that QEMU's pc has at another address";
        return std::nullopt;
    }
    return "devices QEMU's pc lacks";
}

void QemuPcMap::observe_write(const AccessEvent& a, const std::string& device, uint64_t value) {
    if (device == "cmos-rtc" && a.addr == 0x70) cmos_index_ = static_cast<uint8_t>(value & 0x7f);
    if (device == "pci-conf" && a.addr == 0xcf8 && a.size == 4) pci_address_ = static_cast<uint32_t>(value);
    if (device == "ioapic" && a.addr == 0xfec00000) ioapic_select_ = static_cast<uint32_t>(value & 0xff);
    if (device == "uart16550" && a.addr == 0x3fb) uart_lcr_ = static_cast<uint8_t>(value);
}

void QemuPcMap::observe_access(const AccessEvent& a, const std::string& device) {
    if (device == "bmdma0" || device == "bmdma1") bm_base_[bmdma_channel(device)] = a.addr & ~uint64_t{3};
}

std::string QemuPcMap::register_name(const AccessEvent& a, const std::string& device) const {
    if (device == "cmos-rtc") return a.addr == 0x71 ? "cmos[" + hex2(cmos_index_) + "]" : "index";
    if (device == "pci-conf") {
        if (a.addr < 0xcfc) return "CONFIG_ADDRESS";
        if (!(pci_address_ >> 31)) return "CONFIG_DATA (disabled)";
        char b[64];
        std::snprintf(b, sizeof b, "%02x:%02x.%x [0x%02x]", (pci_address_ >> 16) & 0xff, (pci_address_ >> 11) & 0x1f,
                      (pci_address_ >> 8) & 7, static_cast<unsigned>((pci_address_ & 0xfc) + (a.addr - 0xcfc)));
        return b;
    }
    if (device == "ioapic") return a.addr == 0xfec00010 ? "ioapic[" + hex2(ioapic_select_) + "]" : "IOREGSEL";
    if (device == "uart16550") {
        static const char* const regs[] = {"RBR", "IER", "IIR", "LCR", "MCR", "LSR", "MSR", "SCR"};
        const uint64_t off = a.addr - 0x3f8;
        if ((uart_lcr_ & 0x80) && off < 2) return off ? "DLM" : "DLL";
        if (a.is_write && off == 0) return "THR";
        if (a.is_write && off == 2) return "FCR";
        return regs[off & 7];
    }
    if (device == "pit") return a.addr == 0x43 ? "control" : "counter " + std::to_string(a.addr - 0x40);
    if (is_pm_region(device)) return "+" + std::to_string(a.addr & 3);
    if (device == "bmdma0" || device == "bmdma1") {
        static const char* const regs[] = {"command", "+1", "status", "+3"};
        return regs[a.addr & 3];
    }
    if (device == "bmdma0-prd" || device == "bmdma1-prd") return "PRD table +" + std::to_string(a.addr & 3);
    return "port " + hex2(a.addr);
}

ReadRule QemuPcMap::rule(const AccessEvent& a, const std::string& device) const {
    ReadRule r;
    auto shape = [&](ShapeKind k, std::string why, uint64_t max = 0) {
        r.kind = CompareKind::Shape;
        r.shape = k;
        r.max = max;
        r.why = std::move(why);
        return r;
    };
    auto masked = [&](uint64_t mask, std::string why) {
        r.kind = CompareKind::Masked;
        r.mask = mask;
        r.why = std::move(why);
        return r;
    };
    if (device == "unassigned") {
        r.kind = CompareKind::Skip;
        r.why = "no device there on kvmrr's pc board (QEMU has the HPET, the 8237 DMA controllers, ACPI PCI hot-plug)";
        return r;
    }
    // 00:01.1, the PIIX3's IDE function: QEMU's pc always has it (it is
    // not a -device); traces of kvmrr's pc board from before it had one
    // read all ones there.
    if (!has_ide_ && device == "pci-conf" && a.addr >= 0xcfc && (pci_address_ >> 31) &&
        ((pci_address_ >> 8) & 0xffff) == 0x0009) {
        r.kind = CompareKind::Skip;
        r.why = "PCI function 00:01.1 (PIIX3 IDE): QEMU's pc always has it, this trace's pc board had no IDE";
        return r;
    }
    if (device == "pit" && a.addr != 0x43) return shape(ShapeKind::Fits, "PIT counters (time)");
    if (device == "pit-port61") return masked(~uint64_t{0x30}, "port 0x61 refresh and OUT2 bits (time)");
    if (device == "cmos-rtc" && a.addr == 0x71) {
        // The time and date registers, with their largest BCD value.
        switch (cmos_index_) {
        case 0x00: case 0x02: return shape(ShapeKind::Bcd, "RTC time and date (time)", 0x59);
        case 0x04: return shape(ShapeKind::Bcd, "RTC time and date (time)", 0x23);
        case 0x06: return shape(ShapeKind::Bcd, "RTC time and date (time)", 0x07);
        case 0x07: return shape(ShapeKind::Bcd, "RTC time and date (time)", 0x31);
        case 0x08: return shape(ShapeKind::Bcd, "RTC time and date (time)", 0x12);
        case 0x09: case 0x32: return shape(ShapeKind::Bcd, "RTC time and date (time)", 0x99);
        case 0x0a: return masked(0x7f, "RTC update-in-progress bit (time)");
        case 0x0c: return masked(0x0f, "RTC interrupt flags (time)");
        default: break;
        }
        // kvmrr's own board is not a PC: its CMOS RAM is not preset with the
        // memory sizes, boot order and century that QEMU's pc writes there.
        if (!pc_board_ && cmos_index_ >= 0x0e) {
            r.kind = CompareKind::Skip;
            r.why = "CMOS RAM of kvmrr's own board (QEMU's pc presets it as a PC's)";
            return r;
        }
    }
    if (device == "acpi-tmr") return shape(ShapeKind::Monotonic24, "ACPI PM timer (time)");
    if (device == "acpi-evt" && (a.addr & 3) == 0) return masked(~uint64_t{1}, "PM1 status TMR_STS bit (time)");
    if (device == "uart16550") {
        const uint64_t off = a.addr - 0x3f8;
        if (off == 0 && !(uart_lcr_ & 0x80)) return shape(ShapeKind::Fits, "UART receive buffer (host input)");
        if (off == 5) return masked(~uint64_t{1}, "UART data-ready bit (host input)");
    }
    return r;
}

QemuPcMap::BusyProbe QemuPcMap::busy_probe(const std::string& device) const {
    BusyProbe p;
    if (device == "bmdma0" || device == "bmdma1") return bus_master_probe(bmdma_channel(device));
    const bool ide0 = device == "ide0" || device == "ide0-ctl", ide1 = device == "ide1" || device == "ide1-ctl";
    if (!ide0 && !ide1) return p;
    p.push_back({{ide1 ? "inb 0x376" : "inb 0x3f6", 0x80, 0x80}});
    BusyProbe bm = bus_master_probe(ide1 ? 1 : 0);
    p.insert(p.end(), bm.begin(), bm.end());
    return p;
}

QemuPcMap::BusyProbe QemuPcMap::bus_master_probe(unsigned channel) const {
    const std::optional<uint64_t>& base = bm_base_[channel & 1];
    if (!base) return {};
    char b[32];
    std::snprintf(b, sizeof b, "inb 0x%" PRIx64, *base + 2);
    return {{{b, 0x01, 0x01}, {channel & 1 ? "inb 0x376" : "inb 0x3f6", 0x08, 0x08}}};
}

std::vector<std::string> QemuPcMap::qemu_machine_args(const std::string& disk_image) const {
    // smm=off: kvmrr's boards have no SMM, and QEMU's PIIX4 then marks SMM
    // as set up already (config 0x5b = 0x02), as kvmrr's does.
    std::vector<std::string> a = {"-M", "pc,smm=off", "-display", "none", "-nodefaults", "-m",
                                  std::to_string(std::max<uint64_t>(header_.ram_size >> 20, 1)) + "M", "-smp", "1",
                                  // QEMU's COM1 at 0x3f8, with nothing behind it.
                                  "-serial", "null"};
    if (pc_board_) {
        for (const char* x : {"-chardev", "null,id=kvmrr-debugcon", "-device", "isa-debugcon,iobase=0x402,chardev=kvmrr-debugcon"})
            a.push_back(x);
    }
    // The pc board's disk is the primary master, as QEMU's first IDE drive
    // (a comma in the path is doubled, as QEMU's option syntax wants).
    if (!disk_image.empty()) {
        std::string path;
        for (char ch : disk_image) path += ch == ',' ? std::string(",,") : std::string(1, ch);
        for (const std::string& x : {std::string("-drive"), "file=" + path + ",format=raw,if=ide,index=0"}) a.push_back(x);
    }
    return a;
}

bool shape_ok(const ReadRule& r, uint64_t v, unsigned size, std::optional<uint64_t> previous) {
    if (size < 8 && (v >> (8 * size))) return false;
    switch (r.shape) {
    case ShapeKind::Fits:
        return true;
    case ShapeKind::Bcd:
        // Binary mode (register B bit 2) is not followed: a value that is
        // not BCD must at least not exceed the binary maximum.
        return is_bcd(v) ? v <= r.max : v <= ((r.max >> 4) * 10 + (r.max & 0xf));
    case ShapeKind::Monotonic24:
        if (v >= (1u << 24)) return false;
        // Counting up, wrapping at 2^24: a step back is a wrap only from the upper half.
        return !previous || v >= *previous || *previous >= (1u << 23);
    }
    return false;
}

}  // namespace kvmrr
