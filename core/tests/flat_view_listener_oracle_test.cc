// Differential tests of the listener protocol: random change sequences on
// an address space must reach listeners as a protocol that turns each
// listener's copy of the old view into exactly the new one, the new view
// being the oracle's (flat_view_oracle.h). Every failure prints the seed,
// the steps, the tree and both views.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "core/address.h"
#include "core/address_space.h"
#include "core/error.h"
#include "core/flat_view.h"
#include "core/memory_listener.h"
#include "core/memory_region.h"
#include "core/memory_system.h"
#include "core/tests/random_tree.h"

#include "core/tests/flat_view_oracle.h"

namespace kvmrr {
namespace {

using namespace test;

constexpr uint64_t kSequences = 4000;  // every fourth across the 64-bit space
constexpr int kStepsPerSequence = 40;

// ---------------------------------------------------------------------------
// Random change sequences: listeners must see old view -> new view.

enum class Ev { Begin, Commit, Add, Del, Nop, LogStart, LogStop };

const char* ev_name(Ev e) {
    switch (e) {
        case Ev::Begin: return "begin";
        case Ev::Commit: return "commit";
        case Ev::Add: return "region_add";
        case Ev::Del: return "region_del";
        case Ev::Nop: return "region_nop";
        case Ev::LogStart: return "log_start";
        case Ev::LogStop: return "log_stop";
    }
    return "?";
}

FlatRange from_section(const MemoryRegionSection& s) {
    FlatRange f;
    f.range = s.range;
    f.mr = s.mr;
    f.offset_in_region = s.offset_within_region;
    f.dirty_log_mask = s.dirty_log_mask;
    f.romd_mode = s.romd_mode;
    f.readonly = s.readonly;
    f.nonvolatile = s.nonvolatile;
    return f;
}

struct Event {
    int listener;
    Ev type;
    FlatRange section;  // unused for begin/commit
    uint8_t old_mask = 0, new_mask = 0;
};

std::string fmt_event(const Event& e) {
    std::string s = "L" + std::to_string(e.listener) + " " + ev_name(e.type);
    if (e.type != Ev::Begin && e.type != Ev::Commit) s += " " + fmt_range(e.section);
    if (e.type == Ev::LogStart || e.type == Ev::LogStop)
        s += " (" + std::to_string(e.old_mask) + " -> " + std::to_string(e.new_mask) + ")";
    return s;
}

// A listener that keeps its own copy of the flat view, built only from the
// calls it receives, and checks every call against that copy.
class ModelListener final : public MemoryListener {
public:
    ModelListener(int id, std::vector<Event>& log, bool nops) : id_(id), log_(log), nops_(nops) {}
    bool wants_region_nop() const override { return nops_; }

