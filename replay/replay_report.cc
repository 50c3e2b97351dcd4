#include "replay/replay_report.h"

#include "core/error.h"
#include "core/vcpu/vcpu_exit.h"

namespace kvmrr {

std::string Divergence::describe() const {
    std::string s = "divergence";
    if (seq) s += " at event #" + std::to_string(*seq) + " (vcpu" + std::to_string(vcpu) + ", " + kind + ")";
    else s += " in the " + kind;
    s += ": " + difference + "\n";
    if (addr) {
        s += "  access at " + hex(*addr) + " answered by region " + (region.empty() ? std::string("none") : region);
        s += device.empty() ? std::string(" (no device window)") : " of device " + device;
        s += "\n";
    } else if (!device.empty()) {
        s += "  device: " + device + "\n";
    }
    if (!expected.empty()) s += "  expected: " + expected + "\n";
    if (!actual.empty()) s += "  actual:   " + actual + "\n";
    if (!view_diff.empty()) {
        s += "  flat view, recorded (-) against replayed (+):\n";
        size_t from = 0;
        while (from < view_diff.size()) {
            const size_t nl = view_diff.find('\n', from);
            s += "    " + view_diff.substr(from, nl - from) + "\n";
            from = nl == std::string::npos ? view_diff.size() : nl + 1;
        }
    }
    if (!context.empty()) {
        s += "  the recorded events before it:\n";
        for (const std::string& c : context) s += "    " + c + "\n";
    }
    return s;
}

std::string ReplayReport::summary() const {
    std::string s;
    if (reproduced()) s = "reproduced: ";
    else if (divergence) s = "DIVERGED: ";
    else s = "INCOMPLETE: ";
    s += std::to_string(events) + " events, " + std::to_string(accesses) + " accesses replayed, " +
         std::to_string(checked) + " events checked, " + std::to_string(skipped_dirty) + " dirty logs skipped";
    if (ended) {
        s += "; guest ended by " + end_reason;
        if (end_reason == stop_reason_name(StopReason::GuestExit)) s += " with status " + std::to_string(exit_status);
        if (end_between_exits) s += " between exits (the registers where it stopped, and its last dirty pages, not compared)";
    }
    if (!accel.empty()) s += "; guest ran on " + accel;
    if (unchecked) s += "; " + std::to_string(unchecked) + " events of a cut group not replayed";
    if (damage) s += "; trace damaged: " + *damage;
    return s;
}

}  // namespace kvmrr
