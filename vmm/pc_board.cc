#include "vmm/pc_board.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "core/memory_system.h"
#include "core/ram_block.h"
#include "devices/cmos_rtc.h"
#include "devices/debug_exit.h"
#include "devices/debugcon.h"
#include "devices/fw_cfg.h"
#include "devices/i440fx.h"
#include "devices/i8042.h"
#include "devices/i8254.h"
#include "devices/i8259.h"
#include "devices/io_apic.h"
#include "devices/local_apic.h"
#include "devices/pc_firmware_config.h"
#include "devices/pci_bus.h"
#include "devices/ide_channel.h"
#include "devices/piix3.h"
#include "devices/piix3_ide.h"
#include "devices/piix4_pm.h"
#include "devices/port92.h"
#include "devices/post_port.h"
#include "devices/uart16550.h"

namespace kvmrr {

namespace {

// The firmware's tail, up to 128 KiB of it, is also just below 1 MiB (QEMU's
// isa-bios: 0xe0000-0xfffff for SeaBIOS's 128 KiB, 0xf0000- for a 64 KiB ROM).
constexpr uint64_t kIsaBiosMax = 128 * kKiB;
constexpr uint64_t kIsaBiosEnd = 0x100000;
constexpr uint64_t kVgaBase = 0xa0000;  // the legacy window up to the isa-bios: nothing there

// The 8259 inputs of the board's timers: the PIT's channel 0 and PIIX4's
// SCI (IRQ 9, as on QEMU's pc).
constexpr unsigned kPitIrq = 0, kSciIrq = 9;

// QEMU's numbered fw_cfg keys that SeaBIOS reads (docs/specs/fw_cfg.rst).
constexpr uint16_t kCfgRamSize = 0x0003, kCfgNoGraphic = 0x0004, kCfgNbCpus = 0x0005, kCfgNuma = 0x000d,
                   kCfgBootMenu = 0x000e, kCfgMaxCpus = 0x000f, kCfgIrq0Override = 0x8002;

std::vector<uint8_t> le32(uint32_t v) { return {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)}; }

}  // namespace

template <class T>
T& PcBoard::own(std::unique_ptr<T> d) {
    T& ref = *d;
    machine_.adopt(std::move(d));
    return ref;
}

