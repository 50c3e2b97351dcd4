#include "devices/fw_cfg.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "devices/guest_ram.h"

namespace kvmrr {

namespace {

constexpr uint64_t kPortSize = 2;
constexpr uint64_t kDmaSize = 8;
constexpr uint16_t kWriteChannel = 0x4000;
constexpr uint16_t kEntryMask = 0x3fff;
// QEMU's limit (exclusive) on the index after the arch and write bits.
constexpr uint16_t kMaxEntry = FwCfg::kFileFirst + FwCfg::kFileSlots;
constexpr char kDmaSignature[] = "QEMU CFG";
constexpr uint64_t kDescSize = 16;       // control, length, address
constexpr uint64_t kDescControl = 0;     // offsets in the descriptor
constexpr uint64_t kDescLength = 4;
constexpr uint64_t kDescAddress = 8;
constexpr size_t kDirEntrySize = 64;     // size, select, reserved, name[56]

void put_be(std::vector<uint8_t>& out, size_t at, uint64_t v, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * (bytes - 1 - i)));
}

uint64_t get_be(const uint8_t* p, unsigned bytes) {
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; ++i) v = (v << 8) | p[i];
    return v;
}

std::vector<uint8_t> le_bytes(uint64_t v, unsigned bytes) {
    std::vector<uint8_t> out(bytes);
    for (unsigned i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
    return out;
}

// Whether [a, a + alen) and [b, b + blen) meet; neither wraps.
bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) { return a < b + blen && b < a + alen; }

}  // namespace

FwCfg::FwCfg() {
    add_bytes(kSignature, {'Q', 'E', 'M', 'U'});
    add_u32(kId, kIdTraditional | kIdDma);
    rebuild_directory();
}

void FwCfg::add_bytes(uint16_t key, std::vector<uint8_t> data) {
    const bool arch = key & kArchLocal;
    const uint16_t index = key & ~kArchLocal;
    if ((key & kWriteChannel) || index >= kFileFirst || (!arch && index == kFileDir))
        throw Error("fw-cfg: key " + hex(key) + " is not one add_bytes can fill (files use add_file)");
    if (data.size() >= UINT32_MAX) throw Error("fw-cfg: item " + hex(key) + " is 4 GiB or more");
    auto& slot = items_[arch ? 1 : 0][index];
    if (slot) throw Error("fw-cfg: key " + hex(key) + " added twice");
    slot = std::move(data);
}

void FwCfg::add_u16(uint16_t key, uint16_t value) { add_bytes(key, le_bytes(value, 2)); }
void FwCfg::add_u32(uint16_t key, uint32_t value) { add_bytes(key, le_bytes(value, 4)); }
void FwCfg::add_u64(uint16_t key, uint64_t value) { add_bytes(key, le_bytes(value, 8)); }

void FwCfg::add_file(std::string name, std::vector<uint8_t> data) {
    if (name.empty() || name.size() >= kFileNameSize || name.find('\0') != std::string::npos)
        throw Error("fw-cfg: file name '" + name + "' must be 1 to 55 bytes without NUL");
    if (files_.size() >= kFileSlots) throw Error("fw-cfg: no slot left for file '" + name + "' (32 files)");
    if (data.size() >= UINT32_MAX) throw Error("fw-cfg: file '" + name + "' is 4 GiB or more");
    // QEMU sorts with strcmp: by unsigned bytes, which std::string's
    // compare does through char_traits<char>::lt.
    auto at = std::lower_bound(files_.begin(), files_.end(), name,
                               [](const File& f, const std::string& n) { return f.name < n; });
    if (at != files_.end() && at->name == name) throw Error("fw-cfg: file '" + name + "' added twice");
    files_.insert(at, File{std::move(name), std::move(data)});
    rebuild_directory();
}

uint16_t FwCfg::file_key(std::string_view name) const {
    for (size_t i = 0; i < files_.size(); ++i)
        if (files_[i].name == name) return static_cast<uint16_t>(kFileFirst + i);
    return kInvalid;
}

