// Hostile guests on the emulator: firmware of random bytes, from fixed
// seeds, recorded on the pc board and replayed. Whatever such code does
// (garbage port and MMIO accesses, interrupts through garbage vectors,
// instructions Unicorn 2.0.1 mishandles), kvmrr ends the run with a named
// reason and writes a whole trace, which device replay reproduces: never a
// crash, a hang or a sanitizer report. tools/fuzz-guests.sh runs the same
// check on fresh random images for as long as it is given.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/tests/run_command.h"

namespace kvmrr {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> random_firmware(uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::vector<uint8_t> b(64 * 1024);
    for (size_t i = 0; i < b.size(); i += 8) {
        const uint64_t v = gen();
        for (size_t k = 0; k < 8; ++k) b[i + k] = static_cast<uint8_t>(v >> (8 * k));
    }
    return b;
}

bool sanitizer_spoke(const std::string& out) {
    return out.find("AddressSanitizer") != std::string::npos || out.find("runtime error:") != std::string::npos ||
           out.find("LeakSanitizer") != std::string::npos;
}

TEST(RandomGuests, EndWithANamedReasonAndReplayAsRecorded) {
    const fs::path dir = fs::temp_directory_path() / ("kvmrr-random-guests-" + std::to_string(getpid()));
    fs::create_directories(dir);
    // Seed 190's code meets an instruction Unicorn 2.0.1 aborts on (an
    // indirect far JMP through a register): core/emu/abort_guard.h.
    for (const uint64_t seed : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 190}) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        const fs::path firmware = dir / ("random-" + std::to_string(seed) + ".bin");
        const fs::path trace = dir / ("random-" + std::to_string(seed) + ".trace");
        const std::vector<uint8_t> bytes = random_firmware(seed);
        std::ofstream(firmware, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                        static_cast<std::streamsize>(bytes.size()));
        const test::CliResult rec = test::run_command(KVMRR_BINARY, "record --board pc --firmware " + firmware.string() +
                                                                        " --accel emu --timeout 500 --max-exits 3000 -o " +
                                                                        trace.string());
        // The guest's own exit status may be any byte (port 0xf4): what
        // shows a clean end is the recorder's summary after it.
        EXPECT_NE(rec.out.find("kvmrr: recorded "), std::string::npos) << rec.out;
        EXPECT_FALSE(sanitizer_spoke(rec.out)) << rec.out;
        ASSERT_TRUE(fs::exists(trace)) << rec.out;
        const test::CliResult rep = test::run_command(KVMRR_BINARY, "replay " + trace.string());
        EXPECT_EQ(rep.status, 0) << rep.out;
        EXPECT_NE(rep.out.find("reproduced:"), std::string::npos) << rep.out;
        EXPECT_FALSE(sanitizer_spoke(rep.out)) << rep.out;
    }
    fs::remove_all(dir);
}

}  // namespace
}  // namespace kvmrr
