#include "replay/trace_diff.h"

#include "core/error.h"
#include "record/trace_text.h"
#include "replay/event_compare.h"

namespace kvmrr {

namespace {

void compare_headers(const TraceHeader& a, const TraceHeader& b, std::vector<std::string>& out) {
    auto field = [&](const char* name, bool same, const std::string& va, const std::string& vb) {
        if (!same) out.push_back(std::string(name) + ": " + va + " | " + vb);
    };
    field("guest", a.guest_name == b.guest_name, a.guest_name, b.guest_name);
    field("guest image hash", a.guest_hash == b.guest_hash, hex(a.guest_hash), hex(b.guest_hash));
    field("guest segments", a.guest_segments == b.guest_segments, std::to_string(a.guest_segments.size()),
          std::to_string(b.guest_segments.size()));
    field("guest entry", a.guest_entry == b.guest_entry, hex(a.guest_entry), hex(b.guest_entry));
    field("guest mode", a.guest_long_mode == b.guest_long_mode, a.guest_long_mode ? "long" : "real",
          b.guest_long_mode ? "long" : "real");
    field("guest arguments", a.guest_args == b.guest_args, std::to_string(a.guest_args.size()) + " values",
          std::to_string(b.guest_args.size()) + " values");
    field("RAM size", a.ram_size == b.ram_size, hex(a.ram_size), hex(b.ram_size));
    field("ROM size", a.rom_size == b.rom_size, hex(a.rom_size), hex(b.rom_size));
    field("ROM low alias", a.rom_low_alias == b.rom_low_alias, a.rom_low_alias ? "on" : "off", b.rom_low_alias ? "on" : "off");
    field("device windows", a.windows == b.windows, std::to_string(a.windows.size()), std::to_string(b.windows.size()));
    auto devices = [](const TraceHeader& h) {
        std::string s;
        for (const DeviceRecord& d : h.devices) s += (s.empty() ? "" : " ") + d.name + "/v" + std::to_string(d.model_version);
        return s;
    };
    field("devices", a.devices == b.devices, devices(a), devices(b));
    field("lax MMIO", a.lax_mmio == b.lax_mmio, a.lax_mmio ? "on" : "off", b.lax_mmio ? "on" : "off");
    field("deterministic CPU", a.deterministic_cpu == b.deterministic_cpu, a.deterministic_cpu ? "on" : "off",
          b.deterministic_cpu ? "on" : "off");
    field("vCPUs", a.vcpu_count == b.vcpu_count, std::to_string(a.vcpu_count), std::to_string(b.vcpu_count));
    field("initial registers", a.initial_regs == b.initial_regs, "", "");
    field("dirty-log mode", a.dirty_mode == b.dirty_mode, a.dirty_mode, b.dirty_mode);
    field("dirty interval", a.dirty_interval_exits == b.dirty_interval_exits && a.dirty_interval_ms == b.dirty_interval_ms,
          std::to_string(a.dirty_interval_exits) + " exits/" + std::to_string(a.dirty_interval_ms) + " ms",
          std::to_string(b.dirty_interval_exits) + " exits/" + std::to_string(b.dirty_interval_ms) + " ms");
}

}  // namespace

TraceDiff diff_traces(TraceReader& a, TraceReader& b) {
    TraceDiff d;
    compare_headers(a.header(), b.header(), d.header);
    RegionNames na(a.header()), nb(b.header());
    const AcrossAccelerators across(a.header().accelerator, b.header().accelerator);
    if (across.differ()) d.accelerators = across.names();
    TraceEvent ea, eb;
    // A device's inputs are recorded after the access that asked for them,
    // so an access whose read differs because its clock or entropy did
    // shows first; it is put down to the input when one of its own group
    // (up to the next access) differs.
    uint64_t group_access_diffs = 0;
    bool first_in_group = false;
    for (;;) {
        const bool ha = a.next(ea), hb = b.next(eb);
        if (ha) {
            ++d.events_a;
            na.observe(ea);
        }
        if (hb) {
            ++d.events_b;
            nb.observe(eb);
        }
        if (!ha && !hb) break;
        if (ha && std::holds_alternative<AccessEvent>(ea.body)) {
            group_access_diffs = 0;
            first_in_group = false;
        }
        std::optional<std::string> why;
        std::string kind;
        if (ha && hb) {
            why = event_difference(ea, na, eb, nb);
            kind = event_kind(ea);
        } else {
            why = ha ? "missing in B" : "extra in B";
            kind = *why;
        }
        if (!why) continue;
        if (ha && hb && across.only_allowed_difference(ea, eb)) {
            ++d.accelerator_differences;
            continue;
        }
        ++d.differing;
        ++d.by_kind[kind];
        const bool inputs = ha && hb && is_nondeterministic_input(ea) && is_nondeterministic_input(eb);
        if (inputs) {
            d.nondeterministic += 1 + group_access_diffs;
            group_access_diffs = 0;
            if (first_in_group) {
                d.first_is_input = true;
                d.first_cause = format_event(ea, na, false) + " | " + format_event(eb, nb, false);
                first_in_group = false;
            }
        } else if (ha && std::holds_alternative<AccessEvent>(ea.body)) {
            ++group_access_diffs;
        }
        if (!d.first_seq) {
            d.first_seq = ha ? ea.seq : eb.seq;
            if (ha) d.first_a = format_event(ea, na, false);
            if (hb) d.first_b = format_event(eb, nb, false);
            d.first_difference = *why;
            d.first_is_input = inputs;
            first_in_group = !inputs && ha && std::holds_alternative<AccessEvent>(ea.body);
            const auto* wa = ha ? std::get_if<AccessEvent>(&ea.body) : nullptr;
            const auto* wb = hb ? std::get_if<AccessEvent>(&eb.body) : nullptr;
            d.first_may_be_tsc = !inputs && wa && wb && writes_to_same_place(*wa, *wb) &&
                                 (tsc_unrecorded(a.header()) || tsc_unrecorded(b.header()));
        }
    }
    d.damage_a = a.damage();
    d.damage_b = b.damage();
    return d;
}

std::string TraceDiff::format(const std::string& name_a, const std::string& name_b) const {
    std::string s;
    if (accelerator_differences)
        s += std::to_string(accelerator_differences) + " events differ only as traces recorded on " + accelerators +
             " may (dirty logs where KVM reported pages the emulator did not, the registers at a triple fault): "
             "docs/ACCELERATORS.md\n";
    if (same()) return s + "traces match: " + std::to_string(events_a) + " events\n";
    for (const std::string& h : header) s += "header differs: " + h + "\n";
    if (first_seq) {
        s += "first difference at event #" + std::to_string(*first_seq) + ": " + first_difference + "\n";
        s += "  " + name_a + ": " + (first_a.empty() ? "(no event)" : first_a) + "\n";
        s += "  " + name_b + ": " + (first_b.empty() ? "(no event)" : first_b) + "\n";
        if (first_is_input && !first_cause.empty())
            s += "  it follows from a non-deterministic input of the same access: " + first_cause + "\n";
        else if (first_is_input)
            s += "  it is a non-deterministic input: the host gave the runs different inputs; later differences may follow from it\n";
        else if (first_may_be_tsc)
            s += "  the guest wrote different values after the same inputs: something kvmrr does not record reached it, most likely "
                 "the time-stamp counter (RDTSC is not trapped on KVM, nor on the emulator with --clock host; "
                 "docs/ARCHITECTURE.md, \"Time\")\n";
    }
    s += "events: " + std::to_string(events_a) + " in " + name_a + ", " + std::to_string(events_b) + " in " + name_b + "; " +
         std::to_string(differing) + " differ";
    if (differing) {
        s += " (";
        bool first = true;
        for (const auto& [k, n] : by_kind) {
            s += (first ? "" : ", ") + k + " " + std::to_string(n);
            first = false;
        }
        s += ")";
    }
    s += "\n";
    if (only_inputs())
        s += "only non-deterministic inputs differ (clock, entropy, serial input, disk data), and the reads that returned them\n";
    if (damage_a) s += name_a + " is damaged: " + *damage_a + "\n";
    if (damage_b) s += name_b + " is damaged: " + *damage_b + "\n";
    return s;
}

}  // namespace kvmrr