    void begin() override {
        log_.push_back({id_, Ev::Begin, {}});
        if (in_batch_) error("begin() inside an open begin()");
        in_batch_ = true;
        begins_++;
        start_batch();
    }
    void commit() override {
        log_.push_back({id_, Ev::Commit, {}});
        if (!in_batch_) error("commit() without begin()");
        in_batch_ = false;
    }
    void region_del(const MemoryRegionSection& s) override {
        FlatRange f = from_section(s);
        log_.push_back({id_, Ev::Del, f});
        check_call(s, "region_del");
        if (seen_add_) error("region_del after region_add/region_nop/log_start in the same batch: " + fmt_range(f));
        auto it = model_.find(f.range.start());
        if (it == model_.end()) {
            error("region_del of a range the listener does not have: " + fmt_range(f));
        } else if (!(it->second == f)) {
            error("region_del of " + fmt_range(f) + " but the listener has " + fmt_range(it->second));
        } else {
            model_.erase(it);
        }
    }
    void region_add(const MemoryRegionSection& s) override {
        FlatRange f = from_section(s);
        log_.push_back({id_, Ev::Add, f});
        check_call(s, "region_add");
        seen_add_ = true;
        auto next = model_.lower_bound(f.range.start());
        if (next != model_.end() && next->second.range.overlaps(f.range))
            error("region_add of " + fmt_range(f) + " overlaps " + fmt_range(next->second));
        if (next != model_.begin() && std::prev(next)->second.range.overlaps(f.range))
            error("region_add of " + fmt_range(f) + " overlaps " + fmt_range(std::prev(next)->second));
        model_[f.range.start()] = f;
        touched_.insert(f.range.start());
    }
    void region_nop(const MemoryRegionSection& s) override {
        FlatRange f = from_section(s);
        log_.push_back({id_, Ev::Nop, f});
        check_call(s, "region_nop");
        if (!nops_) error("region_nop, though it said it does not want them: " + fmt_range(f));
        seen_add_ = true;
        auto it = model_.find(f.range.start());
        if (it == model_.end() || !it->second.same_mapping(f))
            error("region_nop of " + fmt_range(f) + " but the listener has " +
                  (it == model_.end() ? std::string("nothing there") : fmt_range(it->second)));
    }
    void log_start(const MemoryRegionSection& s, uint8_t old_mask, uint8_t new_mask) override {
        log_change(s, old_mask, new_mask, Ev::LogStart);
    }
    void log_stop(const MemoryRegionSection& s, uint8_t old_mask, uint8_t new_mask) override {
        log_change(s, old_mask, new_mask, Ev::LogStop);
    }

    int id() const { return id_; }
    int begins() const { return begins_; }
    bool in_batch() const { return in_batch_; }
    std::vector<FlatRange> model() const {
        std::vector<FlatRange> v;
        for (const auto& [start, f] : model_) v.push_back(f);
        return v;
    }
    void reset() {
        model_.clear();
        in_batch_ = false;
        start_batch();
    }
    // Calls outside begin()/commit() are accepted while this is set (when
    // the listener is being registered).
    void set_registering(bool on) {
        registering_ = on;
        if (on) start_batch();
    }
    void set_as(const AddressSpace* as) { as_ = as; }
    std::vector<std::string>& errors() { return errors_; }

private:
    void start_batch() {
        seen_add_ = false;
        touched_.clear();
    }
    void error(const std::string& e) { errors_.push_back("L" + std::to_string(id_) + ": " + e); }
    void check_call(const MemoryRegionSection& s, const char* what) {
        if (!in_batch_ && !registering_) error(std::string(what) + " outside begin()/commit()");
        if (s.as != as_) error(std::string(what) + " with the wrong address space");
    }
    void log_change(const MemoryRegionSection& s, uint8_t old_mask, uint8_t new_mask, Ev type) {
        FlatRange f = from_section(s);
        log_.push_back({id_, type, f, old_mask, new_mask});
        const char* what = type == Ev::LogStart ? "log_start" : "log_stop";
        check_call(s, what);
        // log_stop may come with the removals (it does no harm before a
        // region_del); log_start belongs with the additions.
        if (type == Ev::LogStart) seen_add_ = true;
        const uint8_t gained = new_mask & ~old_mask, lost = old_mask & ~new_mask;
        if (type == Ev::LogStart ? gained == 0 : lost == 0)
            error(std::string(what) + " without a client " + (type == Ev::LogStart ? "starting" : "stopping") +
                  ": " + fmt_event(log_.back()));
        if (f.dirty_log_mask != new_mask)
            error(std::string(what) + " section mask differs from new_mask: " + fmt_event(log_.back()));
        auto it = model_.find(f.range.start());
        if (it == model_.end() || !it->second.same_mapping(f)) {
            error(std::string(what) + " of " + fmt_range(f) + " but the listener has " +
                  (it == model_.end() ? std::string("nothing there") : fmt_range(it->second)));
            return;
        }
        // The mask moves from old to new; a second call for the same range
        // in one batch (start and stop together), or a log_start right after
        // the region_add that already carried the new mask, finds it moved.
        const bool already = touched_.count(f.range.start()) && it->second.dirty_log_mask == new_mask;
        if (it->second.dirty_log_mask != old_mask && !already)
            error(std::string(what) + " with old mask " + std::to_string(old_mask) + " but the listener has " +
                  fmt_range(it->second));
        it->second.dirty_log_mask = new_mask;
        touched_.insert(f.range.start());
    }

