// How the trace's text forms (trace_text.h, and the event descriptions'
// own hooks) write strings and bytes: as a word a person can read, as a
// JSON string literal, as hex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kvmrr {

// Byte strings are cut after this many bytes in the human form: a line
// stays a line.
inline constexpr size_t kHumanBytes = 32;

// Lowercase hex, two digits a byte; cut after `limit` bytes with "...".
std::string hex_bytes(const std::vector<uint8_t>& b, size_t limit = SIZE_MAX);

// A JSON string literal: always valid JSON, invalid UTF-8 becomes U+FFFD.
std::string json_string(const std::string& s);

// A name in the human form: bare if it is one printable word, else quoted
// with \" \\ and \xNN escapes.
std::string word(const std::string& s);

}  // namespace kvmrr
