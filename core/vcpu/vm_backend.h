// VmBackend: the part of a KVM VM that the memory side of kvmrr needs.
//
// The memslot listener and the dirty-log harvester talk to this interface
// only, so they run in unit tests against a fake VM that needs no
// /dev/kvm; KvmVm (core/kvm/kvm.h) and EmuVm (core/emu/emu_vm.h) are the
// real ones, ReplayVm (vmm/replay_vm.h) the slot table of a replay without
// a vCPU. Calls mirror the ioctls: KVM_SET_USER_MEMORY_REGION,
// KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace kvmrr {

// KVM memslot flags (values as in linux/kvm.h).
constexpr uint32_t kMemLogDirtyPages = 1u << 0;
constexpr uint32_t kMemReadonly = 1u << 1;

struct MemslotSpec {
    uint32_t slot = 0;
    uint32_t flags = 0;
    uint64_t guest_phys = 0;
    uint64_t size = 0;  // 0 deletes the slot
    uint64_t host_addr = 0;
    bool operator==(const MemslotSpec&) const = default;
};

class VmBackend {
public:
    virtual ~VmBackend() = default;
    virtual uint32_t max_memslots() const = 0;
    // Throws kvmrr::Error with the kernel's reason on failure.
    virtual void set_user_memory_region(const MemslotSpec& spec) = 0;
    // One bit per page of the slot, 64 pages a word, filled by the kernel.
    // Every word of `bitmap` is written (callers need not clear it first).
    virtual void get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) = 0;
    // True when KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 is enabled: then
    // get_dirty_log does not re-protect pages and clear_dirty_log must.
    virtual bool manual_dirty_log_protect() const = 0;
    // Re-protects the pages whose bits are set; `first_page` is a multiple
    // of 64 and `bitmap` covers `num_pages` pages from there.
    virtual void clear_dirty_log(uint32_t slot, uint64_t first_page, uint32_t num_pages,
                                 std::span<const uint64_t> bitmap) = 0;
    // Guest memory [gpa, gpa + len) was written by the VMM, not by a vCPU
    // (a device's DMA): an emulator forgets what it translated from there.
    // KVM needs nothing: its guest reads the same host memory.
    virtual void memory_written(uint64_t /*gpa*/, uint64_t /*len*/) {}
    // Why dirty pages may have been lost since the VM began ("" if none
    // may have): a dirty ring KVM wrote over. Asked after each harvest.
    virtual std::string dirty_log_lost() const { return ""; }
};

}  // namespace kvmrr
