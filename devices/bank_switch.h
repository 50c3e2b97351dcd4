// BankSwitch: a 64 KiB window onto one of several banks of device RAM,
// chosen by a guest-written register.
//
// The banks are one RAM region ("banks", bank_count x 64 KiB) that is never
// mapped itself; the guest sees it only through the alias "bank-window",
// which the device moves over bank i when the guest writes i to BANK. The
// move is a real topology change (set_alias_offset), so listeners such as
// the KVM memslot code see the window's old slot removed and the new one
// added. Writing the bank that is already selected changes nothing and
// produces no topology change: a guest that rewrites the register in a loop
// should not cost a memslot update each time. An out-of-range bank number
// is ignored and counted in ERRORS. The device must outlive the
// MemorySystem it is attached to: its regions call back into it.
//
// Registers (window "bank-switch", 4-byte little-endian accesses only; any
// other offset reads 0 and ignores writes):
//   0x0 BANK    r/w  selected bank
//   0x4 ERRORS  r/o  writes of a bank number >= COUNT
//   0x8 COUNT   r/o  number of banks
#pragma once

#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"

namespace kvmrr {

class BankSwitch final : public Device, private RegionOps {
public:
    static constexpr uint64_t kBankSize = 64 * 1024;
    static constexpr uint64_t kRegBank = 0x0;
    static constexpr uint64_t kRegErrors = 0x4;
    static constexpr uint64_t kRegCount = 0x8;

    // Throws kvmrr::Error when bank_count is zero.
    explicit BankSwitch(unsigned bank_count = 4);
    BankSwitch(const BankSwitch&) = delete;
    BankSwitch& operator=(const BankSwitch&) = delete;

    std::string_view name() const override { return "bank-switch"; }
    uint32_t model_version() const override { return 1; }
    // Claims windows "bank-window" and "bank-switch"; throws kvmrr::Error
    // if either is missing or too small, or if the device is attached twice.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    // Covers the registers and the contents of every bank (the guest can
    // read any of them by switching).
    uint64_t state_digest() const override;
    uint64_t register_digest() const override;

    unsigned bank_count() const { return bank_count_; }
    unsigned current_bank() const { return bank_; }

private:
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;
    void select(uint64_t bank);

    unsigned bank_count_;
    unsigned bank_ = 0;
    uint32_t errors_ = 0;
    MemoryRegion* banks_ = nullptr;   // set by attach
    MemoryRegion* window_ = nullptr;  // the alias, set by attach
};

}  // namespace kvmrr
