// The GDB stub of guest replay: the protocol's framing, the stub's answers
// to a debugger over a real loopback connection (a made-up target), and
// debugging sessions over guest replays of golden traces on the emulator
// (gdb_replay_kvm_test.cc runs them on KVM).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/tests/region_test_hook.h"
#include "replay/gdb_server.h"
#include "replay/tests/planted_ops.h"
#include "replay/tests/gdb_client.h"
#include "replay/tests/gdb_replay_scenario.h"

namespace kvmrr {
namespace {

using testing::GdbClient;

std::vector<GdbPacketParser::Item> parse(const std::vector<std::string>& pieces) {
    GdbPacketParser p;
    std::vector<GdbPacketParser::Item> out;
    for (const std::string& s : pieces) p.feed(s, out);
    return out;
}

TEST(GdbFrame, ChecksumsAndEscapes) {
    EXPECT_EQ(gdb_frame(""), "$#00");
    EXPECT_EQ(gdb_frame("OK"), "$OK#9a");
    // '#', '$', '}' and '*' go as '}' and the byte XOR 0x20; the checksum
    // is over what is sent.
    EXPECT_EQ(gdb_frame("a#b"), "$a}\x03" "b#" + [] {
                  char b[3];
                  std::snprintf(b, sizeof b, "%02x", ('a' + '}' + 0x03 + 'b') & 0xff);
                  return std::string(b);
              }());
    EXPECT_EQ(gdb_frame("*").substr(0, 3), "$}\x0a");
}

TEST(GdbPacketParser, TakesPacketsAcksAndInterruptsApart) {
    const auto items = parse({"+$g#67-", "\x03", "$m10,", "4#2", "e", "junk$x#00"});
    ASSERT_EQ(items.size(), 6u);
    EXPECT_EQ(items[0].kind, GdbPacketParser::Kind::Ack);
    EXPECT_EQ(items[1].kind, GdbPacketParser::Kind::Packet);
    EXPECT_EQ(items[1].payload, "g");
    EXPECT_EQ(items[2].kind, GdbPacketParser::Kind::Nack);
    EXPECT_EQ(items[3].kind, GdbPacketParser::Kind::Interrupt);
    EXPECT_EQ(items[4].kind, GdbPacketParser::Kind::Packet);  // split over three reads
    EXPECT_EQ(items[4].payload, "m10,4");
    EXPECT_EQ(items[5].kind, GdbPacketParser::Kind::BadChecksum);  // "x" sums to 0x78
}

TEST(GdbPacketParser, MalformedAndOversizedPacketsAreRefusedNotKept) {
    EXPECT_EQ(parse({"$g#zz"}).at(0).kind, GdbPacketParser::Kind::BadChecksum);
    std::string big = "$" + std::string(GdbPacketParser::kMaxPacket + 10, 'a') + "#00";
    const auto items = parse({big, "$g#67"});
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].kind, GdbPacketParser::Kind::BadChecksum);
    EXPECT_TRUE(items[0].payload.empty());
    EXPECT_EQ(items[1].payload, "g");
}

// A target with made-up registers and 8 KiB of memory at 0x1000 (the page
// at 0x2000 readable, 0x3000 not).
class FakeTarget final : public GdbTarget {
public:
    FakeTarget() {
        regs_.rax = 0x1122334455667788;
        regs_.rip = 0x1ff0;
        regs_.rflags = 0x202;
        sregs_.cs.selector = 0x10;
        sregs_.cr3 = 0xabc000;
        for (size_t i = 0; i < sizeof mem_; ++i) mem_[i] = static_cast<uint8_t>(i);
    }
    kvm_regs regs() override { return regs_; }
    kvm_sregs sregs() override { return sregs_; }
    template <typename F>
    void set_sregs(F change) { change(sregs_); }
    bool read_memory(uint64_t linear, void* out, size_t n) override {
        if (linear < 0x1000 || linear + n > 0x3000) return false;
        std::memcpy(out, mem_ + (linear - 0x1000), n);
        return true;
    }
    bool set_stops(const GdbStops& s) override {
        if (s.software.size() + s.hardware.size() > 4) return false;
        stops = s;
        return true;
    }
    bool any_stop() const {
        return stops.step || !stops.software.empty() || !stops.hardware.empty() || !stops.watchpoints.empty();
    }
    bool watches() const override { return keeps_watchpoints; }
    std::optional<FpuState> fpu() override { return fpu_state; }
    GdbStops stops;
    bool keeps_watchpoints = false;
    std::optional<FpuState> fpu_state;

private:
    kvm_regs regs_{};
    kvm_sregs sregs_{};
    uint8_t mem_[0x2000];
};

