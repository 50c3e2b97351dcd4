// Reading a whole input file (a guest image, a firmware ROM) whose size the
// file system gives: a device or pipe (/dev/zero) would be read without
// end into memory, and a directory has no bytes, so only a regular file is
// read.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kvmrr {

// The bytes of the regular file at `path`. `what` names it in errors
// ("guest image" gives "guest image 'x' is not a regular file"); an empty
// file is refused, and `check_size` may refuse its size (by throwing)
// before anything is read.
std::vector<uint8_t> read_regular_file(const std::string& path, const std::string& what,
                                       const std::function<void(uint64_t)>& check_size = {});

}  // namespace kvmrr
