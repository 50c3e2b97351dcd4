#include "record/trace_text.h"

#include <gtest/gtest.h>

#include <cctype>

#include "record/dirty_runs.h"
#include "record/tests/trace_test_util.h"

namespace kvmrr {
namespace {

using test::sample_header;

// A strict little JSON checker: true if `s` is exactly one valid JSON
// value (RFC 8259), so the dump's lines parse anywhere.
class JsonChecker {
public:
    explicit JsonChecker(const std::string& s) : s_(s) {}
    bool valid() {
        ws();
        if (!value()) return false;
        ws();
        return i_ == s_.size();
    }

private:
    bool value() {
        if (i_ >= s_.size()) return false;
        switch (s_[i_]) {
            case '{': return object();
            case '[': return array();
            case '"': return string();
            case 't': return word("true");
            case 'f': return word("false");
            case 'n': return word("null");
            default: return number();
        }
    }
    bool object() {
        ++i_;
        ws();
        if (peek('}')) return ++i_, true;
        for (;;) {
            ws();
            if (!peek('"') || !string()) return false;
            ws();
            if (!peek(':')) return false;
            ++i_;
            ws();
            if (!value()) return false;
            ws();
            if (peek('}')) return ++i_, true;
            if (!peek(',')) return false;
            ++i_;
        }
    }
    bool array() {
        ++i_;
        ws();
        if (peek(']')) return ++i_, true;
        for (;;) {
            ws();
            if (!value()) return false;
            ws();
            if (peek(']')) return ++i_, true;
            if (!peek(',')) return false;
            ++i_;
        }
    }
    bool string() {
        ++i_;
        while (i_ < s_.size()) {
            const auto c = static_cast<unsigned char>(s_[i_++]);
            if (c == '"') return true;
            if (c < 0x20) return false;
            if (c == '\\') {
                if (i_ >= s_.size()) return false;
                const char e = s_[i_++];
                if (e == 'u') {
                    for (int k = 0; k < 4; ++k)
                        if (i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_++]))) return false;
                } else if (std::string("\"\\/bfnrt").find(e) == std::string::npos) {
                    return false;
                }
            }
        }
        return false;
    }
    bool number() {
        const size_t start = i_;
        if (peek('-')) ++i_;
        if (peek('0')) {
            ++i_;
        } else {
            if (!digit()) return false;
            while (digit()) {
            }
        }
        if (peek('.')) {
            ++i_;
            if (!digit()) return false;
            while (digit()) {
            }
        }
        return i_ > start;
    }
    bool digit() {
        if (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) return ++i_, true;
        return false;
    }
    bool word(const char* w) {
        const std::string ws(w);
        if (s_.compare(i_, ws.size(), ws) != 0) return false;
        i_ += ws.size();
        return true;
    }
    bool peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }
    const std::string& s_;
    size_t i_ = 0;
};

bool valid_json(const std::string& s) { return JsonChecker(s).valid(); }

struct Case {
    TraceEvent event;
    std::string human, json;
};

DirtyEvent sample_dirty() {
    return make_dirty_event(DirtyBitmap{0, 0, 400, {0b1110, 0, 0, 0, 0, 0, uint64_t{1} << 2}}, 5);
}

