// Machine: the kvmrr board without its CPU — the memory topology of a
// MachineLayout with every default device attached, the host inputs they
// read, and the exit request the debug-exit device raises.
//
// A Machine is what both sides of record/replay share: a Session
// (session.h) puts a vCPU in front of it, or feeds it recorded accesses.
// Nothing in it is global, so tests build several side by side.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/device.h"
#include "devices/host_inputs.h"
#include "vmm/board.h"
#include "vmm/run_loop.h"

namespace kvmrr {

class BankSwitch;
class CmosRtc;
class DebugExit;
class DmaDisk;
class EntropyDevice;
class Framebuffer;
class RomShadow;
class Uart16550;

class PcBoard;
class InterruptSource;

// What a device writes into guest memory by DMA (the recorder's tap).
using DmaObserver = std::function<void(uint64_t gpa, std::span<const uint8_t> bytes)>;

struct MachineConfig {
    Board board = Board::Kvmrr;
    MachineLayout layout = MachineLayout::default_layout();  // pc: pc_layout()
    std::vector<uint8_t> firmware;                          // pc: the ROM image
    uint64_t disk_sectors = 0;                              // pc: the IDE disk's size in sectors (0: none)
    std::optional<IdeGeometry> disk_geometry;               // pc: its geometry (none: from the size, no CMOS entry)
    bool ticks_between_exits = false;                       // pc, host clock: InterruptSource::next_timer_in
    ClockMode clock = ClockMode::Host;
    std::function<void(uint8_t)> serial_out;                // every byte sent on the UART
    std::function<void(uint8_t)> debugcon_out;              // pc: every byte written to port 0x402
    DmaObserver dma;                                        // every DMA write into guest memory
    DmaObserver dma_read;                                   // every DMA read of guest memory
};

class Machine final : public RunControl {
public:
    using DmaObserver = kvmrr::DmaObserver;

    // `inputs` must outlive the machine. Throws kvmrr::Error when the
    // layout or the firmware does not fit the board.
    Machine(const MachineConfig& config, HostInputs& inputs);
    // kvmrr's own board.
    Machine(const MachineLayout& layout, HostInputs& inputs, std::function<void(uint8_t)> serial_out,
            DmaObserver dma = {});
    ~Machine() override;
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    MemorySystem& memory_system() { return sys_; }
    MachineMemory& memory() { return mem_; }
    MemoryAddressSpace& memory_space() { return *mem_.memory; }
    IoAddressSpace& io_space() { return *mem_.io_space; }
    const MachineLayout& layout() const { return layout_; }
    const std::vector<Device*>& devices() const { return devices_; }
    Device* device(std::string_view name) const;

    void request_exit(int status) override;
    void request_reset() override;
    // Ends the run after this exit with the reason "output matched".
    void request_output_stop() { exit_.output_matched = true; }
    const GuestExitRequest& exit_request() const { return exit_; }

    Board board() const { return board_; }
    // The pc board's interrupts and timers (null on kvmrr's board, which
    // has no interrupt controller).
    InterruptSource* interrupts();
    PcBoard* pc() { return pc_.get(); }

private:
    friend class PcBoard;
    void adopt(std::unique_ptr<Device> d);  // owned; the board attaches it
    std::vector<Device*> owned_devices() const;

    Board board_;
    MachineLayout layout_;
    MemorySystem sys_;
    MachineMemory mem_;
    std::vector<std::unique_ptr<Device>> owned_;
    std::vector<Device*> devices_;
    GuestExitRequest exit_;
    std::unique_ptr<PcBoard> pc_;
};

}  // namespace kvmrr
