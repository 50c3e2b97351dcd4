#include "core/ram_block.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace kvmrr {

RamBlock::RamBlock(uint32_t id, std::string name, uint64_t size)
    : id_(id), name_(std::move(name)), size_(size), mapped_(0), host_(nullptr) {
    if (size == 0) throw Error("RAM block '" + name_ + "': zero size");
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    if (size > UINT64_MAX - page) throw Error("RAM block '" + name_ + "': size " + hex(size) + " too large");
    mapped_ = (size + page - 1) & ~(page - 1);
    void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        throw Error("RAM block '" + name_ + "': cannot map " + hex(mapped_) + " bytes: " + std::strerror(errno));
    host_ = static_cast<uint8_t*>(p);
}

RamBlock::~RamBlock() {
    if (host_) munmap(host_, mapped_);
}

}  // namespace kvmrr
