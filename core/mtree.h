// Text dumps of the memory topology, in the spirit of QEMU's `info mtree`
// and `info mtree -f`. The format is part of kvmrr's interface: golden
// tests compare it, so change it only on purpose.
#pragma once

#include <string>

namespace kvmrr {

class AddressSpace;
class FlatView;
class MemoryRegion;
class MemorySystem;

// The region tree of one address space, one region a line, children
// indented under their parent in rendering order.
std::string dump_tree(const AddressSpace& as);
// The flat view of one address space, one range a line.
std::string dump_flat_view(const AddressSpace& as);
std::string dump_flat_view(const FlatView& view, const std::string& title);
// Every address space's tree, then (if `flat`) every flat view.
std::string dump_mtree(const MemorySystem& sys, bool flat);

}  // namespace kvmrr
