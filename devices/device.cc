#include "devices/device.h"

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_region.h"
#include "core/memory_system.h"

namespace kvmrr {

uint64_t claim_window(MachineMemory& m, const std::string& window, MemoryRegion& region) {
    auto it = m.windows.find(window);
    if (it == m.windows.end())
        throw Error("device window '" + window + "' is not in the machine layout (or was claimed already)");
    MemoryRegion* res = it->second;
    MemoryRegion* parent = res->parent();
    const uint64_t addr = res->addr();
    if (region.size() > res->size())
        throw Error("device region '" + region.name() + "' (" + hex(region.size()) + " bytes) is larger than window '" +
                    window + "' (" + hex(res->size()) + " bytes)");
    {
        Transaction t(region.system());
        parent->del_subregion(*res);
        try {
            parent->add_subregion(addr, region);
        } catch (...) {
            parent->add_subregion(addr, *res);  // leave the layout as it was
            throw;
        }
        t.commit();
    }
    region.system().destroy(*res);
    m.windows.erase(it);
    return addr;
}

void require_window(const MachineMemory& m, std::string_view device, const std::string& window, uint64_t size) {
    auto it = m.windows.find(window);
    const std::string who(device);
    if (it == m.windows.end())
        throw Error(who + ": device window '" + window + "' is not in the machine layout (or was claimed already)");
    if (it->second->size() < size)
        throw Error(who + ": device window '" + window + "' is " + hex(it->second->size()) + " bytes, needs " + hex(size));
}

MemoryRegion& claim_io_window(MemorySystem& sys, MachineMemory& m, const std::string& window, uint64_t size,
                              RegionOps& ops, const AccessRules& rules) {
    MemoryRegion& region = sys.create_io(window, size, ops, rules);
    try {
        claim_window(m, window, region);
    } catch (...) {
        sys.destroy(region);
        throw;
    }
    return region;
}

}  // namespace kvmrr
