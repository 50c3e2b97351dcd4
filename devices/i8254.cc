#include "devices/i8254.h"

#include <xxhash.h>

#include <vector>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000;

// Read/write states of a counter port (the datasheet's byte flip-flop).
enum Rw : uint8_t { kRwLsb = 1, kRwMsb = 2, kRwWord0 = 3, kRwWord1 = 4 };

// Control word fields.
constexpr uint8_t kReadBack = 0xc0;
constexpr uint8_t kReadBackNoCount = 0x20;
constexpr uint8_t kReadBackNoStatus = 0x10;
// Port 0x61 bits.
constexpr uint8_t kGate2 = 0x01;
constexpr uint8_t kSpeaker = 0x02;
constexpr uint8_t kRefresh = 0x10;
constexpr uint8_t kOut2 = 0x20;

// Whole input clocks in `d` nanoseconds: floor(d * kHz / 1e9), exactly,
// without overflowing for any int64 `d`.
uint64_t clocks_in(int64_t d) {
    if (d <= 0) return 0;
    const auto u = static_cast<uint64_t>(d);
    return u / kNsPerSec * Pit::kHz + u % kNsPerSec * Pit::kHz / kNsPerSec;
}

// The fewest nanoseconds holding `n` clocks: ceil(n * 1e9 / kHz), the
// inverse of clocks_in. Saturates at TimerDevice::kNever.
int64_t ns_for_clocks(uint64_t n) {
    const uint64_t whole = n / Pit::kHz;
    if (whole > static_cast<uint64_t>(TimerDevice::kNever) / kNsPerSec - 1) return TimerDevice::kNever;
    const uint64_t rest = n % Pit::kHz;
    return static_cast<int64_t>(whole * kNsPerSec + (rest * kNsPerSec + Pit::kHz - 1) / Pit::kHz);
}

}  // namespace

uint64_t Pit::Channel::elapsed(int64_t now) const {
    return elapsed_before + (running ? clocks_in(now - base_ns) : 0);
}

uint16_t Pit::Channel::counter(int64_t now) const {
    if (state != State::Counting) return held;
    const uint64_t e = elapsed(now);
    if (e == 0) return static_cast<uint16_t>(n);  // see the header: shown from the write
    switch (eff_mode()) {
        case 2: {
            const uint64_t p = n < 2 ? 2 : n;
            return static_cast<uint16_t>(p - (e - 1) % p);  // N .. 1, then reload
        }
        case 3: {
            const uint64_t p = n < 2 ? 2 : n;
            const uint64_t phase = (e - 1) % p;
            if (p % 2 == 0) return static_cast<uint16_t>(p - 2 * (phase % (p / 2)));  // N, N-2 .. 2
            // Odd: N-1 .. 0 with OUT high ((N+1)/2 clocks), then N-1 .. 2 low.
            const uint64_t high = (p + 1) / 2;
            const uint64_t q = phase < high ? phase : phase - high;
            return static_cast<uint16_t>(p - 1 - 2 * q);
        }
        default:  // 0, 1, 4, 5: down by one, wrapping past zero
            return static_cast<uint16_t>((n - (e - 1)) & 0xffff);
    }
}

bool Pit::Channel::out(int64_t now) const {
    const unsigned m = eff_mode();
    if (state == State::Idle) return m != 0;  // the level a control word sets
    if (state == State::Armed) return true;
    const uint64_t e = elapsed(now);
    switch (m) {
        case 0: return e >= uint64_t{n} + 1;                 // high at terminal count
        case 1: return e == 0 || e >= uint64_t{n} + 1;       // low from the trigger to terminal count
        case 2: {
            const uint64_t p = n < 2 ? 2 : n;
            return e == 0 || e % p != 0;  // low for the clock at which the count reaches 1
        }
        case 3: {
            const uint64_t p = n < 2 ? 2 : n;
            return e == 0 || (e - 1) % p < (p + 1) / 2;
        }
        default: return e != uint64_t{n} + 1;  // 4, 5: a one-clock low strobe
    }
}

