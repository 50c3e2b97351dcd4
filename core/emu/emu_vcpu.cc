#include "core/emu/emu_vcpu.h"

#include <cstring>
#include <thread>
#include <vector>

#include "core/emu/emu_engine.h"
#include "core/emu/emu_registers.h"
#include "core/emu/exit_handshake.h"
#include "core/error.h"

namespace kvmrr {

namespace {

constexpr auto kRunWait = std::chrono::milliseconds(10);

}  // namespace

struct EmuVcpu::Impl final : emu::MmioSink {
    Impl(EmuVm& vm, unsigned id);

    // The access in flight, as the memory hook saw it before Unicorn cut it
    // up: Unicorn's MMIO callbacks get at most 4 bytes at a time, and an
    // unaligned access as aligned pieces, but KVM (and so the devices and
    // the trace) see one access. The first piece makes the exit; the others
    // are served from it. Reset at every instruction.
    struct Access {
        bool valid = false;
        bool is_write = false;
        bool served = false;
        uint64_t addr = 0;
        unsigned size = 0;
        uint64_t value = 0;  // written value, or the read data once served
        bool covers(bool w, uint64_t a, unsigned s) const {
            return valid && is_write == w && a < addr + size && addr < a + s;
        }
    };

    uint64_t mmio_read(uint64_t gpa, unsigned size) override;
    void mmio_write(uint64_t gpa, unsigned size, uint64_t value) override;
    uint32_t port_in(uint32_t port, int size);
    void port_out(uint32_t port, int size, uint32_t value);
    bool park_or_stop();
    void install_hooks();
    void remove_hooks();
    void worker_main();
    bool run_segment();
    void post_final_exit(uc_err err);

    // Posts an I/O or MMIO exit of `size` bytes at `addr` whose data is
    // `data` (its first `size` bytes: written data, or zeros for the
    // handler to fill).
    void post_access(ExitKind kind, bool is_write, uint64_t addr, unsigned size);

    emu::EmuEngine& eng;
    unsigned id;
    // The exit handed to run()'s caller, and its data: one access of at
    // most 8 bytes (string I/O is one exit per element).
    VcpuExit exit;
    uint8_t data[8] = {};
    emu::ExitHandshake hs;
    kvm_sregs shadow = emu::reset_sregs();
    bool sregs_set = false;
    std::vector<uc_hook> hooks;
    std::string last_error;

    // Worker-only state.
    Access access;
    uint64_t insn_addr = 0;
    uint32_t insn_size = 0;
    bool stopped_by_hook = false;
    int fault_vector = -1;

    std::thread worker;  // last: starts once everything above exists
};

namespace {

using Impl = EmuVcpu::Impl;

void on_code(uc_engine* uc, uint64_t address, uint32_t size, void* user) {
    auto* v = static_cast<Impl*>(user);
    v->access.valid = false;
    v->insn_addr = address;
    v->insn_size = size;
    // The only place the guest stops on request: an instruction boundary,
    // with the PC Unicorn synced for this hook.
    if (v->hs.stop_requested() || v->eng.pending_sync()) {
        v->stopped_by_hook = true;
        uc_emu_stop(uc);
    }
}

void on_mem(uc_engine*, uc_mem_type type, uint64_t address, int size, int64_t value, void* user) {
    auto* v = static_cast<Impl*>(user);
    const bool w = type == UC_MEM_WRITE;
    const auto s = static_cast<unsigned>(size);
    if (w && v->eng.logging()) v->eng.mark_written(address, s);
    if (v->access.covers(w, address, s)) return;  // Unicorn's piece of the access already seen
    v->access = {true, w, false, address, s, static_cast<uint64_t>(value)};
}

uint32_t on_in(uc_engine*, uint32_t port, int size, void* user) { return static_cast<Impl*>(user)->port_in(port, size); }

void on_out(uc_engine*, uint32_t port, int size, uint32_t value, void* user) {
    static_cast<Impl*>(user)->port_out(port, size, value);
}

void on_interrupt(uc_engine* uc, uint32_t vector, void* user) {
    static_cast<Impl*>(user)->fault_vector = static_cast<int>(vector);
    uc_emu_stop(uc);
}

}  // namespace

EmuVcpu::Impl::Impl(EmuVm& vm, unsigned i) : eng(vm.engine()), id(i) {
    if (eng.sink()) throw Error("emulator: one vCPU per VM");
    install_hooks();
    eng.set_sink(this);
    worker = std::thread([this] { worker_main(); });
}

void EmuVcpu::Impl::install_hooks() {
    uc_engine* uc = eng.uc();
    auto add = [&](int type, void* cb, const char* what, auto... extra) {
        uc_hook h{};
        const uc_err e = uc_hook_add(uc, &h, type, cb, this, 1, 0, extra...);
        if (e != UC_ERR_OK) throw Error(std::string("emulator: cannot add the ") + what + " hook: " + emu::uc_error_text(e));
        hooks.push_back(h);
    };
    add(UC_HOOK_CODE, reinterpret_cast<void*>(on_code), "instruction");
    add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(on_mem), "memory");
    add(UC_HOOK_INSN, reinterpret_cast<void*>(on_in), "in", UC_X86_INS_IN);
    add(UC_HOOK_INSN, reinterpret_cast<void*>(on_out), "out", UC_X86_INS_OUT);
    add(UC_HOOK_INTR, reinterpret_cast<void*>(on_interrupt), "interrupt");
}