    int id_;
    std::vector<Event>& log_;
    const AddressSpace* as_ = nullptr;
    std::map<uint64_t, FlatRange> model_;
    std::set<uint64_t> touched_;  // ranges added or log-changed in this batch
    std::vector<std::string> errors_;
    bool in_batch_ = false;
    bool seen_add_ = false;
    bool registering_ = false;
    bool nops_;
    int begins_ = 0;
};

struct ListenerSlot {
    std::unique_ptr<ModelListener> l;
    int priority;
    uint64_t registration = 0;  // 0 = not registered
};

// Active listener ids in forward order (ascending priority, ties in
// registration order).
std::vector<int> forward_order(const std::vector<ListenerSlot>& slots) {
    std::vector<const ListenerSlot*> v;
    for (const auto& s : slots)
        if (s.registration) v.push_back(&s);
    std::sort(v.begin(), v.end(), [](const ListenerSlot* a, const ListenerSlot* b) {
        return std::tie(a->priority, a->registration) < std::tie(b->priority, b->registration);
    });
    std::vector<int> ids;
    for (auto* s : v) ids.push_back(s->l->id());
    return ids;
}

bool contains_mapping(const std::vector<FlatRange>& view, const FlatRange& f) {
    return std::any_of(view.begin(), view.end(), [&](const FlatRange& g) { return g.same_mapping(f); });
}

// Checks the calls of one commit (all listeners, in call order) against the
// protocol; `forward` is the listener order.
void check_commit_log(const std::vector<Event>& log, const std::vector<int>& forward,
                      const std::vector<FlatRange>& old_view, const std::vector<FlatRange>& new_view,
                      std::vector<std::string>& errors) {
    // Pass order: every region_del (of every listener) before the first
    // region_add / region_nop / log_start. (log_stop may go in either pass.)
    ptrdiff_t last_del = -1, first_add = -1;
    for (size_t i = 0; i < log.size(); ++i) {
        const Ev t = log[i].type;
        if (t == Ev::Del) last_del = static_cast<ptrdiff_t>(i);
        if ((t == Ev::Add || t == Ev::Nop || t == Ev::LogStart) && first_add < 0)
            first_add = static_cast<ptrdiff_t>(i);
    }
    if (last_del >= 0 && first_add >= 0 && last_del > first_add)
        errors.push_back("a region_del (call #" + std::to_string(last_del) + ") comes after an addition (call #" +
                         std::to_string(first_add) + ")");

    // Per range: region_del and log_stop reach listeners in reverse order,
    // region_add, region_nop and log_start in forward order, every active
    // listener exactly once.
    std::vector<int> reverse(forward.rbegin(), forward.rend());
    std::map<std::tuple<Ev, uint64_t, uint64_t, const MemoryRegion*, uint64_t>, std::vector<int>> per_range;
    std::vector<std::tuple<Ev, uint64_t, uint64_t, const MemoryRegion*, uint64_t>> keys;
    for (const Event& e : log) {
        if (e.type == Ev::Begin || e.type == Ev::Commit) continue;
        auto key = std::make_tuple(e.type, e.section.range.start(), e.section.range.size(),
                                   static_cast<const MemoryRegion*>(e.section.mr), e.section.offset_in_region);
        if (!per_range.count(key)) keys.push_back(key);
        per_range[key].push_back(e.listener);
        // Minimal difference: nothing unchanged is removed and re-added.
        if (e.type == Ev::Del && contains_mapping(new_view, e.section))
            errors.push_back("region_del of a range that is unchanged in the new view: " + fmt_event(e));
        if (e.type == Ev::Add && contains_mapping(old_view, e.section))
            errors.push_back("region_add of a range that was already in the old view: " + fmt_event(e));
        if ((e.type == Ev::Nop || e.type == Ev::LogStart || e.type == Ev::LogStop) &&
            !(contains_mapping(old_view, e.section) && contains_mapping(new_view, e.section)))
            errors.push_back(std::string(ev_name(e.type)) + " of a range not in both views: " + fmt_event(e));
    }
    for (const auto& key : keys) {
        const std::vector<int>& got = per_range[key];
        const Ev t = std::get<0>(key);
        const std::vector<int>& want = t == Ev::Del || t == Ev::LogStop ? reverse : forward;
        if (got != want) {
            std::string s = std::string(ev_name(std::get<0>(key))) + " at " + hexs(std::get<1>(key)) +
                            " reached listeners in order";
            for (int id : got) s += " L" + std::to_string(id);
            s += ", expected";
            for (int id : want) s += " L" + std::to_string(id);
            errors.push_back(s);
        }
    }
    for (const Event& e : log)
        if (std::find(forward.begin(), forward.end(), e.listener) == forward.end())
            errors.push_back("a listener that is not registered was called: " + fmt_event(e));
    // Every listener that was called got begin() first and commit() last.
    for (int id : forward) {
        std::vector<Ev> mine;
        for (const Event& e : log)
            if (e.listener == id) mine.push_back(e.type);
        if (mine.empty()) {
            if (old_view != new_view) errors.push_back("L" + std::to_string(id) + " not told about a changed view");
            continue;
        }
        if (mine.front() != Ev::Begin || mine.back() != Ev::Commit)
            errors.push_back("L" + std::to_string(id) + "'s calls are not bracketed by begin()/commit()");
    }
}

class SequenceRunner {
public:
    // `nops`: whether the listeners want region_nop (all of them or none,
    // so that a range's calls reach every listener or none).
    SequenceRunner(uint64_t seed, bool huge, bool nops) : seed_(seed), tree_(seed, sequence_config(huge)) {
        log_.reserve(1024);
        as_ = &tree_.sys().create_memory_space("mem", tree_.root());
        // Listener ids: 1 (prio 10), 2 (prio -5), 3 (prio -5, after 2),
        // 4 (prio 0, registered late).
        for (auto [id, prio] : {std::pair{1, 10}, {2, -5}, {3, -5}, {4, 0}}) {
            slots_.push_back({std::make_unique<ModelListener>(id, log_, nops), prio, 0});
            slots_.back().l->set_as(as_);
        }
        for (int i = 0; i < 3; ++i) register_listener(slots_[static_cast<size_t>(i)]);
    }

