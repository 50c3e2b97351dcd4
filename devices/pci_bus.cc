#include "devices/pci_bus.h"

#include <xxhash.h>

#include <string>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {

namespace {

constexpr uint32_t kEnable = 1u << 31;
// Status bits a guest clears by writing one (parity, aborts, SERR).
constexpr uint16_t kStatusW1c = 0xf900;
// Command bits QEMU lets the guest change: I/O, memory, bus master, SERR,
// INTx disable.
constexpr uint16_t kCommandWritable = 0x0507;

uint64_t ones(unsigned size) { return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1; }

}  // namespace

PciFunction::PciFunction(uint8_t devfn, const PciIdentity& id) : devfn_(devfn) {
    set_cfg16(pci::kVendorId, id.vendor);
    set_cfg16(pci::kDeviceId, id.device);
    config_[pci::kRevision] = id.revision;
    config_[pci::kProgIf] = id.prog_if;
    set_cfg16(pci::kClass, id.class_code);
    config_[pci::kHeaderType] = id.header_type;
    set_cfg16(pci::kSubsystemVendor, id.subsystem_vendor);
    set_cfg16(pci::kSubsystemId, id.subsystem_id);
    wmask_[pci::kCommand] = kCommandWritable & 0xff;
    wmask_[pci::kCommand + 1] = kCommandWritable >> 8;
    wmask_[pci::kCacheLineSize] = 0xff;
    wmask_[pci::kInterruptLine] = 0xff;
    for (unsigned i = 0x40; i < 256; ++i) wmask_[i] = 0xff;
    w1cmask_[pci::kStatus] = kStatusW1c & 0xff;
    w1cmask_[pci::kStatus + 1] = kStatusW1c >> 8;
}

void PciFunction::set_cfg16(uint8_t offset, uint16_t v) {
    config_[offset] = static_cast<uint8_t>(v);
    config_[static_cast<uint8_t>(offset + 1)] = static_cast<uint8_t>(v >> 8);
}

uint32_t PciFunction::cfg32(uint8_t offset) const { return config_read(offset & 0xfc, 4); }

uint32_t PciFunction::config_read(uint8_t offset, unsigned size) const {
    uint32_t v = 0;
    for (unsigned i = 0; i < size && offset + i < 256; ++i) v |= uint32_t{config_[offset + i]} << (8 * i);
    return v;
}

void PciFunction::config_write(uint8_t offset, uint32_t value, unsigned size) {
    for (unsigned i = 0; i < size && offset + i < 256; ++i) {
        const unsigned a = offset + i;
        const auto v = static_cast<uint8_t>(value >> (8 * i));
        config_[a] = static_cast<uint8_t>((config_[a] & ~wmask_[a]) | (v & wmask_[a]));
        config_[a] &= static_cast<uint8_t>(~(v & w1cmask_[a]));
    }
    config_written(offset, size);
}

uint64_t PciFunction::config_digest(uint64_t seed) const {
    return XXH64(config_.data(), config_.size(), seed ^ devfn_);
}

PciHost::PciHost(RunControl& run) : run_(run) {}

void PciHost::add_function(PciFunction& f) {
    if (functions_[f.devfn()])
        throw Error("pci-host: bus 0 already has a function at devfn " + std::to_string(f.devfn()));
    functions_[f.devfn()] = &f;
}

void PciHost::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("pci-host: this device is attached to a machine already");
    AccessRules rules;
    rules.valid = {1, 4, false};
    rules.impl = {1, 4, false};
    claim_io_window(sys, m, "pci-conf", kSize, *this, rules);
    attached_ = true;
}

PciFunction* PciHost::selected() const {
    if (!(config_address_ & kEnable)) return nullptr;
    if (((config_address_ >> 16) & 0xff) != 0) return nullptr;  // no bridges: bus 0 only
    return functions_[(config_address_ >> 8) & 0xff];
}

uint64_t PciHost::read(uint64_t offset, unsigned size) {
    if (offset < 4) {
        if (offset == 1 && size == 1) return rcr_;
        return config_address_ & ones(size);
    }
    const PciFunction* f = selected();
    if (!f) return ones(size);
    return f->config_read(static_cast<uint8_t>((config_address_ & 0xfc) + (offset - 4)), size);
}

void PciHost::write(uint64_t offset, uint64_t value, unsigned size) {
    if (offset < 4) {
        if (offset == 0 && size == 4) {
            config_address_ = static_cast<uint32_t>(value);
        } else if (offset == 1 && size == 1) {
            if (value & kRcrReset) {
                run_.request_reset();
                return;
            }
            rcr_ = value & kRcrResetType;
        }
        return;
    }
    if (PciFunction* f = selected())
        f->config_write(static_cast<uint8_t>((config_address_ & 0xfc) + (offset - 4)), static_cast<uint32_t>(value), size);
}

uint64_t PciHost::state_digest() const {
    const uint8_t regs[5] = {static_cast<uint8_t>(config_address_), static_cast<uint8_t>(config_address_ >> 8),
                             static_cast<uint8_t>(config_address_ >> 16), static_cast<uint8_t>(config_address_ >> 24),
                             rcr_};
    return XXH64(regs, sizeof regs, 0x9c1);
}

}  // namespace kvmrr
