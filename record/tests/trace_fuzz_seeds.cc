// Writes the seed corpus for trace_reader_fuzz into a directory: small
// traces (whole, without a footer, empty, one chunk) with the flags byte
// the fuzzer expects in front; and, given a second directory, the same
// traces as files (no flags byte) for replay_fuzz, whose input is a trace.
// Generated rather than checked in, so the seeds always follow the current
// format.
#include <cstdio>
#include <string>
#include <vector>

#include "record/tests/trace_test_util.h"
#include "record/trace_format.h"
#include "record/trace_writer.h"

namespace {

using namespace kvmrr;

std::vector<uint8_t> trace(uint64_t events, uint32_t chunk_events, const TraceHeader& h) {
    test::TempDir dir;
    {
        TraceWriter w(dir.file("t"), h, {.chunk_events = chunk_events});
        for (uint64_t i = 0; i < events; ++i) {
            TraceEvent e = test::sample_event(i);
            w.append(e.vcpu, e.body);
        }
    }
    return test::read_file(dir.file("t"));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 && argc != 3) {
        std::fprintf(stderr, "usage: %s DIR [TRACE_DIR]\n", argv[0]);
        return 2;
    }
    const std::string out = argv[1];
    const std::string trace_out = argc == 3 ? argv[2] : "";
    TraceHeader small;
    small.vcpu_count = 2;
    small.regions = {{1, "uart16550", "io"}};
    const std::vector<std::pair<std::string, std::vector<uint8_t>>> traces = {
        {"whole", trace(40, 6, small)},
        {"one-chunk", trace(16, 8192, small)},
        {"empty", trace(0, 1, small)},
        {"full-header", trace(20, 4, test::sample_header())},
    };
    try {
        for (const auto& [name, bytes] : traces) {
            const std::vector<uint8_t> no_footer(bytes.begin(),
                                           bytes.begin() + static_cast<long>(get_le64(bytes.data() + bytes.size() - 16)));
            if (!trace_out.empty()) {
                test::write_file(trace_out + "/" + name + ".trace", bytes);
                test::write_file(trace_out + "/" + name + "-no-footer.trace", no_footer);
            }
            for (uint8_t flags = 0; flags < 4; ++flags) {
                for (const auto& [suffix, b] : {std::pair{"", &bytes}, std::pair{"-no-footer", &no_footer}}) {
                    std::vector<uint8_t> seed{flags};
                    seed.insert(seed.end(), b->begin(), b->end());
                    test::write_file(out + "/" + name + suffix + "-" + std::to_string(flags) + ".trace", seed);
                }
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
