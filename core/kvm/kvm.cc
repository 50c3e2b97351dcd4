#include "core/kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace kvmrr {

namespace {

[[noreturn]] void fail(const std::string& what) {
    throw Error(what + " failed: " + std::strerror(errno));
}

template <class... A>
int xioctl(int fd, unsigned long req, const char* name, A... args) {
    int r;
    do {
        r = ioctl(fd, req, args...);
    } while (r < 0 && errno == EINTR && req != KVM_RUN);
    if (r < 0) fail(name);
    return r;
}

}  // namespace

Fd::~Fd() {
    if (fd_ >= 0) close(fd_);
}

Fd& Fd::operator=(Fd&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) close(fd_);
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

std::string KvmSystem::unavailable_reason(const std::string& path) {
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        std::string why = path + ": " + std::strerror(err);
        if (err == ENOENT) why += " (no KVM on this machine: is the kvm module loaded, or is this a VM without nested virtualisation?)";
        if (err == EACCES) why += " (add yourself to the 'kvm' group or run as root)";
        if (err == ENODEV) why += " (the kernel has no KVM backend bound to this device)";
        return why;
    }
    const int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    close(fd);
    if (version != KVM_API_VERSION)
        return path + ": KVM API version " + std::to_string(version) + ", kvmrr needs " + std::to_string(KVM_API_VERSION);
    return "";
}

KvmSystem::KvmSystem(const std::string& path) {
    if (std::string why = unavailable_reason(path); !why.empty()) throw Error("cannot use KVM: " + why);
    fd_ = Fd(open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (fd_.get() < 0) fail("open " + path);
}

int KvmSystem::check_extension(long cap) const {
    const int r = ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

size_t KvmSystem::vcpu_mmap_size() const {
    return static_cast<size_t>(xioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE", 0));
}

std::vector<kvm_cpuid_entry2> KvmSystem::supported_cpuid() const {
    for (unsigned n = 64; n <= 4096; n *= 2) {
        std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + n * sizeof(kvm_cpuid_entry2));
        auto* c = reinterpret_cast<kvm_cpuid2*>(buf.data());
        c->nent = n;
        if (ioctl(fd_.get(), KVM_GET_SUPPORTED_CPUID, c) == 0) return {c->entries, c->entries + c->nent};
        if (errno != E2BIG) fail("KVM_GET_SUPPORTED_CPUID");
    }
    throw Error("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

KvmVm::KvmVm(KvmSystem& kvm) : kvm_(&kvm) {
    fd_ = Fd(xioctl(kvm.fd(), KVM_CREATE_VM, "KVM_CREATE_VM", 0));
    const int slots = check_extension(KVM_CAP_NR_MEMSLOTS);
    max_slots_ = slots > 0 ? static_cast<uint32_t>(slots) : 32;
    if (!check_extension(KVM_CAP_READONLY_MEM))
        throw Error("KVM lacks KVM_CAP_READONLY_MEM, which kvmrr needs to map ROM");
    // Real mode without unrestricted guest needs these two pages; they sit
    // just below 0xff000000, away from RAM, ROM and the device windows.
    xioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, "KVM_SET_IDENTITY_MAP_ADDR", &kIdentityMapAddr);
    xioctl(fd_.get(), KVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR", static_cast<unsigned long>(kIdentityMapAddr + 0x1000));
    if (check_extension(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) {
        kvm_enable_cap cap{};
        cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
        cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
        manual_protect_ = ioctl(fd_.get(), KVM_ENABLE_CAP, &cap) == 0;
    }
}

int KvmVm::check_extension(long cap) const {
    const int r = ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
    return r < 0 ? kvm_->check_extension(cap) : r;
}

void KvmVm::set_user_memory_region(const MemslotSpec& s) {
    kvm_userspace_memory_region r{};
    r.slot = s.slot;
    r.flags = s.flags;
    r.guest_phys_addr = s.guest_phys;
    r.memory_size = s.size;
    r.userspace_addr = s.host_addr;
    if (ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r) < 0)
        fail("KVM_SET_USER_MEMORY_REGION (slot " + std::to_string(s.slot) + ", guest " + hex(s.guest_phys) + ", size " +
             hex(s.size) + ")");
}

void KvmVm::get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) {
    kvm_dirty_log d{};
    d.slot = slot;
    d.dirty_bitmap = bitmap.data();
    xioctl(fd_.get(), KVM_GET_DIRTY_LOG, "KVM_GET_DIRTY_LOG", &d);
}

void KvmVm::clear_dirty_log(uint32_t slot, uint64_t first_page, uint32_t num_pages, std::span<const uint64_t> bitmap) {
    kvm_clear_dirty_log c{};
    c.slot = slot;
    c.first_page = first_page;
    c.num_pages = num_pages;
    c.dirty_bitmap = const_cast<uint64_t*>(bitmap.data());
    xioctl(fd_.get(), KVM_CLEAR_DIRTY_LOG, "KVM_CLEAR_DIRTY_LOG", &c);
}

KvmVcpu::KvmVcpu(KvmVm& vm, unsigned id) : id_(id) {
    fd_ = Fd(xioctl(vm.fd(), KVM_CREATE_VCPU, "KVM_CREATE_VCPU", static_cast<unsigned long>(id)));
    run_size_ = vm.system().vcpu_mmap_size();
    void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED) fail("mmap of the vCPU run area");
    run_ = static_cast<kvm_run*>(p);
}

KvmVcpu::~KvmVcpu() {
    if (run_) munmap(run_, run_size_);
}

bool KvmVcpu::run() {
    if (ioctl(fd_.get(), KVM_RUN, 0) == 0) return true;
    if (errno == EINTR || errno == EAGAIN) return false;
    fail("KVM_RUN");
}

kvm_regs KvmVcpu::regs() const {
    kvm_regs r{};
    xioctl(fd_.get(), KVM_GET_REGS, "KVM_GET_REGS", &r);
    return r;
}

void KvmVcpu::set_regs(const kvm_regs& r) { xioctl(fd_.get(), KVM_SET_REGS, "KVM_SET_REGS", &r); }

kvm_sregs KvmVcpu::sregs() const {
    kvm_sregs s{};
    xioctl(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS", &s);
    return s;
}

void KvmVcpu::set_sregs(const kvm_sregs& s) { xioctl(fd_.get(), KVM_SET_SREGS, "KVM_SET_SREGS", &s); }

void KvmVcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + entries.size() * sizeof(kvm_cpuid_entry2));
    auto* c = reinterpret_cast<kvm_cpuid2*>(buf.data());
    c->nent = static_cast<uint32_t>(entries.size());
    std::memcpy(c->entries, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
    xioctl(fd_.get(), KVM_SET_CPUID2, "KVM_SET_CPUID2", c);
}

}  // namespace kvmrr
