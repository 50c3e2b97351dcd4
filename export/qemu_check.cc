#include "export/qemu_check.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <thread>

#include "export/qtest_client.h"
#include "export/qtest_script.h"
#include "export/trace_disk_image.h"
#include "record/trace_reader.h"
#include "replay/event_groups.h"

namespace kvmrr {

namespace {

std::string hexs(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%" PRIx64, v);
    return b;
}

uint64_t size_mask(unsigned size) { return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1; }

std::string join(const std::string& bin, const std::vector<std::string>& args) {
    std::string s = bin;
    for (const std::string& a : args) s += " " + a;
    return s;
}

// Starts QEMU with the qtest accelerator if this binary has one, else
// with TCG stopped before its first instruction. A binary without it
// exits at once ("invalid accelerator qtest"); the probe is the first
// command, `clock_step 0`.
std::unique_ptr<QtestClient> start_qemu(const QemuPcMap& map, const std::string& disk, const QemuCheckOptions& o,
                                       QemuCheckReport& rep) {
    const std::string bin = qemu_binary(o.qemu);
    std::vector<std::string> base = map.qemu_machine_args(disk);
    for (const char* a : {"-qtest", "stdio", "-qtest-log", "/dev/null"}) base.push_back(a);
    std::vector<std::string> with_qtest = base;
    with_qtest.insert(with_qtest.end(), {"-accel", "qtest"});
    std::string first_error;
    try {
        auto c = std::make_unique<QtestClient>(QemuCommand{bin, with_qtest, o.timeout});
        if (c->send("clock_step 0").ok) {
            rep.clock_stepped = true;
            rep.qemu_command = join(bin, with_qtest);
            return c;
        }
    } catch (const QtestError& e) {
        // Not being able to start the binary at all is final.
        if (std::string(e.what()).find("cannot run QEMU") != std::string::npos) throw;
        first_error = e.what();
    }
    std::vector<std::string> tcg = base;
    tcg.insert(tcg.end(), {"-accel", "tcg", "-S"});
    auto c = std::make_unique<QtestClient>(QemuCommand{bin, tcg, o.timeout});
    rep.qemu_command = join(bin, tcg);
    return c;
}

// Repeats the step's busy probe until QEMU's device has finished what it
// does in the background (the probe's bits no longer show it busy), or
// the time-out: then the access goes ahead, and a difference shows.
void wait_while_busy(QtestClient& qemu, const QtestStep& s, const QemuCheckOptions& o, QemuCheckReport& rep) {
    const auto give_up = std::chrono::steady_clock::now() + o.timeout;
    bool waited = false;
    for (;;) {
        bool busy = false;
        for (const QemuPcMap::BusyCondition& c : s.busy) {
            bool holds = true;
            for (const QemuPcMap::BusyRead& b : c) {
                const QtestReply r = qemu.send(b.command);
                ++rep.commands;
                if (!r.ok || !r.value || (*r.value & b.mask) != b.when) {
                    holds = false;
                    break;
                }
            }
            if (holds) {
                busy = true;
                break;
            }
        }
        if (!busy) break;
        if (std::chrono::steady_clock::now() > give_up) break;
        waited = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    rep.busy_waits += waited;
}

}  // namespace

QemuCheckReport qemu_check(const std::string& trace_path, const QemuCheckOptions& o) {
    QemuCheckReport rep;
    TraceReader reader = TraceReader::open(trace_path);
    EventGroupReader groups(reader);
    // QEMU's disk holds what the recorded run's held, as far as the trace
    // shows it; it outlives QEMU, which is stopped below or in the client's
    // destructor first.
    std::optional<TraceDiskImage> disk;
    if (reader.header().disk_sectors) {
        disk.emplace(trace_path);
        rep.disk_sectors_known = disk->sectors_known();
    }
    std::unique_ptr<QtestClient> qemu = start_qemu(QemuPcMap(reader.header()), disk ? disk->path() : "", o, rep);
    QtestScript script(reader.header(), rep.clock_stepped);

    std::map<std::string, uint64_t> previous;  // the last QEMU value of each monotonic register
    script.add_trace(groups, [&](const QtestStep& s) {
        if (!s.busy.empty()) wait_while_busy(*qemu, s, o, rep);
        const QtestReply reply = qemu->send(s.command);
        ++rep.commands;
        if (!reply.ok)
            throw QtestError("QEMU refused '" + s.command + "' (trace event #" + std::to_string(s.seq) +
                             "): " + reply.text);
        if (!s.read) return;
        if (!reply.value)
            throw QtestError("QEMU answered '" + reply.text + "' without a value to '" + s.command + "' (trace event #" +
                             std::to_string(s.seq) + ")");
        const uint64_t q = *reply.value;
        if (s.rule.kind == CompareKind::Skip) {
            ++rep.skipped;
            ++rep.skipped_by_rule[s.rule.why];
            return;
        }
        ++rep.compared;
        bool same = false;
        switch (s.rule.kind) {
        case CompareKind::Exact:
            same = q == s.recorded;
            ++rep.exact_by_device[s.device];
            break;
        case CompareKind::Masked: {
            const uint64_t m = s.rule.mask & size_mask(s.size);
            same = (q & m) == (s.recorded & m);
            ++rep.by_rule[s.rule.why];
            break;
        }
        case CompareKind::Shape: {
            const std::string key = s.device + " " + s.reg;
            auto it = previous.find(key);
            same = shape_ok(s.rule, q, s.size, it == previous.end() ? std::nullopt : std::optional<uint64_t>(it->second));
            previous[key] = q;
            ++rep.by_rule[s.rule.why];
            break;
        }
        case CompareKind::Skip:
            break;
        }
        if (same) {
            ++rep.agreed;
            return;
        }
        ++rep.differing;
        if (rep.differences.size() < o.max_listed)
            rep.differences.push_back({s.seq, s.device, s.reg, s.command,
                                       s.rule.kind == CompareKind::Exact ? "exact" : s.rule.why, s.size, s.recorded, q});
    });
    qemu->stop();
    rep.accesses_sent = script.accesses_sent();
    rep.reads = script.reads();
    rep.left_out = script.left_out();
    rep.damage = groups.damage();
    return rep;
}

std::string QemuCheckReport::format() const {
    std::string s = "qemu: " + qemu_command + "\n";
    s += clock_stepped ? "clock: QEMU's virtual clock stepped to each access's recorded time\n"
                       : "clock: this QEMU has no qtest accelerator (no clock_step): its virtual clock stands still; "
                         "time-valued registers are compared by shape\n";
    if (disk_sectors_known)
        s += "disk: " + std::to_string(disk_sectors_known) + " sectors of the recorded run's disk rebuilt from the trace's disk reads\n";
    if (busy_waits)
        s += "waited " + std::to_string(busy_waits) +
             " times for QEMU's IDE and its bus master to finish work they do in the background (kvmrr's is done at once)\n";
    s += "sent: " + std::to_string(accesses_sent) + " accesses as " + std::to_string(commands) + " commands\n";
    uint64_t left = 0;
    for (const auto& [why, n] : left_out) left += n;
    s += "left out: " + std::to_string(left) + " accesses\n";
    for (const auto& [why, n] : left_out) s += "  " + std::to_string(n) + " " + why + "\n";
    s += "reads: " + std::to_string(reads) + ": " + std::to_string(compared) + " compared, " + std::to_string(agreed) +
         " agreed, " + std::to_string(differing) + " differing, " + std::to_string(skipped) + " skipped by rule\n";
    s += "compared exactly, by device:\n";
    for (const auto& [dev, n] : exact_by_device) s += "  " + std::to_string(n) + " " + dev + "\n";
    if (!by_rule.empty()) s += "compared by shape or with bits masked (time, host input):\n";
    for (const auto& [why, n] : by_rule) s += "  " + std::to_string(n) + " " + why + "\n";
    if (!skipped_by_rule.empty()) s += "skipped by rule:\n";
    for (const auto& [why, n] : skipped_by_rule) s += "  " + std::to_string(n) + " " + why + "\n";
    if (!differences.empty()) s += "differences:\n";
    for (const ReadDifference& d : differences)
        s += "  #" + std::to_string(d.seq) + " " + d.device + " " + d.reg + " (" + d.command + ", " + d.rule + "): kvmrr " +
             hexs(d.kvmrr) + ", QEMU " + hexs(d.qemu) + "\n";
    if (differing > differences.size())
        s += "  ... and " + std::to_string(differing - differences.size()) + " more\n";
    if (damage) s += "the trace is not whole: " + *damage + "; checked as far as it is\n";
    return s;
}

}  // namespace kvmrr
