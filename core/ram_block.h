// RamBlock: host memory that backs guest RAM or ROM.
//
// A block is an anonymous private mapping (MAP_NORESERVE, so a large guest
// costs nothing until touched) with a stable id assigned by the owning
// MemorySystem in creation order; traces name memory by (block id, offset),
// which stays valid when the guest moves the region around. The block only
// owns the mapping; who may read or write it is decided by the regions and
// flat views that point at it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kvmrr {

class RamBlock {
public:
    // Throws kvmrr::Error on zero size or when the mapping fails.
    RamBlock(uint32_t id, std::string name, uint64_t size);
    ~RamBlock();
    RamBlock(const RamBlock&) = delete;
    RamBlock& operator=(const RamBlock&) = delete;

    uint32_t id() const { return id_; }
    const std::string& name() const { return name_; }
    uint64_t size() const { return size_; }             // as requested
    uint64_t mapped_size() const { return mapped_; }    // rounded up to the host page
    uint8_t* host() const { return host_; }

private:
    uint32_t id_;
    std::string name_;
    uint64_t size_;
    uint64_t mapped_;
    uint8_t* host_;
};

}  // namespace kvmrr
