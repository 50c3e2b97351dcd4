// What Unicorn 2.0.1 itself costs, next to QEMU's TCG, on the loop that
// takes most of SeaBIOS's boot (its memset: a byte store in a
// five-instruction loop, 0xefda1 in Debian's bios.bin).
//
//   kvmrr_unicorn_floor ROUNDS_OF_65536 [BIOS_OUT]
//
// Runs the same real-mode code on a bare Unicorn engine five ways (no
// hooks; an instruction hook; instruction, block and memory hooks, as
// kvmrr's emulator had; then with RAM read-only to Unicorn and each store
// made by a write-protect hook that copies it into the host memory, as
// kvmrr's emulator now stores without paging (core/emu/emu_engine.h):
// that hook alone, and with the other three) and prints each one's
// seconds. With BIOS_OUT it
// also writes the code as a 64 KiB firmware image for QEMU's pc machine,
// which ends QEMU through isa-debug-exit at 0xf4 (bench/unicorn_floor.sh
// times that side by side).
#include <unicorn/unicorn.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kCode = 0xfe000;  // f000:e000, where the reset vector jumps

// cli; ds = 0x1000; ebx = rounds; each round: edx = 0x10000, then
// `test edx,edx; je; dec edx; mov byte [edx],0; jmp` down to 0 (SeaBIOS's
// memset loop, in real mode with 32-bit registers); dec ebx; jnz; then
// out 0xf4 (QEMU's isa-debug-exit) and hlt.
std::vector<uint8_t> code(uint32_t rounds) {
    std::vector<uint8_t> c = {0xfa, 0xb8, 0x00, 0x10, 0x8e, 0xd8, 0x66, 0xbb};
    for (int i = 0; i < 4; ++i) c.push_back(static_cast<uint8_t>(rounds >> (8 * i)));
    const std::vector<uint8_t> rest = {
        0x66, 0xba, 0x00, 0x00, 0x01, 0x00,  // 12: mov edx, 0x10000
        0x66, 0x85, 0xd2,                    // 18: test edx, edx
        0x74, 0x08,                          // 21: je 31
        0x66, 0x4a,                          // 23: dec edx
        0x67, 0xc6, 0x02, 0x00,              // 25: mov byte [edx], 0
        0xeb, 0xf3,                          // 29: jmp 18
        0x66, 0x4b,                          // 31: dec ebx
        0x75, 0xe9,                          // 33: jnz 12
        0xb0, 0x00, 0xe6, 0xf4,              // 35: out 0xf4, al (al = 0)
        0xf4,                                // 39: hlt
    };
    c.insert(c.end(), rest.begin(), rest.end());
    return c;
}
constexpr uint64_t kOutOffset = 35;

uint64_t bump(void* u) { return ++*static_cast<uint64_t*>(u); }
void on_code(uc_engine*, uint64_t, uint32_t, void* u) { bump(u); }
void on_mem(uc_engine*, uc_mem_type, uint64_t, int, int64_t, void* u) { bump(u); }

struct Ram {
    uint8_t* bytes;
    uint64_t* calls;
};
bool store_by_hook(uc_engine*, uc_mem_type, uint64_t addr, int size, int64_t value, void* u) {
    auto* r = static_cast<Ram*>(u);
    ++*r->calls;
    std::memcpy(r->bytes + addr, &value, static_cast<size_t>(size));  // x86: little-endian
    return true;
}

enum Hooks { kNone, kCodeHook, kAll, kStoreHook, kStoreHookAndAll };

