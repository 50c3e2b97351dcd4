#include "core/file_replacement.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace kvmrr {

FileReplacement::FileReplacement(std::string path) : path_(std::move(path)) {
    const std::filesystem::path target(path_);
    // The process id keeps two kvmrr processes writing the same output
    // apart.
    temp_ = (target.parent_path() /
             ("." + target.stem().string() + ".kvmrr-" + std::to_string(::getpid()) + target.extension().string()))
                .string();
    std::error_code ec;
    existed_ = std::filesystem::exists(path_, ec);
}

FileReplacement::~FileReplacement() {
    if (!committed_) std::remove(temp_.c_str());
}

void FileReplacement::commit() {
    if (std::rename(temp_.c_str(), path_.c_str()) != 0)
        throw Error("cannot write " + path_ + ": " + std::strerror(errno));
    committed_ = true;
}

}  // namespace kvmrr
