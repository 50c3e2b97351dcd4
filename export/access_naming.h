// AccessNaming: which device an access reached, for the exporters.
//
// A recorded access names the region that answered (an id the trace's
// region table turns into a name). People think in devices: the window of
// the machine that holds the address ("pit", "cmos-rtc", "uart16550"),
// which the trace's header lists. Regions a device places at run time
// outside every window (the PIIX4 PM block at the port the firmware
// chose) are named by their region. Unassigned accesses are "unassigned".
#pragma once

#include <string>

#include "record/trace_event.h"
#include "record/trace_text.h"

namespace kvmrr {

class AccessNaming {
public:
    explicit AccessNaming(const TraceHeader& header) : header_(header), names_(header) {}

    // Learns region definitions; call for every event in order.
    void observe(const TraceEvent& e) { names_.observe(e); }
    const RegionNames& regions() const { return names_; }

    // The window holding the access's address, else its region's name.
    std::string device(const AccessEvent& a) const;
    // The window itself (nullptr when none holds the address).
    const WindowRecord* window(const AccessEvent& a) const;

private:
    const TraceHeader& header_;
    RegionNames names_;
};

// The same without the region table: the window holding the access, and
// the device's name given the label of the region that answered.
const WindowRecord* window_at(const TraceHeader& header, const AccessEvent& a);
std::string device_name(const TraceHeader& header, const AccessEvent& a, const std::string& region_label);

// "in"/"out" for port I/O, "read"/"write" for MMIO.
const char* access_verb(const AccessEvent& a);

}  // namespace kvmrr