std::vector<Case> cases() {
    RegsRecord regs;
    for (uint64_t i = 0; i < 18; ++i) regs.gprs.push_back(i);
    regs.gprs[16] = 0xffff0;
    return {
        {{42, 0, AccessEvent{true, 0x3f8, 1, true, 1, 0x41, {}, 1, TraceAccessStatus::Ok}},
         "#42 vcpu0 pio out 0x3f8 size 1 value 0x41 -> uart16550 ok",
         R"({"seq":42,"vcpu":0,"kind":"pio","addr":"0x3f8","size":1,"write":true,"count":1,"value":"0x41","data":"","region":1,"region_name":"uart16550","status":"ok"})"},
        {{7, 1, AccessEvent{false, 0xfeb00000, 2, false, 2, 0, {0xab, 0xcd, 0x01, 0x02}, kNoRegion,
                            TraceAccessStatus::Unassigned}},
         "#7 vcpu1 mmio read 0xfeb00000 size 2 count 2 data abcd0102 -> none unassigned",
         R"({"seq":7,"vcpu":1,"kind":"mmio","addr":"0xfeb00000","size":2,"write":false,"count":2,"value":"0x0","data":"abcd0102","region":null,"region_name":null,"status":"unassigned"})"},
        {{8, 0, AccessEvent{false, 0x1000, 8, false, 1, 0xffffffffffffffff, {}, 9, TraceAccessStatus::Invalid}},
         "#8 vcpu0 mmio read 0x1000 size 8 value 0xffffffffffffffff -> region#9 invalid",
         R"({"seq":8,"vcpu":0,"kind":"mmio","addr":"0x1000","size":8,"write":false,"count":1,"value":"0xffffffffffffffff","data":"","region":9,"region_name":null,"status":"invalid"})"},
        {{3, 0, sample_dirty()},
         "#3 vcpu0 dirty epoch 5 slot 0 gpa 0x0 pages 400 dirty 4 runs 2",
         R"({"seq":3,"vcpu":0,"kind":"dirty","epoch":5,"slot":0,"gpa":"0x0","pages":400,"dirty_pages":4,"runs":"0103fe0201","time_ns":0})"},
        {{1, 0, SerialInEvent{-1}}, "#1 vcpu0 serial-in none", R"({"seq":1,"vcpu":0,"kind":"serial-in","byte":null})"},
        {{1, 0, SerialInEvent{0x41}}, "#1 vcpu0 serial-in 0x41", R"({"seq":1,"vcpu":0,"kind":"serial-in","byte":65})"},
        {{2, 0, RegionDefEvent{{7, "my \"dev\"\n", "io"}}},
         R"(#2 vcpu0 region-def 7 "my \"dev\"\x0a" kind io)",
         R"({"seq":2,"vcpu":0,"kind":"region-def","region":7,"region_name":"my \"dev\"\n","region_kind":"io"})"},
        {{9, 0, EndEvent{"debug-exit", 3, 100, 0xf4, regs, {}}},
         "#9 vcpu0 end reason debug-exit status 3 exits 100 detail 0xf4 rip 0xffff0",
         R"({"seq":9,"vcpu":0,"kind":"end","reason":"debug-exit","exit_status":3,"exits":100,"detail":"0xf4","gprs":["0x0","0x1","0x2","0x3","0x4","0x5","0x6","0x7","0x8","0x9","0xa","0xb","0xc","0xd","0xe","0xf","0xffff0","0x11"],"cr0":"0x0","cr3":"0x0","cr4":"0x0","efer":"0x0","between_exits":false})"},
        {{9, 0, EndEvent{"timeout", 0, 7, 0x12c, regs, {}, true}},
         "#9 vcpu0 end reason timeout status 0 exits 7 detail 0x12c rip 0xffff0 between exits",
         R"({"seq":9,"vcpu":0,"kind":"end","reason":"timeout","exit_status":0,"exits":7,"detail":"0x12c","gprs":["0x0","0x1","0x2","0x3","0x4","0x5","0x6","0x7","0x8","0x9","0xa","0xb","0xc","0xd","0xe","0xf","0xffff0","0x11"],"cr0":"0x0","cr3":"0x0","cr4":"0x0","efer":"0x0","between_exits":true})"},
        {{4, 0, DiskReadEvent{512, std::vector<uint8_t>(40, 0x11)}},
         "#4 vcpu0 disk-read offset 512 len 40 data " + std::string(64, '1') + "...",
         R"({"seq":4,"vcpu":0,"kind":"disk-read","offset":512,"data":")" + std::string(80, '1') + "\"}"},
        {{5, 0, ClockEvent{1700000000000000000}}, "#5 vcpu0 clock 1700000000000000000",
         R"({"seq":5,"vcpu":0,"kind":"clock","ns":1700000000000000000})"},
        {{6, 0, MemslotEvent{MemslotOp::Add, 1, 0x100000000, 0x40000000, 1, 2, 0x1000}},
         "#6 vcpu0 memslot add slot 1 gpa 0x100000000 size 0x40000000 flags 0x1 ram-block 2 offset 0x1000",
         R"({"seq":6,"vcpu":0,"kind":"memslot","op":"add","slot":1,"gpa":"0x100000000","size":1073741824,"flags":"0x1","ram_block":2,"block_offset":"0x1000"})"},
        {{8, 0, TopologyEvent{1, 0xabc, 5, {}}}, "#8 vcpu0 topology io ranges 5 hash 0xabc",
         R"({"seq":8,"vcpu":0,"kind":"topology","space":"io","flat_view_hash":"0xabc","ranges":5})"},
        {{10, 0, DmaWriteEvent{0x8000, {}}}, "#10 vcpu0 dma-write 0x8000 len 0",
         R"({"seq":10,"vcpu":0,"kind":"dma-write","addr":"0x8000","data":""})"},
        {{11, 0, EntropyEvent{{1, 2}}}, "#11 vcpu0 entropy len 2 data 0102",
         R"({"seq":11,"vcpu":0,"kind":"entropy","data":"0102"})"},
        {{12, 0, DiskWriteEvent{1024, 512}}, "#12 vcpu0 disk-write offset 1024 len 512",
         R"({"seq":12,"vcpu":0,"kind":"disk-write","offset":1024,"length":512})"},
    };
}

TEST(TraceTextTest, FormatsEventsInBothForms) {
    const TraceHeader h = sample_header();
    for (const Case& c : cases()) {
        EXPECT_EQ(format_event(c.event, h, false), c.human);
        EXPECT_EQ(format_event(c.event, h, true), c.json);
        EXPECT_TRUE(valid_json(c.json)) << c.json;
    }
}

