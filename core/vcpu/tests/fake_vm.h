// A VmBackend that records what a real VM would be told, for tests of the
// memslot listener and the dirty-log harvest without /dev/kvm. Dirty pages
// are set by the test (mark_dirty), as the guest would by writing.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/vcpu/vm_backend.h"

namespace kvmrr::testing {

class FakeVm final : public VmBackend {
public:
    explicit FakeVm(uint32_t max_slots = 32, bool manual_protect = true)
        : max_slots_(max_slots), manual_(manual_protect) {}

    std::map<uint32_t, MemslotSpec> slots;       // live slots by id
    std::vector<MemslotSpec> calls;              // every set_user_memory_region, in order
    std::map<uint32_t, std::vector<uint64_t>> dirty;  // pending dirty bits by slot
    int get_calls = 0, clear_calls = 0;
    std::vector<std::pair<uint64_t, uint64_t>> written;  // every memory_written(gpa, len), in order

    void mark_dirty(uint64_t gpa) {
        for (auto& [id, s] : slots) {
            if (gpa >= s.guest_phys && gpa < s.guest_phys + s.size && (s.flags & kMemLogDirtyPages)) {
                const uint64_t page = (gpa - s.guest_phys) / 4096;
                auto& bits = dirty[id];
                bits.resize(s.size / 4096 / 64 + 1, 0);
                bits[page / 64] |= 1ull << (page % 64);
            }
        }
    }

    uint32_t max_memslots() const override { return max_slots_; }
    void set_user_memory_region(const MemslotSpec& s) override {
        if (s.slot >= max_slots_) throw Error("fake VM: slot id out of range");
        calls.push_back(s);
        if (s.size == 0) {
            if (!slots.erase(s.slot)) throw Error("fake VM: deleting a slot that does not exist");
            dirty.erase(s.slot);
            return;
        }
        auto it = slots.find(s.slot);
        if (it != slots.end()) {
            // KVM allows only the dirty-logging flag to change in place.
            MemslotSpec a = it->second, b = s;
            a.flags &= ~kMemLogDirtyPages;
            b.flags &= ~kMemLogDirtyPages;
            if (!(a == b)) throw Error("fake VM: slot changed in place other than its logging flag");
            if (!(s.flags & kMemLogDirtyPages)) dirty.erase(s.slot);
        } else {
            for (const auto& [id, o] : slots)
                if (s.guest_phys < o.guest_phys + o.size && o.guest_phys < s.guest_phys + s.size)
                    throw Error("fake VM: new slot overlaps slot " + std::to_string(id));
        }
        slots[s.slot] = s;
    }
    void get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) override {
        ++get_calls;
        if (!slots.count(slot) || !(slots[slot].flags & kMemLogDirtyPages)) throw Error("fake VM: slot does not log");
        auto& bits = dirty[slot];
        for (size_t i = 0; i < bitmap.size(); ++i) bitmap[i] = i < bits.size() ? bits[i] : 0;
        if (!manual_) bits.clear();
    }
    void memory_written(uint64_t gpa, uint64_t len) override { written.emplace_back(gpa, len); }
    bool manual_dirty_log_protect() const override { return manual_; }
    std::string dirty_log_lost() const override { return lost; }
    std::string lost;  // what dirty_log_lost() says
    void clear_dirty_log(uint32_t slot, uint64_t first_page, uint32_t num_pages,
                         std::span<const uint64_t> bitmap) override {
        ++clear_calls;
        auto& bits = dirty[slot];
        for (uint64_t p = 0; p < num_pages; ++p) {
            const uint64_t page = first_page + p;
            if ((bitmap[p / 64] >> (p % 64)) & 1) {
                if (page / 64 < bits.size()) bits[page / 64] &= ~(1ull << (page % 64));
            }
        }
    }

private:
    uint32_t max_slots_;
    bool manual_;
};

}  // namespace kvmrr::testing
