#include "record/dirty_runs.h"

#include <algorithm>
#include <bit>
#include <cstdio>

#include "core/error.h"

namespace kvmrr {
namespace {

enum class VarintError : uint8_t { None, Cut, TooLong, NotShortest };

// Reads one canonical LEB128 value from [*p, end): truncated, longer than
// 64 bits or not in its shortest form is an error. One-byte values (most
// gaps and lengths) take the first branch.
inline VarintError read_varint(const uint8_t** p, const uint8_t* end, uint64_t* out) {
    const uint8_t* q = *p;
    if (q != end && *q < 0x80) {
        *out = *q;
        *p = q + 1;
        return VarintError::None;
    }
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (q == end) return VarintError::Cut;
        const uint8_t b = *q++;
        if (shift == 63 && b > 1) return VarintError::TooLong;
        v |= static_cast<uint64_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            if (b == 0 && q - *p > 1) return VarintError::NotShortest;
            *out = v;
            *p = q;
            return VarintError::None;
        }
    }
}

std::string varint_problem(VarintError err, size_t at) {
    const std::string where = "varint at byte " + std::to_string(at);
    switch (err) {
        case VarintError::Cut: return where + " is cut short";
        case VarintError::TooLong: return where + " does not fit 64 bits";
        case VarintError::NotShortest: return where + " is not in its shortest form";
        case VarintError::None: break;
    }
    return where;
}

// Walks the runs of e, calling fn(first, count) for each; returns what is
// wrong, or nothing (e.dirty_pages not checked with `count_checked`
// false). The single place that decides what a valid encoding is; the
// text of a problem is only built once one is found.
template <typename Fn>
std::optional<std::string> walk_runs(const DirtyEvent& e, Fn&& fn, bool count_checked = true) {
    const uint8_t* const begin = e.runs.data();
    const uint8_t* const stop = begin + e.runs.size();
    const uint8_t* p = begin;
    uint64_t end = 0, total = 0;
    for (size_t n = 0; p != stop; ++n) {
        uint64_t gap = 0, len = 0;
        const uint8_t* at = p;
        if (VarintError err = read_varint(&p, stop, &gap); err != VarintError::None)
            return varint_problem(err, static_cast<size_t>(at - begin));
        if (p == stop) return "run " + std::to_string(n) + " has a gap but no length";
        at = p;
        if (VarintError err = read_varint(&p, stop, &len); err != VarintError::None)
            return varint_problem(err, static_cast<size_t>(at - begin));
        if (n > 0 && gap == 0) return "run " + std::to_string(n) + " touches the previous one (gap 0)";
        if (len == 0) return "run " + std::to_string(n) + " is empty";
        if (gap > e.pages - end || len > e.pages - end - gap)
            return "run " + std::to_string(n) + " (gap " + std::to_string(gap) + ", length " + std::to_string(len) +
                   " after page " + std::to_string(end) + ") goes past the slot's " + std::to_string(e.pages) + " pages";
        fn(end + gap, len);
        end += gap + len;
        total += len;
    }
    if (count_checked && total != e.dirty_pages)
        return "runs hold " + std::to_string(total) + " dirty pages, the event says " + std::to_string(e.dirty_pages);
    return std::nullopt;
}

}  // namespace

namespace {

// LEB128 into a buffer the caller made room for (10 bytes at most),
// through a pointer: a push_back per byte was most of the encoding time of
// a bitmap with many runs.
inline uint8_t* put_varint(uint8_t* p, uint64_t x) {
    while (x >= 0x80) {
        *p++ = static_cast<uint8_t>(x | 0x80);
        x >>= 7;
    }
    *p++ = static_cast<uint8_t>(x);
    return p;
}

// Writes the run [start, end) as (gap since the last run, length) and
// moves the encoder's state past it.
[[gnu::always_inline]] inline uint8_t* put_run(uint8_t* p, uint64_t start, uint64_t end, uint64_t& prev_end,
                                               uint64_t& dirty) {
    p = put_varint(put_varint(p, start - prev_end), end - start);
    dirty += end - start;
    prev_end = end;
    return p;
}

}  // namespace

// A harvest encodes every logging slot's bitmap, so this is on the
// recorder's path: all state is in locals (no lambdas holding references,
// which kept it in memory), words that continue what came before are
// skipped four at a time, and each word's runs are found with bit
// arithmetic, two count-trailing-zeros a run.
DirtyEvent dirty_event_header(const DirtyBitmap& bitmap, uint64_t epoch, uint64_t time_ns) {
    DirtyEvent e;
    e.epoch = epoch;
    e.slot = bitmap.slot;
    e.guest_phys = bitmap.guest_phys;
    e.pages = bitmap.pages;
    e.time_ns = time_ns;
    return e;
}

