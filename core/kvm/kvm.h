// RAII wrappers for the KVM file descriptors: the system (/dev/kvm), a VM
// and its vCPUs.
//
// Every ioctl failure becomes a kvmrr::Error that names the ioctl and the
// kernel's reason; a missing or inaccessible /dev/kvm says so in words a
// user can act on. KvmVm implements VmBackend, the interface the memslot
// listener uses, so nothing above this file needs /dev/kvm in its tests.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <map>
#include <string>
#include <vector>

#include "core/vcpu/dirty_log.h"
#include "core/vcpu/vcpu.h"
#include "core/vcpu/vm_backend.h"

namespace kvmrr {

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd();
    Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Fd& operator=(Fd&& o) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_ = -1;
};

class KvmSystem {
public:
    // Opens `path` (normally /dev/kvm) and checks the API version.
    explicit KvmSystem(const std::string& path = "/dev/kvm");
    // Why KVM cannot be used here, or "" if it can (for test skips).
    static std::string unavailable_reason(const std::string& path = "/dev/kvm");

    int fd() const { return fd_.get(); }
    // KVM_CHECK_EXTENSION on the system fd; 0 when absent.
    int check_extension(long cap) const;
    size_t vcpu_mmap_size() const;
    // KVM_GET_SUPPORTED_CPUID, grown until the kernel is satisfied.
    std::vector<kvm_cpuid_entry2> supported_cpuid() const;

private:
    Fd fd_;
};

// Guest-physical pages KVM needs for real mode on hosts without
// unrestricted guest (identity map, then three TSS pages).
constexpr uint64_t kIdentityMapAddr = 0xfeffc000;

class KvmVm final : public VmBackend {
public:
    // Creates a VM with what kvmrr needs from x86 KVM: a TSS and identity
    // map placed outside every device window, and manual dirty-log
    // protection when the kernel has it. In Ring mode every vCPU gets a
    // ring of `ring_entries` (a power of two the kernel accepts, 0 for the
    // largest); an error says so when KVM has no dirty ring.
    explicit KvmVm(KvmSystem& kvm, DirtyLogMode mode = DirtyLogMode::Bitmap,
                   uint32_t ring_entries = kDefaultDirtyRingEntries);
    ~KvmVm() override;

    int fd() const { return fd_.get(); }
    KvmSystem& system() const { return *kvm_; }
    int check_extension(long cap) const;

    uint32_t max_memslots() const override { return max_slots_; }
    void set_user_memory_region(const MemslotSpec& spec) override;
    void get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) override;
    bool manual_dirty_log_protect() const override { return manual_protect_; }
    void clear_dirty_log(uint32_t slot, uint64_t first_page, uint32_t num_pages,
                         std::span<const uint64_t> bitmap) override;

    // --- dirty ring mode ---
    DirtyLogMode dirty_mode() const { return mode_; }
    uint32_t ring_entries() const { return ring_entries_; }
    // KvmVcpu maps its ring and hands it here (Ring mode only).
    void add_ring(kvm_dirty_gfn* gfns);
    void remove_ring(kvm_dirty_gfn* gfns);
    // Moves every harvested ring entry into its slot's pending bitmap and
    // resets the rings (KVM_RESET_DIRTY_RINGS); get_dirty_log() does this
    // first, and KvmVcpu on KVM_EXIT_DIRTY_RING_FULL. Returns the entries.
    uint64_t drain_dirty_rings();
    uint64_t ring_full_exits() const { return ring_full_; }
    void count_ring_full() { ++ring_full_; }
    std::string dirty_log_lost() const override;

private:
    struct Ring {
        kvm_dirty_gfn* gfns = nullptr;
        uint32_t fetch = 0;  // the next entry to look at (free-running)
    };
    KvmSystem* kvm_;
    Fd fd_;
    uint32_t max_slots_ = 0;
    bool manual_protect_ = false;
    DirtyLogMode mode_ = DirtyLogMode::Bitmap;
    uint32_t ring_entries_ = 0;
    std::vector<Ring> rings_;
    std::map<uint32_t, uint64_t> slot_pages_;              // logging slots' sizes, for pending bitmaps
    std::map<uint32_t, std::vector<uint64_t>> pending_;    // ring entries not yet asked for, per slot
    uint64_t ring_full_ = 0;
    bool ring_overflowed_ = false;
};

class KvmVcpu final : public Vcpu {
public:
    KvmVcpu(KvmVm& vm, unsigned id);
    ~KvmVcpu() override;
    KvmVcpu(const KvmVcpu&) = delete;
    KvmVcpu& operator=(const KvmVcpu&) = delete;

    unsigned id() const override { return id_; }
    int fd() const { return fd_.get(); }
    // KVM_RUN, and the exit it left in the run area as a VcpuExit (its data
    // points into the run area). Nothing when interrupted by a signal
    // (EINTR); throws on any other failure.
    std::optional<VcpuExit> run() override;
    void complete_exit() override;

    kvm_regs regs() const override;
    void set_regs(const kvm_regs& r) override;
    kvm_sregs sregs() const override;
    std::optional<FpuState> fpu() const override;
    void set_sregs(const kvm_sregs& s) override;
    void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
    bool interrupt_window_open() const override;
    void inject_interrupt(uint8_t vector) override;
    void request_interrupt_window(bool on) override;
    // KVM_SET_GUEST_DEBUG with the CPU's debug registers (four
    // breakpoints at most) and KVM's single step.
    bool set_debug(const DebugSettings& settings) override;
    // After KVM_EXIT_INTERNAL_ERROR: what KVM says of it, in words
    // (core/kvm/internal_error.h); otherwise "".
    std::string stop_note() const override;

private:
    KvmVm* vm_;
    unsigned id_;
    Fd fd_;
    kvm_run* run_ = nullptr;
    size_t run_size_ = 0;
    kvm_dirty_gfn* ring_ = nullptr;  // Ring mode: this vCPU's dirty ring
    size_t ring_bytes_ = 0;
    kvm_guest_debug debug_{};  // as last set (control 0: none)
    // A single step's Debug exit was the last: KVM sets the trap flag for
    // a step only at KVM_SET_GUEST_DEBUG (from the rip it is called at),
    // so the next KVM_RUN sets it again first.
    bool rearm_step_ = false;
    // The last exit was a breakpoint's at this rip: the guest resumes
    // there with RFLAGS.RF set, which lets the instruction run once.
    std::optional<uint64_t> resume_past_breakpoint_;
};

}  // namespace kvmrr