PcBoard::PcBoard(Machine& machine, const MachineConfig& config, HostInputs& inputs)
    : machine_(machine),
      inputs_(inputs),
      clock_(config.clock),
      ticks_between_exits_(config.ticks_between_exits && config.clock == ClockMode::Host),
      firmware_(config.firmware),
      seen_at_(std::chrono::steady_clock::now()) {
    if (firmware_.empty()) throw Error("the pc board needs a firmware image (--firmware FILE)");
    if (firmware_.size() != config.layout.rom_size)
        throw Error("firmware of " + std::to_string(firmware_.size()) + " bytes in a ROM of " +
                    std::to_string(config.layout.rom_size));
    if (firmware_.size() % kFirmwareUnit)
        throw Error("the pc board's firmware must be a multiple of 64 KiB");
    const PcRamSplit ram = pc_ram_split(config.layout.ram_size);

    pic_ = &own(std::make_unique<PicPair>());
    pit_ = &own(std::make_unique<Pit>(*this, IrqLine(*pic_, kPitIrq)));
    own(std::make_unique<I8042>(machine, IrqLine(*pic_, 1), IrqLine(*pic_, 12)));
    uart_ = &own(std::make_unique<Uart16550>(inputs, config.serial_out, IrqLine(*pic_, kUartIrq)));
    own(std::make_unique<CmosRtc>(inputs, pc_cmos_bytes(ram.below_4g, ram.above_4g, 1, "cad",
                                                                 config.disk_sectors ? config.disk_geometry : std::nullopt)));
    own(std::make_unique<DebugExit>(machine));
    own(std::make_unique<DebugCon>(config.debugcon_out));
    own(std::make_unique<PostPort>());
    own(std::make_unique<Port92>(machine));
    lapic_ = &own(std::make_unique<LocalApic>(*this));
    own(std::make_unique<IoApic>());

    FwCfg& cfg = own(std::make_unique<FwCfg>());
    cfg.set_dma_observer(config.dma);
    cfg.set_dma_read_observer(config.dma_read);
    cfg.add_u64(kCfgRamSize, config.layout.ram_size);
    cfg.add_u16(kCfgNoGraphic, 0);
    cfg.add_u16(kCfgNbCpus, 1);
    cfg.add_u16(kCfgMaxCpus, 1);
    cfg.add_u16(kCfgBootMenu, 0);  // without it SeaBIOS waits at its boot menu
    cfg.add_bytes(kCfgNuma, std::vector<uint8_t>(16, 0));
    cfg.add_u32(kCfgIrq0Override, 1);
    cfg.add_file("etc/e820", e820_table(pc_e820_entries(ram)));
    cfg.add_file("etc/boot-fail-wait", le32(0xffffffff));  // "No bootable device." and wait
    cfg.add_file("bootorder", {});
    cfg.add_file("bios-geometry", {});

    // The PCI side of the legacy area (QEMU's "pci" container): the
    // firmware's tail at 0xe0000, nothing below it (all ones, writes
    // dropped). PAM chooses between it and RAM.
    pci_host_ = &own(std::make_unique<PciHost>(machine));
    MemorySystem& sys = machine.memory_system();
    pci_ = &sys.create_container("pci", 4 * kGiB);
    i440fx_ = &own(std::make_unique<I440fx>(*pci_));
    Piix3& piix3 = own(std::make_unique<Piix3>());
    Piix4Pm& pm = own(std::make_unique<Piix4Pm>(*this, IrqLine(*pic_, kSciIrq), machine));
    pci_host_->add_function(*i440fx_);
    pci_host_->add_function(piix3);
    pci_host_->add_function(pm);
    // The IDE function and its channels, where the layout has them (a
    // trace recorded before the board had them replays without).
    const auto has = [&](const char* w) {
        for (const DeviceWindow& d : config.layout.devices)
            if (d.name == w) return true;
        return false;
    };
    if (has("ide0") && has("ide0-ctl") && has("ide1") && has("ide1-ctl")) {
        Piix3Ide& ide = own(std::make_unique<Piix3Ide>());
        pci_host_->add_function(ide);
        ide.set_dma_observers(config.dma, config.dma_read);
        ide.connect(0, own(std::make_unique<IdeChannel>(0, inputs, config.disk_sectors, IrqLine(*pic_, 14), config.disk_geometry)));
        ide.connect(1, own(std::make_unique<IdeChannel>(1, inputs, 0, IrqLine(*pic_, 15))));
    } else if (config.disk_sectors) {
        throw Error("this pc board has no IDE channels for its disk");
    }
    timers_ = {{pit_, kPitIrq}, {&pm, kSciIrq}};
}

PcBoard::~PcBoard() = default;

void PcBoard::attach(MemorySystem& sys, MachineMemory& m) {
    std::memcpy(m.rom->ram_block()->host() + m.rom->ram_offset(), firmware_.data(), firmware_.size());
    const uint64_t isa_bios_size = std::min<uint64_t>(firmware_.size(), kIsaBiosMax);
    const uint64_t isa_bios_base = kIsaBiosEnd - isa_bios_size;
    MemoryRegion& isa_bios = sys.create_alias("isa-bios", *m.rom, firmware_.size() - isa_bios_size, isa_bios_size);
    isa_bios.set_readonly(true);
    pci_->add_subregion_overlap(isa_bios_base, isa_bios, 1);
    pci_->add_subregion(kVgaBase, sys.create_reservation("pci-legacy", isa_bios_base - kVgaBase));
    for (Device* d : machine_.owned_devices()) {
        d->attach(sys, m);
        machine_.devices_.push_back(d);
    }
}

int64_t PcBoard::next_deadline() const {
    int64_t t = TimerDevice::kNever;
    for (const Timer& d : timers_) t = std::min(t, d.device->next_deadline_ns());
    return t;
}

