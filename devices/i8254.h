// Pit: the PC's 8254 programmable interval timer (three channels at
// 1,193,182 Hz) and the timer bits of port 0x61, as on QEMU's `pc` machine.
//
// Windows claimed: "pit" (I/O 0x40, 4 bytes: counters 0-2 and the control
// word register) and "pit-port61" (I/O 0x61, 1 byte: bit 0 channel 2 gate,
// bit 1 speaker data enable, both writable; bit 4 the refresh toggle, which
// flips on every read as in QEMU, so it needs no clock; bit 5 channel 2's
// OUT). Counters are functions of GuestClock::now_ns(), read at most once
// per guest access and only when it needs the time: a count write, a
// change of channel 2's gate, and a counter read, latch, read-back, control
// word or port 0x61 read that touches a channel while it counts. Channel 0's OUT
// drives `irq0`; as a TimerDevice the board asks next_deadline_ns() (the
// next rising edge of that OUT) and calls run_timers() when it has come,
// which delivers at most one edge however many periods passed (a lost
// tick). Channels 0 and 1 have their gate tied high. All six modes follow
// the 8254 datasheet (modes 6 and 7 are 2 and 3), with these choices:
// a count is shown from the moment it is written (the chip shows the old
// value until the next clock edge; the null-count status bit still says
// "not loaded" for that clock); a new count written in modes 2 and 3
// restarts the period at once, as in QEMU, where the chip would finish the
// current one; count 1 in modes 2 and 3, which the datasheet calls
// illegal, runs as count 2; BCD counting is recorded in the status byte
// but the counter counts in binary. Power-on state as QEMU's reset: every
// channel in mode 3 with count 65536, channels 0 and 1 counting from time
// 0, channel 2 held by its low gate. The device must outlive the
// MemorySystem it is attached to.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"
#include "devices/guest_clock.h"
#include "devices/irq.h"

namespace kvmrr {

class Pit final : public Device, public TimerDevice {
public:
    static constexpr uint64_t kHz = 1'193'182;

    // `irq0` is ISA IRQ 0 (the PIC's input 0); unconnected, the timer still
    // counts but interrupts nobody.
    explicit Pit(GuestClock& clock, IrqLine irq0 = {});
    Pit(const Pit&) = delete;
    Pit& operator=(const Pit&) = delete;

    std::string_view name() const override { return "i8254"; }
    uint32_t model_version() const override { return 1; }
    // Claims "pit" and "pit-port61" (both checked first). Throws
    // kvmrr::Error if one is missing or claimed, or if attached already.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    uint64_t state_digest() const override;

    int64_t next_deadline_ns() const override;
    void run_timers(int64_t now_ns) override;

private:
    enum class State : uint8_t {
        Idle,      // control word written, no count yet
        Armed,     // a count, waiting for a rising gate (modes 1, 5; modes 2, 3 with the gate low)
        Counting,  // counting clocks since base_ns (while `running`)
    };

    struct Channel {
        uint8_t mode = 3;     // as written (0-7); modes 6 and 7 act as 2 and 3
        uint8_t rw_mode = 0;  // 1 LSB, 2 MSB, 3 LSB then MSB; 0 until programmed (acts as LSB)
        bool bcd = false;
        uint8_t read_state = 0;   // the byte the next counter read returns
        uint8_t write_state = 0;  // the byte the next counter write sets
        uint8_t write_lsb = 0;    // the first byte of a two-byte count
        uint8_t count_latched = 0;  // a latched count waiting to be read (rw state), or 0
        uint16_t latched_count = 0;
        bool status_latched = false;
        uint8_t status = 0;
        uint32_t count = 65536;  // the count register (1-65536)
        uint32_t n = 65536;      // the count in use (the last one loaded)
        State state = State::Counting;
        bool running = true;        // Counting: the gate lets it count
        bool loaded = true;         // the count register was loaded into the counter
        bool gate = true;
        uint16_t held = 0;          // what the counter shows while Idle or Armed
        int64_t base_ns = 0;        // Counting: when counting (re)started
        uint64_t elapsed_before = 0;  // clocks counted before base_ns (modes 0, 4 with the gate)

        unsigned eff_mode() const { return mode >= 6 ? mode - 4u : mode; }
        // Clocks counted since the count was loaded (or the trigger).
        uint64_t elapsed(int64_t now) const;
        uint16_t counter(int64_t now) const;
        bool out(int64_t now) const;
        // The next clock (elapsed count) after `e` at which OUT rises, or 0.
        uint64_t next_rise(uint64_t e) const;
        bool null_count(int64_t now) const;
    };

    class PitOps final : public RegionOps {
    public:
        explicit PitOps(Pit& p) : p_(p) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;

    private:
        Pit& p_;
    };
    class Port61Ops final : public RegionOps {
    public:
        explicit Port61Ops(Pit& p) : p_(p) {}
        uint64_t read(uint64_t offset, unsigned size) override;
        void write(uint64_t offset, uint64_t value, unsigned size) override;

    private:
        Pit& p_;
    };

    // The time of this guest access, read from the clock at most once per
    // access and never earlier than a time already seen.
    int64_t now();
    void begin_access() { have_now_ = false; }
    // now() if `c`'s counter or OUT depend on the time, else the latest
    // time seen (which they ignore): a held counter costs no clock read.
    int64_t time_for(const Channel& c);

    uint8_t read_counter(unsigned ch);
    void write_counter(unsigned ch, uint8_t v);
    void write_control(uint8_t v);
    void latch_count(unsigned ch);
    void latch_status(unsigned ch);
    void load_count(unsigned ch, uint32_t value);
    void set_gate2(bool level);
    uint8_t read_port61();
    // Stops a running count in place (the datasheet's "counting disabled").
    void freeze(Channel& c, int64_t t);

    // Channel 0's OUT to irq0: delivers an edge that came due by `t` and
    // brings the line to OUT's level at `t`. Called before channel 0
    // changes, so edges of the old programming are not lost.
    void sync_irq(int64_t t);
    void set_irq_level(bool level);
    int64_t time_of(const Channel& c, uint64_t e) const;

    GuestClock& clock_;
    IrqLine irq0_;
    PitOps pit_ops_{*this};
    Port61Ops port61_ops_{*this};
    bool attached_ = false;
    bool have_now_ = false;
    int64_t now_ = 0;
    int64_t latest_ns_ = 0;  // the latest time seen, from the clock or run_timers

    // Guest-visible state (all in the digest).
    std::array<Channel, 3> ch_{};
    bool speaker_on_ = false;
    bool refresh_ = false;
    // The line's level as last driven. It starts high without a call (OUT
    // is high at power-on), so the first edge the PIC sees is OUT's first rise.
    bool irq_level_ = true;
    int64_t irq_checked_ns_ = 0;  // edges up to this time are delivered
};

}  // namespace kvmrr