uint64_t Pit::Channel::next_rise(uint64_t e) const {
    if (state != State::Counting) return 0;
    const uint64_t n1 = uint64_t{n} + 1;
    switch (eff_mode()) {
        case 0:
        case 1: return e < n1 ? n1 : 0;
        case 2:
        case 3: {
            // Rising edges at k*N + 1, k >= 1.
            const uint64_t p = n < 2 ? 2 : n;
            if (e < p + 1) return p + 1;
            return ((e - 1) / p + 1) * p + 1;
        }
        default: return e < n1 + 1 ? n1 + 1 : 0;
    }
}

bool Pit::Channel::null_count(int64_t now) const {
    return !loaded && !(state == State::Counting && elapsed(now) >= 1);
}

Pit::Pit(GuestClock& clock, IrqLine irq0) : clock_(clock), irq0_(irq0) {
    // QEMU's reset: mode 3, count 65536 everywhere; channel 2's gate is low.
    Channel& c2 = ch_[2];
    c2.gate = false;
    c2.state = State::Armed;
    c2.running = false;
}

void Pit::attach(MemorySystem& sys, MachineMemory& m) {
    if (attached_) throw Error("i8254: this device is attached to a machine already");
    require_window(m, name(), "pit", 4);
    require_window(m, name(), "pit-port61", 1);
    AccessRules rules;
    // Byte registers; a wider access reaches consecutive ports in turn.
    rules.valid = {1, 4, false};
    rules.impl = {1, 1, false};
    claim_io_window(sys, m, "pit", 4, pit_ops_, rules);
    AccessRules one;
    one.valid = {1, 1, false};
    one.impl = {1, 1, false};
    claim_io_window(sys, m, "pit-port61", 1, port61_ops_, one);
    attached_ = true;
}

int64_t Pit::time_for(const Channel& c) {
    return c.state == State::Counting && c.running ? now() : latest_ns_;
}

int64_t Pit::now() {
    if (!have_now_) {
        const int64_t t = clock_.now_ns();
        if (t > latest_ns_) latest_ns_ = t;
        now_ = latest_ns_;
        have_now_ = true;
    }
    return now_;
}

uint64_t Pit::PitOps::read(uint64_t offset, unsigned) {
    p_.begin_access();
    const unsigned port = offset & 3;
    if (port == 3) return 0;  // the control word register is write-only; QEMU reads 0
    return p_.read_counter(port);
}

void Pit::PitOps::write(uint64_t offset, uint64_t value, unsigned) {
    p_.begin_access();
    const unsigned port = offset & 3;
    const auto v = static_cast<uint8_t>(value);
    if (port == 3) p_.write_control(v);
    else p_.write_counter(port, v);
}

uint64_t Pit::Port61Ops::read(uint64_t, unsigned) {
    p_.begin_access();
    return p_.read_port61();
}

void Pit::Port61Ops::write(uint64_t, uint64_t value, unsigned) {
    p_.begin_access();
    p_.speaker_on_ = value & kSpeaker;
    p_.set_gate2(value & kGate2);
}

uint8_t Pit::read_port61() {
    refresh_ = !refresh_;
    const Channel& c2 = ch_[2];
    const int64_t t = time_for(c2);
    return static_cast<uint8_t>((c2.gate ? kGate2 : 0) | (speaker_on_ ? kSpeaker : 0) | (refresh_ ? kRefresh : 0) |
                                (c2.out(t) ? kOut2 : 0));
}

uint8_t Pit::read_counter(unsigned ch) {
    Channel& c = ch_[ch];
    if (c.status_latched) {
        c.status_latched = false;
        return c.status;
    }
    if (c.count_latched) {
        switch (c.count_latched) {
            case kRwMsb:
                c.count_latched = 0;
                return static_cast<uint8_t>(c.latched_count >> 8);
            case kRwWord0:
                c.count_latched = kRwMsb;
                return static_cast<uint8_t>(c.latched_count);
            default:
                c.count_latched = 0;
                return static_cast<uint8_t>(c.latched_count);
        }
    }
    const uint16_t v = c.counter(time_for(c));
    switch (c.read_state) {
        case kRwMsb: return static_cast<uint8_t>(v >> 8);
        case kRwWord0: c.read_state = kRwWord1; return static_cast<uint8_t>(v);
        case kRwWord1: c.read_state = kRwWord0; return static_cast<uint8_t>(v >> 8);
        default: return static_cast<uint8_t>(v);
    }
}

