// PcBoard: the parts of a Machine that make it a PC compatible with QEMU's
// `pc` machine (i440FX + PIIX3), so that firmware built for it (Debian's
// SeaBIOS) runs unchanged: the firmware in ROM at the top of 4 GiB and its
// last 128 KiB under 1 MiB, the PC's devices at their ports, and the
// interrupt path — the timers, the 8259 pair, the local APIC in
// virtual-wire mode — which the run loop asks at every exit boundary
// (InterruptSource). It is also the devices' GuestClock: host time or the
// virtual clock, each read a recorded input.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "devices/guest_clock.h"
#include "core/vcpu/vcpu.h"
#include "devices/host_inputs.h"
#include "vmm/machine.h"
#include "vmm/run_loop.h"

namespace kvmrr {

class I440fx;
class LocalApic;
class MemoryRegion;
class PciHost;
class PicPair;
class Pit;
class Uart16550;

class PcBoard final : public InterruptSource, public GuestClock, public TscSource {
public:
    // Creates the pc devices (the machine owns them). Throws kvmrr::Error
    // when the firmware does not fit the layout's ROM.
    PcBoard(Machine& machine, const MachineConfig& config, HostInputs& inputs);
    ~PcBoard() override;

    // Fills the ROM, maps its low copy and attaches every device; inside
    // the machine's first transaction.
    void attach(MemorySystem& sys, MachineMemory& m);

    // GuestClock: the guest's monotonic time, through the host inputs (so
    // that it is recorded, and served back by replay).
    int64_t now_ns() override { return inputs_.monotonic_ns(); }
    // The virtual clock: the exits and RDTSCs so far at kVirtualNsPerExit
    // each, plus the time HLTs jumped over.
    int64_t virtual_now_ns() const {
        return static_cast<int64_t>(exits_ + tsc_reads_) * kVirtualNsPerExit + jumped_ns_;
    }
    // TscSource (the virtual clock on the emulator): a 1 GHz TSC, the
    // virtual clock's nanoseconds. Each read moves time on, as an exit
    // does, so that a guest spinning on RDTSC sees time pass.
    uint64_t read_tsc() override {
        ++tsc_reads_;
        return static_cast<uint64_t>(virtual_now_ns());
    }

    // InterruptSource
    bool interrupt_pending() override;
    uint8_t acknowledge() override;
    bool wait_for_interrupt(std::chrono::steady_clock::time_point give_up,
                            const std::atomic<int>* stop = nullptr) override;
    bool take_awaited_input() override;
    void count_exit() override { ++exits_; }
    // With --ticks-between-exits (host clock only), the estimated time to
    // the next timer deadline; else nothing (every delivery at an exit).
    std::optional<std::chrono::nanoseconds> next_timer_in() override;

private:
    static constexpr unsigned kUartIrq = 4;  // COM1's 8259 input

    template <class T>
    T& own(std::unique_ptr<T> d);  // the machine owns it; the board keeps a reference
    int64_t next_deadline() const;
    // The first deadline of a timer whose request would reach the CPU now.
    int64_t next_waking_deadline() const;
    // No timer can wake the guest, but the UART's receive interrupt would.
    bool waits_for_serial_input() const;
    void run_due_timers();

    Machine& machine_;
    HostInputs& inputs_;
    ClockMode clock_;
    bool ticks_between_exits_;
    std::vector<uint8_t> firmware_;
    struct Timer {
        TimerDevice* device;
        unsigned irq;  // the 8259 input it raises
    };
    std::vector<Timer> timers_;
    PicPair* pic_ = nullptr;
    Pit* pit_ = nullptr;
    LocalApic* lapic_ = nullptr;
    Uart16550* uart_ = nullptr;
    PciHost* pci_host_ = nullptr;
    I440fx* i440fx_ = nullptr;
    MemoryRegion* pci_ = nullptr;  // the PCI side of the legacy area
    uint64_t exits_ = 0;
    uint64_t tsc_reads_ = 0;
    int64_t jumped_ns_ = 0;
    // The last guest time the timers saw, and when (host steady clock): to
    // estimate the next deadline's distance without a recorded reading.
    int64_t seen_ns_ = 0;
    // The guest's time 0 is about when the board is made (the host inputs'
    // clock starts then), which is close enough for a kick: it only brings
    // the next reading of the clock forward.
    std::chrono::steady_clock::time_point seen_at_;
};

}  // namespace kvmrr