// The sum of a target description's register sizes, in bits.
size_t description_bits(const std::string& xml) {
    size_t bits = 0;
    for (size_t at = xml.find("bitsize=\""); at != std::string::npos; at = xml.find("bitsize=\"", at + 1))
        bits += std::stoul(xml.substr(at + 9));
    return bits;
}

// The target description as GDB reads it: `piece` bytes at a time, each
// reply 'm' (more) or 'l' (the last); "" where a reply is neither.
std::string read_target_xml(GdbClient& c, size_t piece) {
    std::string xml;
    for (size_t off = 0;;) {
        char req[80];
        std::snprintf(req, sizeof req, "qXfer:features:read:target.xml:%zx,%zx", off, piece);
        const std::string r = c.ask(req);
        if (r.empty() || (r[0] != 'm' && r[0] != 'l')) return "";
        xml += r.substr(1);
        off += r.size() - 1;
        if (r[0] == 'l') return xml;
    }
}

// The stub in this thread, the client's script in another.
template <typename Script>
void with_stub(FakeTarget& t, Script script, const std::function<void(GdbServer&)>& after_start = {},
               GdbArch arch = GdbArch::Amd64) {
    GdbConnection conn(0);
    const uint16_t port = conn.port();
    GdbServer server(conn, t, arch);
    std::thread client([&] { script(port); });
    server.serve_start();
    if (after_start) after_start(server);
    client.join();
}

TEST(GdbServer, AnswersWhatGdbAsksFirst) {
    FakeTarget t;
    with_stub(t, [](uint16_t port) {
        GdbClient c(port);
        const std::string sup = c.ask("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386");
        EXPECT_NE(sup.find("qXfer:features:read+"), std::string::npos);
        EXPECT_NE(sup.find("PacketSize="), std::string::npos);
        EXPECT_EQ(c.ask("vMustReplyEmpty"), "");
        EXPECT_EQ(c.ask("Hg0"), "OK");
        EXPECT_EQ(c.ask("qAttached"), "1");
        EXPECT_EQ(c.ask("qC"), "QC1");
        EXPECT_EQ(c.ask("qfThreadInfo"), "m1");
        EXPECT_EQ(c.ask("qsThreadInfo"), "l");
        EXPECT_EQ(c.ask("?"), "S05");
        // The target description, in pieces as gdb reads it.
        const std::string xml = read_target_xml(c, 0x100);
        EXPECT_EQ(xml, gdb_target_xml(GdbArch::Amd64));
        EXPECT_NE(xml.find("<architecture>i386:x86-64</architecture>"), std::string::npos);
        EXPECT_NE(xml.find("org.gnu.gdb.i386.core"), std::string::npos);
        EXPECT_EQ(c.ask("qXfer:features:read:other.xml:0,100"), "E00");
        // Every register of the description is in 'g', in its order.
        const std::string g = c.ask("g");
        EXPECT_EQ(g.size() * 4, description_bits(xml));
        EXPECT_EQ(GdbClient::le(g, 0, 8), 0x1122334455667788u);
        EXPECT_EQ(GdbClient::le(g, testing::kRipAt, 8), 0x1ff0u);
        EXPECT_EQ(GdbClient::le(g, testing::kCsAt, 4), 0x10u);
        EXPECT_EQ(g.substr(2 * 164, 20), std::string(20, 'x'));  // st0: unavailable (the target has no FPU state)
        EXPECT_EQ(GdbClient::le(g, 2 * 568, 8), 0xabc000u);        // cr3
        EXPECT_EQ(c.ask("p10"), "f01f000000000000");  // rip, register 16
        EXPECT_EQ(c.ask("p0"), "8877665544332211");
        EXPECT_EQ(c.ask("p400"), "E01");
        EXPECT_EQ(c.ask("p"), "E01");
        EXPECT_EQ(c.ask("D"), "OK");
        EXPECT_TRUE(c.closed());
    });
}

