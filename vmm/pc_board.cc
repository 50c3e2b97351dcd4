#include "vmm/pc_board.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "core/memory_system.h"
#include "core/ram_block.h"
#include "devices/cmos_rtc.h"
#include "devices/debug_exit.h"
#include "devices/io_apic.h"
#include "devices/local_apic.h"
#include "devices/uart16550.h"

namespace kvmrr {

namespace {

constexpr uint64_t kIsaBiosSize = 128 * kKiB;  // the firmware's tail, also at 0xe0000-0xfffff
constexpr uint64_t kIsaBiosBase = 0x100000 - kIsaBiosSize;

}  // namespace

PcBoard::PcBoard(Machine& machine, const MachineConfig& config, HostInputs& inputs)
    : machine_(machine), inputs_(inputs), clock_(config.clock), firmware_(config.firmware) {
    if (firmware_.empty()) throw Error("the pc board needs a firmware image (--firmware FILE)");
    if (firmware_.size() != config.layout.rom_size)
        throw Error("firmware of " + std::to_string(firmware_.size()) + " bytes in a ROM of " +
                    std::to_string(config.layout.rom_size));
    if (firmware_.size() < kIsaBiosSize || firmware_.size() % (64 * kKiB))
        throw Error("the pc board's firmware must be a multiple of 64 KiB and at least 128 KiB");
    machine.adopt(std::make_unique<Uart16550>(inputs, config.serial_out));
    machine.adopt(std::make_unique<DebugExit>(machine));
    auto cmos = std::make_unique<CmosRtc>(inputs);
    cmos_ = cmos.get();
    machine.adopt(std::move(cmos));
    auto lapic = std::make_unique<LocalApic>(*this);
    lapic_ = lapic.get();
    machine.adopt(std::move(lapic));
    auto ioapic = std::make_unique<IoApic>();
    ioapic_ = ioapic.get();
    machine.adopt(std::move(ioapic));
}

PcBoard::~PcBoard() = default;

void PcBoard::attach(MemorySystem& sys, MachineMemory& m) {
    std::memcpy(m.rom->ram_block()->host() + m.rom->ram_offset(), firmware_.data(), firmware_.size());
    // The firmware's last 128 KiB below 1 MiB ("isa-bios" in QEMU), over RAM.
    m.system->add_subregion_overlap(
        kIsaBiosBase, sys.create_alias("isa-bios", *m.rom, firmware_.size() - kIsaBiosSize, kIsaBiosSize), 1);
    for (Device* d : machine_.owned_devices()) {
        d->attach(sys, m);
        machine_.devices_.push_back(d);
    }
}

void PcBoard::wire() {}

int64_t PcBoard::next_deadline() const {
    int64_t t = TimerDevice::kNever;
    for (const TimerDevice* d : timers_) t = std::min(t, d->next_deadline_ns());
    return t;
}

void PcBoard::run_due_timers() {
    if (next_deadline() == TimerDevice::kNever) return;
    const int64_t now = now_ns();
    for (TimerDevice* d : timers_)
        if (d->next_deadline_ns() <= now) d->run_timers(now);
}

bool PcBoard::interrupt_pending() {
    run_due_timers();
    return false;
}

uint8_t PcBoard::acknowledge() { return 0; }

bool PcBoard::wait_for_interrupt(std::chrono::steady_clock::time_point give_up) {
    const int64_t deadline = next_deadline();
    if (deadline == TimerDevice::kNever) return false;
    if (clock_ == ClockMode::Virtual) {
        // Jump: the time the guest would have slept passes in no time.
        jumped_ns_ += std::max<int64_t>(0, deadline - virtual_now_ns());
    } else {
        const int64_t wait = deadline - now_ns();
        if (wait > 0) {
            const auto until = std::min(give_up, std::chrono::steady_clock::now() + std::chrono::nanoseconds(wait));
            std::this_thread::sleep_until(until);
        }
    }
    run_due_timers();
    return true;
}

}  // namespace kvmrr
