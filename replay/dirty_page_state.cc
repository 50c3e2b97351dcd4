#include "replay/dirty_page_state.h"

#include <algorithm>
#include <iterator>

namespace kvmrr {

void PageSpan::grow(uint64_t n) {
    if (n <= last.size()) return;
    epochs.resize(n);
    last.resize(n);
    gpa.resize(n);
    region.resize(n);
}

PageSpan& BlockPages::show(uint64_t first, uint64_t pages) {
    auto it = spans_.upper_bound(first);
    if (it != spans_.begin() && std::prev(it)->second.end() >= first) it = std::prev(it);
    if (it != spans_.end() && it->first <= first && it->second.end() >= first + pages) return it->second;
    PageSpan merged;
    merged.first = first;
    uint64_t end = first + pages;
    auto stop = it;
    for (; stop != spans_.end() && stop->first <= end; ++stop) {
        merged.first = std::min(merged.first, stop->first);
        end = std::max(end, stop->second.end());
    }
    merged.pages = end - merged.first;
    for (auto i = it; i != stop; ++i) {
        const PageSpan& old = i->second;
        const auto at = static_cast<std::ptrdiff_t>(old.first - merged.first);
        merged.grow(static_cast<uint64_t>(at) + old.last.size());
        std::copy(old.epochs.begin(), old.epochs.end(), merged.epochs.begin() + at);
        std::copy(old.last.begin(), old.last.end(), merged.last.begin() + at);
        std::copy(old.gpa.begin(), old.gpa.end(), merged.gpa.begin() + at);
        std::copy(old.region.begin(), old.region.end(), merged.region.begin() + at);
    }
    spans_.erase(it, stop);
    return spans_.emplace(merged.first, std::move(merged)).first->second;
}

PageSpan& BlockPages::at(uint64_t page) { return std::prev(spans_.upper_bound(page))->second; }

uint64_t BlockPages::reached() const {
    uint64_t n = 0;
    for (const auto& [first, s] : spans_) n = std::max(n, first + s.last.size());
    return n;
}

uint64_t BlockPages::allocated() const {
    uint64_t n = 0;
    for (const auto& [first, s] : spans_) n += s.last.size();
    return n;
}

}  // namespace kvmrr
