#include "core/mtree.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <set>

#include "core/address_space.h"
#include "core/flat_view.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

namespace {

std::string span_text(uint64_t start, uint64_t size) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%016" PRIx64 "-%016" PRIx64, start, start + (size - 1));
    return buf;
}

std::string hex16(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
    return buf;
}

std::string attrs(bool readonly, bool nonvolatile, uint8_t log_mask, bool romd_device, bool romd_mode) {
    std::string s;
    if (readonly) s += ", ro";
    if (nonvolatile) s += ", nv";
    if (romd_device) s += romd_mode ? ", mode=rom" : ", mode=io";
    if (log_mask) s += ", log=" + std::to_string(log_mask);
    return s;
}

// One region a line, children under their parent; alias targets are not
// expanded in place (they may be shared) but listed after the spaces.
void tree(std::string& out, const MemoryRegion& mr, uint64_t base, int depth, std::vector<const MemoryRegion*>& targets) {
    const uint64_t start = base + mr.addr();
    out += std::string(2 * depth, ' ') + span_text(start, mr.size()) + " (prio " + std::to_string(mr.priority()) +
           ", " + MemoryRegion::kind_name(mr.kind()) +
           attrs(mr.kind() != MemoryRegion::Kind::Rom && mr.readonly(), mr.nonvolatile(), mr.dirty_log_mask(),
                 mr.kind() == MemoryRegion::Kind::RomDevice, mr.romd_mode()) +
           "): " + mr.name();
    if (const MemoryRegion* t = mr.alias_target()) {
        out += " -> " + t->name() + " @" + hex16(mr.alias_offset());
        if (std::find(targets.begin(), targets.end(), t) == targets.end()) targets.push_back(t);
    }
    if (!mr.enabled()) out += " [disabled]";
    out += "\n";
    // Children by address (then by priority, highest first), which reads
    // better than rendering order; the priority is printed on every line.
    std::vector<MemoryRegion*> kids = mr.subregions();
    std::stable_sort(kids.begin(), kids.end(), [](const MemoryRegion* a, const MemoryRegion* b) {
        return a->addr() != b->addr() ? a->addr() < b->addr() : a->priority() > b->priority();
    });
    for (const MemoryRegion* c : kids) tree(out, *c, start, depth + 1, targets);
}

// Trees reached only through aliases, each listed once under its own root
// ("memory-region: NAME"), like QEMU's mtree; listing one may discover more.
std::string alias_targets(std::vector<const MemoryRegion*>& targets, std::vector<const MemoryRegion*> shown) {
    std::string out;
    for (size_t i = 0; i < targets.size(); ++i) {
        const MemoryRegion* top = targets[i];
        while (top->parent()) top = top->parent();
        if (std::find(shown.begin(), shown.end(), top) != shown.end()) continue;
        shown.push_back(top);
        out += "memory-region: " + top->name() + "\n";
        tree(out, *top, 0 - top->addr(), 1, targets);
        out += "\n";
    }
    return out;
}

}  // namespace

std::string dump_tree(const AddressSpace& as) {
    std::string out = "address-space: " + as.name() + "\n";
    std::vector<const MemoryRegion*> targets;
    tree(out, as.root(), 0 - as.root().addr(), 1, targets);
    out += "\n";
    out += alias_targets(targets, {&as.root()});
    return out;
}

std::string dump_flat_view(const FlatView& view, const std::string& title) {
    std::string out = title + ": " + std::to_string(view.size()) + " range" + (view.size() == 1 ? "" : "s") + "\n";
    for (const FlatRange& fr : view.ranges()) {
        out += "  " + span_text(fr.range.start(), fr.range.size()) + " (" + MemoryRegion::kind_name(fr.mr->kind()) +
               attrs(fr.readonly && fr.mr->kind() != MemoryRegion::Kind::Rom, fr.nonvolatile, fr.dirty_log_mask,
                     fr.mr->kind() == MemoryRegion::Kind::RomDevice, fr.romd_mode) +
               "): " + fr.mr->name() + " @" + hex16(fr.offset_in_region) + "\n";
    }
    return out;
}

std::string dump_flat_view(const AddressSpace& as) {
    return dump_flat_view(*as.view(), "flat-view: " + as.name() + " (root " + as.root().name() + ")");
}

std::string dump_mtree(const MemorySystem& sys, bool flat) {
    std::string out;
    std::vector<const MemoryRegion*> targets, roots;
    for (const auto& as : sys.address_spaces()) {
        out += "address-space: " + as->name() + "\n";
        tree(out, as->root(), 0 - as->root().addr(), 1, targets);
        out += "\n";
        roots.push_back(&as->root());
    }
    out += alias_targets(targets, roots);
    if (flat)
        for (const auto& as : sys.address_spaces()) out += dump_flat_view(*as) + "\n";
    return out;
}

}  // namespace kvmrr