    static RandomTreeConfig sequence_config(bool huge) {
        RandomTreeConfig c = huge ? huge_config() : tree_config();
        c.min_regions = 5;
        c.max_regions = 40;
        return c;
    }

    // Runs the sequence; returns false (after reporting) on the first error.
    bool run(int steps, int late_step, int remove_step, int readd_step) {
        if (!verify("initial registration")) return false;
        for (int step = 1; step <= steps; ++step) {
            step_ = step;
            old_view_.reset();  // registration is checked by register_listener
            if (step == late_step) {
                register_listener(slots_[3]);
                if (!verify("late listener L4 registered")) return false;
            }
            if (step == remove_step) {
                // The listener may be told to undo the view (as QEMU does:
                // begin, region_del of every range, commit), or nothing.
                log_.clear();
                as_->remove_listener(*slots_[2].l);
                slots_[2].registration = 0;
                for (const Event& e : log_)
                    if (e.listener != 3 || e.type == Ev::Add || e.type == Ev::Nop || e.type == Ev::LogStart)
                        return report("remove_listener produced " + fmt_event(e));
                if (!log_.empty() && !slots_[2].l->model().empty())
                    return report("remove_listener left the listener with ranges");
                if (!slots_[2].l->errors().empty()) return verify("remove_listener");
                removals_ += !log_.empty();
            }
            if (step == readd_step) {
                register_listener(slots_[2]);
                if (!verify("L3 registered again")) return false;
            }
            if (!random_step()) return false;
        }
        return true;
    }

