// libFuzzer target for TraceReader: whatever the bytes, opening and reading
// them either throws kvmrr::Error or returns events, never crashes, never
// reads out of bounds, never allocates without bound, and keeps its own
// promises (contiguous sequence numbers, seek() finding what next() found,
// complete() only without damage). Built with -DKVMRR_FUZZ=ON under clang;
// tools/check.sh runs it over the seeds trace_fuzz_seeds writes.
//
// Input: one flags byte, then the file. Flag bit 0 turns the checksums off
// so that mutations reach the LZ4 and Cap'n Proto decoders and the event
// checks; bit 1 also exercises seek().
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "record/dirty_runs.h"
#include "record/trace_reader.h"
#include "record/trace_text.h"

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

void read_trace(const uint8_t* data, size_t size) {
    using namespace kvmrr;
    TraceReaderOptions opt;
    opt.verify_checksums = (data[0] & 1) == 0;
    TraceReader r = TraceReader::open_memory(std::vector<uint8_t>(data + 1, data + size), "fuzz", opt);
    RegionNames names(r.header());
    TraceSummary summary(r.header());
    (void)format_header(r.header());
    TraceEvent e;
    uint64_t n = 0;
    while (r.next(e)) {
        check(e.seq == n++);
        names.observe(e);
        (void)format_event(e, names, false);
        (void)format_event(e, names, true);
        summary.add(e);
        if (const auto* d = std::get_if<DirtyEvent>(&e.body)) (void)dirty_runs(*d);  // checked on read: must not throw
    }
    (void)summary.format();
    check(r.events_read() == n);
    check(!(r.complete() && r.damage()));
    if (r.damage_info()) check(r.damage_info()->events_read == n);
    if ((data[0] & 2) && n > 0) {
        for (uint64_t seq : {n / 2, uint64_t{0}, n - 1}) {
            check(r.seek(seq));
            check(r.next(e) && e.seq == seq);
        }
    }
    if (r.complete()) {
        check(!r.seek(n));  // a whole trace has nothing past its end
        check(!r.next(e));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    try {
        read_trace(data, size);
    } catch (const kvmrr::Error&) {
        // A clear error is a fine answer to bad input.
    }
    return 0;
}
