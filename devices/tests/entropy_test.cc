// Tests for devices/entropy.h, through the machine's memory address space.
#include "devices/entropy.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "devices/tests/fake_host_inputs.h"

namespace kvmrr {
namespace {

constexpr uint64_t kBase = 0xfeb00000;
constexpr uint64_t kData = 0x00;
constexpr uint64_t kCount = 0x08;
constexpr uint64_t kId = 0x10;

// The fake's counting entropy, with the size of every entropy() call kept:
// each call is a trace record, so a read must be exactly one call.
class RecordingInputs final : public HostInputs {
public:
    testing::FakeHostInputs fake;
    std::vector<size_t> entropy_calls;

    int64_t wall_clock_ns() override { return fake.wall_clock_ns(); }
    int64_t monotonic_ns() override { return fake.monotonic_ns(); }
    void entropy(std::span<uint8_t> out) override {
        entropy_calls.push_back(out.size());
        fake.entropy(out);
    }
    std::optional<uint8_t> serial_in() override { return fake.serial_in(); }
    bool wait_for_serial_in(std::chrono::steady_clock::time_point until, const std::atomic<int>* stop) override {
        return fake.wait_for_serial_in(until, stop);
    }
    void disk_read(uint64_t offset, std::span<uint8_t> out) override { fake.disk_read(offset, out); }
    void disk_write(uint64_t offset, std::span<const uint8_t> in) override { fake.disk_write(offset, in); }
};

// A default machine with the device attached; the device outlives the
// memory system whose region calls it.
struct Rig {
    RecordingInputs in;
    EntropyDevice dev{in};
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::default_layout());

    Rig() { dev.attach(sys, m); }

    uint64_t get(uint64_t offset, unsigned size) {
        const AccessResult r = m.memory->read(Gpa(kBase + offset), size);
        EXPECT_EQ(r.status, AccessStatus::Ok) << "read of " << size << " bytes at +" << offset;
        return r.value;
    }
};

TEST(EntropyDevice, Identity) {
    testing::FakeHostInputs in;
    EntropyDevice dev(in);
    EXPECT_EQ(dev.name(), "entropy");
    EXPECT_EQ(dev.model_version(), 1u);
}

TEST(EntropyDevice, DataReadsReturnFreshBytesLittleEndian) {
    Rig r;
    EXPECT_EQ(r.get(kData, 8), 0x0706050403020100u);
    EXPECT_EQ(r.get(kData, 4), 0x0b0a0908u);
    EXPECT_EQ(r.get(kData, 2), 0x0d0cu);
    EXPECT_EQ(r.get(kData, 1), 0x0eu);
    EXPECT_EQ(r.in.entropy_calls, (std::vector<size_t>{8, 4, 2, 1}));  // one call per read
    EXPECT_EQ(r.in.fake.next_entropy, 15);
}

TEST(EntropyDevice, EveryReadInsideDataIsFresh) {
    Rig r;
    EXPECT_EQ(r.get(kData + 4, 4), 0x03020100u);
    EXPECT_EQ(r.get(kData + 7, 1), 0x04u);
    EXPECT_EQ(r.get(kData + 2, 2), 0x0605u);
    EXPECT_EQ(r.get(kCount, 8), 7u);
}

TEST(EntropyDevice, CountIsBytesDelivered) {
    Rig r;
    EXPECT_EQ(r.get(kCount, 8), 0u);
    r.get(kData, 8);
    r.get(kData, 1);
    EXPECT_EQ(r.get(kCount, 8), 9u);
    // Reading COUNT delivers no entropy.
    EXPECT_EQ(r.get(kCount, 8), 9u);
    EXPECT_EQ(r.in.entropy_calls.size(), 2u);
    // Narrow reads see the bytes of COUNT they cover.
    for (int i = 0; i < 40; ++i) r.get(kData, 8);
    EXPECT_EQ(r.get(kCount, 8), 329u);
    EXPECT_EQ(r.get(kCount, 4), 329u);
    EXPECT_EQ(r.get(kCount, 1), 329u & 0xff);
    EXPECT_EQ(r.get(kCount + 1, 1), 329u >> 8);
    EXPECT_EQ(r.get(kCount + 4, 4), 0u);
}

TEST(EntropyDevice, IdIsTheMagic) {
    Rig r;
    EXPECT_EQ(EntropyDevice::kMagic, 0x52444e45u);
    EXPECT_EQ(r.get(kId, 4), 0x52444e45u);
    EXPECT_EQ(r.get(kId, 8), 0x52444e45u);  // the upper half is no register
    EXPECT_EQ(r.get(kId, 2), 0x4e45u);
    EXPECT_EQ(r.get(kId + 2, 2), 0x5244u);
    EXPECT_EQ(r.get(kId, 1), 0x45u);  // 'E'
    EXPECT_EQ(r.get(kId + 3, 1), 0x52u);
    EXPECT_EQ(r.get(kId + 4, 4), 0u);
    // Its bytes in memory order spell "ENDR".
    std::vector<uint8_t> bytes(4);
    EXPECT_EQ(r.m.memory->read_bytes(Gpa(kBase + kId), bytes), AccessStatus::Ok);
    EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "ENDR");
    EXPECT_TRUE(r.in.entropy_calls.empty());
}

