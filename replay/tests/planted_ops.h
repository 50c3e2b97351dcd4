// Device models changed on purpose, for tests that show a replay catches
// a model bug: a region's ops wrapped so that reads (or writes) pass
// through a change (RegionTestHook::replace_ops puts them in place).
#pragma once

#include <functional>
#include <utility>

#include "core/region_ops.h"
#include "vmm/machine.h"

namespace kvmrr::testing {

class PlantedRead final : public RegionOps {
public:
    PlantedRead(RegionOps& inner, std::function<uint64_t(uint64_t off, uint64_t v)> change) : inner_(inner), change_(std::move(change)) {}
    uint64_t read(uint64_t off, unsigned size) override { return change_(off, inner_.read(off, size)); }
    void write(uint64_t off, uint64_t v, unsigned size) override { inner_.write(off, v, size); }

private:
    RegionOps& inner_;
    std::function<uint64_t(uint64_t, uint64_t)> change_;
};

class PlantedWrite final : public RegionOps {
public:
    PlantedWrite(RegionOps& inner, std::function<uint64_t(uint64_t off, uint64_t v)> change) : inner_(inner), change_(std::move(change)) {}
    uint64_t read(uint64_t off, unsigned size) override { return inner_.read(off, size); }
    void write(uint64_t off, uint64_t v, unsigned size) override { inner_.write(off, change_(off, v), size); }

private:
    RegionOps& inner_;
    std::function<uint64_t(uint64_t, uint64_t)> change_;
};

inline MemoryRegion& region_at(Machine& m, bool io, uint64_t addr) {
    const AddressSpace& as = io ? static_cast<AddressSpace&>(m.io_space()) : static_cast<AddressSpace&>(m.memory_space());
    return *as.view()->lookup(addr)->mr;
}

}  // namespace kvmrr::testing
