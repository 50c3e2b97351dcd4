// Guest replay: the guest image itself runs again (on KVM or the
// emulator), and each of its exits must be the recorded one (kind,
// address, size, data written); every read returns the recorded value,
// so the guest sees the recorded clock, entropy and serial input whatever
// the host says now. The devices still run behind the accesses (they
// change the memory topology), fed the recorded inputs, and everything
// they and the recorder produce is matched as in device replay, dirty
// bitmaps included (harvested after the same exits), then the end: reason,
// exit count, registers and every device's full state digest.
#pragma once

#include "record/trace_reader.h"
#include "replay/replay_report.h"

namespace kvmrr {

// Throws kvmrr::Error when the run cannot start (no accelerator, bad header).
ReplayReport replay_guest(TraceReader& reader, const ReplayOptions& options = {});

}  // namespace kvmrr
