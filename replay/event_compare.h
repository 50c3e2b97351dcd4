// Comparing trace events: the one notion of "the same event" that replay
// and `kvmrr diff` share.
//
// Region ids are a trace's own numbering, so events are compared with the
// regions' names (each side's RegionNames), never with raw ids. The
// answer says which fields differ and how, in words a user can act on.
#pragma once

#include <optional>
#include <string>

#include "record/trace_event.h"
#include "record/trace_text.h"

namespace kvmrr {

// nullopt when `expected` and `actual` are the same event (sequence
// numbers aside); else the differing fields, e.g.
// "value: expected 0x60, actual 0x20".
std::optional<std::string> event_difference(const TraceEvent& expected, const RegionNames& expected_names,
                                            const TraceEvent& actual, const RegionNames& actual_names);

// The same question, answered without building any text: the fast path
// replay takes for every event (event_difference then says why).
bool same_event(const TraceEvent& expected, const RegionNames& expected_names, const TraceEvent& actual,
                const RegionNames& actual_names);

// Two accesses alike in everything but the region that answered (which
// needs the names: same_event compares it).
bool same_access_but_region(const AccessEvent& a, const AccessEvent& b);

// Whether the guest of a trace read the host's time-stamp counter, which
// no trace records: RDTSC reaches no VMM on KVM, and the emulator gives it
// the board's time only on the virtual clock.
bool tsc_unrecorded(const TraceHeader& h);
// Two guest writes to the same port or address (their values may differ):
// where a difference the guest computed itself shows, such as the TSC's.
bool writes_to_same_place(const AccessEvent& a, const AccessEvent& b);

// same_event as every kind's description (record/event_descriptions.h)
// answers it. same_event answers accesses by hand, faster; the tests check
// the two against each other.
bool same_described(const TraceEvent& expected, const RegionNames& expected_names, const TraceEvent& actual,
                    const RegionNames& actual_names);

// Lines ("- " expected only, "+ " actual only) of the ranges by which two
// recorded flat views differ; empty when they are the same.
std::string view_difference(const TopologyEvent& expected, const RegionNames& expected_names,
                            const TopologyEvent& actual, const RegionNames& actual_names);

// Comparing a trace recorded on one accelerator with one recorded (or a
// replay run) on the other, as docs/ACCELERATORS.md lists the differences
// that are not the guest's:
//  - a dirty log: KVM reports every page the guest wrote and may report
//    more (pages its MMU mapped writable without a write, such as the
//    guest's page-table pages under shadow paging); the emulator reports
//    the pages written. The two agree when they are the same harvest
//    (epoch, slot, address, size) and the emulator's pages are all among
//    KVM's.
//  - the end of a run by a triple fault: KVM on AMD re-initialises the
//    vCPU at the shutdown (the VMCB is undefined after it), so the final
//    registers are not compared there; the rest of the end is.
//  - the end of a run by its time limit or a signal (timeout,
//    interrupted): the exit that came then was not handled, and where rip
//    stands inside an unhandled exit is the accelerator's (KVM's emulator
//    may have moved it past an OUT, the emulator has not), so rip is not
//    compared there; the other registers are.
// `a_accel` and `b_accel` are the two sides' accelerators ("kvm", "emu";
// "" is a trace from before the header said, which was KVM's).
class AcrossAccelerators {
public:
    AcrossAccelerators(std::string a_accel, std::string b_accel);
    bool differ() const { return a_ != b_; }
    std::string names() const { return a_ + " and " + b_; }  // "kvm and emu"
    // same_event, with the rules above when the accelerators differ.
    bool same(const TraceEvent& a, const RegionNames& an, const TraceEvent& b, const RegionNames& bn) const;
    // Whether a and b differ (by same_event) only as the rules allow.
    bool only_allowed_difference(const TraceEvent& a, const TraceEvent& b) const;

private:
    std::string a_, b_;
};

// Whether two dirty logs are of the same harvest: epoch, slot, address and
// size (not which pages were dirty).
bool same_harvest(const DirtyEvent& a, const DirtyEvent& b);
// Whether the harvests are the same and every page dirty in `sub` is dirty
// in `super`. False for malformed runs.
bool dirty_within(const DirtyEvent& sub, const DirtyEvent& super);

// Where a recording's end stopped its guest between two exits (a time
// limit or a signal: EndEvent::between_exits), a replay's guest stops
// elsewhere in that stretch: at its next exit, or where guest replay
// stops it. Whether `actual` differs from the recorded `expected` only by
// that: an end with other registers, time-out or stop flag (the end's
// reason, exit count, status and device state are the same), or a dirty log
// of the same last harvest with other pages.
bool same_but_where_it_stopped(const TraceEvent& expected, const TraceEvent& actual);

}  // namespace kvmrr
