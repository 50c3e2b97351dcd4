// GuestImage: a guest program as bytes to place in guest-physical memory,
// and where to start it.
//
// Two forms: a raw image (bytes placed at a load address, entered at an
// entry address, in real or long mode) and a static ELF64 executable (its
// PT_LOAD segments placed at their physical addresses, entered at e_entry,
// in long mode). Loading goes through the memory address space, so an
// image that does not fit the machine's RAM is an error naming the range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/address_space.h"
#include "core/cpu_mode.h"

namespace kvmrr {

struct GuestSegment {
    uint64_t addr = 0;
    std::vector<uint8_t> bytes;  // followed by zero_fill zero bytes
    uint64_t zero_fill = 0;
};

struct GuestImage {
    std::string name;  // file name or fixture name
    std::vector<GuestSegment> segments;
    uint64_t entry = 0;
    CpuMode mode = CpuMode::Long;
    uint64_t hash = 0;  // xxHash64 of the file as read

    // Throws kvmrr::Error if the file is missing, empty or malformed.
    static GuestImage raw(const std::string& path, uint64_t load, uint64_t entry, CpuMode mode);
    static GuestImage elf(const std::string& path);
    // ELF if the file starts with the ELF magic, else raw.
    static GuestImage open(const std::string& path, uint64_t load, uint64_t entry, CpuMode mode);

    // Writes the segments into guest memory; throws if any byte would land
    // outside RAM, or (long mode) on the page tables below kBootAreaEnd.
    void load_into(MemoryAddressSpace& memory) const;
};

}  // namespace kvmrr
