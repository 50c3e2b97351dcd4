#include "devices/bank_switch.h"

#include <xxhash.h>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/ram_block.h"

namespace kvmrr {

namespace {

constexpr uint64_t kRegsSize = 0x1000;

}  // namespace

BankSwitch::BankSwitch(unsigned bank_count) : bank_count_(bank_count) {
    if (bank_count == 0) throw Error("bank-switch: bank_count must be at least 1");
}

void BankSwitch::attach(MemorySystem& sys, MachineMemory& m) {
    if (banks_) throw Error("bank-switch: already attached");
    require_window(m, name(), "bank-window", kBankSize);
    require_window(m, name(), "bank-switch", kRegsSize);
    // Registers only need 4-byte accesses; narrower or unaligned ones are
    // guest bugs and the core reports them as invalid.
    const AccessRules rules{.valid = {4, 4, false}, .impl = {4, 4, false}};
    // Each claim is a transaction of its own: claim_window swaps the
    // reservation for the region and destroys the reservation.
    banks_ = &sys.create_ram("banks", uint64_t{bank_count_} * kBankSize);
    window_ = &sys.create_alias("bank-window", *banks_, 0, kBankSize);
    claim_window(m, "bank-window", *window_);
    claim_window(m, "bank-switch", sys.create_io("bank-switch", kRegsSize, *this, rules));
}

uint64_t BankSwitch::read(uint64_t offset, unsigned /*size*/) {
    switch (offset) {
        case kRegBank: return bank_;
        case kRegErrors: return errors_;
        case kRegCount: return bank_count_;
        default: return 0;
    }
}

void BankSwitch::write(uint64_t offset, uint64_t value, unsigned /*size*/) {
    if (offset == kRegBank) select(value);
}

void BankSwitch::select(uint64_t bank) {
    if (bank >= bank_count_) {
        ++errors_;
        return;
    }
    if (bank == bank_) return;  // no topology change for a same-bank write
    bank_ = static_cast<unsigned>(bank);
    window_->set_alias_offset(bank * kBankSize);
}

uint64_t BankSwitch::register_digest() const {
    const uint64_t regs[3] = {bank_, errors_, bank_count_};
    return XXH64(regs, sizeof regs, 0);
}

uint64_t BankSwitch::state_digest() const {
    uint64_t h = register_digest();
    if (banks_) h = XXH64(banks_->ram_block()->host() + banks_->ram_offset(), banks_->size(), h);
    return h;
}

}  // namespace kvmrr
