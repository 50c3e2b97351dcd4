#include "tools/cli_options.h"

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <system_error>

#include "core/error.h"
#include "vmm/machine.h"
#include "vmm/real_host_inputs.h"

namespace kvmrr::cli {

std::optional<int> parse(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // app.exit prints help to stdout and errors to stderr; CLI11's own
        // codes (105, 114, ...) would read as a guest's exit status.
        const int code = app.exit(e);
        return code == 0 ? 0 : kUsageError;
    }
    return std::nullopt;
}

namespace {

std::optional<uint64_t> read_unsigned(const std::string& s) {
    std::string_view w = s;
    int base = 10;
    if (w.size() > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X')) {
        w.remove_prefix(2);
        base = 16;
    }
    uint64_t v = 0;
    const auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), v, base);
    if (w.empty() || ec != std::errc() || p != w.data() + w.size()) return std::nullopt;
    return v;
}

}  // namespace

CLI::Validator unsigned_number() { return unsigned_at_least(0); }

CLI::Validator unsigned_at_least(uint64_t min) { return unsigned_in(min, UINT64_MAX); }

CLI::Validator unsigned_in(uint64_t min, uint64_t max) {
    return CLI::Validator(
        [min, max](std::string& s) -> std::string {
            const auto v = read_unsigned(s);
            if (!v) {
                if (!s.empty() && s[0] == '-') return "'" + s + "' is negative (a number of 0 or more is expected)";
                if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos)
                    return "'" + s + "' is too large (at most 18446744073709551615)";
                return "'" + s + "' is not a number (decimal or 0x hex)";
            }
            if (*v < min) return "'" + s + "' is less than " + std::to_string(min);
            if (*v > max) return "'" + s + "' is more than " + std::to_string(max);
            // CLI11 reads a leading 0 as octal; what was checked is what is used.
            s = std::to_string(*v);
            return {};
        },
        min ? "NUMBER>=" + std::to_string(min) : "NUMBER");
}

CLI::Validator non_negative_real() {
    return CLI::Validator(
        [](std::string& s) -> std::string {
            char* end = nullptr;
            const double v = std::strtod(s.c_str(), &end);
            if (s.empty() || end != s.c_str() + s.size() || !(v >= 0)) return "'" + s + "' is not a number of 0 or more";
            if (v > 1e15) return "'" + s + "' is too large (at most 1e15)";
            return {};
        },
        "NUMBER>=0");
}

RecorderOptions parse_dirty_interval(const std::string& text) {
    RecorderOptions o;
    std::string num = text;
    const bool ms = num.size() > 2 && num.compare(num.size() - 2, 2, "ms") == 0;
    if (ms) num.resize(num.size() - 2);
    const auto v = read_unsigned(num);
    if (!v) throw Error("--dirty-interval: '" + text + "' is not N (exits) or Nms (milliseconds), N a number of 0 or more");
    (ms ? o.dirty_interval_ms : o.dirty_interval_exits) = *v;
    return o;
}

void refuse_output_over_input(const std::string& output_option, const std::string& output,
                              const std::vector<InputFile>& inputs) {
    namespace fs = std::filesystem;
    for (const InputFile& in : inputs) {
        if (in.path.empty() || in.path == "-") continue;
        std::error_code ec;
        bool same = fs::exists(output, ec) && fs::exists(in.path, ec) && fs::equivalent(output, in.path, ec) && !ec;
        if (!same) same = fs::weakly_canonical(output, ec) == fs::weakly_canonical(in.path, ec) && !ec;
        if (same)
            throw Error(output_option + " " + output + " is the run's " + in.option + " " + in.path +
                        ": refusing to write over an input");
    }
}

void check_devices_fit(const MachineLayout& layout, const std::string& source) {
    RealHostInputs none(-1, "");
    try {
        Machine probe(layout, none, {});
    } catch (const Error& e) {
        throw Error(source.empty() ? std::string(e.what()) : source + ": " + e.what());
    }
}

}  // namespace kvmrr::cli
