#include "record/dirty_runs.h"

#include <algorithm>
#include <bit>

#include "core/error.h"

namespace kvmrr {
namespace {

void put_varint(std::vector<uint8_t>& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<uint8_t>(v | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<uint8_t>(v));
}

// Reads one canonical LEB128 value at p[*i]; nullopt (with *why set) if
// it is truncated, longer than 64 bits, or not in its shortest form.
std::optional<uint64_t> get_varint(const std::vector<uint8_t>& in, size_t* i, std::string* why) {
    uint64_t v = 0;
    const size_t start = *i;
    for (unsigned shift = 0;; shift += 7) {
        if (*i == in.size()) {
            *why = "varint at byte " + std::to_string(start) + " is cut short";
            return std::nullopt;
        }
        const uint8_t b = in[(*i)++];
        if (shift == 63 && b > 1) {
            *why = "varint at byte " + std::to_string(start) + " does not fit 64 bits";
            return std::nullopt;
        }
        v |= static_cast<uint64_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            if (b == 0 && *i - start > 1) {
                *why = "varint at byte " + std::to_string(start) + " is not in its shortest form";
                return std::nullopt;
            }
            return v;
        }
    }
}

// Walks the runs of e, calling fn(first, count) for each; returns what is
// wrong, or nothing. The single place that decides what a valid encoding is.
template <typename Fn>
std::optional<std::string> walk_runs(const DirtyEvent& e, Fn&& fn) {
    size_t i = 0;
    uint64_t end = 0, total = 0;
    for (size_t n = 0; i < e.runs.size(); ++n) {
        std::string why;
        const auto gap = get_varint(e.runs, &i, &why);
        if (!gap) return why;
        if (i == e.runs.size()) return "run " + std::to_string(n) + " has a gap but no length";
        const auto len = get_varint(e.runs, &i, &why);
        if (!len) return why;
        if (n > 0 && *gap == 0) return "run " + std::to_string(n) + " touches the previous one (gap 0)";
        if (*len == 0) return "run " + std::to_string(n) + " is empty";
        if (*gap > e.pages - end || *len > e.pages - end - *gap)
            return "run " + std::to_string(n) + " (gap " + std::to_string(*gap) + ", length " + std::to_string(*len) +
                   " after page " + std::to_string(end) + ") goes past the slot's " + std::to_string(e.pages) + " pages";
        fn(end + *gap, *len);
        end += *gap + *len;
        total += *len;
    }
    if (total != e.dirty_pages)
        return "runs hold " + std::to_string(total) + " dirty pages, the event says " + std::to_string(e.dirty_pages);
    return std::nullopt;
}

}  // namespace

DirtyEvent make_dirty_event(const DirtyBitmap& bitmap, uint64_t epoch) {
    DirtyEvent e;
    e.epoch = epoch;
    e.slot = bitmap.slot;
    e.guest_phys = bitmap.guest_phys;
    e.pages = bitmap.pages;
    const uint64_t words = std::min<uint64_t>(bitmap.words.size(), bitmap.pages / 64 + (bitmap.pages % 64 != 0));
    uint64_t prev_end = 0, run_start = 0;
    bool in_run = false;
    auto emit = [&](uint64_t end) {
        put_varint(e.runs, run_start - prev_end);
        put_varint(e.runs, end - run_start);
        e.dirty_pages += end - run_start;
        prev_end = end;
    };
    for (uint64_t wi = 0; wi < words; ++wi) {
        uint64_t w = bitmap.words[wi];
        const uint64_t base = wi * 64;
        if (bitmap.pages - base < 64) w &= (uint64_t{1} << (bitmap.pages - base)) - 1;
        // Find each 0->1 and 1->0 transition in w with count-trailing-zeros.
        unsigned from = 0;
        while (from < 64) {
            const uint64_t mask = ~uint64_t{0} << from;
            const uint64_t x = (in_run ? ~w : w) & mask;
            if (x == 0) break;
            from = static_cast<unsigned>(std::countr_zero(x));
            if (in_run) {
                emit(base + from);
            } else {
                run_start = base + from;
            }
            in_run = !in_run;
        }
    }
    if (in_run) emit(words * 64 < bitmap.pages ? words * 64 : bitmap.pages);
    return e;
}

std::optional<std::string> dirty_runs_problem(const DirtyEvent& e) {
    return walk_runs(e, [](uint64_t, uint64_t) {});
}

std::vector<DirtyRun> dirty_runs(const DirtyEvent& e) {
    std::vector<DirtyRun> runs;
    if (auto why = walk_runs(e, [&](uint64_t first, uint64_t count) { runs.push_back({first, count}); }))
        throw Error("malformed dirty runs (slot " + std::to_string(e.slot) + ", epoch " + std::to_string(e.epoch) +
                    "): " + *why);
    return runs;
}

std::vector<uint64_t> dirty_pages(const DirtyEvent& e) {
    std::vector<DirtyRun> runs = dirty_runs(e);  // validates first: no allocation from unchecked numbers
    std::vector<uint64_t> pages;
    pages.reserve(e.dirty_pages);
    for (const DirtyRun& r : runs)
        for (uint64_t p = r.first; p < r.first + r.count; ++p) pages.push_back(p);
    return pages;
}

}  // namespace kvmrr