double run_unicorn(const std::vector<uint8_t>& c, Hooks hooks, uint64_t& calls) {
    uc_engine* uc = nullptr;
    if (uc_open(UC_ARCH_X86, UC_MODE_16, &uc) != UC_ERR_OK) std::exit(1);
    std::vector<uint8_t> host(1 << 20);
    Ram ram{host.data(), &calls};
    uc_hook h;
    calls = 0;
    if (hooks >= kStoreHook) {
        // Host memory in place, then read-only (uc_mem_protect marks the
        // region so; the stores reach the write-protect hook).
        uc_mem_map_ptr(uc, 0, host.size(), UC_PROT_ALL, host.data());
        uc_mem_protect(uc, 0, host.size(), UC_PROT_READ | UC_PROT_EXEC);
        std::memcpy(host.data() + kCode, c.data(), c.size());
        uc_hook_add(uc, &h, UC_HOOK_MEM_WRITE_PROT, reinterpret_cast<void*>(store_by_hook), &ram, 1, 0);
    } else {
        uc_mem_map(uc, 0, 1 << 20, UC_PROT_ALL);
        uc_mem_write(uc, kCode, c.data(), c.size());
    }
    if (hooks == kCodeHook || hooks == kAll || hooks == kStoreHookAndAll)
        uc_hook_add(uc, &h, UC_HOOK_CODE, reinterpret_cast<void*>(on_code), &calls, 1, 0);
    if (hooks == kAll || hooks == kStoreHookAndAll) {
        uc_hook_add(uc, &h, UC_HOOK_BLOCK, reinterpret_cast<void*>(on_code), &calls, 1, 0);
        uc_hook_add(uc, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(on_mem), &calls, 1, 0);
    }
    const uint32_t cs = 0xf000, ip = 0xe000;
    uc_reg_write(uc, UC_X86_REG_CS, &cs);
    uc_reg_write(uc, UC_X86_REG_EIP, &ip);
    const auto t0 = std::chrono::steady_clock::now();
    const uc_err e = uc_emu_start(uc, kCode, kCode + kOutOffset, 0, 0);
    const auto t1 = std::chrono::steady_clock::now();
    // The loop's last round zeroes 0x10000..0x1ffff (DS 0x1000): check
    // that the stores landed, whichever way they went.
    uint8_t landed[2] = {1, 1};
    uc_mem_read(uc, 0x10000, landed, 1);
    uc_mem_read(uc, 0x1ffff, landed + 1, 1);
    uc_close(uc);
    if (landed[0] != 0 || landed[1] != 0) {
        std::fprintf(stderr, "unicorn: the loop's stores did not land\n");
        std::exit(1);
    }
    if (e != UC_ERR_OK) {
        std::fprintf(stderr, "unicorn: %s\n", uc_strerror(e));
        std::exit(1);
    }
    return std::chrono::duration<double>(t1 - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s ROUNDS_OF_65536 [BIOS_OUT]\n", argv[0]);
        return 2;
    }
    char* end = nullptr;
    const unsigned long rounds = std::strtoul(argv[1], &end, 10);
    if (*end != '\0' || rounds == 0 || rounds > 100000) {
        std::fprintf(stderr, "%s: ROUNDS_OF_65536 must be 1 to 100000\n", argv[0]);
        return 2;
    }
    const std::vector<uint8_t> c = code(static_cast<uint32_t>(rounds));
    if (argc == 3) {
        std::vector<uint8_t> rom(0x10000, 0xff);
        std::copy(c.begin(), c.end(), rom.begin() + 0xe000);
        const uint8_t reset[] = {0xea, 0x00, 0xe0, 0x00, 0xf0};  // jmp f000:e000
        std::copy(std::begin(reset), std::end(reset), rom.begin() + 0xfff0);
        std::ofstream(argv[2], std::ios::binary).write(reinterpret_cast<const char*>(rom.data()), static_cast<std::streamsize>(rom.size()));
    }
    const char* names[] = {"unicorn, no hooks", "unicorn, instruction hook", "unicorn, code+block+memory",
                           "stores by hook", "stores by hook+code+block+memory"};
    for (int hooks = kNone; hooks <= kStoreHookAndAll; ++hooks) {
        uint64_t calls = 0;
        const double s = run_unicorn(c, static_cast<Hooks>(hooks), calls);
        std::printf("%-33s %.3f s  %.1f ns a store (%llu hook calls)\n", names[hooks], s, s * 1e9 / (65536.0 * static_cast<double>(rounds)),
                    static_cast<unsigned long long>(calls));
    }
    return 0;
}
