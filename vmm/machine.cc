#include "vmm/machine.h"

#include "devices/bank_switch.h"
#include "devices/cmos_rtc.h"
#include "devices/debug_exit.h"
#include "devices/dma_disk.h"
#include "devices/entropy.h"
#include "devices/framebuffer.h"
#include "devices/rom_shadow.h"
#include "devices/uart16550.h"
#include "vmm/pc_board.h"

namespace kvmrr {

namespace {

std::vector<std::string> windows_of(std::string_view device) {
    if (device == "bank-switch") return {"bank-switch", "bank-window"};
    if (device == "framebuffer") return {"framebuffer", "framebuffer-ctl"};
    return {std::string(device)};
}

}  // namespace

Machine::Machine(const MachineLayout& layout, HostInputs& inputs, std::function<void(uint8_t)> serial_out, DmaObserver dma)
    : Machine(MachineConfig{Board::Kvmrr, layout, {}, 0, std::nullopt, false, ClockMode::Host, std::move(serial_out), {},
                            std::move(dma), {}},
              inputs) {}

Machine::Machine(const MachineConfig& config, HostInputs& inputs)
    : board_(config.board), layout_(config.layout), mem_(build_machine(sys_, config.layout)) {
    if (board_ == Board::Pc) {
        pc_ = std::make_unique<PcBoard>(*this, config, inputs);
    } else {
        owned_.push_back(std::make_unique<Uart16550>(inputs, config.serial_out));
        owned_.push_back(std::make_unique<DebugExit>(*this));
        owned_.push_back(std::make_unique<CmosRtc>(inputs));
        owned_.push_back(std::make_unique<EntropyDevice>(inputs));
        owned_.push_back(std::make_unique<BankSwitch>());
        owned_.push_back(std::make_unique<RomShadow>());
        owned_.push_back(std::make_unique<Framebuffer>());
        auto disk = std::make_unique<DmaDisk>(inputs);
        disk->set_dma_observer(config.dma);
        owned_.push_back(std::move(disk));
    }
    // A device whose windows the layout lacks (a description file may drop
    // them) is left out; the others are attached in one transaction.
    Transaction t(sys_);
    if (pc_) pc_->attach(sys_, mem_);
    for (auto& d : owned_) {
        if (pc_) break;  // the pc board attached its own
        bool complete = true;
        for (const std::string& w : windows_of(d->name())) complete &= mem_.windows.count(w) != 0;
        if (!complete) continue;
        d->attach(sys_, mem_);
        devices_.push_back(d.get());
    }
    t.commit();
}

Machine::~Machine() = default;

void Machine::adopt(std::unique_ptr<Device> d) { owned_.push_back(std::move(d)); }

std::vector<Device*> Machine::owned_devices() const {
    std::vector<Device*> out;
    for (const auto& d : owned_) out.push_back(d.get());
    return out;
}

InterruptSource* Machine::interrupts() { return pc_.get(); }

Device* Machine::device(std::string_view name) const {
    for (Device* d : devices_)
        if (d->name() == name) return d;
    return nullptr;
}

void Machine::request_reset() { exit_.reset = true; }

void Machine::request_exit(int status) {
    exit_.requested = true;
    exit_.status = status;
}

}  // namespace kvmrr
