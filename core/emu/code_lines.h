// CodeLines: which 64-byte lines of the first 4 GiB of guest-physical
// memory hold code that Unicorn may have translated (internal to
// core/emu). The emulator notes every translated block it runs; a store
// to a line noted is a store that may overwrite translated code, which must
// then be forgotten (see EmuEngine's stores by hook). Lines, not pages:
// firmware keeps data next to its code, and a store beside a block, not
// into it, must stay cheap.
//
// A line is dropped when every block on it is forgotten: by a store there
// (forget(): the store's lines' blocks all go) or by a flush (clear()).
// Past the first 4 GiB only whether any block ran there at all is kept.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace kvmrr::emu {

class CodeLines {
public:
    // The range covered line by line; past it, once a block ran there,
    // every range counts as code.
    static constexpr uint64_t kLimit = 1ull << 32;

    // Notes [start, end) (end > start).
    void note(uint64_t start, uint64_t end) {
        if (end > kLimit) high_ = true;
        each_page(start, end < kLimit ? end : kLimit, [&](uint64_t at, uint64_t to) {
            page_mask(at) |= lines(at, to);
            return false;
        });
    }

    // Whether any line of [start, end) is noted (or it reaches past kLimit
    // where a block ran).
    bool any(uint64_t start, uint64_t end) const {
        if (((start ^ (end - 1)) >> 12) == 0 && end <= kLimit) [[likely]] {  // within one page
            const uint64_t* chunk = chunks_[start >> kChunkShift].get();
            if (!chunk) return false;
            const uint64_t mask = chunk[(start >> 12) & (kPagesPerChunk - 1)];
            return mask && (mask & lines(start, end));
        }
        if (end > kLimit && high_) return true;
        return each_page(start, end < kLimit ? end : kLimit, [&](uint64_t at, uint64_t to) {
            const uint64_t* chunk = chunks_[at >> kChunkShift].get();
            return chunk && (chunk[(at >> 12) & (kPagesPerChunk - 1)] & lines(at, to));
        });
    }

    // note() for a translated block run, which loops run over and over:
    // the blocks noted last are remembered and not noted again.
    void note_block(uint64_t start, uint64_t end) {
        Recent& r = recent_[(start >> 2) & (kRecent - 1)];
        if (r.start == start && r.end == end) return;
        r = {start, end};
        note(start, end);
    }

    // Drops the lines of [start, end) (64-byte aligned), whose blocks were
    // all just forgotten; the blocks remembered go too, so that a block
    // translated there again is noted again.
    void forget(uint64_t start, uint64_t end) {
        each_page(start, end < kLimit ? end : kLimit, [&](uint64_t at, uint64_t to) {
            if (uint64_t* chunk = chunks_[at >> kChunkShift].get()) chunk[(at >> 12) & (kPagesPerChunk - 1)] &= ~lines(at, to);
            return false;
        });
        for (Recent& r : recent_) r = {};
    }

    // f(at, to) for each page's part [at, to) of [start, end), until f
    // returns true; whether it did.
    template <class F>
    static bool each_page(uint64_t start, uint64_t end, F f) {
        for (uint64_t at = start; at < end;) {
            const uint64_t page_end = (at | 0xfff) + 1;
            const uint64_t to = end < page_end ? end : page_end;
            if (f(at, to)) return true;
            at = to;
        }
        return false;
    }

    void clear() {
        for (auto& c : chunks_) c.reset();
        for (Recent& r : recent_) r = {};
        high_ = false;
    }

private:
    static constexpr unsigned kChunkShift = 22;  // 4 MiB of guest memory per chunk
    static constexpr uint64_t kPagesPerChunk = 1u << (kChunkShift - 12);

    // The bits of the lines of [from, to), both within one page.
    static uint64_t lines(uint64_t from, uint64_t to) {
        const unsigned first = (from & 0xfff) >> 6, last = ((to - 1) & 0xfff) >> 6;
        const uint64_t upto_last = last == 63 ? ~0ull : (2ull << last) - 1;
        return upto_last & ~((1ull << first) - 1);
    }
    uint64_t& page_mask(uint64_t at) {
        std::unique_ptr<uint64_t[]>& chunk = chunks_[at >> kChunkShift];
        if (!chunk) chunk = std::make_unique<uint64_t[]>(kPagesPerChunk);  // zeroed
        return chunk[(at >> 12) & (kPagesPerChunk - 1)];
    }

    static constexpr size_t kRecent = 64;
    struct Recent {
        uint64_t start = 0, end = 0;  // none: an empty range is never noted
    };
    Recent recent_[kRecent];
    bool high_ = false;  // a block ran past kLimit since the last clear()
    std::vector<std::unique_ptr<uint64_t[]>> chunks_ = std::vector<std::unique_ptr<uint64_t[]>>(kLimit >> kChunkShift);
};

}  // namespace kvmrr::emu