void FwCfg::rebuild_directory() {
    // As QEMU: room for every slot, a big-endian count, then one entry per
    // file in key order.
    std::vector<uint8_t> dir(4 + kDirEntrySize * kFileSlots, 0);
    put_be(dir, 0, files_.size(), 4);
    for (size_t i = 0; i < files_.size(); ++i) {
        const size_t e = 4 + i * kDirEntrySize;
        put_be(dir, e, files_[i].data.size(), 4);
        put_be(dir, e + 4, kFileFirst + i, 2);
        std::memcpy(dir.data() + e + 8, files_[i].name.data(), files_[i].name.size());
    }
    items_[0][kFileDir] = std::move(dir);
}

void FwCfg::attach(MemorySystem& sys, MachineMemory& m) {
    if (memory_) throw Error("fw-cfg: this device is attached to a machine already");
    require_window(m, name(), "fw-cfg", kPortSize);
    require_window(m, name(), "fw-cfg-dma", kDmaSize);
    // Selector writes are 16-bit and data reads 8-bit, at either port.
    const AccessRules port{.valid = {1, 2, false}, .impl = {1, 2, false}};
    // The address takes aligned 4- and 8-byte writes; the signature reads
    // in any aligned size.
    const AccessRules dma{.valid = {1, 8, false}, .impl = {1, 8, false}};
    claim_io_window(sys, m, "fw-cfg", kPortSize, port_ops_, port);
    claim_io_window(sys, m, "fw-cfg-dma", kDmaSize, dma_ops_, dma);
    memory_ = m.memory;
}

void FwCfg::select(uint16_t key) {
    offset_ = 0;
    selector_ = (key & kEntryMask) >= kMaxEntry ? kInvalid : key;
}

std::span<const uint8_t> FwCfg::item(uint16_t key) const {
    if (key == kInvalid) return {};
    const bool arch = key & kArchLocal;
    const uint16_t index = key & kEntryMask;
    if (!arch && index >= kFileFirst) {
        const size_t f = index - kFileFirst;
        return f < files_.size() ? std::span<const uint8_t>(files_[f].data) : std::span<const uint8_t>();
    }
    if (index >= kFileFirst) return {};  // arch-local keys have no files
    const auto& slot = items_[arch ? 1 : 0][index];
    return slot ? std::span<const uint8_t>(*slot) : std::span<const uint8_t>();
}

uint8_t FwCfg::read_data() {
    const auto data = item(selector_);
    if (offset_ >= data.size()) return 0;
    return data[offset_++];
}

uint64_t FwCfg::PortOps::read(uint64_t, unsigned size) { return size == 1 ? d_.read_data() : 0; }

void FwCfg::PortOps::write(uint64_t, uint64_t value, unsigned size) {
    if (size == 2) d_.select(static_cast<uint16_t>(value));
}

uint64_t FwCfg::DmaOps::read(uint64_t offset, unsigned size) {
    // The signature's bytes in memory order, as a big-endian register shows
    // them to a little-endian CPU.
    uint64_t v = 0;
    for (unsigned i = 0; i < size && offset + i < kDmaSize; ++i)
        v |= uint64_t{static_cast<uint8_t>(kDmaSignature[offset + i])} << (8 * i);
    return v;
}

void FwCfg::DmaOps::write(uint64_t offset, uint64_t value, unsigned size) {
    // The register is big-endian: the bytes the guest wrote, read as a
    // big-endian number.
    if (size == 4) {
        const uint64_t v = __builtin_bswap32(static_cast<uint32_t>(value));
        if (offset == 0) {
            d_.dma_addr_ = v << 32;
        } else if (offset == 4) {
            d_.dma_addr_ |= v;
            d_.dma_transfer();
        }
    } else if (size == 8 && offset == 0) {
        d_.dma_addr_ = __builtin_bswap64(value);
        d_.dma_transfer();
    }
}

bool FwCfg::is_ram(uint64_t addr, uint64_t len) const { return is_guest_ram(*memory_, addr, len); }

