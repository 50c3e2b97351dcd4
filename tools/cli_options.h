// Helpers for kvmrr's command line: parsing that ends in the documented
// exit statuses, number validators that refuse what CLI11 would wrap, and
// the checks that keep an output file from landing on an input.
//
// Kept apart from tools/kvmrr.cc, which only declares the commands.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "core/machine_layout.h"
#include "record/recorder.h"

namespace kvmrr::cli {

// Usage errors exit with this status (README), whatever CLI11 calls them.
constexpr int kUsageError = 2;

// Parses argv into `app`. Returns the status to exit with when parsing
// ends the program: 0 after --help, kUsageError (with CLI11's message on
// stderr) for every parse error; nothing when the command should run.
std::optional<int> parse(CLI::App& app, int argc, char** argv);

// An unsigned number in decimal or 0x hex, no sign, no blanks, within
// 64 bits: CLI11 itself reads "-1" as 2^64 - 1 and too large a number as
// the largest one.
CLI::Validator unsigned_number();
// The same, and at least `min` (and at most `max`).
CLI::Validator unsigned_at_least(uint64_t min);
CLI::Validator unsigned_in(uint64_t min, uint64_t max);
// A time-out in ms becomes a signed std::chrono count: keep it from wrapping
// (2^53 ms is 285,000 years).
constexpr uint64_t kMaxMilliseconds = uint64_t{1} << 53;
// A non-negative decimal number (fractions allowed), for milliseconds.
CLI::Validator non_negative_real();

// --dirty-interval: N exits or Nms.
RecorderOptions parse_dirty_interval(const std::string& text);

// An input of the command: what it is called on the command line and its
// path (empty when the option was not given).
struct InputFile {
    std::string option;
    std::string path;
};
// Throws kvmrr::Error when `output` (given by `output_option`) is one of
// `inputs`: the same file by std::filesystem::equivalent, or, for a file
// that does not exist yet, the same path.
void refuse_output_over_input(const std::string& output_option, const std::string& output,
                              const std::vector<InputFile>& inputs);

// The default machine's devices built on `layout` and thrown away: a
// device window too small for its device is refused as `run` refuses it,
// the error prefixed with `source` (the description file) when given.
void check_devices_fit(const MachineLayout& layout, const std::string& source);

}  // namespace kvmrr::cli
