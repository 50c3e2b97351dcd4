#include "core/guest_image.h"

#include <elf.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/memory_region.h"
#include "core/regular_file.h"

namespace kvmrr {

namespace {

std::vector<uint8_t> read_file(const std::string& path) { return read_regular_file(path, "guest image"); }

bool is_elf(const std::vector<uint8_t>& b) { return b.size() >= 4 && std::memcmp(b.data(), ELFMAG, SELFMAG) == 0; }

// The zero fill of a segment is written this much at a time.
constexpr uint64_t kZeroChunk = 64 * 1024;

}  // namespace

GuestImage GuestImage::raw(const std::string& path, uint64_t load, uint64_t entry, CpuMode mode) {
    GuestImage img;
    img.name = path;
    std::vector<uint8_t> bytes = read_file(path);
    img.hash = XXH64(bytes.data(), bytes.size(), 0);
    AddrRange::make(load, bytes.size(), "guest image '" + path + "'");
    img.segments.push_back({load, std::move(bytes), 0});
    img.entry = entry;
    img.mode = mode;
    return img;
}

GuestImage GuestImage::elf(const std::string& path) {
    const std::vector<uint8_t> b = read_file(path);
    auto bad = [&](const std::string& why) { return Error("guest image '" + path + "': " + why); };
    if (!is_elf(b)) throw bad("not an ELF file");
    if (b.size() < sizeof(Elf64_Ehdr)) throw bad("truncated ELF header");
    Elf64_Ehdr eh;
    std::memcpy(&eh, b.data(), sizeof eh);
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) throw bad("not a little-endian ELF64 file");
    if (eh.e_machine != EM_X86_64) throw bad("not an x86-64 executable");
    if (eh.e_type != ET_EXEC) throw bad("not a static executable (ET_EXEC); position-independent images are not supported");
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > b.size() ||
        static_cast<uint64_t>(eh.e_phnum) * sizeof(Elf64_Phdr) > b.size() - eh.e_phoff)
        throw bad("program headers lie outside the file");
    GuestImage img;
    img.name = path;
    img.hash = XXH64(b.data(), b.size(), 0);
    img.entry = eh.e_entry;
    img.mode = CpuMode::Long;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        std::memcpy(&ph, b.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC) throw bad("dynamically linked; link it statically");
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > b.size() || ph.p_filesz > b.size() - ph.p_offset)
            throw bad("segment " + std::to_string(i) + " lies outside the file");
        AddrRange::make(ph.p_paddr, ph.p_memsz, "guest image '" + path + "' segment " + std::to_string(i));
        GuestSegment seg;
        seg.addr = ph.p_paddr;
        seg.bytes.assign(b.begin() + static_cast<long>(ph.p_offset), b.begin() + static_cast<long>(ph.p_offset + ph.p_filesz));
        seg.zero_fill = ph.p_memsz - ph.p_filesz;
        img.segments.push_back(std::move(seg));
    }
    if (img.segments.empty()) throw bad("no loadable segment");
    return img;
}

GuestImage GuestImage::open(const std::string& path, uint64_t load, uint64_t entry, CpuMode mode) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error("cannot open guest image '" + path + "'");
    char magic[4] = {};
    f.read(magic, 4);
    if (f.gcount() == 4 && std::memcmp(magic, ELFMAG, SELFMAG) == 0) return elf(path);
    return raw(path, load, entry, mode);
}

void GuestImage::load_into(MemoryAddressSpace& memory) const {
    for (const GuestSegment& s : segments) {
        // The sizes come from a file or a trace: their sum must not wrap
        // into a small range that passes the checks below.
        if (s.zero_fill > UINT64_MAX - s.bytes.size())
            throw Error("guest image '" + name + "': a segment of " + std::to_string(s.bytes.size()) + " bytes and " +
                        hex(s.zero_fill) + " zero bytes at " + hex(s.addr) + " is larger than the address space");
        const uint64_t total = s.bytes.size() + s.zero_fill;
        const AddrRange r = AddrRange::make(s.addr, total, "guest image '" + name + "'");
        if (mode == CpuMode::Long && r.start() < kBootAreaEnd)
            throw Error("guest image '" + name + "' loads at " + r.to_string() + ", over the long-mode page tables at 0-" +
                        hex(kBootAreaEnd - 1) + "; load it higher");
        // Check every byte lands in RAM before writing any.
        const FlatView& v = *memory.view();
        for (uint64_t a = r.start(); a < r.end();) {
            const FlatRange* fr = v.lookup(a);
            if (!fr || fr->mr->kind() != MemoryRegion::Kind::Ram || fr->readonly)
                throw Error("guest image '" + name + "' does not fit in RAM: " + hex(a) + " (within " + r.to_string() +
                            ") is " + (fr ? "'" + fr->mr->name() + "'" : std::string("unmapped")));
            a = fr->range.end();
        }
        memory.write_bytes(Gpa(s.addr), s.bytes);
        // The zeros a piece at a time: a fill as large as the RAM costs no
        // allocation of its size.
        const std::vector<uint8_t> zeros(std::min<uint64_t>(s.zero_fill, kZeroChunk), 0);
        for (uint64_t done = 0; done < s.zero_fill;) {
            const uint64_t n = std::min<uint64_t>(s.zero_fill - done, zeros.size());
            memory.write_bytes(Gpa(s.addr + s.bytes.size() + done), std::span(zeros.data(), n));
            done += n;
        }
    }
}

}  // namespace kvmrr
