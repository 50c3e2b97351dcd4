// A tiny machine for the emulator's unit tests: an EmuVm with 4 MiB of RAM
// at 0 (slot 0), an EmuVcpu, and code placed at 1 MiB, started in long mode
// (identity-mapped 4 GiB, as cpu_setup.cc does) or in real mode.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <vector>

#include "core/emu/emu_vcpu.h"
#include "core/emu/emu_vm.h"

namespace kvmrr::testing {

// Page-aligned anonymous host memory for slots.
class HostPages {
public:
    explicit HostPages(size_t bytes) : size_(bytes) {
        void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        base_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
    }
    ~HostPages() {
        if (base_) munmap(base_, size_);
    }
    HostPages(const HostPages&) = delete;
    HostPages& operator=(const HostPages&) = delete;
    uint8_t* data() const { return base_; }
    uint64_t addr() const { return reinterpret_cast<uint64_t>(base_); }
    size_t size() const { return size_; }

private:
    uint8_t* base_ = nullptr;
    size_t size_;
};

constexpr uint64_t kCodeAddr = 0x100000;

struct EmuGuest {
    EmuVm vm;
    HostPages ram{4 << 20};
    std::unique_ptr<EmuVcpu> vcpu;

    EmuGuest() {
        vm.set_user_memory_region({0, 0, 0, ram.size(), ram.addr()});
        vcpu = std::make_unique<EmuVcpu>(vm, 0);
    }

    void put64(uint64_t gpa, uint64_t v) { std::memcpy(ram.data() + gpa, &v, 8); }

    void start_long(const std::vector<uint8_t>& code) {
        std::memcpy(ram.data() + kCodeAddr, code.data(), code.size());
        put64(0x1000, 0x2000 | 3);
        for (uint64_t i = 0; i < 4; ++i) put64(0x2000 + i * 8, (0x3000 + i * 0x1000) | 3);
        for (uint64_t i = 0; i < 2048; ++i) put64(0x3000 + i * 8, (i << 21) | 0x83);
        put64(0x500, 0);
        put64(0x508, 0x00af9b000000ffff);
        put64(0x510, 0x00cf93000000ffff);
        kvm_sregs s = vcpu->sregs();
        s.cr3 = 0x1000;
        s.cr4 = 1u << 5;
        s.cr0 = 0x80050033;
        s.efer = 0x501;
        s.gdt.base = 0x500;
        s.gdt.limit = 23;
        for (kvm_segment* g : {&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss}) {
            g->base = 0;
            g->selector = g == &s.cs ? 0x08 : 0x10;
        }
        vcpu->set_sregs(s);
        kvm_regs r{};
        r.rip = kCodeAddr;
        r.rsp = 0x80000;
        r.rflags = 2;
        vcpu->set_regs(r);
    }

    void start_real(const std::vector<uint8_t>& code, uint64_t at = 0x1000) {
        std::memcpy(ram.data() + at, code.data(), code.size());
        kvm_sregs s = vcpu->sregs();
        for (kvm_segment* g : {&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss}) g->base = g->selector = 0;
        vcpu->set_sregs(s);
        kvm_regs r{};
        r.rip = at;
        r.rsp = 0x7000;
        r.rflags = 2;
        vcpu->set_regs(r);
    }

    // run() until an exit, at most `limit`: its kind (the exit itself in
    // `exit`), or nothing.
    std::optional<ExitKind> next_exit(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end)
            if (std::optional<VcpuExit> e = vcpu->run()) {
                exit = *e;
                return e->kind;
            }
        return std::nullopt;
    }

    uint8_t* io_data() { return exit.data.data(); }
    uint64_t mmio_value() {
        uint64_t v = 0;
        std::memcpy(&v, exit.data.data(), exit.size);
        return v;
    }

    VcpuExit exit;  // the last one next_exit() returned
};

}  // namespace kvmrr::testing
