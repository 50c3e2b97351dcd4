// DebugCon: QEMU's isa-debugcon, the one-byte port SeaBIOS (and other
// firmware) writes its log to, at the "debugcon" window (io 0x402, 1 byte,
// where QEMU is told `-global isa-debugcon.iobase=0x402`).
//
// Every byte written goes to `out`; reads return 0xe9, QEMU's readback
// value, which is how SeaBIOS decides the port is there before using it.
// Wider accesses reach the port one byte at a time. The device must outlive
// the MemorySystem it is attached to.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "core/region_ops.h"
#include "devices/device.h"

namespace kvmrr {

class DebugCon final : public Device, private RegionOps {
public:
    static constexpr uint64_t kSize = 1;
    static constexpr uint8_t kReadback = 0xe9;

    // An empty `out` discards the bytes (they still count in the digest).
    explicit DebugCon(std::function<void(uint8_t)> out);
    DebugCon(const DebugCon&) = delete;
    DebugCon& operator=(const DebugCon&) = delete;

    std::string_view name() const override { return "debugcon"; }
    uint32_t model_version() const override { return 1; }
    // Claims the "debugcon" window; throws kvmrr::Error if it is missing or
    // claimed, or on a second attach.
    void attach(MemorySystem& sys, MachineMemory& m) override;
    // The number of bytes written and a running hash of them.
    uint64_t state_digest() const override;

    uint64_t bytes_written() const { return count_; }

private:
    uint64_t read(uint64_t offset, unsigned size) override;
    void write(uint64_t offset, uint64_t value, unsigned size) override;

    std::function<void(uint8_t)> out_;
    bool attached_ = false;
    uint64_t count_ = 0;
    uint64_t hash_ = 0xcbf29ce484222325ull;  // FNV-1a over the bytes written
};

}  // namespace kvmrr