    size_t commits() const { return commits_; }
    // Commits that re-rendered only where their changes were.
    size_t partial_renders() const { return as_->partial_render_count(); }
    size_t removals_told() const { return removals_; }
    size_t changed_views() const { return changed_views_; }
    size_t calls() const { return calls_; }
    std::map<Ev, size_t>& call_kinds() { return call_kinds_; }

private:
    void register_listener(ListenerSlot& s) {
        s.l->reset();
        log_.clear();
        s.l->set_registering(true);
        as_->add_listener(*s.l, s.priority);
        s.l->set_registering(false);
        s.registration = ++registrations_;
        // Only the new listener hears about the current view, as additions.
        for (const Event& e : log_) {
            if (e.listener != s.l->id())
                s.l->errors().push_back("L" + std::to_string(e.listener) +
                                        " called while another listener was registered: " + fmt_event(e));
            else if (e.type == Ev::Del || e.type == Ev::Nop || e.type == Ev::LogStop)
                s.l->errors().push_back("registration produced " + fmt_event(e));
        }
    }

    bool random_step() {
        auto& rng = tree_.rng();
        const uint64_t kind = std::uniform_int_distribution<uint64_t>(0, 99)(rng);
        old_view_ = as_->view();
        log_.clear();
        std::string what;
        if (kind < 62) {
            what = tree_.random_change();
            history_.push_back(what);
        } else if (kind < 90) {
            // Several changes in one explicit transaction: nothing reaches
            // the listeners, and the view stays, until the commit.
            const int n = static_cast<int>(std::uniform_int_distribution<int>(2, 5)(rng));
            const bool raii = kind < 76;
            what = std::string(raii ? "Transaction" : "begin/commit") + " of " + std::to_string(n);
            history_.push_back(what + " {");
            {
                std::optional<Transaction> tx;
                if (raii)
                    tx.emplace(tree_.sys());
                else
                    tree_.sys().begin();
                for (int i = 0; i < n; ++i) {
                    history_.push_back("    " + tree_.random_change());
                    if (!log_.empty() || as_->view() != old_view_)
                        return report("a change inside an open transaction reached listeners or the view");
                }
                if (!raii) tree_.sys().commit();
            }
            history_.push_back("}");
        } else {
            // Nested transactions: the inner commit publishes nothing.
            what = "nested transaction";
            history_.push_back("begin {");
            tree_.sys().begin();
            history_.push_back("    " + tree_.random_change());
            tree_.sys().begin();
            history_.push_back("    begin {");
            history_.push_back("        " + tree_.random_change());
            tree_.sys().commit();
            history_.push_back("    }");
            if (!log_.empty() || as_->view() != old_view_)
                return report("an inner commit reached listeners or the view");
            history_.push_back("    " + tree_.random_change());
            tree_.sys().commit();
            history_.push_back("}");
        }
        ++commits_;
        return verify(what);
    }

    // After a commit: the log follows the protocol, every listener's model
    // equals the new view, and the new view equals the oracle's.
    bool verify(const std::string& what) {
        const std::vector<FlatRange>& now = as_->view()->ranges();
        const std::vector<FlatRange> before = old_view_ ? old_view_->ranges() : std::vector<FlatRange>{};
        std::vector<std::string> errors;
        if (tree_.sys().transaction_depth() != 0) errors.push_back("transaction left open");
        if (old_view_) {
            check_commit_log(log_, forward_order(slots_), before, now, errors);
            if (before != now) ++changed_views_;
        }
        calls_ += log_.size();
        for (const Event& e : log_) ++call_kinds_[e.type];
        for (auto& s : slots_) {
            for (auto& e : s.l->errors()) errors.push_back(e);
            s.l->errors().clear();
            if (!s.registration) continue;
            if (s.l->in_batch()) errors.push_back("L" + std::to_string(s.l->id()) + " left without commit()");
            std::vector<FlatRange> m = s.l->model();
            if (m != now)
                errors.push_back("L" + std::to_string(s.l->id()) + "'s copy differs from the view\n" +
                                 diff_views(now, m));
        }
        if (std::string e = check_subregion_order(tree_); !e.empty()) errors.push_back(e);
        if (auto o = oracle_view(tree_.root()); o && *o != now)
            errors.push_back("the address space's view differs from the oracle\n" + diff_views(*o, now));
        if (errors.empty()) return true;
        std::string msg = "after: " + what + "\n";
        for (auto& e : errors) msg += "  " + e + "\n";
        msg += "  old view:\n" + fmt_view(before);
        return report(msg);
    }

