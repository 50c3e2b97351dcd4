#include "core/kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"
#include "core/kvm/internal_error.h"
#include "core/kvm/kvm_pvm.h"
#include "core/vcpu/dirty_log.h"

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

// The uapi headers declare kvm_cpuid2's entries with __DECLARE_FLEX_ARRAY,
// which puts an empty struct before the array. An empty struct has size 0
// in C but 1 in C++, so under C++ the entries sit at offset 12 instead of
// 8 and KVM_GET_SUPPORTED_CPUID / KVM_SET_CPUID2 (whose numbers encode the
// struct size) come out as different ioctls that the kernel rejects with
// EINVAL. So we lay out the C header ourselves and build the numbers from it.
struct CpuidHeader {
    uint32_t nent;
    uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8 && sizeof(kvm_cpuid_entry2) == 40);
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

// A kvm_cpuid2 in C layout: the header, then nent entries.
std::vector<uint8_t> cpuid_buffer(uint32_t nent) {
    std::vector<uint8_t> buf(sizeof(CpuidHeader) + size_t{nent} * sizeof(kvm_cpuid_entry2));
    const CpuidHeader h{nent, 0};
    std::memcpy(buf.data(), &h, sizeof h);
    return buf;
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
    for (uint32_t n = 64; n <= 4096; n *= 2) {
        std::vector<uint8_t> buf = cpuid_buffer(n);
        if (ioctl(fd_.get(), kGetSupportedCpuid, buf.data()) == 0) {
            CpuidHeader h;
            std::memcpy(&h, buf.data(), sizeof h);
            std::vector<kvm_cpuid_entry2> out(std::min(h.nent, n));
            std::memcpy(out.data(), buf.data() + sizeof h, out.size() * sizeof(kvm_cpuid_entry2));
            return out;
        }
        if (errno != E2BIG) fail("KVM_GET_SUPPORTED_CPUID");
    }
    throw Error("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

KvmVm::KvmVm(KvmSystem& kvm, DirtyLogMode mode, uint32_t ring_entries) : kvm_(&kvm), mode_(mode) {
    fd_ = Fd(xioctl(kvm.fd(), KVM_CREATE_VM, "KVM_CREATE_VM", 0));
    if (mode == DirtyLogMode::Ring) {
        // Before any vCPU exists, as KVM requires. The acquire/release
        // variant is the same protocol with the barriers spelt out (x86
        // needs none); either will do.
        const long cap = check_extension(KVM_CAP_DIRTY_LOG_RING_ACQ_REL) ? KVM_CAP_DIRTY_LOG_RING_ACQ_REL : KVM_CAP_DIRTY_LOG_RING;
        const int max_bytes = check_extension(cap);
        if (max_bytes <= 0) throw Error("this KVM has no dirty ring (KVM_CAP_DIRTY_LOG_RING); use the bitmap mode");
        if (ring_entries == 0) ring_entries = static_cast<uint32_t>(static_cast<uint64_t>(max_bytes) / sizeof(kvm_dirty_gfn));
        const uint64_t bytes = uint64_t{ring_entries} * sizeof(kvm_dirty_gfn);
        if (ring_entries == 0 || (ring_entries & (ring_entries - 1)) != 0 || bytes > static_cast<uint64_t>(max_bytes))
            throw Error("dirty ring of " + std::to_string(ring_entries) + " entries: it must be a power of two of at most " +
                        std::to_string(max_bytes / sizeof(kvm_dirty_gfn)) + " entries here");
        kvm_enable_cap c{};
        c.cap = static_cast<uint32_t>(cap);
        c.args[0] = bytes;
        xioctl(fd_.get(), KVM_ENABLE_CAP, "KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING)", &c);
        ring_entries_ = ring_entries;
    }
    const int slots = check_extension(KVM_CAP_NR_MEMSLOTS);
    max_slots_ = slots > 0 ? static_cast<uint32_t>(slots) : 32;
    if (!check_extension(KVM_CAP_READONLY_MEM))
        throw Error("KVM lacks KVM_CAP_READONLY_MEM, which kvmrr needs to map ROM");
    // Real mode without unrestricted guest needs these two pages; they sit
    // just below 0xff000000, away from RAM, ROM and the device windows.
    xioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, "KVM_SET_IDENTITY_MAP_ADDR", &kIdentityMapAddr);
    xioctl(fd_.get(), KVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR", static_cast<unsigned long>(kIdentityMapAddr + 0x1000));
    // The ring resets pages itself; manual protection is for bitmaps.
    if (mode == DirtyLogMode::Bitmap &&
        (check_extension(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
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
    if (mode_ == DirtyLogMode::Ring) {
        // The memslot listener harvests a logging slot before it changes,
        // so what is still pending for it here belongs to nobody.
        pending_.erase(s.slot);
        if (s.size && (s.flags & KVM_MEM_LOG_DIRTY_PAGES)) {
            slot_pages_[s.slot] = s.size / kPageSize;
        } else {
            slot_pages_.erase(s.slot);
        }
    }
}

KvmVm::~KvmVm() = default;

std::string KvmVm::dirty_log_lost() const {
    if (!ring_overflowed_) return "";
    return "the dirty ring (" + std::to_string(ring_entries_) +
           " entries) was full to its last entry, so KVM may have written over entries: dirty pages may be lost. "
           "Record with more --dirty-ring-entries or with --dirty-mode bitmap";
}

void KvmVm::add_ring(kvm_dirty_gfn* gfns) { rings_.push_back(Ring{gfns, 0}); }

void KvmVm::remove_ring(kvm_dirty_gfn* gfns) {
    std::erase_if(rings_, [&](const Ring& r) { return r.gfns == gfns; });
}

uint64_t KvmVm::drain_dirty_rings() {
    uint64_t n = 0;
    for (Ring& ring : rings_) {
        uint32_t taken = 0;
        for (;;) {
            kvm_dirty_gfn& g = ring.gfns[ring.fetch & (ring_entries_ - 1)];
            if (!(__atomic_load_n(&g.flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY)) break;
            const uint32_t slot = g.slot & 0xffff;  // address space 0: the only one kvmrr uses
            const auto it = slot_pages_.find(slot);
            if ((g.slot >> 16) == 0 && it != slot_pages_.end() && g.offset < it->second) {
                std::vector<uint64_t>& bits = pending_[slot];
                if (bits.empty()) bits.assign((it->second + 63) / 64, 0);
                bits[g.offset / 64] |= 1ull << (g.offset % 64);
            }
            __atomic_store_n(&g.flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
            ++ring.fetch;
            ++n;
            ++taken;
        }
        // KVM keeps some entries in reserve and stops the vCPU (ring full)
        // before it reaches them, so a ring that is full to the last entry
        // may have been written over: dirty pages may be lost.
        if (taken == ring_entries_) ring_overflowed_ = true;
    }
    // Re-protects the harvested pages so that their next write is seen.
    if (n) xioctl(fd_.get(), KVM_RESET_DIRTY_RINGS, "KVM_RESET_DIRTY_RINGS", 0);
    return n;
}

void KvmVm::get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) {
    if (mode_ == DirtyLogMode::Ring) {
        // An overflow is not thrown from here: harvests also run while slots
        // are torn down. MemslotListener::harvest asks dirty_log_lost().
        drain_dirty_rings();
        std::fill(bitmap.begin(), bitmap.end(), 0);
        const auto it = pending_.find(slot);
        if (it == pending_.end()) return;
        std::copy_n(it->second.begin(), std::min(it->second.size(), bitmap.size()), bitmap.begin());
        pending_.erase(it);
        return;
    }
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

KvmVcpu::KvmVcpu(KvmVm& vm, unsigned id) : vm_(&vm), id_(id) {
    fd_ = Fd(xioctl(vm.fd(), KVM_CREATE_VCPU, "KVM_CREATE_VCPU", static_cast<unsigned long>(id)));
    run_size_ = vm.system().vcpu_mmap_size();
    void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED) fail("mmap of the vCPU run area");
    run_ = static_cast<kvm_run*>(p);
    if (vm.dirty_mode() == DirtyLogMode::Ring) {
        ring_bytes_ = size_t{vm.ring_entries()} * sizeof(kvm_dirty_gfn);
        void* r = mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(),
                       static_cast<off_t>(KVM_DIRTY_LOG_PAGE_OFFSET) * sysconf(_SC_PAGESIZE));
        if (r == MAP_FAILED) {
            munmap(run_, run_size_);
            fail("mmap of the vCPU's dirty ring");
        }
        ring_ = static_cast<kvm_dirty_gfn*>(r);
        vm.add_ring(ring_);
    }
}

KvmVcpu::~KvmVcpu() {
    if (ring_) {
        vm_->remove_ring(ring_);
        munmap(ring_, ring_bytes_);
    }
    if (run_) munmap(run_, run_size_);
}

namespace {

// The exit KVM left in `run` (the data span points into `run`): the only
// place that reads struct kvm_run's exit fields.
VcpuExit decode_exit(kvm_run& run) {
    VcpuExit e;
    switch (run.exit_reason) {
        case KVM_EXIT_IO:
            e.kind = ExitKind::Io;
            e.is_write = run.io.direction == KVM_EXIT_IO_OUT;
            e.size = run.io.size;
            e.count = run.io.count;
            e.addr = run.io.port;
            e.data = std::span(reinterpret_cast<uint8_t*>(&run) + run.io.data_offset,
                               static_cast<size_t>(run.io.size) * run.io.count);
            break;
        case KVM_EXIT_MMIO:
            e.kind = ExitKind::Mmio;
            e.is_write = run.mmio.is_write != 0;
            e.size = static_cast<uint8_t>(run.mmio.len);
            e.addr = run.mmio.phys_addr;
            e.data = std::span(run.mmio.data, sizeof run.mmio.data);
            break;
        case KVM_EXIT_HLT: e.kind = ExitKind::Hlt; break;
        case KVM_EXIT_IRQ_WINDOW_OPEN: e.kind = ExitKind::InterruptWindow; break;
        case KVM_EXIT_SHUTDOWN: e.kind = ExitKind::Shutdown; break;
        case KVM_EXIT_DEBUG:
            e.kind = ExitKind::Debug;
            e.addr = run.debug.arch.pc;
            break;
        case KVM_EXIT_FAIL_ENTRY:
            e.kind = ExitKind::FailEntry;
            e.reason_code = run.fail_entry.hardware_entry_failure_reason;
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            e.kind = ExitKind::InternalError;
            e.reason_code = run.internal.suberror;
            break;
        default:
            e.kind = ExitKind::Unknown;
            e.reason_code = run.exit_reason;
    }
    e.interrupts_enabled = run.if_flag != 0;
    return e;
}

}  // namespace

std::optional<VcpuExit> KvmVcpu::run() {
    if (std::exchange(rearm_step_, false)) xioctl(fd_.get(), KVM_SET_GUEST_DEBUG, "KVM_SET_GUEST_DEBUG", &debug_);
    if (const std::optional<uint64_t> at = std::exchange(resume_past_breakpoint_, std::nullopt)) {
        // An instruction breakpoint is a fault: without RF the guest would
        // stop before the same instruction again.
        constexpr uint64_t kResumeFlag = 1ull << 16;
        kvm_regs r = regs();
        if (r.rip == *at && !(r.rflags & kResumeFlag)) {
            r.rflags |= kResumeFlag;
            set_regs(r);
        }
    }
    for (;;) {
        if (ioctl(fd_.get(), KVM_RUN, 0) != 0) {
            if (errno == EINTR || errno == EAGAIN) return std::nullopt;
            fail("KVM_RUN");
        }
        // A full dirty ring is KVM's business and ours, not the guest's:
        // harvest it into the pending bitmaps and go on.
        if (run_->exit_reason != KVM_EXIT_DIRTY_RING_FULL) {
            VcpuExit e = decode_exit(*run_);
            if (e.kind == ExitKind::Debug) {
                // DR6's B0-B3: one of the debug registers' breakpoints hit.
                if (run_->debug.arch.dr6 & 0xf) resume_past_breakpoint_ = regs().rip;
                rearm_step_ = (debug_.control & KVM_GUESTDBG_SINGLESTEP) != 0;
            }
            return e;
        }
        vm_->count_ring_full();
        if (vm_->drain_dirty_rings() == 0) {
            throw Error("KVM says the dirty ring is full but it holds nothing to harvest: the ring overflowed "
                        "(this KVM let the vCPU dirty more pages than the ring holds) and dirty pages were lost. "
                        "Record with more --dirty-ring-entries or with --dirty-mode bitmap");
        }
    }
}

std::string KvmVcpu::stop_note() const {
    if (run_->exit_reason != KVM_EXIT_INTERNAL_ERROR) return "";
    return describe_internal_error(*run_, host_kvm_is_pvm());
}

void KvmVcpu::complete_exit() {
    // KVM finishes a pending I/O or MMIO exit before it looks at
    // immediate_exit, then returns EINTR without entering the guest.
    run_->immediate_exit = 1;
    int r;
    do {
        r = ioctl(fd_.get(), KVM_RUN, 0);
    } while (r == 0);  // cannot happen with immediate_exit set; never spin on it
    const int err = errno;
    run_->immediate_exit = 0;
    if (err != EINTR && err != EAGAIN) {
        errno = err;
        fail("KVM_RUN (completing the last exit)");
    }
}

bool KvmVcpu::interrupt_window_open() const { return run_->ready_for_interrupt_injection && run_->if_flag; }

void KvmVcpu::inject_interrupt(uint8_t vector) {
    // KVM queues it; the next KVM_RUN first completes a pending I/O or
    // MMIO exit, then delivers it before the guest's next instruction.
    kvm_interrupt irq{};
    irq.irq = vector;
    xioctl(fd_.get(), KVM_INTERRUPT, "KVM_INTERRUPT", &irq);
}

void KvmVcpu::request_interrupt_window(bool on) { run_->request_interrupt_window = on ? 1 : 0; }

bool KvmVcpu::set_debug(const DebugSettings& settings) {
    constexpr size_t kDebugRegisters = 4;
    if (settings.breakpoints.size() > kDebugRegisters || !settings.watchpoints.empty() || settings.stop_at_instruction)
        return false;  // no instruction count on KVM
    if (!settings.active() && debug_.control == 0) return true;
    kvm_guest_debug dbg{};
    if (settings.active()) {
        dbg.control = KVM_GUESTDBG_ENABLE;
        if (settings.single_step) dbg.control |= KVM_GUESTDBG_SINGLESTEP;
        if (!settings.breakpoints.empty()) dbg.control |= KVM_GUESTDBG_USE_HW_BP;
        for (size_t i = 0; i < settings.breakpoints.size(); ++i) {
            dbg.arch.debugreg[i] = settings.breakpoints[i];
            // DR7: Gi enables breakpoint i; R/Wi and LENi 0 make it an
            // instruction breakpoint.
            dbg.arch.debugreg[7] |= 2ull << (2 * i);
        }
    }
    xioctl(fd_.get(), KVM_SET_GUEST_DEBUG, "KVM_SET_GUEST_DEBUG", &dbg);
    debug_ = dbg;
    rearm_step_ = false;
    if (!settings.active()) resume_past_breakpoint_.reset();
    return true;
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

namespace {

// FXSAVE's legacy area, the first 512 bytes of an XSAVE image (Intel SDM
// vol. 1, 10.5.1): where each x87 and SSE register is.
constexpr size_t kFcw = 0, kFsw = 2, kFtw = 4, kFop = 6, kFip = 8, kFdp = 16, kMxcsr = 24, kSt = 32, kXmm = 160;

template <typename T>
T field(const uint8_t* area, size_t at) {
    T v;
    std::memcpy(&v, area + at, sizeof v);
    return v;
}

}  // namespace

std::optional<FpuState> KvmVcpu::fpu() const {
    // From the XSAVE image, which holds MXCSR; KVM_GET_FPU where KVM gives
    // none (KVM_GET_XSAVE fails with EINVAL on Debian's 6.1 in the nested
    // VM and on kvm-pvm), which leaves MXCSR out.
    FpuState st;
    kvm_fpu& f = st.regs;
    kvm_xsave x{};
    const auto* area = reinterpret_cast<const uint8_t*>(x.region);
    if (::ioctl(fd_.get(), KVM_GET_XSAVE, &x) != 0) {
        xioctl(fd_.get(), KVM_GET_FPU, "KVM_GET_FPU", &f);
        st.has_mxcsr = false;
        return st;
    }
    f.fcw = field<uint16_t>(area, kFcw);
    f.fsw = field<uint16_t>(area, kFsw);
    f.ftwx = field<uint8_t>(area, kFtw);
    f.last_opcode = field<uint16_t>(area, kFop);
    f.last_ip = field<uint64_t>(area, kFip);
    f.last_dp = field<uint64_t>(area, kFdp);
    f.mxcsr = field<uint32_t>(area, kMxcsr);
    for (size_t i = 0; i < 8; ++i) std::memcpy(f.fpr[i], area + kSt + 16 * i, 16);
    for (size_t i = 0; i < 16; ++i) std::memcpy(f.xmm[i], area + kXmm + 16 * i, 16);
    return st;
}

void KvmVcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    std::vector<uint8_t> buf = cpuid_buffer(static_cast<uint32_t>(entries.size()));
    std::memcpy(buf.data() + sizeof(CpuidHeader), entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
    xioctl(fd_.get(), kSetCpuid2, "KVM_SET_CPUID2", buf.data());
}

}  // namespace kvmrr