// i386's layout (GDB's 32bit-core.xml order: eax, ecx, edx, ebx, esp,
// ebp, esi, edi, eip, eflags, the selectors; the FPU, eight SSE
// registers), the low halves of the registers, and every segment's base
// after the system registers; i8086 the same with GDB's 16-bit
// architecture. The offsets are the ones GDB 13 gives the description
// (`maint print registers`).
TEST(GdbServer, ShowsI386AndI8086RegistersWhenAsked) {
    for (const GdbArch arch : {GdbArch::I386, GdbArch::I8086}) {
        SCOPED_TRACE(gdb_arch_name(arch));
        FakeTarget t;
        t.set_sregs([](kvm_sregs& s) {
            s.cs.base = 0xf0000;
            s.fs.base = 0x12345678;
            s.efer = 0x500;
        });
        with_stub(
            t,
            [arch](uint16_t port) {
                GdbClient c(port);
                const std::string xml = read_target_xml(c, 0x200);
                EXPECT_EQ(xml, gdb_target_xml(arch));
                EXPECT_NE(xml.find(std::string("<architecture>") + (arch == GdbArch::I386 ? "i386" : "i8086") +
                                   "</architecture>"),
                          std::string::npos);
                EXPECT_EQ(xml.find("org.gnu.gdb.i386.segments"), std::string::npos);  // GDB 13 fails an assertion at `set architecture` with it
                EXPECT_EQ(xml.find("rax"), std::string::npos);
                EXPECT_EQ(xml.find("xmm8"), std::string::npos);
                const std::string g = c.ask("g");
                EXPECT_EQ(g.size() * 4, description_bits(xml));
                EXPECT_EQ(GdbClient::le(g, 0, 4), 0x55667788u);    // eax: rax's low half
                EXPECT_EQ(GdbClient::le(g, 2 * 32, 4), 0x1ff0u);    // eip
                EXPECT_EQ(GdbClient::le(g, 2 * 36, 4), 0x202u);     // eflags
                EXPECT_EQ(GdbClient::le(g, 2 * 40, 4), 0x10u);      // cs
                EXPECT_EQ(g.substr(2 * 64, 20), std::string(20, 'x'));  // st0: unavailable
                EXPECT_EQ(GdbClient::le(g, 2 * 324, 8), 0xabc000u);     // cr3
                EXPECT_EQ(GdbClient::le(g, 2 * 340, 8), 0x500u);        // efer
                EXPECT_EQ(GdbClient::le(g, 2 * 348, 8), 0xf0000u);      // cs_base
                EXPECT_EQ(GdbClient::le(g, 2 * 380, 8), 0x12345678u);   // fs_base
                EXPECT_EQ(g.size(), 2u * 396);                          // gs_base the last
                EXPECT_EQ(c.ask("p8"), "f01f0000");  // eip, register 8
                EXPECT_EQ(c.ask("p0"), "88776655");
                EXPECT_EQ(c.ask("D"), "OK");
            },
            {}, arch);
    }
}

