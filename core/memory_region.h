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
#include <utility>
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

    const std::string& name() const;
    Kind kind() const { return kind_; }
    uint64_t size() const { return size_; }
    uint64_t addr() const { return addr_; }  // offset inside the parent
    int priority() const;
    bool may_overlap() const;
    bool enabled() const { return enabled_; }
    bool readonly() const { return readonly_; }
    bool nonvolatile() const { return nonvolatile_; }
    uint8_t dirty_log_mask() const { return dirty_log_mask_; }
    bool romd_mode() const { return romd_mode_; }
    MemoryRegion* parent() const;
    MemoryRegion* alias_target() const { return alias_; }
    uint64_t alias_offset() const { return alias_offset_; }
    RamBlock* ram_block() const;
    uint64_t ram_offset() const;  // offset of this region inside its block
    RegionOps* ops() const;
    // Unique among the regions its MemorySystem ever made, never reused
    // (unlike the region's address: a destroyed region's slot is given to
    // the next one created), so it can key what outlives a region.
    uint64_t serial() const;
    const AccessRules& rules() const;
    MemorySystem& system() const;
    // Subregions in rendering order: highest priority first and, among
    // equal priorities, the most recently added first.
    std::vector<MemoryRegion*> subregions() const;
    size_t subregion_count() const;
    // The reverse of rendering order, without a copy, read from this
    // region's own cache line (for the renderer).
    std::span<MemoryRegion* const> subregions_ascending() const { return {kids_, kid_count_}; }
    // True for an alias whose target is a terminal region (not an alias)
    // without subregions: its whole render is one paint of the target, so
    // the renderer can put it off and read the target later, when many
    // such reads can be in flight at once. Kept up to date from this
    // region's line, without reading the target (for the renderer).
    bool alias_shows_a_leaf() const { return alias_of_leaf_; }
    bool is_ram_backed() const;
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
    friend class RegionPool;
    friend struct RegionTestHook;  // core/tests/region_test_hook.h
    // Puts other callbacks behind an I/O or ROM-device region (throws for
    // other kinds): how tests plant a changed device model, never a machine.
    void replace_ops(RegionOps& ops);
    struct Cold;
    // `cold` is the slot the pool gave for this region's Cold part.
    MemoryRegion(MemorySystem& sys, Kind kind, std::string name, uint64_t size, void* cold);
    ~MemoryRegion();
    friend struct RegionDeleter;

    void insert_child(uint64_t offset, MemoryRegion& child, int priority, bool overlap);
    void check_no_collision(const MemoryRegion& child, uint64_t offset, uint64_t size) const;
    bool reaches(const MemoryRegion& target) const;
    void reinsert_in_parent(int priority);  // through subregions and aliases
    void changed();
    void insert_kid(size_t pos, MemoryRegion& child);  // into the child array, at index pos
    void insert_kid_by_priority(MemoryRegion& child, int priority);
    void erase_kid(size_t pos);
    // A terminal, non-alias region without subregions: what an alias can
    // show with a single paint.
    bool plain_leaf() const { return kind_ != Kind::Container && kind_ != Kind::Alias && kid_count_ == 0; }
    // Brings alias_of_leaf_ of every alias of this region up to date.
    void refresh_alias_users();
    void* cold_slot() const { return cold_; }

    // This object holds what the renderer reads and nothing else, in one
    // cache line; the pool lays regions' lines next to each other, so a
    // render of a tree larger than the caches streams through them (and
    // the child arrays) instead of touching a line in every 256 bytes.
    // Everything else sits in Cold, in a slot of its own.
    uint64_t addr_ = 0;
    uint64_t size_;
    MemoryRegion* alias_ = nullptr;
    uint64_t alias_offset_ = 0;
    // Subregions, ascending (priority, insertion order): rendering walks
    // them backwards, so adding the usual equal-priority child is an
    // append. In the pool's child arrays (see RegionPool).
    MemoryRegion** kids_ = nullptr;
    uint32_t kid_count_ = 0;
    Kind kind_;
    bool enabled_ = true;
    bool readonly_ = false;
    bool nonvolatile_ = false;
    bool romd_mode_ = true;
    uint8_t dirty_log_mask_ = 0;
    uint8_t kids_class_ = 0;  // kids_ has room for 2^kids_class_ pointers; 0: no array
    bool alias_of_leaf_ = false;  // see alias_shows_a_leaf()
    Cold* cold_;
};

// A region's set-up, dispatch and change-tracking state: what rendering
// does not read.
struct MemoryRegion::Cold {
    Cold(MemorySystem& s, std::string n, uint64_t id) : sys(&s), name(std::move(n)), serial(id) {}
    MemorySystem* sys;
    std::string name;
    uint64_t serial;  // see serial()
    int priority = 0;
    bool may_overlap = false;
    MemoryRegion* parent = nullptr;
    RamBlock* block = nullptr;
    uint64_t ram_offset = 0;
    RegionOps* ops = nullptr;
    AccessRules rules{};
    // Aliases that point at this region: a change here changes their views.
    std::vector<MemoryRegion*> alias_users;
    uint64_t seq = 0;         // insertion stamp, orders equal priorities
    uint64_t mark_epoch = 0;  // MemorySystem's change-propagation stamp
};

inline const std::string& MemoryRegion::name() const { return cold_->name; }
inline int MemoryRegion::priority() const { return cold_->priority; }
inline bool MemoryRegion::may_overlap() const { return cold_->may_overlap; }
inline MemoryRegion* MemoryRegion::parent() const { return cold_->parent; }
inline RamBlock* MemoryRegion::ram_block() const { return cold_->block; }
inline uint64_t MemoryRegion::ram_offset() const { return cold_->ram_offset; }
inline RegionOps* MemoryRegion::ops() const { return cold_->ops; }
inline uint64_t MemoryRegion::serial() const { return cold_->serial; }
inline const AccessRules& MemoryRegion::rules() const { return cold_->rules; }
inline MemorySystem& MemoryRegion::system() const { return *cold_->sys; }
inline std::vector<MemoryRegion*> MemoryRegion::subregions() const {
    const auto kids = subregions_ascending();
    return {kids.rbegin(), kids.rend()};
}
inline size_t MemoryRegion::subregion_count() const { return kid_count_; }
inline bool MemoryRegion::is_ram_backed() const { return cold_->block != nullptr; }

}  // namespace kvmrr
