// EmuVm: a VmBackend over one Unicorn engine, the software stand-in for a
// KVM VM where /dev/kvm is missing (Accel::Emu).
//
// Memslots keep KVM's rules, as the fake VM in core/vcpu/tests does: slot
// ids below max_memslots(), page-aligned guest address, size and host
// address, no overlap with another slot, only the dirty-logging flag may
// change in place, size 0 deletes. RAM slots are the host memory mapped in
// place; read-only slots read from the host memory and turn writes into
// MMIO exits; guest-physical memory without a slot (below 1 TiB) exits as
// MMIO on every access (core/emu/emu_engine.h says how). Dirty logging
// records guest writes per 4 KiB page; get_dirty_log copies and clears,
// as KVM does without manual protection. One vCPU (EmuVcpu) per VM.
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include "core/vcpu/vm_backend.h"

namespace kvmrr {

namespace emu {
class EmuEngine;
struct DirtyBits;
}  // namespace emu

class EmuVm final : public VmBackend {
public:
    static constexpr uint32_t kMaxMemslots = 509;  // KVM's usual x86 figure

    EmuVm();
    ~EmuVm() override;
    EmuVm(const EmuVm&) = delete;
    EmuVm& operator=(const EmuVm&) = delete;

    uint32_t max_memslots() const override { return kMaxMemslots; }
    void set_user_memory_region(const MemslotSpec& spec) override;
    void get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) override;
    bool manual_dirty_log_protect() const override { return false; }
    // Only with manual protection, which the emulator does not offer.
    void clear_dirty_log(uint32_t slot, uint64_t first_page, uint32_t num_pages,
                         std::span<const uint64_t> bitmap) override;

    void memory_written(uint64_t gpa, uint64_t len) override;

    emu::EmuEngine& engine() { return *engine_; }

private:
    struct Slot {
        MemslotSpec spec;
        std::shared_ptr<emu::DirtyBits> dirty;
    };
    void publish();

    std::unique_ptr<emu::EmuEngine> engine_;
    std::map<uint32_t, Slot> slots_;  // by id
};

}  // namespace kvmrr