DirtyEvent make_dirty_event(const DirtyBitmap& bitmap, uint64_t epoch, uint64_t time_ns) {
    DirtyEvent e = dirty_event_header(bitmap, epoch, time_ns);
    const uint64_t pages = bitmap.pages;
    const uint64_t words = std::min<uint64_t>(bitmap.words.size(), pages / 64 + (pages % 64 != 0));
    const uint64_t* const wv = bitmap.words.data();
    // The last word may hold bits past the slot: they do not count.
    const uint64_t last_mask = pages % 64 ? (uint64_t{1} << (pages % 64)) - 1 : ~uint64_t{0};
    const uint64_t full_words = pages / 64;  // words before the partial one, if any
    std::vector<uint8_t>& out = e.runs;
    size_t n = 0;
    uint64_t prev_end = 0, run_start = 0, dirty = 0;
    bool in_run = false;
    for (uint64_t wi = 0; wi < words; ++wi) {
        if (!in_run) {
            while (wi + 4 <= words && (wv[wi] | wv[wi + 1] | wv[wi + 2] | wv[wi + 3]) == 0) wi += 4;
            while (wi < words && wv[wi] == 0) ++wi;
            if (wi == words) break;
        } else {
            while (wi + 4 < words && (wv[wi] & wv[wi + 1] & wv[wi + 2] & wv[wi + 3]) == ~uint64_t{0}) wi += 4;
            while (wi + 1 < words && wv[wi] == ~uint64_t{0}) ++wi;
        }
        const uint64_t w = wi < full_words ? wv[wi] : wv[wi] & last_mask;
        const uint64_t base = wi * 64;
        // At most 32 runs end in one word, 20 bytes each.
        if (out.size() - n < 32 * 20 + 20) out.resize(std::max<size_t>(n + 32 * 20 + 20, 2 * out.size()));
        uint8_t* p = out.data() + n;
        // A run carried over skipped all-dirty words may have ended with
        // the last of them.
        if (in_run && !(w & 1)) {
            p = put_run(p, run_start, base, prev_end, dirty);
            in_run = false;
        }
        // Pages that begin a run (dirty, the page before clean) and pages
        // that end one (dirty, the page after clean), across the word's
        // edges; the k-th start of the word then pairs with its k-th end.
        const uint64_t next = wi + 1 < words ? (wi + 1 < full_words ? wv[wi + 1] : wv[wi + 1] & last_mask) : 0;
        uint64_t starts = w & ~((w << 1) | uint64_t{in_run});
        uint64_t ends = w & ~((w >> 1) | ((next & 1) << 63));
        if (!in_run) {
            if (!starts) {  // no run begins in this word
                n = static_cast<size_t>(p - out.data());
                continue;
            }
            run_start = base + static_cast<uint64_t>(std::countr_zero(starts));
            starts &= starts - 1;
        }
        // Here a run is open (carried in, or begun at the first start).
        for (;;) {
            if (!ends) {  // it goes on into the next word
                in_run = true;
                break;
            }
            p = put_run(p, run_start, base + static_cast<uint64_t>(std::countr_zero(ends)) + 1, prev_end, dirty);
            ends &= ends - 1;
            in_run = false;
            if (!starts) break;
            run_start = base + static_cast<uint64_t>(std::countr_zero(starts));
            starts &= starts - 1;
        }
        n = static_cast<size_t>(p - out.data());
    }
    if (in_run) {
        if (out.size() - n < 20) out.resize(n + 20);
        n = static_cast<size_t>(put_run(out.data() + n, run_start, std::min(words * 64, pages), prev_end, dirty) -
                                out.data());
    }
    out.resize(n);
    e.dirty_pages = dirty;
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

namespace {

// The runs of `a` less those of `b` (each ascending and disjoint), at most
// `limit` of them, and whether there were more.
std::vector<DirtyRun> runs_minus(const std::vector<DirtyRun>& a, const std::vector<DirtyRun>& b, size_t limit, bool& more) {
    std::vector<DirtyRun> out;
    size_t j = 0;
    for (const DirtyRun& r : a) {
        uint64_t at = r.first;
        const uint64_t end = r.first + r.count;
        while (j < b.size() && b[j].first + b[j].count <= at) ++j;
        for (size_t k = j; at < end; ++k) {
            const uint64_t next = k < b.size() ? std::min(b[k].first, end) : end;
            if (next > at) {
                if (out.size() == limit) {
                    more = true;
                    return out;
                }
                out.push_back({at, next - at});
            }
            if (k >= b.size()) break;
            at = std::max(at, b[k].first + b[k].count);
        }
    }
    return out;
}

std::string runs_text(const std::vector<DirtyRun>& runs, bool more) {
    if (runs.empty()) return "none";
    std::string s;
    char buf[48];
    for (const DirtyRun& r : runs) {
        if (r.count == 1)
            std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(r.first));
        else
            std::snprintf(buf, sizeof buf, "0x%llx-0x%llx", static_cast<unsigned long long>(r.first),
                          static_cast<unsigned long long>(r.first + r.count - 1));
        s += (s.empty() ? "" : " ") + std::string(buf);
    }
    return more ? s + " ..." : s;
}

}  // namespace

std::optional<std::string> dirty_runs_difference(const std::vector<uint8_t>& expected, const std::vector<uint8_t>& actual) {
    const auto decode = [](const std::vector<uint8_t>& bytes, std::vector<DirtyRun>& runs) {
        DirtyEvent e;
        e.pages = UINT64_MAX;
        e.runs = bytes;  // a copy: a report's, once
        return !walk_runs(e, [&](uint64_t first, uint64_t count) { runs.push_back({first, count}); }, false);
    };
    std::vector<DirtyRun> a, b;
    if (!decode(expected, a) || !decode(actual, b)) return std::nullopt;
    constexpr size_t kShown = 6;
    bool more_a = false, more_b = false;
    const std::vector<DirtyRun> only_a = runs_minus(a, b, kShown, more_a), only_b = runs_minus(b, a, kShown, more_b);
    return "pages of the slot dirty only in the recording: " + runs_text(only_a, more_a) +
           ", only in the replay: " + runs_text(only_b, more_b);
}

}  // namespace kvmrr