    bool report(const std::string& msg) {
        std::string h;
        size_t first = history_.size() > 40 ? history_.size() - 40 : 0;
        for (size_t i = first; i < history_.size(); ++i) h += "    " + history_[i] + "\n";
        std::string calls;
        for (const Event& e : log_) calls += "    " + fmt_event(e) + "\n";
        ADD_FAILURE() << "sequence seed " << seed_ << ", step " << step_ << ": " << msg << "  new view:\n"
                      << fmt_view(as_->view()->ranges()) << "  listener calls of this commit:\n"
                      << calls << "  changes so far (last 40):\n"
                      << h << fmt_tree(tree_.root(), tree_.regions());
        return false;
    }

    // Declared before the tree so that the memory system (and its address
    // space) goes away while the listeners and their log still exist.
    std::vector<Event> log_;
    std::vector<ListenerSlot> slots_;
    uint64_t seed_;
    RandomTree tree_;
    MemoryAddressSpace* as_ = nullptr;
    uint64_t registrations_ = 0;
    std::shared_ptr<const FlatView> old_view_;
    std::vector<std::string> history_;
    int step_ = 0;
    size_t commits_ = 0, changed_views_ = 0, calls_ = 0, removals_ = 0;
    std::map<Ev, size_t> call_kinds_;
};

TEST(FlatViewOracle, RandomChangeSequencesDriveListenersExactly) {
    const auto t0 = std::chrono::steady_clock::now();
    size_t failed = 0, commits = 0, changed = 0, calls = 0, partial = 0;
    std::map<Ev, size_t> kinds;
    for (uint64_t seed = 1; seed <= kSequences; ++seed) {
        SequenceRunner r(seed * 7919 + 17, seed % 4 == 0, seed % 3 != 0);
        std::mt19937_64 plan(seed);
        auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(plan); };
        const int late = pick(1, kStepsPerSequence);
        const int remove = pick(1, kStepsPerSequence);
        const int readd = pick(0, 1) ? pick(remove, kStepsPerSequence) : -1;
        bool ok = false;
        try {
            ok = r.run(kStepsPerSequence, late, remove, readd);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "sequence seed " << seed * 7919 + 17 << " threw " << e.what();
        }
        if (!ok && ++failed >= 3) break;
        commits += r.commits();
        partial += r.partial_renders();
        changed += r.changed_views();
        calls += r.calls();
        for (auto [k, n] : r.call_kinds()) kinds[k] += n;
    }
    EXPECT_EQ(failed, 0u);
    EXPECT_GT(changed, commits / 8) << "too few commits changed the view";
    // Commits that re-render in part (all but those with too many
    // changes to list) are checked against the oracle like full ones.
    EXPECT_GT(partial, commits / 4) << "too few partial re-renders";
    for (Ev e : {Ev::Begin, Ev::Commit, Ev::Add, Ev::Del, Ev::LogStart, Ev::LogStop})
        EXPECT_GT(kinds[e], 100u) << ev_name(e);
    std::printf("[ stats ] %llu sequences, %zu commits (%zu changed the view, %zu re-rendered in part), %zu "
                "listener calls (add %zu, del %zu, nop %zu, log_start %zu, log_stop %zu), %.2f s\n",
                static_cast<unsigned long long>(kSequences), commits, changed, partial, calls, kinds[Ev::Add],
                kinds[Ev::Del], kinds[Ev::Nop], kinds[Ev::LogStart], kinds[Ev::LogStop], seconds_since(t0));
}

}  // namespace
}  // namespace kvmrr