void EmuVcpu::Impl::remove_hooks() {
    for (uc_hook h : hooks) uc_hook_del(eng.uc(), h);
    hooks.clear();
}

bool EmuVcpu::Impl::park_or_stop() {
    if (hs.park()) return true;
    uc_emu_stop(eng.uc());  // shutting down: the instruction is abandoned
    return false;
}

void EmuVcpu::Impl::post_access(ExitKind kind, bool is_write, uint64_t addr, unsigned size) {
    exit = VcpuExit{};
    exit.kind = kind;
    exit.is_write = is_write;
    exit.size = static_cast<uint8_t>(size);
    exit.addr = addr;
    // KVM's MMIO exit carries an 8-byte data area whatever the size; an I/O
    // exit's data is exactly the element.
    exit.data = std::span(data, kind == ExitKind::Mmio ? sizeof data : size);
}

uint64_t EmuVcpu::Impl::mmio_read(uint64_t gpa, unsigned size) {
    if (!access.covers(false, gpa, size)) access = {true, false, false, gpa, size, 0};
    if (!access.served) {
        std::memset(data, 0, sizeof data);
        post_access(ExitKind::Mmio, false, access.addr, access.size);
        if (!park_or_stop()) return ~0ull;
        std::memcpy(&access.value, data, sizeof access.value);
        access.served = true;
    }
    // The bytes of this piece that belong to the access (little-endian);
    // bytes of an aligned piece outside it are cut off by Unicorn.
    uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) {
        const uint64_t a = gpa + i;
        if (a >= access.addr && a < access.addr + access.size)
            v |= ((access.value >> (8 * (a - access.addr))) & 0xff) << (8 * i);
    }
    return v;
}

void EmuVcpu::Impl::mmio_write(uint64_t gpa, unsigned size, uint64_t value) {
    if (!access.covers(true, gpa, size)) access = {true, true, false, gpa, size, value};
    if (access.served) return;
    std::memset(data, 0, sizeof data);
    std::memcpy(data, &access.value, access.size);
    post_access(ExitKind::Mmio, true, access.addr, access.size);
    access.served = true;
    park_or_stop();
}

uint32_t EmuVcpu::Impl::port_in(uint32_t port, int size) {
    std::memset(data, 0, sizeof data);
    post_access(ExitKind::Io, false, port & 0xffff, static_cast<unsigned>(size));
    if (!park_or_stop()) return ~0u;
    uint32_t v = 0;
    std::memcpy(&v, data, static_cast<size_t>(size));
    return v;
}

void EmuVcpu::Impl::port_out(uint32_t port, int size, uint32_t value) {
    std::memcpy(data, &value, sizeof value);
    post_access(ExitKind::Io, true, port & 0xffff, static_cast<unsigned>(size));
    park_or_stop();
}

void EmuVcpu::Impl::worker_main() {
    while (hs.wait_for_start()) hs.segment_ended(run_segment());
}

// Runs the guest until it stops for good (true: a final exit is posted) or
// on request (false). A stop for a pending memory-map change applies the
// change and goes on.
bool EmuVcpu::Impl::run_segment() {
    for (;;) {
        stopped_by_hook = false;
        fault_vector = -1;
        eng.begin_emulation();
        const uc_err err = uc_emu_start(eng.uc(), emu::start_address(eng.uc(), eng.width()), ~0ull, 0, 0);
        eng.end_emulation();
        if (stopped_by_hook && fault_vector < 0) {
            if (hs.stop_requested()) return false;
            continue;
        }
        post_final_exit(err);
        return true;
    }
}