void FwCfg::guest_write(uint64_t addr, std::span<const uint8_t> bytes) {
    if (bytes.empty()) return;
    // Checked to be RAM: the write cannot reach a device, so nothing can
    // call back into this one while it runs.
    memory_->write_bytes(Gpa(addr), bytes);
    if (dma_observer_) dma_observer_(addr, bytes);
}

void FwCfg::write_control(uint64_t desc, uint32_t control) {
    const uint64_t at = desc + kDescControl;
    if (!is_ram(at, 4)) return;  // QEMU's store fails silently there too
    const uint8_t be[4] = {static_cast<uint8_t>(control >> 24), static_cast<uint8_t>(control >> 16),
                           static_cast<uint8_t>(control >> 8), static_cast<uint8_t>(control)};
    guest_write(at, be);
}

void FwCfg::dma_transfer() {
    // QEMU clears the address before the transfer, so the next one starts
    // from a fresh pair of writes.
    const uint64_t desc = dma_addr_;
    dma_addr_ = 0;
    if (!is_ram(desc, kDescSize)) {
        write_control(desc, kDmaError);
        return;
    }
    uint8_t raw[kDescSize];
    memory_->read_bytes(Gpa(desc), raw);
    if (dma_read_observer_) dma_read_observer_(desc, raw);
    const auto control = static_cast<uint32_t>(get_be(raw + kDescControl, 4));
    uint64_t length = get_be(raw + kDescLength, 4);
    const uint64_t address = get_be(raw + kDescAddress, 8);

    if (control & kDmaSelect) select(static_cast<uint16_t>(control >> 16));
    const auto data = item(selector_);
    const uint64_t remaining = offset_ < data.size() ? data.size() - offset_ : 0;

    uint32_t result = 0;
    if (control & kDmaRead) {
        const uint64_t from_item = std::min(length, remaining);
        const uint64_t fill = length - from_item;
        const bool ok = length == 0 || (length - 1 <= UINT64_MAX - address &&
                                        !overlaps(address, length, desc, kDescSize) &&
                                        fill <= kMaxZeroFill && is_ram(address, length));
        if (!ok) {
            result = kDmaError;
        } else {
            if (from_item) {
                guest_write(address, data.subspan(offset_, from_item));
                offset_ += static_cast<uint32_t>(from_item);
            }
            if (fill) {
                zeros_.assign(fill, 0);
                guest_write(address + from_item, zeros_);
            }
        }
    } else if (control & kDmaWrite) {
        // No item takes writes; QEMU still steps over the item's bytes.
        if (length) result = kDmaError;
        offset_ += static_cast<uint32_t>(std::min(length, remaining));
    } else if (control & kDmaSkip) {
        offset_ += static_cast<uint32_t>(std::min(length, remaining));
    }
    write_control(desc, result);
}

uint64_t FwCfg::state_digest() const {
    XXH64_state_t* st = XXH64_createState();
    if (!st) throw Error("fw-cfg: out of memory for the digest state");
    XXH64_reset(st, 0);
    const uint64_t regs[3] = {selector_, offset_, dma_addr_};
    XXH64_update(st, regs, sizeof regs);
    for (int table = 0; table < 2; ++table) {
        for (size_t i = 0; i < kFileFirst; ++i) {
            const auto& slot = items_[table][i];
            const uint64_t head[2] = {uint64_t(table) << 16 | i, slot ? slot->size() : UINT64_MAX};
            XXH64_update(st, head, sizeof head);
            if (slot && !slot->empty()) XXH64_update(st, slot->data(), slot->size());
        }
    }
    for (const File& f : files_) {
        const uint64_t sizes[2] = {f.name.size(), f.data.size()};
        XXH64_update(st, sizes, sizeof sizes);
        XXH64_update(st, f.name.data(), f.name.size());
        if (!f.data.empty()) XXH64_update(st, f.data.data(), f.data.size());
    }
    const uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
    return h;
}

}  // namespace kvmrr
