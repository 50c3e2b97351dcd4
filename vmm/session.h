// Session: the one place that assembles a machine — the board (Machine)
// with its devices, the VM and its memslots, and a vCPU on the chosen
// accelerator — for `kvmrr run`, `kvmrr record`, device replay and guest
// replay alike.
//
// What differs between them is handed in, not wired beside: the host
// inputs the devices read (the host's own, the recorder wrapping them, or
// a trace serving them), an observer of exits and DMA (the recorder), the
// accelerator (Accel::None for device replay: no vCPU, and a VM that only
// keeps the slot table) and, for guest replay, an exit handler in the run
// options. It keeps the VM's memslots equal to the machine's memory
// FlatView, loads a guest image, sets up the vCPU for the image's mode, and
// runs the run loop. Nothing in it is global: tests build several side by
// side.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/guest_image.h"
#include "core/machine_layout.h"
#include "core/vcpu/dirty_log.h"
#include "core/vcpu/memslot_listener.h"
#include "core/vcpu/vcpu.h"
#include "core/vcpu/vm_backend.h"
#include "devices/host_inputs.h"
#include "vmm/accel.h"
#include "vmm/machine.h"
#include "vmm/run_loop.h"

namespace kvmrr {

class KvmSystem;

struct SessionConfig {
    Board board = Board::Kvmrr;
    MachineLayout layout = MachineLayout::default_layout();  // pc: pc_layout()
    std::vector<uint8_t> firmware;                          // pc: the ROM image
    uint64_t disk_sectors = 0;                              // pc: the IDE disk's size (0: none)
    std::optional<IdeGeometry> disk_geometry;               // pc: its geometry (pc_disk_geometry)
    bool ticks_between_exits = false;                       // pc, host clock: timers stop a guest between exits
    ClockMode clock = ClockMode::Host;
    // The guest's CPUID without the time-stamp counter and the random
    // number instructions (core/vcpu/hidden_cpuid.h), on either accelerator.
    bool deterministic_cpu = false;
    std::function<void(uint8_t)> serial_out;  // every byte the guest sends on the UART
    std::function<void(uint8_t)> debugcon_out;  // pc: every byte written to the debug console
    // The run ends (reason "output matched") once this text has appeared
    // on the serial port or the debug console; "" never.
    std::string stop_at_output;
    Accel accel = Accel::Auto;
    // How dirty pages are harvested (KVM only offers the ring).
    DirtyLogMode dirty_mode = DirtyLogMode::Bitmap;
    uint32_t dirty_ring_entries = kDefaultDirtyRingEntries;
    // Accel::None: how many slots the replayed VM had (0: KVM's usual 509).
    uint32_t max_memslots = 0;
    DirtySink dirty_sink;  // harvested bitmaps; an observer may set its own
};

// Sees a session's exits (ExitObserver) and what its devices write into
// guest memory behind the vCPU's back.
class SessionObserver : public ExitObserver {
public:
    virtual void dma_write(uint64_t gpa, std::span<const uint8_t> bytes) = 0;
    virtual void dma_read(uint64_t /*gpa*/, std::span<const uint8_t> /*bytes*/) {}
};

struct RunOptions {
    RunLimits limits;
    ExitPolicy policy;
    bool global_dirty_log = false;
    ExitHandlerFn handler;  // instead of dispatching to the devices (guest replay)
};

class Session {
public:
    // `inputs` (and `observer`, if any) must outlive the session. Throws
    // kvmrr::Error when the accelerator cannot be used (Kvm without
    // /dev/kvm), or the dirty ring is asked of the emulator or of a KVM
    // without one.
    Session(const SessionConfig& config, HostInputs& inputs, SessionObserver* observer = nullptr);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    Machine& machine() { return *machine_; }
    const Machine& machine() const { return *machine_; }
    MemslotListener& memslots() { return *slots_; }
    VmBackend& vm() { return *vm_; }
    bool has_vcpu() const { return vcpu_ != nullptr; }
    Vcpu& vcpu();  // throws kvmrr::Error under Accel::None
    Accel accel() const { return accel_; }  // Kvm, Emu or None, never Auto
    // The KVM system when running on KVM, else null (capability queries).
    KvmSystem* kvm() { return kvm_.get(); }
    // Why Auto did not take KVM ("" when it did, or was not asked to choose).
    const std::string& fallback_reason() const { return fallback_reason_; }

    // Writes the image into guest memory and, with a vCPU, sets it up to
    // start it (`args` in rdi, rsi, rdx, rcx).
    void load(const GuestImage& image, const std::vector<uint64_t>& args = {});
    // The architectural reset state (CS 0xf000 with base 0xffff0000, IP
    // 0xfff0, real mode): how the pc board starts its firmware.
    void reset_cpu();
    // Runs the vCPU until something ends the run; the observer sees every exit.
    RunResult run(const RunOptions& opts);

private:
    SessionObserver* observer_;
    Accel accel_;
    std::string fallback_reason_;
    std::unique_ptr<Machine> machine_;
    std::unique_ptr<KvmSystem> kvm_;
    std::unique_ptr<VmBackend> vm_;
    std::unique_ptr<MemslotListener> slots_;
    std::unique_ptr<Vcpu> vcpu_;
};

}  // namespace kvmrr
