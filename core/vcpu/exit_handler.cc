#include "core/vcpu/exit_handler.h"


namespace kvmrr {

const char* exit_kind_name(ExitKind k) {
    switch (k) {
        case ExitKind::Io: return "io";
        case ExitKind::Mmio: return "mmio";
        case ExitKind::Hlt: return "hlt";
        case ExitKind::Shutdown: return "shutdown";
        case ExitKind::FailEntry: return "fail-entry";
        case ExitKind::InternalError: return "internal-error";
        case ExitKind::InterruptWindow: return "interrupt-window";
        case ExitKind::Debug: return "debug";
        case ExitKind::Unknown: return "unknown";
    }
    return "?";
}

const char* stop_reason_name(StopReason r) {
    switch (r) {
        case StopReason::None: return "none";
        case StopReason::GuestExit: return "guest-exit";
        case StopReason::Halt: return "halt";
        case StopReason::Shutdown: return "shutdown (triple fault)";
        case StopReason::FailEntry: return "entry failure";
        case StopReason::InternalError: return "KVM internal error";
        case StopReason::UnassignedAccess: return "access to unmapped memory";
        case StopReason::InvalidAccess: return "invalid device access";
        case StopReason::UnknownExit: return "unknown exit";
        case StopReason::MaxExits: return "exit limit reached";
        case StopReason::Timeout: return "timeout";
        case StopReason::Diverged: return "replay divergence";
        case StopReason::Reset: return "reset";
        case StopReason::OutputMatched: return "output matched";
        case StopReason::Interrupted: return "interrupted";
    }
    return "?";
}

namespace {

ExitOutcome after_access(const AccessResult& r, uint64_t addr, bool unassigned_stops, const ExitPolicy& policy) {
    if (r.status == AccessStatus::Unassigned && unassigned_stops) return {StopReason::UnassignedAccess, addr, r.region};
    if (r.status == AccessStatus::Invalid && policy.stop_on_invalid) return {StopReason::InvalidAccess, addr, r.region};
    return {StopReason::None, 0, r.region};
}

ExitOutcome io_exit(VcpuExit& e, IoAddressSpace& io, const ExitPolicy& policy) {
    if (e.size != 1 && e.size != 2 && e.size != 4) return {StopReason::InvalidAccess, e.addr};
    if (e.data.size() < static_cast<size_t>(e.size) * e.count) return {StopReason::InternalError, e.addr};
    // String I/O repeats the access at the same port; each repetition is
    // its own device access (a UART FIFO drains one byte per `in`). The
    // outcome names the region of the first.
    ExitOutcome first;
    for (uint32_t i = 0; i < e.count; ++i) {
        const AccessResult r = io.access(PioAddr(e.addr), e.data.subspan(static_cast<size_t>(i) * e.size, e.size), e.is_write);
        ExitOutcome o = after_access(r, e.addr, policy.stop_on_unassigned_pio, policy);
        if (i == 0) first = o;
        if (o.stop != StopReason::None) {
            o.region = first.region;
            return o;
        }
    }
    return first;
}

ExitOutcome mmio_exit(VcpuExit& e, MemoryAddressSpace& mem, const ExitPolicy& policy) {
    if (e.size == 0 || e.size > 8 || e.data.size() < e.size) return {StopReason::InvalidAccess, e.addr};
    // KVM reports the guest's access as it was made; sizes that are not a
    // power of two (rare instructions) go through the byte path.
    return after_access(mem.access(Gpa(e.addr), e.data.first(e.size), e.is_write), e.addr, policy.stop_on_unassigned_mmio,
                        policy);
}

}  // namespace

ExitOutcome handle_exit(VcpuExit& exit, ExitTargets t, const ExitPolicy& policy) {
    switch (exit.kind) {
        case ExitKind::Io: return io_exit(exit, t.io, policy);
        case ExitKind::Mmio: return mmio_exit(exit, t.memory, policy);
        case ExitKind::Hlt: return {StopReason::Halt, 0};
        case ExitKind::Shutdown: return {StopReason::Shutdown, 0};
        case ExitKind::FailEntry: return {StopReason::FailEntry, exit.reason_code};
        case ExitKind::InternalError: return {StopReason::InternalError, exit.reason_code};
        case ExitKind::InterruptWindow: return {};
        case ExitKind::Debug: return {};
        case ExitKind::Unknown: return {StopReason::UnknownExit, exit.reason_code};
    }
    return {StopReason::UnknownExit, exit.reason_code};
}

}  // namespace kvmrr