void Pit::latch_count(unsigned ch) {
    Channel& c = ch_[ch];
    if (c.count_latched) return;  // a second latch before the read is ignored
    c.latched_count = c.counter(time_for(c));
    c.count_latched = c.rw_mode ? c.rw_mode : uint8_t{kRwLsb};
}

void Pit::latch_status(unsigned ch) {
    Channel& c = ch_[ch];
    if (c.status_latched) return;
    const int64_t t = time_for(c);
    c.status = static_cast<uint8_t>((c.out(t) ? 0x80 : 0) | (c.null_count(t) ? 0x40 : 0) | (c.rw_mode << 4) |
                                    (c.mode << 1) | (c.bcd ? 1 : 0));
    c.status_latched = true;
}

void Pit::freeze(Channel& c, int64_t t) {
    if (c.state != State::Counting) return;
    c.held = c.counter(t);
    if (c.elapsed(t) >= 1) c.loaded = true;
}

void Pit::write_control(uint8_t v) {
    if ((v & kReadBack) == kReadBack) {
        for (unsigned ch = 0; ch < 3; ++ch) {
            if (!(v & (2u << ch))) continue;
            if (!(v & kReadBackNoCount)) latch_count(ch);
            if (!(v & kReadBackNoStatus)) latch_status(ch);
        }
        return;
    }
    const unsigned ch = v >> 6;
    const unsigned access = (v >> 4) & 3;
    if (access == 0) {
        latch_count(ch);
        return;
    }
    Channel& c = ch_[ch];
    const int64_t t = time_for(c);
    if (ch == 0) sync_irq(t);
    freeze(c, t);
    // All control logic resets; a latched count or status stays, as in QEMU.
    c.rw_mode = static_cast<uint8_t>(access);
    c.read_state = c.write_state = static_cast<uint8_t>(access);
    c.mode = (v >> 1) & 7;
    c.bcd = v & 1;
    c.state = State::Idle;
    c.running = false;
    c.loaded = false;
    if (ch == 0) set_irq_level(c.out(t));
}

void Pit::write_counter(unsigned ch, uint8_t v) {
    Channel& c = ch_[ch];
    switch (c.write_state) {
        case kRwMsb: load_count(ch, uint32_t{v} << 8); break;
        case kRwWord0:
            c.write_lsb = v;
            c.write_state = kRwWord1;
            // Mode 0: the first byte of a new count stops counting and
            // sets OUT low until the second byte arrives.
            if (c.eff_mode() == 0 && c.state == State::Counting) {
                const int64_t t = now();
                if (ch == 0) sync_irq(t);
                freeze(c, t);
                c.state = State::Idle;
                c.running = false;
                if (ch == 0) set_irq_level(false);
            }
            break;
        case kRwWord1:
            c.write_state = kRwWord0;
            load_count(ch, c.write_lsb | uint32_t{v} << 8);
            break;
        default: load_count(ch, v); break;
    }
}

void Pit::load_count(unsigned ch, uint32_t value) {
    Channel& c = ch_[ch];
    const int64_t t = now();
    if (ch == 0) sync_irq(t);
    c.count = value == 0 ? 65536 : value;
    auto start = [&](bool run) {
        c.n = c.count;
        c.state = State::Counting;
        c.base_ns = t;
        c.elapsed_before = 0;
        c.running = run;
    };
    switch (c.eff_mode()) {
        case 0:
        case 4:
            freeze(c, t);
            c.loaded = false;
            start(c.gate);
            break;
        case 1:
        case 5:
            // Loaded at the next trigger; a one-shot in progress goes on
            // with its old count (its status then shows the count loaded,
            // where the chip would show null count until the trigger).
            if (c.state == State::Idle) c.state = State::Armed;
            c.loaded = false;
            break;
        default:  // 2, 3
            freeze(c, t);
            c.loaded = false;
            if (c.gate) start(true);
            else c.state = State::Armed;
            break;
    }
    if (ch == 0) set_irq_level(c.out(t));
}