void EmuVcpu::Impl::post_final_exit(uc_err err) {
    exit = VcpuExit{};
    const uint64_t pc = emu::start_address(eng.uc(), eng.width());
    if (err == UC_ERR_OK && fault_vector < 0) {
        // Unicorn ends uc_emu_start without an error after hlt, and also
        // after some exceptions (#DE) without calling the interrupt hook;
        // only hlt leaves the PC just past a completed hlt instruction.
        uint8_t last = 0;
        if (pc == insn_addr + insn_size && insn_size == 1 && uc_mem_read(eng.uc(), insn_addr, &last, 1) == UC_ERR_OK &&
            last == 0xf4) {
            exit.kind = ExitKind::Hlt;
            return;
        }
        last_error = "CPU exception at " + hex(pc) + " that the emulator reported without a vector";
        exit.kind = ExitKind::Shutdown;
        return;
    }
    switch (err) {
        case UC_ERR_OK:  // the interrupt hook saw an exception or int n
            last_error = "CPU exception " + std::to_string(fault_vector) + " at " + hex(pc) + " with no IDT";
            exit.kind = ExitKind::Shutdown;
            return;
        case UC_ERR_INSN_INVALID:
        case UC_ERR_EXCEPTION:
        // Everything below kEmuPhysLimit is mapped, so these are page
        // faults (or an access beyond the map through the guest's own
        // page tables); with no IDT, KVM would triple-fault.
        case UC_ERR_READ_UNMAPPED:
        case UC_ERR_WRITE_UNMAPPED:
        case UC_ERR_READ_PROT:
        case UC_ERR_WRITE_PROT:
            last_error = emu::uc_error_text(err) + " at " + hex(pc);
            exit.kind = ExitKind::Shutdown;
            return;
        default:
            // Fetching from an MMIO area (a device window, unmapped memory
            // or a read-only slot, which Unicorn cannot execute) and the rest.
            // KVM's own word for an instruction it cannot emulate.
            last_error = emu::uc_error_text(err) + " at " + hex(pc);
            exit.kind = ExitKind::InternalError;
            exit.reason_code = KVM_INTERNAL_ERROR_EMULATION;
    }
}

EmuVcpu::EmuVcpu(EmuVm& vm, unsigned id) : impl_(std::make_unique<Impl>(vm, id)) {}

EmuVcpu::~EmuVcpu() {
    impl_->hs.shut_down();
    impl_->worker.join();
    impl_->remove_hooks();
    impl_->eng.set_sink(nullptr);
}

unsigned EmuVcpu::id() const { return impl_->id; }

std::optional<VcpuExit> EmuVcpu::run() {
    if (!impl_->hs.run(kRunWait)) return std::nullopt;
    return impl_->exit;
}

void EmuVcpu::complete_exit() { impl_->hs.complete(); }

kvm_regs EmuVcpu::regs() const {
    impl_->hs.quiesce();
    return emu::read_regs(impl_->eng.uc(), impl_->eng.width());
}

void EmuVcpu::set_regs(const kvm_regs& r) {
    impl_->hs.quiesce();
    if (impl_->hs.parked()) throw Error("emulator: cannot set registers while an exit is pending");
    emu::write_regs(impl_->eng.uc(), impl_->eng.width(), r);
}

kvm_sregs EmuVcpu::sregs() const {
    impl_->hs.quiesce();
    if (!impl_->sregs_set) return impl_->shadow;
    return emu::read_sregs(impl_->eng.uc(), impl_->eng.width(), impl_->shadow);
}

void EmuVcpu::set_sregs(const kvm_sregs& s) {
    impl_->hs.quiesce();
    if (impl_->hs.parked()) throw Error("emulator: cannot set registers while an exit is pending");
    const emu::CpuWidth w = emu::width_for(s);
    if (w != impl_->eng.width()) {
        impl_->remove_hooks();
        impl_->eng.reopen(w);
        impl_->install_hooks();
    }
    emu::write_sregs(impl_->eng.uc(), w, s);
    impl_->shadow = s;
    impl_->sregs_set = true;
}

std::string EmuVcpu::last_error() const {
    impl_->hs.quiesce();
    return impl_->last_error;
}

bool EmuVcpu::interrupt_window_open() const { return false; }

void EmuVcpu::inject_interrupt(uint8_t) { throw Error("emulator: external interrupts are not supported yet"); }

void EmuVcpu::request_interrupt_window(bool) {}

std::string EmuVcpu::stop_note() const {
    const std::string e = last_error();
    return e.empty() ? e : "emulator: " + e;
}

}  // namespace kvmrr
