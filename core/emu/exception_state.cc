#include "core/emu/exception_state.h"

#include <cstring>
#include <vector>

namespace kvmrr::emu {

namespace {

struct Context {
    uc_context* ctx = nullptr;
    ~Context() {
        if (ctx) uc_context_free(ctx);
    }
};

struct Engine {
    uc_engine* uc = nullptr;
    ~Engine() {
        if (uc) uc_close(uc);
    }
};

struct Layout {
    size_t error_code;
    size_t old_exception;
};

constexpr size_t kOldExceptionPastErrorCode = 112;

void stop_on_interrupt(uc_engine* uc, uint32_t, void*) { uc_emu_stop(uc); }

std::vector<uint8_t> saved(uc_engine* uc) {
    Context c;
    if (uc_context_alloc(uc, &c.ctx) != UC_ERR_OK || uc_context_save(uc, c.ctx) != UC_ERR_OK) return {};
    std::vector<uint8_t> out(uc_context_size(uc));
    std::memcpy(out.data(), c.ctx, out.size());
    return out;
}

// The CPU states of one 64-bit engine whose GDT holds only the null
// descriptor: before it runs, then after `mov ax, selector; mov fs, ax`
// (#GP(selector without its RPL)) for each selector, the state before
// running put back in between (so that the second #GP is not a #DF). One
// engine, not one per state: each costs Unicorn's initialisation, a
// tenth of a millisecond and more, at every start of the emulator.
struct ScratchStates {
    std::vector<uint8_t> fresh, a, b;
};
std::optional<ScratchStates> states_of_scratch_engine(uint16_t selector_a, uint16_t selector_b) {
    Engine e;
    Context before;
    uc_hook h{};
    const uc_x86_mmr gdt{0, 0x800, 7, 0};
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &e.uc) != UC_ERR_OK || uc_mem_map(e.uc, 0, 0x1000, UC_PROT_ALL) != UC_ERR_OK ||
        uc_reg_write(e.uc, UC_X86_REG_GDTR, &gdt) != UC_ERR_OK ||
        uc_hook_add(e.uc, &h, UC_HOOK_INTR, reinterpret_cast<void*>(stop_on_interrupt), nullptr, 1, 0) != UC_ERR_OK ||
        uc_context_alloc(e.uc, &before.ctx) != UC_ERR_OK || uc_context_save(e.uc, before.ctx) != UC_ERR_OK)
        return std::nullopt;
    auto gp_state = [&](uint16_t s) {
        const uint8_t stub[] = {0x66, 0xb8, static_cast<uint8_t>(s), static_cast<uint8_t>(s >> 8), 0x8e, 0xe0, 0xf4};
        if (uc_context_restore(e.uc, before.ctx) != UC_ERR_OK || uc_mem_write(e.uc, 0, stub, sizeof stub) != UC_ERR_OK ||
            uc_ctl_remove_cache(e.uc, 0, 0x1000) != UC_ERR_OK)
            return std::vector<uint8_t>{};
        uc_emu_start(e.uc, 0, sizeof stub, 0, 0);
        return saved(e.uc);
    };
    ScratchStates out;
    out.fresh = saved(e.uc);
    out.a = gp_state(selector_a);
    out.b = gp_state(selector_b);
    return out;
}

int32_t int_at(const std::vector<uint8_t>& state, size_t at) {
    int32_t v = 0;
    std::memcpy(&v, state.data() + at, sizeof v);
    return v;
}

std::optional<Layout> find_layout() {
    // RPL 3, which the error code leaves out: AX, which holds the
    // selector, then does not hold the code too.
    constexpr uint16_t kA = 0x1238, kB = 0x2460;
    const std::optional<ScratchStates> states = states_of_scratch_engine(kA | 3, kB | 3);
    if (!states) return std::nullopt;
    const std::vector<uint8_t>& a = states->a;
    const std::vector<uint8_t>& b = states->b;
    const std::vector<uint8_t>& fresh = states->fresh;
    if (a.empty() || a.size() != b.size() || a.size() != fresh.size()) return std::nullopt;
    std::optional<size_t> code;
    for (size_t at = 0; at + 4 <= a.size(); at += 4) {
        if (int_at(a, at) != kA || int_at(b, at) != kB) continue;
        if (code) return std::nullopt;  // ambiguous
        code = at;
    }
    if (!code) return std::nullopt;
    const size_t old = *code + kOldExceptionPastErrorCode;
    if (old + 4 > a.size() || int_at(fresh, old) != -1 || int_at(a, old) != 13 || int_at(b, old) != 13) return std::nullopt;
    return Layout{*code, old};
}

// A fact of the linked Unicorn library, the same for every engine: found
// once, never changed after.
const std::optional<Layout>& layout() {
    static const std::optional<Layout> l = find_layout();
    return l;
}

}  // namespace

bool pushes_error_code(unsigned vector) {
    switch (vector) {
        case 8: case 10: case 11: case 12: case 13: case 14: case 17: case 21: case 29: case 30:
            return true;
        default:
            return false;
    }
}

bool exception_state_known() { return layout().has_value(); }

std::optional<uint32_t> last_error_code(uc_engine* uc) {
    if (!layout()) return std::nullopt;
    const std::vector<uint8_t> s = saved(uc);
    if (layout()->error_code + 4 > s.size()) return std::nullopt;
    return static_cast<uint32_t>(int_at(s, layout()->error_code));
}

bool mark_exception_delivered(uc_engine* uc) {
    if (!layout()) return false;
    Context c;
    if (uc_context_alloc(uc, &c.ctx) != UC_ERR_OK || uc_context_save(uc, c.ctx) != UC_ERR_OK) return false;
    if (layout()->old_exception + 4 > uc_context_size(uc)) return false;
    const int32_t none = -1;
    std::memcpy(reinterpret_cast<uint8_t*>(c.ctx) + layout()->old_exception, &none, sizeof none);
    return uc_context_restore(uc, c.ctx) == UC_ERR_OK;
}

}  // namespace kvmrr::emu
