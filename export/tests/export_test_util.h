// Helpers of the export tests: scratch files, fake QEMU scripts, running
// the kvmrr binary.
#pragma once

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/tests/run_command.h"

namespace kvmrr::testing {

inline std::filesystem::path scratch_dir(const std::string& tag) {
    const auto d = std::filesystem::temp_directory_path() / ("kvmrr-export-" + tag + "-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
}

// An executable shell script standing in for QEMU: `body` reads qtest
// commands on stdin and answers on stdout.
inline std::string fake_qemu(const std::filesystem::path& dir, const std::string& name, const std::string& body) {
    const auto p = dir / name;
    std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
    chmod(p.c_str(), 0755);
    return p.string();
}

inline std::string golden_trace(const std::string& name) {
    return std::string(KVMRR_SOURCE_DIR) + "/fixtures/traces/" + name + ".trace";
}

inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

using Result = test::CliResult;

#ifdef KVMRR_BINARY
inline Result kvmrr_run(const std::string& args) { return test::run_command(KVMRR_BINARY, args); }
#endif

}  // namespace kvmrr::testing
