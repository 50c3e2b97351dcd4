#include "replay/plot_axes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace kvmrr {

LinearScale::LinearScale(double l, double h, double a, double b) : lo(l), hi(h), p0(a), p1(b) {
    if (!(hi > lo)) hi = lo + 1;
}

LogScale::LogScale(double l, double h, double a, double b) : lo(l), hi(h), p0(a), p1(b) {
    if (!(lo > 0)) lo = 1;
    if (!(hi > lo)) hi = lo * 10;
}

double LogScale::operator()(double v) const {
    const double x = std::log10(std::max(v, lo));
    return p0 + (x - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) * (p1 - p0);
}

std::vector<double> linear_ticks(double lo, double hi, int target) {
    std::vector<double> t;
    if (!(hi >= lo) || target < 1) return t;
    if (hi == lo) return {lo};
    const double raw = (hi - lo) / target;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * mag >= raw) {
            step = m * mag;
            break;
        }
    // Integer multiples of the step, so 0.1 + 0.2 never prints as 0.30000000000000004.
    for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k += 1) t.push_back(k * step);
    return t;
}

double log_floor(double v) { return std::pow(10.0, std::floor(std::log10(v) + 1e-9)); }
double log_ceil(double v) { return std::pow(10.0, std::ceil(std::log10(v) - 1e-9)); }

std::vector<double> log_ticks(double lo, double hi) {
    std::vector<double> t;
    if (!(lo > 0) || !(hi >= lo)) return t;
    for (double v = log_floor(lo); v <= log_ceil(hi) * 1.0000001; v *= 10) t.push_back(v);
    return t;
}

std::string short_number(double v) {
    if (v == 0) return "0";
    const double a = std::fabs(v);
    static const std::pair<double, const char*> units[] = {{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
    char buf[32];
    for (const auto& [scale, suffix] : units)
        if (a >= scale) {
            std::snprintf(buf, sizeof buf, "%.3g%s", v / scale, suffix);
            return buf;
        }
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

std::string address_label(uint64_t gpa) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(gpa));
    return buf;
}

std::string size_label_bytes(uint64_t bytes) {
    static const std::pair<uint64_t, const char*> units[] = {{1ull << 40, "TiB"}, {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
    char buf[32];
    for (const auto& [scale, suffix] : units)
        if (bytes >= scale) {
            std::snprintf(buf, sizeof buf, "%.3g %s", static_cast<double>(bytes) / static_cast<double>(scale), suffix);
            return buf;
        }
    return std::to_string(bytes) + " bytes";
}

}  // namespace kvmrr