// The x87 tag word GDB shows, from FXSAVE's abridged one and the values:
// valid, zero, special (infinity, NaN, denormal) or empty, for each
// physical register, ST(i) being R((TOP + i) mod 8).
TEST(GdbRegisters, TheFullTagWordComesFromTheAbridgedOneAndTheValues) {
    kvm_fpu f{};
    EXPECT_EQ(gdb_full_ftag(f), 0xffff);  // all empty
    f.fsw = 5 << 11;                      // TOP 5: ST(0) is R5
    f.ftwx = 0xe0;                        // R5, R6, R7 in use
    const uint8_t one[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
    const uint8_t infinity[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x7f};
    std::memcpy(f.fpr[0], one, 10);       // R5 valid
    std::memset(f.fpr[1], 0, 10);         // R6 zero
    std::memcpy(f.fpr[2], infinity, 10);  // R7 special
    EXPECT_EQ(gdb_full_ftag(f), 0x93ff);  // R7 10, R6 01, R5 00, the rest 11
}

// Where the target gives its FPU, GDB gets st0-st7, the control, status
// and tag words, the XMM registers and MXCSR in amd64's layout (no
// selectors for the last instruction and operand: FXSAVE's 64-bit form
// has none).
TEST(GdbServer, ShowsTheFpuAndSseRegistersWhereTheTargetHasThem) {
    FakeTarget t;
    kvm_fpu f{};
    f.fcw = 0x37f;
    f.fsw = 7 << 11;
    f.ftwx = 0x80;
    const uint8_t one[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
    std::memcpy(f.fpr[0], one, 10);
    f.xmm[0][0] = 0x0d;
    f.xmm[0][3] = 0x60;
    f.xmm[15][15] = 0xab;
    f.mxcsr = 0x1f80;
    t.fpu_state = FpuState{f};
    with_stub(t, [](uint16_t port) {
        GdbClient c(port);
        const std::string g = c.ask("g");
        EXPECT_EQ(g.substr(2 * 164, 20), "0000000000000080ff3f");  // st0: 1.0
        EXPECT_EQ(GdbClient::le(g, 2 * 244, 4), 0x37fu);           // fctrl
        EXPECT_EQ(GdbClient::le(g, 2 * 248, 4), 0x3800u);          // fstat
        EXPECT_EQ(GdbClient::le(g, 2 * 252, 4), 0x3fffu);          // ftag: R7 valid
        EXPECT_EQ(g.substr(2 * 256, 8), "xxxxxxxx");               // fiseg
        EXPECT_EQ(GdbClient::le(g, 2 * 276, 4), 0x6000000du);      // xmm0's low bytes
        EXPECT_EQ(g.substr(2 * 276 + 2 * 15 * 16 + 30, 2), "ab");  // xmm15's last byte
        EXPECT_EQ(GdbClient::le(g, 2 * 532, 4), 0x1f80u);          // mxcsr
        EXPECT_EQ(c.ask("p18"), "0000000000000080ff3f");           // st0, register 24
        EXPECT_EQ(c.ask("D"), "OK");
    });
    // Without MXCSR (KVM_GET_FPU's case), that one is unavailable.
    t.fpu_state->has_mxcsr = false;
    with_stub(t, [](uint16_t port) {
        GdbClient c(port);
        const std::string g = c.ask("g");
        EXPECT_EQ(g.substr(2 * 532, 8), "xxxxxxxx");
        EXPECT_EQ(GdbClient::le(g, 2 * 244, 4), 0x37fu);
        EXPECT_EQ(c.ask("D"), "OK");
    });
}

// The default for a session: the mode the guest starts in.
TEST(GdbArch, FollowsTheModeAndParsesItsNames) {
    kvm_sregs s{};
    EXPECT_EQ(gdb_arch_for(s), GdbArch::I8086);
    s.cr0 = 1;
    EXPECT_EQ(gdb_arch_for(s), GdbArch::I386);
    s.cr0 = 0x80000001;
    s.efer = 0x500;  // LME, LMA
    EXPECT_EQ(gdb_arch_for(s), GdbArch::Amd64);
    s.efer = 0x100;  // LME alone: not yet in long mode
    EXPECT_EQ(gdb_arch_for(s), GdbArch::I386);
    for (const GdbArch a : {GdbArch::Amd64, GdbArch::I386, GdbArch::I8086})
        EXPECT_EQ(parse_gdb_arch(gdb_arch_name(a)), a);
    EXPECT_FALSE(parse_gdb_arch("x86_64"));
    EXPECT_FALSE(parse_gdb_arch(""));
}

TEST(GdbServer, ReadsMemoryUpToWhatCannotBeReadAndRefusesChanges) {
    FakeTarget t;
    with_stub(t, [](uint16_t port) {
        GdbClient c(port);
        EXPECT_EQ(c.ask("m1000,4"), "00010203");
        EXPECT_EQ(c.ask("m2ffe,8"), "feff");  // the next page is not readable
        EXPECT_EQ(c.ask("m0,4"), "E14");
        EXPECT_EQ(c.ask("m1000,"), "E01");
        EXPECT_EQ(c.ask("m,4"), "E01");
        EXPECT_EQ(c.ask("mfffffffffffffffff,1"), "E01");  // 17 digits
        EXPECT_EQ(c.ask("m1000,100000").size(), 2u * 0x1000);  // capped
        // The recorded guest is not changed.
        EXPECT_EQ(c.ask("M1000,1:ff"), "E01");
        EXPECT_EQ(c.ask("G00"), "E01");
        EXPECT_EQ(c.ask("P0=00"), "E01");
        EXPECT_EQ(c.ask("c1000"), "E01");
        EXPECT_EQ(c.ask("vCont;r1000,2000"), "E01");
        EXPECT_EQ(c.ask("Z2,1000,4"), "");  // no watchpoints: gdb steps instead
        EXPECT_EQ(c.ask("m1000,1"), "00");
        c.ask("D");
    });
}

TEST(GdbServer, BreakpointsAndStepsReachTheVcpu) {
    FakeTarget t;
    with_stub(
        t,
        [](uint16_t port) {
            GdbClient c(port);
            EXPECT_EQ(c.ask("Z0,1234,1"), "OK");
            EXPECT_EQ(c.ask("Z1,5678,1"), "OK");
            EXPECT_EQ(c.ask("Z0,1234,1"), "OK");  // already there
            c.send("vCont;s:1;c");  // the stub lets the guest go; the test reports the stop
            EXPECT_EQ(c.reply(), "S05");
            EXPECT_EQ(c.ask("z0,1234,1"), "OK");
            EXPECT_EQ(c.ask("Z0,1,1"), "OK");
            EXPECT_EQ(c.ask("Z0,2,1"), "OK");
            EXPECT_EQ(c.ask("Z0,3,1"), "OK");
            EXPECT_EQ(c.ask("Z0,4,1"), "E01");  // a fifth: more than the target keeps
            EXPECT_EQ(c.ask("z1,9999,1"), "OK");  // not there: nothing to do
            c.send("c");
            EXPECT_EQ(c.reply(), "W00");
            EXPECT_TRUE(c.closed());
        },
        [&t](GdbServer& s) {
            // After the first resume: a step with both breakpoints.
            EXPECT_TRUE(t.stops.step);
            EXPECT_EQ(t.stops.software, (std::vector<uint64_t>{0x1234}));
            EXPECT_EQ(t.stops.hardware, (std::vector<uint64_t>{0x5678}));
            s.on_debug_stop(VcpuExit{});
            EXPECT_FALSE(t.stops.step);
            EXPECT_EQ(t.stops.software, (std::vector<uint64_t>{1, 2, 3}));
            EXPECT_EQ(t.stops.hardware, (std::vector<uint64_t>{0x5678}));
            s.finish(0);
            EXPECT_FALSE(s.attached());
            EXPECT_FALSE(t.any_stop());  // let go: no more stops
        });
}

TEST(GdbServer, WatchpointsWhereTheTargetKeepsThemAndNotSupportedElsewhere) {
    FakeTarget without;
    with_stub(without, [](uint16_t port) {
        GdbClient c(port);
        EXPECT_EQ(c.ask("Z2,1000,4"), "");  // GDB then watches by stepping
        EXPECT_EQ(c.ask("Z4,1000,4"), "");
        c.ask("D");
    });
    FakeTarget t;
    t.keeps_watchpoints = true;
    with_stub(
        t,
        [](uint16_t port) {
            GdbClient c(port);
            EXPECT_EQ(c.ask("Z2,1000,4"), "OK");
            EXPECT_EQ(c.ask("Z3,2000,8"), "OK");
            EXPECT_EQ(c.ask("Z4,3000,1"), "OK");
            EXPECT_EQ(c.ask("Z2,1000,0"), "E01");       // nothing to watch
            EXPECT_EQ(c.ask("Z2,1000,100000"), "E01");  // more than a read shows
            EXPECT_EQ(c.ask("z3,2000,8"), "OK");
            c.send("c");
            EXPECT_EQ(c.reply(), "T05watch:1000;");
            c.send("c");
            EXPECT_EQ(c.reply(), "T05awatch:3000;");
            c.send("c");
            EXPECT_EQ(c.reply(), "S05");  // a breakpoint or step: no watchpoint named
            EXPECT_EQ(c.ask("D"), "OK");
        },
        [&t](GdbServer& s) {
            ASSERT_EQ(t.stops.watchpoints.size(), 2u);
            EXPECT_EQ(t.stops.watchpoints[0], (Watchpoint{0x1000, 4, Watchpoint::Kind::Write}));
            EXPECT_EQ(t.stops.watchpoints[1], (Watchpoint{0x3000, 1, Watchpoint::Kind::Access}));
            VcpuExit e;
            e.kind = ExitKind::Debug;
            e.watch_hit = 0x1000;
            s.on_debug_stop(e);
            e.watch_hit = 0x3000;
            s.on_debug_stop(e);
            e.watch_hit.reset();
            s.on_debug_stop(e);
            EXPECT_FALSE(t.any_stop());
        });
}

TEST(GdbServer, AnInterruptWhileTheGuestRunsStopsItAtTheNextInstruction) {
    FakeTarget t;
    with_stub(
        t,
        [](uint16_t port) {
            GdbClient c(port);
            EXPECT_EQ(c.ask("QStartNoAckMode"), "OK");  // GDB still acknowledges the reply to it
            c.no_acks();
            c.send_raw(GdbClient::frame("c"));
            c.send_raw("\x03");
            EXPECT_EQ(c.reply(), "S02");
            c.send_raw(GdbClient::frame("D"));
            EXPECT_EQ(c.reply(), "OK");
        },
        [&t](GdbServer& server) {
            EXPECT_FALSE(t.any_stop());
            for (int i = 0; i < 1000 && !t.stops.step; ++i) {
                server.poll();
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            EXPECT_TRUE(t.stops.step);
            server.on_debug_stop(VcpuExit{});
        });
    EXPECT_FALSE(t.any_stop());  // detached: no more stops
}

// Hostile requests (made-up arguments to every request that does not let
// the guest go): answered or refused, never a crash; the stub still
// answers after them.
TEST(GdbServer, GarbageRequestsAreAnsweredOrRefused) {
    FakeTarget t;
    with_stub(t, [](uint16_t port) {
        GdbClient c(port);
        std::mt19937 rng(7);
        const std::string heads[] = {"m", "p", "Z0,", "z1,", "Z2,", "qXfer:features:read:target.xml:", "qSupported:", "H",
                                     "T", "g", "G", "M", "X", "P", "vCont?", "qfoo", "Q", "!", "vCont;x"};
        // ("vCont;x..." is refused at its first action, whatever follows.)
        const std::string alphabet = "0123456789abcdefABCDEFxyz,:;=-+ \x7f";
        for (int i = 0; i < 3000; ++i) {
            std::string p = heads[rng() % std::size(heads)];
            const size_t n = rng() % 40;
            for (size_t k = 0; k < n; ++k) p += alphabet[rng() % alphabet.size()];
            const std::string r = c.ask(p);
            EXPECT_LT(r.size(), 20000u) << p;
        }
        EXPECT_EQ(c.ask("?"), "S05");
        EXPECT_EQ(GdbClient::le(c.ask("g"), 0, 8), 0x1122334455667788u);
        c.ask("D");
    });
}

TEST(GdbServer, ADebuggerThatGoesLetsTheGuestRunOn) {
    FakeTarget t;
    with_stub(t, [](uint16_t port) {
        GdbClient c(port);
        EXPECT_EQ(c.ask("Z0,1234,1"), "OK");
        c.send_raw("$g#00");  // a bad checksum: asked again
        c.close();
    });
    EXPECT_FALSE(t.any_stop());
}

TEST(GdbServer, ADebuggerThatGoesWhileTheGuestRunsLeavesNoStops) {
    FakeTarget t;
    with_stub(
        t,
        [](uint16_t port) {
            GdbClient c(port);
            EXPECT_EQ(c.ask("Z0,1234,1"), "OK");
            c.send("c");
            c.close();
        },
        [&t](GdbServer& server) {
            EXPECT_TRUE(t.any_stop());  // running, to the breakpoint
            for (int i = 0; i < 1000 && t.any_stop(); ++i) {
                server.poll();
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
            EXPECT_FALSE(t.any_stop());
            EXPECT_FALSE(server.attached());
        });
}

TEST(GdbServer, KillEndsTheReplay) {
    FakeTarget t;
    GdbConnection conn(0);
    GdbServer server(conn, t);
    std::thread client([port = conn.port()] {
        GdbClient c(port);
        c.send("k");
    });
    EXPECT_THROW(server.serve_start(), Error);
    client.join();
}

// Waiting for a debugger later: the target single-steps to its next
// instruction boundary, and only that stop opens the door; a debugger
// then finds the guest stopped.
TEST(GdbServer, WaitsForADebuggerAtTheNextStopWhenAskedTo) {
    FakeTarget t;
    GdbConnection conn(0);
    GdbServer server(conn, t);
    int announced = 0;
    server.start_at_next_stop([&] { ++announced; });
    EXPECT_TRUE(t.stops.step);
    EXPECT_EQ(announced, 0);
    EXPECT_FALSE(server.attached());
    std::thread client([port = conn.port()] {
        GdbClient c(port);
        EXPECT_EQ(c.ask("?"), "S05");
        EXPECT_EQ(testing::monitor(c, "when"), "at the stop\n");
        EXPECT_EQ(testing::monitor(c, "nothing"), "kvmrr: no monitor command 'nothing' ('monitor help' lists them)\n");
        EXPECT_EQ(c.ask("qRcmd,7"), "E01");  // half a byte
        EXPECT_EQ(c.ask("D"), "OK");
    });
    server.set_monitor([](std::string_view command) -> std::optional<std::string> {
        if (command == "when") return std::string("at the stop\n");
        return std::nullopt;
    });
    VcpuExit stop;
    stop.kind = ExitKind::Debug;
    stop.addr = 0x1ff0;
    server.on_debug_stop(stop);
    client.join();
    EXPECT_EQ(announced, 1);
    EXPECT_FALSE(t.any_stop());  // detached: nothing left to stop at
}

// Without a monitor, GDB hears that the target has no such command.
TEST(GdbServer, MonitorCommandsAreNotSupportedWithoutAnAnswer) {
    FakeTarget t;
    with_stub(t, [](uint16_t port) {
        GdbClient c(port);
        EXPECT_EQ(c.ask("qRcmd,7768656e"), "");
        EXPECT_EQ(c.ask("D"), "OK");
    });
}

TEST(GdbConnection, APortInUseIsAClearError) {
    GdbConnection first(0);
    try {
        GdbConnection second(first.port());
        FAIL() << "a second listener on the same port";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:"), std::string::npos) << e.what();
    }
}

std::string golden(const std::string& name) { return std::string(KVMRR_SOURCE_DIR) + "/fixtures/traces/" + name + ".trace"; }

TEST(GdbReplay, StepsBreaksAndLetsTheReplayEndAsRecordedOnTheEmulator) {
    testing::debug_a_replay(golden("hello"), Accel::Emu);
}

TEST(GdbReplay, ABreakpointFindsTheStateThatSteppingFoundOnTheEmulator) {
    testing::same_state_at_a_breakpoint(golden("hello"), Accel::Emu, 300);
}

// Real mode on the pc board, with timer interrupts: breakpoints at
// CS * 16 + IP, the interrupts delivered at the same exits either way.
TEST(GdbReplay, RealModeFirmwareWithInterruptsStopsAtTheSameStateOnTheEmulator) {
    testing::same_state_at_a_breakpoint(golden("timer_irq_real"), Accel::Emu, 400);
}

// Reverse steps and continues: hello in long mode, and timer_irq_real in
// real mode with timer interrupts, whose handler is the loop.
TEST(GdbReplay, ReverseStepsAndContinuesFindTheStatesForwardStepsFoundOnTheEmulator) {
    testing::reverse_execution(golden("hello"), 60);
    testing::reverse_execution(golden("timer_irq_real"), 1200);
}

// --gdb-after: the state right after a recorded exit, as stepping there
// from the start finds it (timer_irq_real's 40th access comes after its
// first timer interrupts).
TEST(GdbReplay, WaitingAfterAnEventFindsTheStateSteppingFindsOnTheEmulator) {
    testing::same_state_after_an_event(golden("hello"), Accel::Emu, 5);
    testing::same_state_after_an_event(golden("timer_irq_real"), Accel::Emu, 40);
}

// A write watchpoint on the stack below the first instruction's rsp:
// the guest stops after the instruction that wrote there (crt0's call of
// guest_main pushes its return address), a reverse continue from further
// on stops there again, and the guest runs on as recorded.
TEST(GdbReplay, AWriteWatchpointStopsAfterTheWriteOnTheEmulator) {
    const ReplayReport rep = testing::under_gdb(golden("hello"), Accel::Emu, [](GdbClient& c) {
        const std::string g0 = c.ask("g");
        const uint64_t slot = GdbClient::le(g0, 2 * 56, 8) - 8;  // rsp, register 7
        char req[64];
        std::snprintf(req, sizeof req, "Z2,%llx,8", static_cast<unsigned long long>(slot));
        ASSERT_EQ(c.ask(req), "OK");
        char expected[64];
        std::snprintf(expected, sizeof expected, "T05watch:%llx;", static_cast<unsigned long long>(slot));
        ASSERT_EQ(c.ask("c"), expected);
        const std::string g = c.ask("g");
        EXPECT_EQ(GdbClient::le(g, 2 * 56, 8), slot);  // rsp moved onto it
        std::snprintf(req, sizeof req, "m%llx,8", static_cast<unsigned long long>(slot));
        const uint64_t ret = GdbClient::le(c.ask(req), 0, 8);
        EXPECT_GE(ret, 0x100000u);  // a return address into the image
        EXPECT_LT(ret, 0x200000u);
        // The call's target is where the guest stands: the return address
        // follows the call, before it.
        EXPECT_GT(GdbClient::le(g, testing::kRipAt, 8), 0x100000u);
        // Some steps on, a reverse continue comes back to the same stop,
        // named the same (GDB's reverse watch).
        const std::string when = testing::monitor(c, "when");
        for (int i = 0; i < 20; ++i) ASSERT_EQ(c.ask("s"), "S05");
        EXPECT_EQ(c.ask("bc"), expected);
        EXPECT_EQ(c.ask("g"), g);
        EXPECT_EQ(testing::monitor(c, "when"), when);
        req[0] = 'z';
        std::snprintf(req, sizeof req, "z2,%llx,8", static_cast<unsigned long long>(slot));
        ASSERT_EQ(c.ask(req), "OK");
        EXPECT_EQ(c.ask("c"), "W00");
    });
    EXPECT_TRUE(rep.reproduced()) << rep.summary();
}

// GDB's Ctrl-C while the guest runs: the guest stops at its next
// instruction, and after the debugger detaches the replay still ends as
// recorded. The interrupt follows the continue at once: the run loop
// looks for it every 10 ms, and device_walk's replay takes a few hundred
// (as little as 300 ms in one check, which a wait of 300 ms here missed).
TEST(GdbReplay, AnInterruptStopsARunningGuestWhichThenRunsOnAsRecorded) {
    const ReplayReport rep = testing::under_gdb(golden("device_walk"), Accel::Emu, [](GdbClient& c) {
        c.send("c");
        c.send_raw("\x03");
        EXPECT_EQ(c.reply(), "S02");
        const std::string g = c.ask("g");
        EXPECT_GE(GdbClient::le(g, testing::kRipAt, 8), 0x100000u);  // in the guest's image
        EXPECT_EQ(c.ask("s"), "S05");  // and it steps from there
        EXPECT_EQ(c.ask("D"), "OK");
    });
    EXPECT_TRUE(rep.reproduced()) << rep.summary() << "\n" << (rep.divergence ? rep.divergence->describe() : "");
}

// A model bug (the UART's transmitter-empty bit lost): the debugger hears
// of the divergence, finds the guest stopped where the replay found it,
// and the replay then ends as diverged.
TEST(GdbReplay, ADivergenceStopsTheGuestWhereItHappened) {
    std::vector<std::unique_ptr<RegionOps>> planted;
    const ReplayReport rep = testing::under_gdb(
        golden("hello"), Accel::Emu,
        [](GdbClient& c) {
            const std::string console = c.ask("c");
            ASSERT_EQ(console[0], 'O');
            std::string text;
            for (size_t i = 1; i + 1 < console.size(); i += 2) text += static_cast<char>(std::stoi(console.substr(i, 2), nullptr, 16));
            EXPECT_NE(text.find("the replay diverged from its recording here"), std::string::npos) << text;
            EXPECT_NE(text.find("uart16550"), std::string::npos) << text;
            EXPECT_EQ(c.reply(), "S05");
            const uint64_t rip = GdbClient::le(c.ask("g"), testing::kRipAt, 8);
            char req[64];
            std::snprintf(req, sizeof req, "m%llx,1", static_cast<unsigned long long>(rip));
            // Stopped at the exit where the difference was found: the next
            // one after the status read, the write of the first byte (out
            // dx, al: ee), complete.
            std::snprintf(req, sizeof req, "m%llx,1", static_cast<unsigned long long>(rip - 1));
            EXPECT_EQ(c.ask(req), "ee");
            // Back from there: one instruction, before the OUT; a reverse
            // continue with no breakpoint to the start; forwards again to
            // the same divergence, in the same state.
            const std::string there = c.ask("g");
            const uint64_t at = testing::position_of(c);
            EXPECT_EQ(c.ask("bs"), "S05");
            EXPECT_EQ(testing::position_of(c), at - 1);
            EXPECT_EQ(GdbClient::le(c.ask("g"), testing::kRipAt, 8), rip - 1);
            EXPECT_EQ(c.ask("bc"), "T05replaylog:begin;");
            EXPECT_EQ(testing::position_of(c), 0u);
            ASSERT_EQ(c.ask("c")[0], 'O');
            EXPECT_EQ(c.reply(), "S05");
            EXPECT_EQ(c.ask("g"), there);
            EXPECT_EQ(c.ask("c"), "W01");
        },
        [&](Machine& m) {
            MemoryRegion& uart = testing::region_at(m, true, 0x3fd);
            planted.push_back(std::make_unique<testing::PlantedRead>(
                *uart.ops(), [](uint64_t off, uint64_t v) { return off == 5 ? v & ~0x20ull : v; }));
            RegionTestHook::replace_ops(uart, *planted.back());
        });
    ASSERT_TRUE(rep.divergence);
    EXPECT_EQ(rep.divergence->device, "uart16550");
}

}  // namespace
}  // namespace kvmrr