TEST(EntropyDevice, OtherOffsetsReadZero) {
    Rig r;
    for (uint64_t off : {0x18u, 0x20u, 0x100u, 0x800u, 0xff8u}) EXPECT_EQ(r.get(off, 8), 0u) << off;
    EXPECT_EQ(r.get(0xfff, 1), 0u);
    EXPECT_TRUE(r.in.entropy_calls.empty());
}

TEST(EntropyDevice, WritesAreIgnored) {
    Rig r;
    r.get(kData, 2);
    for (uint64_t off : {kData, kCount, kId, uint64_t{0x18}, uint64_t{0xff8}})
        EXPECT_EQ(r.m.memory->write(Gpa(kBase + off), ~uint64_t{0}, 8), AccessStatus::Ok) << off;
    EXPECT_EQ(r.get(kCount, 8), 2u);
    EXPECT_EQ(r.get(kId, 4), 0x52444e45u);
    EXPECT_EQ(r.get(0x18, 8), 0u);
    EXPECT_EQ(r.in.entropy_calls.size(), 1u);  // writing DATA reads nothing
}

TEST(EntropyDevice, AccessSizesAndAlignment) {
    Rig r;
    for (unsigned size : {1u, 2u, 4u, 8u}) EXPECT_EQ(r.m.memory->read(Gpa(kBase + kId), size).status, AccessStatus::Ok);
    // Not an access size at all.
    EXPECT_EQ(r.m.memory->read(Gpa(kBase), 3).status, AccessStatus::Invalid);
    EXPECT_EQ(r.m.memory->read(Gpa(kBase), 16).status, AccessStatus::Invalid);
    // Registers are accessed naturally aligned.
    EXPECT_EQ(r.m.memory->read(Gpa(kBase + 2), 4).status, AccessStatus::Invalid);
    EXPECT_EQ(r.m.memory->read(Gpa(kBase + 4), 8).status, AccessStatus::Invalid);
    EXPECT_EQ(r.m.memory->write(Gpa(kBase + 1), 0, 2), AccessStatus::Invalid);
    EXPECT_TRUE(r.in.entropy_calls.empty());  // refused reads take no entropy
    EXPECT_EQ(r.get(kCount, 8), 0u);
}

TEST(EntropyDevice, ClaimsItsWindow) {
    Rig r;
    EXPECT_EQ(r.m.windows.count("entropy"), 0u);
    const size_t regions = r.sys.region_count();
    testing::FakeHostInputs in;
    EntropyDevice second(in);
    EXPECT_THROW(second.attach(r.sys, r.m), Error);
    EXPECT_THROW(r.dev.attach(r.sys, r.m), Error);
    EXPECT_EQ(r.sys.region_count(), regions);
    // The whole 4 KiB answers; the next page is another window.
    EXPECT_EQ(r.m.memory->read(Gpa(kBase + 0xff8), 8).status, AccessStatus::Ok);
    EXPECT_EQ(r.m.memory->read(Gpa(kBase + 0x1000), 8).status, AccessStatus::Unassigned);
}

TEST(EntropyDevice, AttachFailsWithoutTheWindow) {
    testing::FakeHostInputs in;
    EntropyDevice dev(in);
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::parse("no-devices\n", "test"));
    try {
        dev.attach(sys, m);
        ADD_FAILURE() << "attach without a window did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("entropy"), std::string::npos) << e.what();
    }
}

TEST(EntropyDevice, AttachesWhereTheLayoutPutsIt) {
    testing::FakeHostInputs in;
    EntropyDevice dev(in);
    MemorySystem sys;
    MachineMemory m = build_machine(sys, MachineLayout::parse("mmio entropy 0xfec00000 0x1000\n", "test"));
    dev.attach(sys, m);
    EXPECT_EQ(m.memory->read(Gpa(0xfec00000 + kId), 4).value, 0x52444e45u);
}

TEST(EntropyDevice, DigestFollowsGuestVisibleState) {
    Rig a;
    Rig b;
    const uint64_t fresh = a.dev.state_digest();
    EXPECT_EQ(fresh, b.dev.state_digest());

    a.get(kData, 4);
    const uint64_t after4 = a.dev.state_digest();
    EXPECT_NE(after4, fresh);
    a.get(kCount, 8);
    a.get(kId, 4);
    a.m.memory->write(Gpa(kBase), 1, 8);
    EXPECT_EQ(a.dev.state_digest(), after4);  // nothing else is state

    b.get(kData, 4);
    EXPECT_EQ(b.dev.state_digest(), after4);
    a.get(kData, 1);
    EXPECT_NE(a.dev.state_digest(), after4);
    EXPECT_NE(a.dev.state_digest(), fresh);
}

}  // namespace
}  // namespace kvmrr
