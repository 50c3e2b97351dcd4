// Writing an output file that may already exist (a picture, an export):
// the new file is written under a hidden name beside the final one and
// renamed over it only when it is whole, so what was there is replaced by
// a complete file or left as it was, never by a half-written one when the
// writer fails part way.
#pragma once

#include <string>

namespace kvmrr {

class FileReplacement {
public:
    // Nothing is created yet: the writer creates temp_path() itself.
    explicit FileReplacement(std::string path);
    // Removes the hidden file unless commit() renamed it.
    ~FileReplacement();
    FileReplacement(const FileReplacement&) = delete;
    FileReplacement& operator=(const FileReplacement&) = delete;

    const std::string& path() const { return path_; }
    // Beside path(), with its extension (which may say the format).
    const std::string& temp_path() const { return temp_; }
    // Whether a file was at path() when this replacement began.
    bool replaces_existing() const { return existed_; }
    // Renames temp_path() to path(); throws Error when it cannot.
    void commit();

private:
    std::string path_;
    std::string temp_;
    bool existed_ = false;
    bool committed_ = false;
};

}  // namespace kvmrr
