#include "record/trace_event.h"

#include "record/event_descriptions.h"

namespace kvmrr {

const char* event_kind(const TraceEvent& e) {
    const DescribedBody body = described(e.body);
    return body.description->kind_of ? body.description->kind_of(body.record) : body.description->kind;
}

bool is_nondeterministic_input(const TraceEvent& e) { return described(e.body).description->nondeterministic_input; }

}  // namespace kvmrr
