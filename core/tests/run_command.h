// A command run through the shell as a user runs it (the tests of kvmrr's
// binary and its scripts, in any layer): its exit status and what it
// printed, stdout and stderr together.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace kvmrr::test {

struct CliResult {
    int status = -1;  // -1: did not exit normally (a signal) or could not start
    std::string out;
};

// Runs `BINARY ARGS` through the shell (ARGS may quote).
inline CliResult run_command(const std::string& binary, const std::string& args) {
    CliResult r;
    const std::string cmd = binary + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// How many times NEEDLE occurs in HAYSTACK.
inline size_t count_of(const std::string& haystack, const std::string& needle) {
    size_t n = 0;
    for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + needle.size())) ++n;
    return n;
}

}  // namespace kvmrr::test