void Pit::set_gate2(bool level) {
    Channel& c = ch_[2];
    if (c.gate == level) return;
    const int64_t t = now();
    switch (c.eff_mode()) {
        case 0:
        case 4:
            // The gate suspends counting and resumes it where it stopped.
            if (c.state == State::Counting) {
                if (!level) {
                    c.elapsed_before = c.elapsed(t);
                    c.running = false;
                } else {
                    c.base_ns = t;
                    c.running = true;
                }
            }
            break;
        case 1:
        case 5:
            // A rising edge (re)triggers the one-shot with the count register.
            if (level && c.state != State::Idle) {
                c.n = c.count;
                c.state = State::Counting;
                c.base_ns = t;
                c.elapsed_before = 0;
                c.running = true;
            }
            break;
        default:  // 2, 3: low stops counting with OUT high, a rising edge restarts
            if (!level && c.state == State::Counting) {
                freeze(c, t);
                c.state = State::Armed;
                c.running = false;
            } else if (level && c.state == State::Armed) {
                c.n = c.count;
                c.state = State::Counting;
                c.base_ns = t;
                c.elapsed_before = 0;
                c.running = true;
            }
            break;
    }
    c.gate = level;
}

int64_t Pit::time_of(const Channel& c, uint64_t e) const {
    if (e == 0 || c.state != State::Counting || !c.running || e <= c.elapsed_before) return kNever;
    const int64_t d = ns_for_clocks(e - c.elapsed_before);
    if (d >= kNever - c.base_ns) return kNever;
    return c.base_ns + d;
}

int64_t Pit::next_deadline_ns() const {
    const Channel& c = ch_[0];
    return time_of(c, c.next_rise(c.elapsed(irq_checked_ns_)));
}

void Pit::set_irq_level(bool level) {
    if (level == irq_level_) return;
    irq_level_ = level;
    irq0_.set(level);
}

void Pit::sync_irq(int64_t t) {
    if (t < irq_checked_ns_) t = irq_checked_ns_;
    if (next_deadline_ns() <= t) {
        // One edge however many came due: the PIC latches one request.
        set_irq_level(false);
        set_irq_level(true);
    }
    set_irq_level(ch_[0].out(t));
    irq_checked_ns_ = t;
}

void Pit::run_timers(int64_t now_ns) {
    if (now_ns > latest_ns_) latest_ns_ = now_ns;
    sync_irq(now_ns);
}

uint64_t Pit::state_digest() const {
    std::vector<uint8_t> s;
    auto put = [&s](uint64_t v, int bytes) {
        for (int i = 0; i < bytes; ++i) s.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    for (const Channel& c : ch_) {
        put(c.mode, 1);
        put(c.rw_mode, 1);
        put(c.bcd, 1);
        put(c.read_state, 1);
        put(c.write_state, 1);
        put(c.write_lsb, 1);
        put(c.count_latched, 1);
        put(c.latched_count, 2);
        put(c.status_latched, 1);
        put(c.status, 1);
        put(c.count, 4);
        put(c.n, 4);
        put(static_cast<uint8_t>(c.state), 1);
        put(c.running, 1);
        put(c.loaded, 1);
        put(c.gate, 1);
        put(c.held, 2);
        put(static_cast<uint64_t>(c.base_ns), 8);
        put(c.elapsed_before, 8);
    }
    put(speaker_on_, 1);
    put(refresh_, 1);
    put(irq_level_, 1);
    put(static_cast<uint64_t>(irq_checked_ns_), 8);
    return XXH64(s.data(), s.size(), 0);
}

}  // namespace kvmrr
