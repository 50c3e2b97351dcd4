// ReplayVm: the VmBackend a replay without a vCPU uses.
//
// The memslot listener must see a VM so that replay produces the memslot
// changes the recording produced; this one keeps the slot table and
// applies KVM's rules to it (ids below the limit, no overlap, only the
// logging flag may change in place), so a model change that would have
// broken the real VM breaks the replay too. Nothing writes guest memory
// behind the VMM's back here, so every dirty log reads empty.
#pragma once

#include <map>

#include "core/vcpu/vm_backend.h"

namespace kvmrr {

class ReplayVm final : public VmBackend {
public:
    explicit ReplayVm(uint32_t max_slots) : max_slots_(max_slots) {}

    uint32_t max_memslots() const override { return max_slots_; }
    void set_user_memory_region(const MemslotSpec& spec) override;
    void get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) override;
    bool manual_dirty_log_protect() const override { return false; }
    void clear_dirty_log(uint32_t, uint64_t, uint32_t, std::span<const uint64_t>) override {}

    const std::map<uint32_t, MemslotSpec>& slots() const { return slots_; }

private:
    uint32_t max_slots_;
    std::map<uint32_t, MemslotSpec> slots_;
};

}  // namespace kvmrr
