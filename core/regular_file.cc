#include "core/regular_file.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace kvmrr {

std::vector<uint8_t> read_regular_file(const std::string& path, const std::string& what,
                                       const std::function<void(uint64_t)>& check_size) {
    const std::string named = what + " '" + path + "'";
    std::error_code ec;
    const std::filesystem::file_status st = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(st)) throw Error("cannot open " + named);
    if (!std::filesystem::is_regular_file(st)) throw Error(named + " is not a regular file");
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) throw Error("cannot open " + named + ": " + ec.message());
    if (size == 0) throw Error(named + " is empty");
    if (check_size) check_size(size);
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error("cannot open " + named);
    std::vector<uint8_t> bytes(size);
    if (!f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
        throw Error("cannot read " + named);
    return bytes;
}

}  // namespace kvmrr
