// MemoryRegion: a node of the guest's memory topology tree.
//
// Kinds follow QEMU's memory API: a container groups subregions and has no
// memory of its own; RAM and ROM are backed by a RamBlock; a ROM device
// ("romd") reads from its block while in romd mode and otherwise traps
// reads to its ops, writes always trap; an I/O region calls RegionOps with
// access-size rules; an alias shows a window [alias_offset, +size) of
// another region; a reservation is an I/O region without ops, which claims
// address space so that accesses to it are reported as unassigned.
//
// Regions are created and owned by a MemorySystem (no process-wide state),
// and every setter is a topology change: it runs inside the system's
// current transaction or, outside one, as a transaction of its own.
// Misuse (alias cycles, overflowing ranges, a collision between two
// regions added without overlap, removing a region that is not a child)
// throws kvmrr::Error and leaves the tree unchanged.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/region_ops.h"

namespace kvmrr {

class MemorySystem;
class RamBlock;

// Which dirty-log clients want a region tracked (QEMU's DIRTY_MEMORY_*).
enum DirtyLogClient : uint8_t {
    kDirtyLogVga = 1u << 0,        // framebuffer-style "what changed since last look"
    kDirtyLogMigration = 1u << 1,  // live migration / dirty-page analysis
    kDirtyLogRecord = 1u << 2,     // the recorder
};

class MemoryRegion {
public:
    enum class Kind : uint8_t { Container, Ram, Rom, RomDevice, Io, Alias, Reservation };

    MemoryRegion(const MemoryRegion&) = delete;
    MemoryRegion& operator=(const MemoryRegion&) = delete;

    const std::string& name() const { return name_; }
    Kind kind() const { return kind_; }
    uint64_t size() const { return size_; }
    uint64_t addr() const { return addr_; }  // offset inside the parent
    int priority() const { return priority_; }
    bool may_overlap() const { return may_overlap_; }
    bool enabled() const { return enabled_; }
    bool readonly() const { return readonly_; }
    bool nonvolatile() const { return nonvolatile_; }
    uint8_t dirty_log_mask() const { return dirty_log_mask_; }
    bool romd_mode() const { return romd_mode_; }
    MemoryRegion* parent() const { return parent_; }
    MemoryRegion* alias_target() const { return alias_; }
    uint64_t alias_offset() const { return alias_offset_; }
    RamBlock* ram_block() const { return block_; }
    uint64_t ram_offset() const { return ram_offset_; }  // offset of this region inside its block
    RegionOps* ops() const { return ops_; }
    // Unique among the regions its MemorySystem ever made, never reused
    // (unlike the region's address: a destroyed region's slot is given to
    // the next one created), so it can key what outlives a region.
    uint64_t serial() const { return serial_; }
    // Puts other callbacks behind an I/O or ROM-device region (throws for
    // other kinds). Nothing in a machine does this; it is how tests plant
    // a changed device model (a wrapper around the device's own ops) to
    // prove that replay notices. The rendering does not change.
    void replace_ops(RegionOps& ops);
    const AccessRules& rules() const { return rules_; }
    MemorySystem& system() const { return *sys_; }
    // Subregions in rendering order: highest priority first and, among
    // equal priorities, the most recently added first.
    std::vector<MemoryRegion*> subregions() const { return {children_.rbegin(), children_.rend()}; }
    size_t subregion_count() const { return children_.size(); }
    // The reverse of rendering order, without a copy (for the renderer).
    const std::vector<MemoryRegion*>& subregions_ascending() const { return children_; }
    bool is_ram_backed() const { return block_ != nullptr; }
    static const char* kind_name(Kind k);

    // Adds `child` at `offset` with priority 0; throws if it collides with a
    // sibling that was also added without overlap.
    void add_subregion(uint64_t offset, MemoryRegion& child);
    // Adds `child` at `offset`, allowed to overlap its siblings; where they
    // overlap, the higher priority wins and among equals the last added.
    void add_subregion_overlap(uint64_t offset, MemoryRegion& child, int priority);
    // Throws if `child` is not a direct subregion of this region.
    void del_subregion(MemoryRegion& child);

    void set_enabled(bool on);
    void set_readonly(bool on);
    void set_nonvolatile(bool on);
    // Turns logging for one client on or off; set_dirty_log_mask sets all.
    void set_dirty_log(DirtyLogClient client, bool on);
    void set_dirty_log_mask(uint8_t mask);
    // Moving re-adds the region: it wins ties with equal-priority siblings.
    void set_address(uint64_t offset);
    void set_size(uint64_t size);
    void set_priority(int priority);
    // Alias only.
    void set_alias_offset(uint64_t offset);
    void set_alias_target(MemoryRegion& target);
    // ROM device only: true makes reads come from memory.
    void set_romd(bool on);

    // For tools and dumps: the address space offset of this region when
    // its parents are followed to the root (aliases are not followed).
    uint64_t absolute_addr() const;

private:
    friend class MemorySystem;
    MemoryRegion(MemorySystem& sys, Kind kind, std::string name, uint64_t size);

    void insert_child(uint64_t offset, MemoryRegion& child, int priority, bool overlap);
    void check_no_collision(const MemoryRegion& child, uint64_t offset, uint64_t size) const;
    bool reaches(const MemoryRegion& target) const;
    void reinsert_in_parent(int priority);  // through subregions and aliases
    void changed();

    // Everything the renderer reads comes first, in one cache line: a large
    // tree does not fit the cache, and rendering touches every region.
    uint64_t addr_ = 0;
    uint64_t size_;
    MemoryRegion* alias_ = nullptr;
    uint64_t alias_offset_ = 0;
    // Ascending (priority, insertion order): rendering walks it backwards,
    // so adding the usual equal-priority child is a push_back.
    std::vector<MemoryRegion*> children_;
    Kind kind_;
    bool enabled_ = true;
    bool readonly_ = false;
    bool nonvolatile_ = false;
    bool romd_mode_ = true;
    uint8_t dirty_log_mask_ = 0;
    int priority_ = 0;
    bool may_overlap_ = false;
    // The rest: set-up, dispatch and change tracking.
    MemorySystem* sys_;
    std::string name_;
    MemoryRegion* parent_ = nullptr;
    RamBlock* block_ = nullptr;
    uint64_t ram_offset_ = 0;
    RegionOps* ops_ = nullptr;
    uint64_t serial_;  // next to ops_: the recorder reads both on every exit
    AccessRules rules_{};
    // Aliases that point at this region: a change here changes their views.
    std::vector<MemoryRegion*> alias_users_;
    uint64_t seq_ = 0;         // insertion stamp, orders equal priorities
    uint64_t mark_epoch_ = 0;  // MemorySystem's change-propagation stamp
};

}  // namespace kvmrr
