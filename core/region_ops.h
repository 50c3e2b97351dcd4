// The device boundary of the memory model: what an I/O region calls, and
// the access-size rules that the core enforces before calling it.
//
// `valid` says which accesses the device accepts at all (others are
// rejected and reported as invalid); `impl` says which sizes the device
// implements, and the core splits a wider access or widens a narrower one
// to fit, so a device that only implements 1-byte registers still sees a
// 4-byte guest access as four calls. This mirrors QEMU's MemoryRegionOps.
#pragma once

#include <cstdint>
#include <functional>

namespace kvmrr {

struct AccessSizes {
    unsigned min = 1;        // bytes, a power of two in 1..8
    unsigned max = 8;        // bytes, a power of two in min..8
    bool unaligned = false;  // may an access start off its natural alignment
};

struct AccessRules {
    AccessSizes valid{};  // what the device accepts
    AccessSizes impl{};   // what its callbacks implement
};

// Callbacks of an I/O (or ROM-device) region. `offset` is relative to the
// start of the region; `size` respects AccessRules::impl. Values are
// little-endian, in the low `size` bytes.
class RegionOps {
public:
    virtual ~RegionOps() = default;
    virtual uint64_t read(uint64_t offset, unsigned size) = 0;
    virtual void write(uint64_t offset, uint64_t value, unsigned size) = 0;
};

// RegionOps from two callables, for tests and small glue.
class FunctionOps final : public RegionOps {
public:
    using ReadFn = std::function<uint64_t(uint64_t, unsigned)>;
    using WriteFn = std::function<void(uint64_t, uint64_t, unsigned)>;
    FunctionOps(ReadFn r, WriteFn w) : read_(std::move(r)), write_(std::move(w)) {}
    uint64_t read(uint64_t offset, unsigned size) override { return read_ ? read_(offset, size) : ~0ull; }
    void write(uint64_t offset, uint64_t value, unsigned size) override {
        if (write_) write_(offset, value, size);
    }

private:
    ReadFn read_;
    WriteFn write_;
};

}  // namespace kvmrr
