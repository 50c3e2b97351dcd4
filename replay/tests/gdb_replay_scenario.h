// One debugging session over a guest replay, for the emulator's test and
// KVM's (gdb_server_test.cc, gdb_replay_kvm_test.cc): the stub holds the
// guest before its first instruction; the client single-steps until an
// instruction comes round again (a loop), breaks there twice, removes the
// breakpoint and lets the replay run to its end, which must still match
// the recording in every event.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <future>
#include <set>
#include <string>
#include <thread>

#include "record/trace_reader.h"
#include "replay/guest_replay.h"
#include "replay/tests/gdb_client.h"

namespace kvmrr::testing {

constexpr size_t kRipAt = 2 * 128;  // in a 'g' reply: after 16 8-byte GPRs, in hex digits

inline uint64_t rip_of(GdbClient& c) { return GdbClient::le(c.ask("g"), kRipAt, 8); }

// Offsets in a 'g' reply, in hex digits (the stub's target description).
constexpr size_t kCsAt = 2 * 140, kCr0At = 2 * 552, kEferAt = 2 * 584;

// Where the instruction at the stop is, linear, where the 'g' reply can
// say (real mode: CS * 16 + IP; long mode: RIP); 0 in protected mode,
// whose CS base the reply does not hold.
inline uint64_t linear_pc(const std::string& g) {
    const uint64_t rip = GdbClient::le(g, kRipAt, 8);
    if (GdbClient::le(g, kEferAt, 8) & 0x400) return rip;  // EFER.LMA
    if (!(GdbClient::le(g, kCr0At, 8) & 1)) return (GdbClient::le(g, kCsAt, 4) << 4) + (rip & 0xffff);
    return 0;
}

// Runs `script` against a guest replay of `trace` on `accel` with the
// stub; returns the replay's report.
template <typename Script>
ReplayReport under_gdb(const std::string& trace, Accel accel, Script script,
                       const std::function<void(Machine&)>& prepare_machine = {},
                       std::optional<uint64_t> after_event = std::nullopt) {
    TraceReader reader = TraceReader::open(trace);
    std::promise<uint16_t> port;
    ReplayOptions o;
    o.accel = accel;
    o.prepare_machine = prepare_machine;
    o.gdb_port = 0;
    o.gdb_after_event = after_event;
    o.reopen_trace = [trace] { return TraceReader::open(trace); };
    o.gdb_arch = GdbArch::Amd64;  // the 'g' offsets above
    o.gdb_listening = [&](const ReplayOptions::GdbListening& l) { port.set_value(l.port); };
    ReplayReport rep;
    std::string failure;
    std::thread replay([&] {
        try {
            rep = replay_guest(reader, o);
        } catch (const std::exception& e) {
            failure = e.what();
            try {
                port.set_value(0);
            } catch (const std::future_error&) {
            }
        }
    });
    [&] {
        std::future<uint16_t> ready = port.get_future();
        ASSERT_EQ(ready.wait_for(std::chrono::seconds(30)), std::future_status::ready);
        const uint16_t p = ready.get();
        ASSERT_NE(p, 0) << failure;
        try {
            GdbClient c(p);
            script(c);
        } catch (const std::exception& e) {
            // A stub waiting for a connection that cannot come would hold
            // the join for ever: the test fails, and leaves that thread.
            ADD_FAILURE() << "the client: " << e.what();
            replay.detach();
        }
    }();
    if (replay.joinable()) replay.join();
    EXPECT_EQ(failure, "");
    return rep;
}

inline void debug_a_replay(const std::string& trace, Accel accel) {
    const uint64_t first_rip = TraceReader::open(trace).header().initial_regs.at(0).gprs.at(16);
    const ReplayReport rep = under_gdb(trace, accel, [&](GdbClient& c) {
        const std::string supported = c.ask("qSupported:multiprocess+;swbreak+;hwbreak+");
    EXPECT_NE(supported.find("qXfer:features:read+"), std::string::npos);
    // Backwards only where instructions are counted: not on KVM.
    EXPECT_EQ(supported.find("ReverseStep+") != std::string::npos, accel == Accel::Emu) << supported;
    if (accel != Accel::Emu) {
        EXPECT_EQ(c.ask("bs"), "");
    }
        EXPECT_EQ(c.ask("?"), "S05");
        EXPECT_EQ(rip_of(c), first_rip);
        // crt0's first instruction: cli; cld (fixtures/README.md).
        char req[64];
        std::snprintf(req, sizeof req, "m%llx,2", static_cast<unsigned long long>(first_rip));
        EXPECT_EQ(c.ask(req), "fafc");
        std::set<uint64_t> seen{first_rip};
        uint64_t loop = 0;
        for (int i = 0; i < 20000 && !loop; ++i) {
            ASSERT_EQ(c.ask("vCont;s:1"), "S05") << "step " << i;
            const uint64_t rip = rip_of(c);
            if (!seen.insert(rip).second) loop = rip;
        }
        ASSERT_NE(loop, 0u) << "no instruction came round again";
        std::snprintf(req, sizeof req, "Z0,%llx,1", static_cast<unsigned long long>(loop));
        ASSERT_EQ(c.ask(req), "OK");
        const std::string regs_before = c.ask("g");
        for (int round = 0; round < 2; ++round) {
            ASSERT_EQ(c.ask("vCont;c"), "S05") << "round " << round;
            const std::string regs = c.ask("g");
            EXPECT_EQ(GdbClient::le(regs, kRipAt, 8), loop);
            EXPECT_NE(regs, regs_before) << "the loop went round: something changed";
        }
        req[0] = 'z';
        ASSERT_EQ(c.ask(req), "OK");
        EXPECT_EQ(c.ask("c"), "W00");  // the replay ran to its end and matched
        EXPECT_TRUE(c.closed());
    });
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << "\n" << (rep.divergence ? rep.divergence->describe() : "");
    EXPECT_FALSE(rep.divergence);
}

// Determinism under the debugger: the state found after `steps` single
// steps is found again, register for register, by a breakpoint at that
// instruction's first coming in a second replay that only continues.
inline void same_state_at_a_breakpoint(const std::string& trace, Accel accel, int steps) {
    std::string stepped;
    uint64_t where = 0;
    const ReplayReport first = under_gdb(trace, accel, [&](GdbClient& c) {
        std::set<uint64_t> seen{linear_pc(c.ask("g"))};
        for (int i = 0; i < steps; ++i) {
            ASSERT_EQ(c.ask("s"), "S05");
            const std::string g = c.ask("g");
            const uint64_t at = linear_pc(g);
            if (at && seen.insert(at).second) {
                stepped = g;  // the last instruction met for the first time
                where = at;
            }
        }
        ASSERT_NE(where, 0u);
        c.ask("D");
    });
    EXPECT_TRUE(first.reproduced()) << first.summary();
    ASSERT_NE(where, 0u);
    const ReplayReport second = under_gdb(trace, accel, [&](GdbClient& c) {
        char req[64];
        std::snprintf(req, sizeof req, "Z0,%llx,1", static_cast<unsigned long long>(where));
        ASSERT_EQ(c.ask(req), "OK");
        ASSERT_EQ(c.ask("c"), "S05");
        EXPECT_EQ(c.ask("g"), stepped);
        c.ask("D");
    });
    EXPECT_TRUE(second.reproduced()) << second.summary();
}

// GDB's `monitor COMMAND`: the text the stub sends for GDB's console.
inline std::string monitor(GdbClient& c, const std::string& command) {
    std::string req = "qRcmd,";
    char b[3];
    for (const unsigned char ch : command) {
        std::snprintf(b, sizeof b, "%02x", ch);
        req += b;
    }
    c.send(req);
    std::string text;
    for (std::string r = c.reply(); r != "OK"; r = c.reply()) {
        if (r.empty() || r[0] != 'O') throw std::runtime_error("not console output: " + r);
        for (size_t i = 1; i + 1 < r.size(); i += 2) text += static_cast<char>(std::stoul(r.substr(i, 2), nullptr, 16));
    }
    return text;
}

// The seq of the trace's `n`-th access event (from 1).
inline uint64_t nth_access(const std::string& trace, size_t n) {
    TraceReader r = TraceReader::open(trace);
    TraceEvent e;
    while (r.next(e))
        if (std::holds_alternative<AccessEvent>(e.body) && --n == 0) return e.seq;
    return 0;
}

// A debugger waited for after a recorded exit (`--gdb-after`) finds the
// state that single steps from the start find right after that exit,
// register for register, and `monitor when` says the same of both.
inline void same_state_after_an_event(const std::string& trace, Accel accel, size_t access) {
    const uint64_t seq = nth_access(trace, access);
    ASSERT_NE(seq, 0u);
    const std::string mark = "the last access: #" + std::to_string(seq) + " ";
    std::string stepped, when;
    const ReplayReport first = under_gdb(trace, accel, [&](GdbClient& c) {
        EXPECT_NE(monitor(c, "when").find("before the guest's first exit\n"), std::string::npos);
        for (int i = 0; i < 50000 && stepped.empty(); ++i) {
            ASSERT_EQ(c.ask("s"), "S05") << "step " << i;
            const std::string w = monitor(c, "when");
            if (w.find(mark) != std::string::npos) {
                stepped = c.ask("g");
                when = w;
            }
        }
        c.ask("D");
    });
    EXPECT_TRUE(first.reproduced()) << first.summary();
    ASSERT_FALSE(stepped.empty()) << "no step came after event #" << seq;
    const ReplayReport second = under_gdb(
        trace, accel,
        [&](GdbClient& c) {
            EXPECT_EQ(c.ask("?"), "S05");
            EXPECT_EQ(c.ask("g"), stepped);
            EXPECT_EQ(monitor(c, "when"), when);
            EXPECT_NE(monitor(c, "help").find("when"), std::string::npos);
            EXPECT_EQ(c.ask("c"), "W00");  // the replay ran to its end and matched
        },
        {}, seq);
    EXPECT_TRUE(second.reproduced()) << second.summary();
}

// The instructions done that `monitor when` reports.
inline uint64_t position_of(GdbClient& c) {
    const std::string w = monitor(c, "when");
    const size_t at = w.find("kvmrr: ");
    return std::stoull(w.substr(at + 7));
}

// Going backwards on the emulator (each reverse step or continue runs
// the replay again from its start): every state found by stepping
// forwards is found again, register for register, by stepping back to
// its position; a reverse continue stops at the last coming of a
// breakpoint before where it was asked from, then at the one before;
// without breakpoints it goes back to the start ("replaylog:begin"); and
// the replay still runs to its end as recorded.
inline void reverse_execution(const std::string& trace, int steps) {
    const ReplayReport rep = under_gdb(trace, Accel::Emu, [&](GdbClient& c) {
        EXPECT_NE(c.ask("qSupported:multiprocess+;swbreak+;hwbreak+").find("ReverseStep+;ReverseContinue+"),
                  std::string::npos);
        EXPECT_EQ(c.ask("bs"), "T05replaylog:begin;");  // nothing before the start
        std::map<uint64_t, std::string> state;          // by position
        std::map<uint64_t, std::vector<uint64_t>> comings;  // linear pc -> positions it was at
        state[position_of(c)] = c.ask("g");
        ASSERT_EQ(state.begin()->first, 0u);
        comings[linear_pc(state[0])].push_back(0);
        uint64_t now = 0;
        for (int i = 0; i < steps; ++i) {
            ASSERT_EQ(c.ask("s"), "S05");
            now = position_of(c);
            const std::string g = c.ask("g");
            state.emplace(now, g);
            comings[linear_pc(g)].push_back(now);
        }
        // Back, one instruction at a time.
        for (int i = 0; i < 5; ++i) {
            ASSERT_EQ(c.ask("bs"), "S05");
            const uint64_t back = position_of(c);
            EXPECT_EQ(back, now - 1);
            now = back;
            ASSERT_TRUE(state.count(now)) << now;
            EXPECT_EQ(c.ask("g"), state[now]) << "at " << now;
        }
        // A breakpoint at an instruction that came at least three times
        // before here.
        uint64_t loop = 0;
        std::vector<uint64_t> at;
        for (const auto& [pc, positions] : comings) {
            std::vector<uint64_t> before;
            for (const uint64_t p : positions)
                if (p < now) before.push_back(p);
            if (pc && before.size() >= 3 && before.back() + 1 < now) {
                loop = pc;
                at = before;
                break;
            }
        }
        ASSERT_NE(loop, 0u) << "no instruction came round three times";
        char req[64];
        std::snprintf(req, sizeof req, "Z0,%llx,1", static_cast<unsigned long long>(loop));
        ASSERT_EQ(c.ask(req), "OK");
        for (size_t k = 0; k < 2; ++k) {
            ASSERT_EQ(c.ask("bc"), "S05") << k;
            const uint64_t p = position_of(c);
            EXPECT_EQ(p, at[at.size() - 1 - k]);
            EXPECT_EQ(c.ask("g"), state[p]) << "at " << p;
        }
        req[0] = 'z';
        ASSERT_EQ(c.ask(req), "OK");
        EXPECT_EQ(c.ask("bc"), "T05replaylog:begin;");
        EXPECT_EQ(position_of(c), 0u);
        EXPECT_EQ(c.ask("g"), state[0]);
        // Forwards again, to the same states.
        ASSERT_EQ(c.ask("s"), "S05");
        const uint64_t one = position_of(c);
        EXPECT_EQ(c.ask("g"), state[one]);
        EXPECT_EQ(c.ask("c"), "W00");  // the replay ran to its end and matched
    });
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << "\n" << (rep.divergence ? rep.divergence->describe() : "");
}

}  // namespace kvmrr::testing
