#include "core/vcpu/cpu_setup.h"

#include <array>

#include "core/error.h"

namespace kvmrr {

namespace {

constexpr uint64_t kPresent = 1, kWritable = 2, kHuge = 1u << 7;
// Accessed and dirty set from the start: otherwise the CPU's page walker
// sets them on first use, and each of those stores dirties a page-table
// page in KVM's dirty log. Those writes would be the CPU's, not the
// guest's, and an emulator that does not make them (Unicorn) would log
// different pages for the same run.
constexpr uint64_t kAccessed = 1u << 5, kDirty = 1u << 6;
constexpr uint64_t kCr0Pe = 1, kCr0Mp = 2, kCr0Et = 1u << 4, kCr0Ne = 1u << 5, kCr0Wp = 1u << 16, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1u << 5;
constexpr uint64_t kEferLme = 1u << 8, kEferLma = 1u << 10;

void write_u64s(MemoryAddressSpace& mem, uint64_t addr, const uint64_t* v, size_t n) {
    const auto st = mem.write_bytes(Gpa(addr), std::span(reinterpret_cast<const uint8_t*>(v), n * 8));
    if (st != AccessStatus::Ok)
        throw Error("long-mode set-up: cannot write boot structures at " + hex(addr) + ": " + access_status_name(st) +
                    " (the machine needs RAM at 0-" + hex(kBootAreaEnd) + ")");
}

kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.dpl = 0;
    s.db = code ? 0 : 1;  // a 64-bit code segment has L=1, D=0
    s.s = 1;
    s.l = code ? 1 : 0;
    s.g = 1;
    return s;
}

}  // namespace

CpuState long_mode_state(MemoryAddressSpace& mem, const kvm_sregs& initial, uint64_t entry) {
    // Page tables: PML4[0] -> PDPT, PDPT[0..3] -> four PDs of 512 2 MiB pages.
    const uint64_t pml4[1] = {kPdptAddr | kPresent | kWritable | kAccessed};
    write_u64s(mem, kPml4Addr, pml4, 1);
    std::array<uint64_t, 4> pdpt{};
    for (uint64_t i = 0; i < 4; ++i) pdpt[i] = (kPdAddr + i * 0x1000) | kPresent | kWritable | kAccessed;
    write_u64s(mem, kPdptAddr, pdpt.data(), pdpt.size());
    std::array<uint64_t, 2048> pd{};
    for (uint64_t i = 0; i < pd.size(); ++i) pd[i] = (i << 21) | kPresent | kWritable | kHuge | kAccessed | kDirty;
    write_u64s(mem, kPdAddr, pd.data(), pd.size());
    // GDT: null, 64-bit code (0x08), data (0x10), their accessed bits set
    // for the same reason. KVM uses the cached descriptors below, but an
    // iret or a segment reload reads these.
    const uint64_t gdt[3] = {0, 0x00af9b000000ffff, 0x00cf93000000ffff};
    write_u64s(mem, kGdtAddr, gdt, 3);

    CpuState st;
    st.sregs = initial;
    st.sregs.cr3 = kPml4Addr;
    st.sregs.cr4 = kCr4Pae;
    st.sregs.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
    // No EFER.SCE: the guests have no use for SYSCALL at boot, and the
    // emulator's CPU model drops the bit, so the final EFER would differ.
    st.sregs.efer = kEferLme | kEferLma;
    st.sregs.gdt.base = kGdtAddr;
    st.sregs.gdt.limit = sizeof gdt - 1;
    st.sregs.cs = flat_segment(0x08, 0xb, true);
    const kvm_segment data = flat_segment(0x10, 0x3, false);
    st.sregs.ds = st.sregs.es = st.sregs.fs = st.sregs.gs = st.sregs.ss = data;
    st.regs.rip = entry;
    st.regs.rsp = kLongModeStackTop;
    st.regs.rflags = 0x2;  // reserved bit 1; interrupts off
    return st;
}

CpuState real_mode_state(const kvm_sregs& initial, uint64_t entry) {
    if (entry > 0xffff) throw Error("real mode: entry " + hex(entry) + " is above 0xffff (CS base is 0)");
    CpuState st;
    st.sregs = initial;
    for (kvm_segment* s : {&st.sregs.cs, &st.sregs.ds, &st.sregs.es, &st.sregs.fs, &st.sregs.gs, &st.sregs.ss}) {
        s->base = 0;
        s->selector = 0;
    }
    st.regs.rip = entry;
    st.regs.rsp = kRealModeStackTop;
    st.regs.rflags = 0x2;
    return st;
}

}  // namespace kvmrr