int64_t PcBoard::next_waking_deadline() const {
    int64_t t = TimerDevice::kNever;
    if (!lapic_->passes_extint()) return t;
    for (const Timer& d : timers_)
        if (pic_->would_interrupt(d.irq)) t = std::min(t, d.device->next_deadline_ns());
    return t;
}

void PcBoard::run_due_timers() {
    const int64_t deadline = next_deadline();
    if (deadline == TimerDevice::kNever) return;
    const int64_t now = now_ns();
    seen_ns_ = now;
    seen_at_ = std::chrono::steady_clock::now();
    if (now < deadline) return;
    for (const Timer& d : timers_)
        if (d.device->next_deadline_ns() <= now) d.device->run_timers(now);
    // Host input reaches a guest that waits for it with interrupts at ticks.
    uart_->poll_host_input();
}

bool PcBoard::interrupt_pending() {
    run_due_timers();
    return lapic_->passes_extint() && pic_->interrupt_pending();
}

uint8_t PcBoard::acknowledge() { return static_cast<uint8_t>(pic_->acknowledge()); }

std::optional<std::chrono::nanoseconds> PcBoard::next_timer_in() {
    if (!ticks_between_exits_) return std::nullopt;
    const int64_t deadline = next_deadline();
    if (deadline == TimerDevice::kNever) return std::nullopt;
    const auto since = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - seen_at_);
    return std::chrono::nanoseconds(std::max<int64_t>(0, deadline - seen_ns_ - since.count()));
}

bool PcBoard::waits_for_serial_input() const {
    // Device replay asks at every step with nothing pending: the cheap
    // looks first, the timers' deadlines last.
    return uart_->awaits_input() && lapic_->passes_extint() && pic_->would_interrupt(kUartIrq) &&
           next_waking_deadline() == TimerDevice::kNever;
}

bool PcBoard::take_awaited_input() {
    if (!waits_for_serial_input() || !inputs_.wait_for_serial_in(std::chrono::steady_clock::now(), nullptr)) return false;
    uart_->poll_host_input();
    return true;
}

bool PcBoard::wait_for_interrupt(std::chrono::steady_clock::time_point give_up, const std::atomic<int>* stop) {
    // While the guest waits only a timer raises requests (every other
    // device acts at the guest's accesses, the UART's input at ticks too),
    // and only one whose request gets past the 8259s' masks and the
    // requests in service, and through the local APIC, wakes it: a masked
    // timer still runs, but a HLT does not end for it. The guest cannot
    // change a mask while it waits, so with no such timer it has halted for
    // good, unless the UART's receive interrupt would wake it: then it
    // waits for host input (on either clock: the input's moment is not
    // the guest's to see, only that the wait ended with it). Input taken,
    // the interrupt comes; input ended (or none given), it has halted; a
    // wait cut short by the time limit or a signal leaves the guest to go
    // on past the HLT, and the run loop to end the run at its next exit.
    const int64_t deadline = next_waking_deadline();
    if (deadline == TimerDevice::kNever) {
        if (!waits_for_serial_input()) return false;
        if (!inputs_.wait_for_serial_in(give_up, stop)) return true;
        uart_->poll_host_input();
        return pic_->interrupt_pending();
    }
    if (clock_ == ClockMode::Virtual) {
        // Jump: the time the guest would have slept passes in no time.
        jumped_ns_ += std::max<int64_t>(0, deadline - virtual_now_ns());
    } else {
        // The reading that sizes the wait runs what is due, as every other
        // reading of the board does: device replay steps the board once per
        // recorded reading, and must run the timers, and the UART's poll
        // at a tick (a recorded input), at the same readings.
        run_due_timers();
        const int64_t wait = deadline - seen_ns_;
        if (wait > 0) {
            const auto until = std::min(give_up, std::chrono::steady_clock::now() + std::chrono::nanoseconds(wait));
            std::this_thread::sleep_until(until);
        }
    }
    run_due_timers();
    return true;
}

}  // namespace kvmrr
