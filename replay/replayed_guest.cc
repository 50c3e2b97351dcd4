#include "replay/replayed_guest.h"

#include <algorithm>

namespace kvmrr {

bool ReplayedGuest::set_stops(const GdbStops& stops) {
    DebugSettings d;
    d.single_step = stops.step;
    d.breakpoints = stops.hardware;
    d.watchpoints = stops.watchpoints;  // refused by a vCPU that cannot stop anywhere
    d.stop_at_instruction = stops.stop_at;  // refused by a vCPU that counts no instructions
    if (vcpu_.stops_anywhere()) d.breakpoints.insert(d.breakpoints.end(), stops.software.begin(), stops.software.end());
    else if (!stops.software.empty()) d.single_step = true;  // looked for at each step: stop_wanted
    if (!vcpu_.set_debug(d)) return false;
    stops_ = stops;
    return true;
}

bool ReplayedGuest::stop_wanted(uint64_t linear) {
    auto has = [linear](const std::vector<uint64_t>& v) { return std::find(v.begin(), v.end(), linear) != v.end(); };
    return stops_.step || has(stops_.software) || has(stops_.hardware);
}

}  // namespace kvmrr
