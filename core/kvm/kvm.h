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
#include <string>
#include <vector>

#include "core/kvm/vcpu.h"
#include "core/kvm/vm_backend.h"

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
    // protection when the kernel has it.
    explicit KvmVm(KvmSystem& kvm);

    int fd() const { return fd_.get(); }
    KvmSystem& system() const { return *kvm_; }
    int check_extension(long cap) const;

    uint32_t max_memslots() const override { return max_slots_; }
    void set_user_memory_region(const MemslotSpec& spec) override;
    void get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) override;
    bool manual_dirty_log_protect() const override { return manual_protect_; }
    void clear_dirty_log(uint32_t slot, uint64_t first_page, uint32_t num_pages,
                         std::span<const uint64_t> bitmap) override;

private:
    KvmSystem* kvm_;
    Fd fd_;
    uint32_t max_slots_ = 0;
    bool manual_protect_ = false;
};

class KvmVcpu final : public Vcpu {
public:
    KvmVcpu(KvmVm& vm, unsigned id);
    ~KvmVcpu() override;
    KvmVcpu(const KvmVcpu&) = delete;
    KvmVcpu& operator=(const KvmVcpu&) = delete;

    unsigned id() const override { return id_; }
    int fd() const { return fd_.get(); }
    kvm_run* run_area() const override { return run_; }
    // KVM_RUN. Returns false when interrupted by a signal (EINTR), throws
    // on any other failure.
    bool run() override;
    void complete_exit() override;

    kvm_regs regs() const override;
    void set_regs(const kvm_regs& r) override;
    kvm_sregs sregs() const override;
    void set_sregs(const kvm_sregs& s) override;
    void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);

private:
    unsigned id_;
    Fd fd_;
    kvm_run* run_ = nullptr;
    size_t run_size_ = 0;
};

}  // namespace kvmrr
