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
#include <span>
#include <vector>

#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/device.h"
#include "devices/host_inputs.h"
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

class Machine final : public RunControl {
public:
    // What a device writes into guest memory by DMA (the recorder's tap).
    using DmaObserver = std::function<void(uint64_t gpa, std::span<const uint8_t> bytes)>;

    // `inputs` must outlive the machine; `serial_out` gets every byte the
    // guest transmits on the UART, `dma` every DMA write into guest memory.
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
    const GuestExitRequest& exit_request() const { return exit_; }

private:
    MachineLayout layout_;
    MemorySystem sys_;
    MachineMemory mem_;
    std::vector<std::unique_ptr<Device>> owned_;
    std::vector<Device*> devices_;
    GuestExitRequest exit_;
};

}  // namespace kvmrr