TEST(TraceTextTest, JsonLinesOfEverySampleEventParse) {
    const TraceHeader h = sample_header();
    RegionNames names(h);
    for (uint64_t i = 0; i < 64; ++i) {
        const TraceEvent e = test::sample_event(i);
        names.observe(e);
        const std::string line = format_event(e, names, true);
        EXPECT_TRUE(valid_json(line)) << line;
        EXPECT_EQ(line.find('\n'), std::string::npos);
        EXPECT_EQ(format_event(e, names, false).find('\n'), std::string::npos);
    }
    // Strings that are not clean UTF-8 still make valid JSON.
    for (std::string s : {std::string("\xff\xfe"), std::string("a\0b", 3), std::string("\xe2\x82"),
                          std::string("caf\xc3\xa9"), std::string("\x7f\x01\t")}) {
        const std::string line = format_event({0, 0, RegionDefEvent{{5, s, s}}}, h, true);
        EXPECT_TRUE(valid_json(line)) << line;
    }
    EXPECT_NE(format_event({0, 0, RegionDefEvent{{5, "caf\xc3\xa9", ""}}}, h, true).find("caf\xc3\xa9"),
              std::string::npos);
    EXPECT_NE(format_event({0, 0, RegionDefEvent{{5, "\xff", ""}}}, h, true).find("\\ufffd"), std::string::npos);
}

TEST(TraceTextTest, RegionNamesLearnFromRegionDefEvents) {
    RegionNames names(sample_header());
    const TraceEvent access{5, 0, AccessEvent{true, 0x2f8, 1, false, 1, 0, {}, 40, TraceAccessStatus::Ok}};
    EXPECT_EQ(format_event(access, names, false), "#5 vcpu0 pio in 0x2f8 size 1 value 0x0 -> region#40 ok");
    names.observe({4, 0, RegionDefEvent{{40, "serial2", "io"}}});
    EXPECT_EQ(format_event(access, names, false), "#5 vcpu0 pio in 0x2f8 size 1 value 0x0 -> serial2 ok");
    EXPECT_EQ(names.label(kNoRegion), "none");
    ASSERT_NE(names.find(1), nullptr);
    EXPECT_EQ(names.find(1)->name, "uart16550");
}

TEST(TraceTextTest, HeaderForInspect) {
    const std::string s = format_header(sample_header());
    for (const char* want : {"format version: 12 (readers from version 4)\n", "kvmrr version: 0.1.0-test\n",
                             "recorded at: 2023-11-14T22:13:20.123456789Z\n",
                             "machine: ram 128 MiB, rom 256 KiB, rom low alias off\n",
                             "  window uart16550 io 0x3f8 size 0x8\n", "  device entropy model 1\n",
                             "guest: hello, hash 0xfedcba9876543210, long mode, entry 0x100000, args 0x1 0x0 "
                             "0xffffffffffffffff\n",
                             "  segment 0x100000 3 bytes + 4096 zero\n", "vcpus: 2\n",
                             "host: accelerator kvm, kernel 6.1.0-test, KVM API 12, manual dirty log protect on, max memslots 509\n",
                             "  capability KVM_CAP_NR_MEMSLOTS -5\n",
                             "options: dirty log bitmap, every 1000 exits and 50 ms (0: off), max exits 1000000, "
                             "timeout 30000 ms, lax MMIO, deterministic CPU\n",
                             "regions: 3 at the start\n", "  3 entropy io\n"}) {
        EXPECT_NE(s.find(want), std::string::npos) << "missing: " << want << "in:\n" << s;
    }
    EXPECT_NE(s.find("  vcpu1 rax=0x200 "), std::string::npos) << s;
}

TEST(TraceTextTest, SummaryCountsWhatATraceHolds) {
    TraceSummary sum(sample_header());
    const std::vector<Case> c = cases();
    sum.add({0, 0, std::get<AccessEvent>(c[0].event.body)});
    sum.add({1, 0, std::get<AccessEvent>(c[1].event.body)});
    sum.add({2, 0, sample_dirty()});
    sum.add({3, 0, std::get<EndEvent>(c[7].event.body)});
    EXPECT_EQ(sum.format(),
              "events: 4 (#0 to #3)\n"
              "  dirty        1\n"
              "  end          1\n"
              "  mmio         1\n"
              "  pio          1\n"
              "accesses by region:\n"
              "  none             1\n"
              "  uart16550        1\n"
              "data bytes: 9\n"
              "dirty pages: 4\n"
              "end: debug-exit, status 3, 100 exits\n");
    EXPECT_EQ(TraceSummary(TraceHeader{}).format(),
              "events: 0\n"
              "data bytes: 0\n"
              "dirty pages: 0\n"
              "end: none recorded\n");
}

}  // namespace
}  // namespace kvmrr
