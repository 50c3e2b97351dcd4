// Axis scales for kvmrr's pictures: where the ticks of a linear or a
// logarithmic axis go, and how their numbers are written, so that every
// plot labels its axes the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvmrr {

// A linear map from data [lo, hi] to pixels [p0, p1] (p1 < p0 for an axis
// that grows upwards). A range of zero width is widened, so it never divides by 0.
struct LinearScale {
    double lo = 0, hi = 1, p0 = 0, p1 = 1;
    LinearScale(double lo, double hi, double p0, double p1);
    double operator()(double v) const { return p0 + (v - lo) / (hi - lo) * (p1 - p0); }
};

// log10 from [lo, hi] (both > 0) to pixels; values below lo map to lo.
struct LogScale {
    double lo = 1, hi = 10, p0 = 0, p1 = 1;
    LogScale(double lo, double hi, double p0, double p1);
    double operator()(double v) const;
};

// About `target` round ticks (1, 2 or 5 times a power of ten) from lo to
// hi, both included when round; empty when hi < lo.
std::vector<double> linear_ticks(double lo, double hi, int target);
// The powers of ten from lo to hi (both > 0); lo is rounded down and hi
// up to a power of ten first.
std::vector<double> log_ticks(double lo, double hi);
double log_floor(double v);  // the power of ten at or below v > 0
double log_ceil(double v);   // the power of ten at or above v > 0

// 0, 0.5, 12, 1.5k, 20M, 3G: at most three significant digits.
std::string short_number(double v);
// A guest-physical address as hex, shortened: 0x0, 0x100000, 0xe0000000.
std::string address_label(uint64_t gpa);
// Bytes as "16 KiB", "1 MiB", "256 MiB".
std::string size_label_bytes(uint64_t bytes);

}  // namespace kvmrr
