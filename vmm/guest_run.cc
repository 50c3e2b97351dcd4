#include "vmm/guest_run.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "vmm/pc_board.h"
#include "vmm/real_host_inputs.h"

namespace kvmrr {

std::string fixture_dir() {
    if (const char* env = std::getenv("KVMRR_FIXTURE_DIR"); env && *env) return env;
#ifdef KVMRR_FIXTURE_DIR
    return KVMRR_FIXTURE_DIR;
#else
    return "fixtures/guests";
#endif
}

std::vector<std::string> fixture_names() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(fixture_dir(), ec))
        if (e.path().extension() == ".bin") names.push_back(e.path().stem().string());
    std::sort(names.begin(), names.end());
    return names;
}

GuestImage resolve_guest(const GuestSpec& spec) {
    if (spec.fixture.empty() == spec.image.empty()) throw Error("give exactly one of a fixture guest name or an image file");
    if (!spec.fixture.empty()) {
        const std::string path = fixture_dir() + "/" + spec.fixture + ".bin";
        if (!std::filesystem::exists(path)) {
            std::string known;
            for (const std::string& n : fixture_names()) known += (known.empty() ? "" : ", ") + n;
            throw Error("no fixture guest '" + spec.fixture + "' in " + fixture_dir() +
                        (known.empty() ? " (none built: build the fixture_guests target)" : " (known: " + known + ")"));
        }
        GuestImage img = GuestImage::raw(path, kFixtureLoadAddr, kFixtureLoadAddr, CpuMode::Long);
        img.name = spec.fixture;
        return img;
    }
    GuestImage img = GuestImage::open(spec.image, spec.load, spec.entry.value_or(spec.load), spec.mode);
    if (spec.entry) img.entry = *spec.entry;
    return img;
}

int exit_status_for(const RunResult& r) {
    switch (r.reason) {
        case StopReason::GuestExit: return r.exit_status;
        case StopReason::Halt: return 0;
        case StopReason::OutputMatched: return 0;
        case StopReason::Timeout: return kStatusTimeout;
        // As a shell reports a program its signal ended: 128 + the number.
        case StopReason::Interrupted: return r.detail > 0 && r.detail < 65 ? 128 + static_cast<int>(r.detail) : 130;
        default: return kStatusAbnormal;
    }
}

std::string fallback_note(const std::string& reason) {
    if (reason.empty()) return "";
    return "KVM not used (" + reason + "); running on the Unicorn emulator\n";
}

std::string prefix_lines(const std::string& text, const std::string& prefix) {
    std::string out;
    size_t start = 0;
    while (start < text.size()) {
        const size_t nl = text.find('\n', start);
        const size_t end = nl == std::string::npos ? text.size() : nl + 1;
        out += prefix + text.substr(start, end - start);
        start = end;
    }
    if (out.empty() || out.back() != '\n') out += '\n';
    return out;
}

GuestImage guest_of(const GuestRunRequest& req) {
    if (req.board == Board::Kvmrr) return resolve_guest(req.guest);
    GuestImage img;
    img.name = req.firmware_name.empty() ? std::string("firmware") : req.firmware_name;
    img.mode = CpuMode::Real;
    img.entry = 0xfffffff0;
    img.hash = XXH64(req.firmware.data(), req.firmware.size(), 0);
    return img;
}

void start_guest(Session& session, const GuestRunRequest& req, const GuestImage& image, RealHostInputs& inputs) {
    if (req.board == Board::Pc) {
        session.reset_cpu();
    } else {
        session.load(image, req.guest.args);
    }
    if (req.clock == ClockMode::Virtual) {
        PcBoard* pc = session.machine().pc();
        if (!pc) throw Error("--clock virtual needs the pc board (kvmrr's board has no timers)");
        inputs.use_virtual_clock([pc] { return pc->virtual_now_ns(); });
    }
}

GuestRunReport run_guest(const GuestRunRequest& req) {
    const GuestImage image = guest_of(req);
    RealHostInputs inputs(req.serial_in_fd, req.disk);
    Session session(req.session_config(), inputs);
    start_guest(session, req, image, inputs);
    GuestRunReport rep;
    rep.result = session.run(req.run_options());
    rep.exit_status = exit_status_for(rep.result);
    rep.accel = accel_name(session.accel());
    rep.message = fallback_note(session.fallback_reason()) + image.name + ": " + rep.result.describe();
    return rep;
}

SessionConfig GuestRunRequest::session_config() const {
    SessionConfig c;
    c.board = board;
    c.layout = layout;
    c.firmware = firmware;
    c.disk_sectors = disk_sectors;
    c.disk_geometry = disk_geometry;
    c.ticks_between_exits = ticks_between_exits;
    c.deterministic_cpu = deterministic_cpu;
    c.clock = clock;
    c.debugcon_out = debugcon_out;
    c.stop_at_output = stop_at_output;
    c.serial_out = serial_out;
    c.accel = accel;
    c.dirty_mode = dirty_mode;
    c.dirty_ring_entries = dirty_ring_entries;
    return c;
}

RunOptions GuestRunRequest::run_options() const {
    RunOptions o;
    o.limits = limits;
    o.policy = policy;
    // Firmware probes for what a PC may have (an HPET at 0xfed00000, ...):
    // on the pc board unassigned memory reads all ones, as on a PC.
    if (board == Board::Pc) o.policy.stop_on_unassigned_mmio = false;
    return o;
}

}  // namespace kvmrr
