// Test helpers shared by the record/ tests and the fuzzer's seed writer:
// a header with every field set, events of every kind with every field
// set, a temporary directory, and whole-file read and write.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "record/dirty_runs.h"
#include "record/trace_event.h"

namespace kvmrr::test {

inline RegsRecord sample_regs(uint64_t salt) {
    RegsRecord r;
    for (uint64_t i = 0; i < 18; ++i) r.gprs.push_back(salt * 0x100 + i);
    r.cr0 = 0x80000011 + salt;
    r.cr3 = 0x1000 * (salt + 1);
    r.cr4 = 0x20 + salt;
    r.efer = 0x500 + salt;
    return r;
}

inline TraceHeader sample_header() {
    TraceHeader h;
    h.kvmrr_version = "0.1.0-test";
    h.ram_size = 128ull << 20;
    h.rom_size = 256ull << 10;
    h.rom_low_alias = false;
    h.windows = {{"uart16550", true, 0x3f8, 8}, {"entropy", false, 0xfeb00000, 0x1000}};
    h.devices = {{"uart16550", 2}, {"entropy", 1}};
    h.guest_name = "hello";
    h.guest_hash = 0xfedcba9876543210ull;
    h.guest_long_mode = true;
    h.guest_entry = 0x100000;
    h.guest_args = {1, 0, std::numeric_limits<uint64_t>::max()};
    h.guest_segments = {{0x100000, {0x90, 0x90, 0xf4}, 0x1000}, {0x200000, {}, 0}};
    h.vcpu_count = 2;
    h.initial_regs = {sample_regs(1), sample_regs(2)};
    h.kernel_release = "6.1.0-test";
    h.kvm_api_version = 12;
    h.capabilities = {{"KVM_CAP_SYNC_MMU", 1}, {"KVM_CAP_NR_MEMSLOTS", -5}};
    h.manual_dirty_log_protect = true;
    h.max_memslots = 509;
    h.dirty_interval_exits = 1000;
    h.dirty_interval_ms = 50;
    h.max_exits = 1000000;
    h.timeout_ms = 30000;
    h.dirty_mode = "bitmap";
    h.lax_mmio = true;
    h.deterministic_cpu = true;
    h.start_time_ns = 1700000000123456789;
    h.regions = {{1, "uart16550", "io"}, {2, "ram", "ram"}, {3, "entropy", "io"}};
    return h;
}

// Events of every kind, every field set (with a few maximum values, empty
// data and bulk data), varied by i so that no two are equal.
inline EventBody sample_body(uint64_t i) {
    const uint64_t max64 = std::numeric_limits<uint64_t>::max();
    switch (i % 16) {
        case 0: return AccessEvent{true, 0x3f8, 1, true, 1, 0x41 + (i & 0x3f), {}, 1, TraceAccessStatus::Ok};
        case 1:
            return AccessEvent{false, 0xfeb00000 + i, 4, false, 1, 0xdeadbeef, {}, 3, TraceAccessStatus::Unassigned};
        case 2: {
            AccessEvent a{true, 0xffff, 2, false, 3, 0, {}, kNoRegion, TraceAccessStatus::Invalid};
            for (uint8_t k = 0; k < 6; ++k) a.bulk.push_back(static_cast<uint8_t>(k + i));
            return a;
        }
        case 3: return AccessEvent{false, max64 - 7, 8, true, 1, max64, {}, 0xfffffffe, TraceAccessStatus::Ok};
        case 4: {
            // Every other one carries its whole view, as the recorder writes them.
            TopologyEvent t{static_cast<uint8_t>((i / 16) & 1), 0x123456789abcdef0ull + i, 2, {}};
            if ((i / 16) % 2) return TopologyEvent{t.space, t.flat_view_hash, 12, {}};
            t.view.push_back({0, 0xfff, 1, 0x10, false, true, false, 1});
            t.view.push_back({0x1000, max64, kNoRegion, i, true, false, true, 0});
            return t;
        }
        case 5: return MemslotEvent{MemslotOp::Flags, 3, 0x100000000ull, 0x40000000, 1, 7, 0x1000 + i};
        case 6: {
            DirtyBitmap b{1, 0x100000, 1000, {}};
            b.words.resize(16);
            b.words[0] = 0xf0f0 + i;
            b.words[7] = max64;
            b.words[15] = 0xff;  // pages 960..967
            return make_dirty_event(b, i);
        }
        case 7: return DmaWriteEvent{0x8000 + i, {1, 2, 3, static_cast<uint8_t>(i)}};
        case 8: return ClockEvent{static_cast<int64_t>(1700000000000000000ull + i)};
        case 9: return EntropyEvent{{static_cast<uint8_t>(i), 0xff, 0, 0x7f}};
        case 10: return SerialInEvent{static_cast<int16_t>((i / 16) % 2 ? -1 : 255)};
        case 11: return DiskReadEvent{512 * i, std::vector<uint8_t>(512, static_cast<uint8_t>(i))};
        case 12: return DiskWriteEvent{max64 - 512, 512};
        case 13: return RegionDefEvent{{static_cast<uint32_t>(100 + i), "dyn-region", "alias"}};
        case 14: return EndEvent{"debug-exit", -3, max64, 0xf4, sample_regs(i), {{"uart", max64, i}, {"rtc", 0, 1}}};
        default: return MemslotEvent{MemslotOp::Delete, 0, 0, 0, 0, 0, 0};
    }
}

inline TraceEvent sample_event(uint64_t seq) { return TraceEvent{seq, static_cast<uint16_t>(seq % 2), sample_body(seq)}; }

inline std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw Error("cannot write " + path);
}

// A fresh directory, removed with its contents when the object goes.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "kvmrr-record-test-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw Error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

}  // namespace kvmrr::test
