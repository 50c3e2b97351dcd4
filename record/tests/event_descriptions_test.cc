#include "record/event_descriptions.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "record/capnp_convert.h"
#include "record/tests/event_samples.h"
#include "record/trace_format.h"
#include "record/trace_text.h"

namespace kvmrr {
namespace {

using test::kind_samples;

TEST(EventDescriptions, EveryKindHasASample) {
    std::set<size_t> kinds;
    for (const test::KindSample& k : kind_samples()) kinds.insert(k.full.index());
    EXPECT_EQ(kinds.size(), std::variant_size_v<EventBody>) << "add the new kind to record/tests/event_samples.h";
}

// A struct that gains a member fails here until event_samples.h changes it;
// the tests below then fail until the descriptions read it.
TEST(EventDescriptions, EveryMemberOfEveryRecordHasAChange) {
    std::map<std::string, size_t> members;
    for (const test::KindSample& k : kind_samples()) members[k.record] = k.members;
    for (const test::NestedRecord& n : test::nested_records()) members[n.record] = n.members;
    std::map<std::string, std::set<std::string>> changed;
    for (const test::KindSample& k : kind_samples())
        for (const test::Change& c : k.changes) changed[c.record].insert(c.member);
    for (const auto& [record, count] : members) EXPECT_EQ(changed[record].size(), count) << record;
    for (const auto& [record, names] : changed) EXPECT_TRUE(members.count(record)) << record << " is not listed";
}

TEST(EventDescriptions, EveryChangeShowsInTheDumpWhereTheDescriptionSays) {
    const TraceHeader h = test::sample_header();
    for (const test::KindSample& k : kind_samples()) {
        const TraceEvent full{3, 1, k.full};
        for (const test::Change& c : k.changes) {
            TraceEvent changed = full;
            c.apply(changed.body);
            ASSERT_NE(changed, full) << c.record << "::" << c.member << ": the change changes nothing";
            EXPECT_EQ(format_event(changed, h, true) != format_event(full, h, true), c.json)
                << c.record << "::" << c.member << " in " << format_event(full, h, true);
            EXPECT_EQ(format_event(changed, h, false) != format_event(full, h, false), c.human)
                << c.record << "::" << c.member << " in " << format_event(full, h, false);
        }
    }
}

// The converters are written by hand: a member they forget comes back
// with its default value, which no sample member has.
TEST(EventDescriptions, EverySampleRoundTripsThroughCapnProto) {
    std::vector<TraceEvent> events;
    for (const test::KindSample& k : kind_samples()) {
        events.push_back({events.size(), 1, k.full});
        ASSERT_EQ(event_problem(events.back(), 2), std::nullopt) << k.record;
    }
    std::vector<TraceEvent> back;
    std::vector<uint64_t> scratch;
    decode_chunk(encode_chunk(events), 0, static_cast<uint32_t>(events.size()), 2, back, scratch);
    ASSERT_EQ(back.size(), events.size());
    const TraceHeader h = test::sample_header();
    for (size_t i = 0; i < events.size(); ++i)
        EXPECT_TRUE(back[i] == events[i]) << "written: " << format_event(events[i], h, true)
                                          << "\nread:    " << format_event(back[i], h, true);
}

TEST(EventDescriptions, KindNamesAreTheTraceFormatsOnes) {
    for (const test::KindSample& k : kind_samples()) {
        std::vector<TraceEvent> events{{0, 0, k.full}};
        for (const test::Change& c : k.changes) {
            events.push_back(events.front());
            c.apply(events.back().body);
        }
        for (const TraceEvent& e : events)
            EXPECT_STREQ(event_kind(e), kEventKindNames[event_kind_index(e)]) << k.record;
    }
}

TEST(EventDescriptions, NondeterministicInputsAreWhatTheWorldOutsideChose) {
    std::set<std::string> inputs;
    for (const test::KindSample& k : kind_samples())
        if (is_nondeterministic_input({0, 0, k.full})) inputs.insert(event_kind({0, 0, k.full}));
    EXPECT_EQ(inputs, (std::set<std::string>{"clock", "entropy", "serial-in", "disk-read"}));
}

// A row that no form uses is a member described by mistake, or forgotten.
TEST(EventDescriptions, EveryRowIsUsedSomewhere) {
    std::vector<const Description*> todo;
    for (const test::KindSample& k : kind_samples()) todo.push_back(described(k.full).description);
    std::set<const Description*> seen;
    while (!todo.empty()) {
        const Description* d = todo.back();
        todo.pop_back();
        if (!seen.insert(d).second) continue;
        EXPECT_FALSE(d->fields.empty());
        for (const Field& f : d->fields) {
            EXPECT_TRUE(f.json || f.human || f.compare);
            if (f.options.nested) todo.push_back(f.options.nested);
        }
    }
    EXPECT_EQ(seen.size(), std::variant_size_v<EventBody> + test::nested_records().size());
}

}  // namespace
}  // namespace kvmrr
