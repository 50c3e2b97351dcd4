#include "replay/gdb_server.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>
#include <utility>

#include "core/error.h"

namespace kvmrr {

namespace {

// A hex number of at most 16 digits, all of `text`; nothing otherwise.
std::optional<uint64_t> parse_hex(std::string_view text) {
    if (text.empty() || text.size() > 16) return std::nullopt;
    uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

// "ADDR,LEN" as two hex numbers.
std::optional<std::pair<uint64_t, uint64_t>> parse_pair(std::string_view text) {
    const size_t comma = text.find(',');
    if (comma == std::string_view::npos) return std::nullopt;
    const auto a = parse_hex(text.substr(0, comma));
    const auto b = parse_hex(text.substr(comma + 1));
    if (!a || !b) return std::nullopt;
    return std::pair{*a, *b};
}

constexpr uint64_t kMaxRead = 0x1000;  // bytes a memory read returns at most (the packet's size allows twice)
const char* const kRefused = "E01";   // a change to the recorded guest, or a request that makes no sense
const char* const kNoMemory = "E14";  // EFAULT: nothing readable there
const char* const kHistoryBegins = "T05replaylog:begin;";  // a reverse step or continue at the guest's start

}  // namespace

void GdbServer::serve_start() {
    c_.accept();
    serve();
}

void GdbServer::start_at_next_stop(std::function<void()> on_wait) {
    start_pending_ = on_wait ? std::move(on_wait) : [] {};
    apply_stops(true);
}

void GdbServer::run_plan(const GdbPlan& plan) {
    running_ = true;  // the debugger waits for the reply to its reverse step or continue
    interrupt_asked_ = false;
    if (plan.kind == GdbPlan::Kind::To && plan.position == 0) {
        // The guest's start, where this replay is now.
        running_ = false;
        c_.send(plan.reply);
        serve();
        return;
    }
    plan_ = plan;
    last_hit_.reset();
    GdbStops s;
    if (plan.kind == GdbPlan::Kind::Search) {
        s = stops_;  // the breakpoints and watchpoints, to note their stops
        s.step = false;
    }
    s.stop_at = plan.position;
    t_->set_stops(s);
}

void GdbServer::plan_stop(const VcpuExit& exit) {
    const uint64_t at = t_->position().value_or(plan_->position);
    if (at < plan_->position) {
        // A Search's breakpoint or watchpoint: noted, and the guest goes on.
        if (exit.watch_hit || t_->stop_wanted(exit.addr)) last_hit_.emplace(at, stop_reply(exit));
        return;
    }
    const GdbPlan done = *std::exchange(plan_, std::nullopt);
    if (done.kind == GdbPlan::Kind::Search) end_search();
    running_ = false;
    apply_stops(false);
    c_.send(done.reply);
    serve();
}

void GdbServer::end_search() {
    // The last stop before where the debugger asked from, or the guest's
    // start when there was none.
    if (last_hit_) throw GdbRestart{GdbPlan{GdbPlan::Kind::To, last_hit_->first, last_hit_->second}};
    throw GdbRestart{GdbPlan{GdbPlan::Kind::To, 0, kHistoryBegins}};
}

std::string GdbServer::stop_reply(const VcpuExit& exit) const {
    if (!exit.watch_hit) return "S05";  // SIGTRAP
    // Which watchpoint, by the name of its kind: GDB compares the value
    // itself for a write watchpoint.
    const auto wp = std::find_if(stops_.watchpoints.begin(), stops_.watchpoints.end(),
                                 [&](const Watchpoint& w) { return w.addr == *exit.watch_hit; });
    const Watchpoint::Kind kind = wp == stops_.watchpoints.end() ? Watchpoint::Kind::Access : wp->kind;
    const char* name = kind == Watchpoint::Kind::Write ? "watch" : kind == Watchpoint::Kind::Read ? "rwatch" : "awatch";
    char buf[48];
    std::snprintf(buf, sizeof buf, "T05%s:%llx;", name, static_cast<unsigned long long>(*exit.watch_hit));
    return buf;
}

void GdbServer::on_debug_stop(const VcpuExit& exit) {
    if (start_pending_) {
        std::exchange(start_pending_, nullptr)();
        apply_stops(false);
        serve_start();
        return;
    }
    if (!c_.connected()) {
        if (running_) detach();  // gone while the guest ran: no more stops
        return;
    }
    if (plan_) {
        plan_stop(exit);
        return;
    }
    if (!interrupt_asked_ && !exit.watch_hit && !t_->stop_wanted(exit.addr)) return;  // the guest goes on
    if (running_) {
        running_ = false;
        c_.send(std::exchange(interrupt_asked_, false) ? "S02" : stop_reply(exit));  // SIGINT, or why it stopped
    }
    serve();
}

void GdbServer::reverse(Resume kind) {
    const std::optional<uint64_t> at = t_->position();
    if (!at) {
        c_.send(kRefused);
        return;
    }
    if (*at == 0) {
        c_.send(kHistoryBegins);
        return;
    }
    if (kind == Resume::ReverseStep) throw GdbRestart{GdbPlan{GdbPlan::Kind::To, *at - 1, "S05"}};
    throw GdbRestart{GdbPlan{GdbPlan::Kind::Search, *at, ""}};
}

void GdbServer::poll() {
    if (!running_ || interrupt_asked_ || plan_) return;  // a replay run again to go back is not interrupted
    if (!c_.interrupt_sent()) {
        if (!c_.connected()) detach();  // gone while the guest ran: no more stops
        return;
    }
    interrupt_asked_ = true;
    apply_stops(true);  // a stop before the guest's next instruction
}

void GdbServer::diverged(const std::string& why) {
    if (plan_ && plan_->kind == GdbPlan::Kind::Search) {
        // A reverse continue from where the replay diverged, which it has
        // met again: the search's end.
        plan_.reset();
        end_search();
    }
    plan_.reset();
    if (!running_) return;
    running_ = false;
    std::string text;
    for (const char ch : "kvmrr: the replay diverged from its recording here:\n" + why + (why.ends_with('\n') ? "" : "\n"))
        text += gdb_hex_le(static_cast<uint8_t>(ch), 1);
    c_.send("O" + text);  // console output
    c_.send("S05");
    serve();
}

void GdbServer::finish(int status) {
    if (running_) c_.send(gdb_hex_le(static_cast<unsigned>(status) & 0xff, 1).insert(0, "W"));
    detach();
}

void GdbServer::serve() {
    for (;;) {
        const std::optional<std::string> packet = c_.receive();
        if (!packet) {
            detach();  // the debugger has gone: the replay runs on
            return;
        }
        Resume resume = Resume::None;
        const std::string reply = handle(*packet, resume);
        if (resume == Resume::ReverseStep || resume == Resume::ReverseContinue) {
            reverse(resume);
            continue;
        }
        if (resume == Resume::Continue || resume == Resume::Step) {
            apply_stops(resume == Resume::Step);
            running_ = true;
            return;
        }
        if (!c_.send(reply)) {
            detach();
            return;
        }
        if (resume == Resume::Detach) {
            detach();
            return;
        }
    }
}

void GdbServer::apply_stops(bool step) {
    stops_.step = step;
    t_->set_stops(stops_);
}

void GdbServer::detach() {
    plan_.reset();
    stops_ = {};
    t_->set_stops(stops_);
    running_ = false;
    c_.close();
}

std::string GdbServer::handle(std::string_view p, Resume& resume) {
    if (p.empty()) return "";
    if (p == "\x03") return "S02";  // already stopped
    if (p == "?") return "S05";
    if (p == "g") return with_cpu([&](const GdbCpuView& cpu) { return gdb_registers_hex(arch_, cpu); });
    if (p[0] == 'p') {
        const std::optional<uint64_t> n = parse_hex(p.substr(1));
        const std::string v = n && *n < 1024 ? with_cpu([&](const GdbCpuView& cpu) { return gdb_register_hex(arch_, cpu, static_cast<unsigned>(*n)); }) : "";
        return v.empty() ? kRefused : v;
    }
    if (p[0] == 'm') return read_memory(p.substr(1));
    if (p[0] == 'Z' || p[0] == 'z') return breakpoint(p);
    if (p == "c" || p == "s") {
        resume = p == "c" ? Resume::Continue : Resume::Step;
        return "";
    }
    if (p == "bc" || p == "bs") {
        if (!reverse_) return "";  // not supported
        resume = p == "bc" ? Resume::ReverseContinue : Resume::ReverseStep;
        return "";
    }
    if (p.rfind("vCont?", 0) == 0) return "vCont;c;C;s;S";
    if (p.rfind("vCont;", 0) == 0) {
        resume = vcont(p.substr(6));
        return resume == Resume::None ? kRefused : "";
    }
    if (p == "D" || p.rfind("D;", 0) == 0) {
        resume = Resume::Detach;
        return "OK";
    }
    if (p == "k" || p.rfind("vKill", 0) == 0)
        throw Error("the debugger killed the replay");
    if (p.rfind("qSupported", 0) == 0)
        return std::string("PacketSize=4000;qXfer:features:read+;QStartNoAckMode+;vContSupported+") +
               (reverse_ ? ";ReverseStep+;ReverseContinue+" : "");
    if (p == "QStartNoAckMode") {
        // As gdbserver: the reply already goes unacknowledged (GDB's '+'
        // for it is ignored).
        c_.stop_acknowledging();
        return "OK";
    }
    if (p.rfind("qXfer:features:read:", 0) == 0) return features(p.substr(20));
    if (p.rfind("qRcmd,", 0) == 0) return monitor(p.substr(6));
    if (p == "qAttached") return "1";
    if (p == "qC") return "QC1";
    if (p == "qfThreadInfo") return "m1";
    if (p == "qsThreadInfo") return "l";
    if (p[0] == 'H' || p[0] == 'T') return "OK";  // the one thread
    if (p.rfind("qSymbol", 0) == 0) return "OK";
    // Changes to the recorded guest: its registers, its memory, where it
    // goes on (c ADDR, s ADDR) and signals (C, S; vCont's pass none).
    if (p[0] == 'G' || p[0] == 'P' || p[0] == 'M' || p[0] == 'X' || p[0] == 'c' || p[0] == 's' ||
        p[0] == 'C' || p[0] == 'S')
        return kRefused;
    return "";  // not supported
}

std::string GdbServer::read_memory(std::string_view args) {
    const auto range = parse_pair(args);
    if (!range) return kRefused;
    const auto [addr, len] = *range;
    const uint64_t n = std::min(len, kMaxRead);
    std::string out;
    uint8_t buf[kMaxRead];
    // Page by page, so that a read that runs into a device's window or
    // an unmapped page returns what comes before it.
    uint64_t done = 0;
    while (done < n) {
        const uint64_t a = addr + done;
        const uint64_t take = std::min(n - done, 0x1000 - (a & 0xfff));
        if (!t_->read_memory(a, buf + done, take)) break;
        done += take;
    }
    if (done == 0 && n > 0) return kNoMemory;
    for (uint64_t i = 0; i < done; ++i) out += gdb_hex_le(buf[i], 1);
    return out;
}

std::string GdbServer::breakpoint(std::string_view p) {
    // Z0/Z1: software and hardware breakpoints, which the target keeps as
    // it can; Z2/Z3/Z4: write, read and access watchpoints where the
    // target keeps them (elsewhere "not supported": GDB then single-steps
    // and compares).
    if (p.size() < 3 || p[1] < '0' || p[1] > '4' || p[2] != ',') return "";
    std::string_view rest = p.substr(3);
    rest = rest.substr(0, rest.find(';'));  // conditions evaluated by the target: not offered
    const auto a = parse_pair(rest);
    const bool insert = p[0] == 'Z';
    if (p[1] >= '2') {
        if (!t_->watches()) return "";
        if (!a || a->second == 0 || a->second > kMaxRead) return kRefused;
        static constexpr Watchpoint::Kind kinds[] = {Watchpoint::Kind::Write, Watchpoint::Kind::Read, Watchpoint::Kind::Access};
        return toggle(stops_.watchpoints, Watchpoint{a->first, a->second, kinds[p[1] - '2']}, insert);
    }
    if (!a) return kRefused;
    return toggle(p[1] == '0' ? stops_.software : stops_.hardware, a->first, insert);
}

template <typename T>
std::string GdbServer::toggle(std::vector<T>& list, const T& item, bool insert) {
    const auto at = std::find(list.begin(), list.end(), item);
    stops_.step = false;
    if (!insert) {
        if (at != list.end()) list.erase(at);
        t_->set_stops(stops_);
        return "OK";
    }
    if (at != list.end()) return "OK";
    list.push_back(item);
    if (!t_->set_stops(stops_)) {
        list.pop_back();  // more than the target can keep (KVM: four debug registers)
        return kRefused;
    }
    return "OK";
}

std::string GdbServer::features(std::string_view args) {
    // "target.xml:OFFSET,LENGTH"
    const size_t colon = args.find(':');
    if (colon == std::string_view::npos || args.substr(0, colon) != "target.xml") return "E00";
    const auto range = parse_pair(args.substr(colon + 1));
    if (!range) return kRefused;
    const std::string& xml = gdb_target_xml(arch_);
    if (range->first >= xml.size()) return "l";
    const size_t n = static_cast<size_t>(std::min<uint64_t>(range->second, xml.size() - range->first));
    const bool last = range->first + n >= xml.size();
    return (last ? "l" : "m") + xml.substr(static_cast<size_t>(range->first), n);
}

std::string GdbServer::monitor(std::string_view hex_command) {
    if (!monitor_) return "";
    if (hex_command.size() % 2) return kRefused;
    std::string command;
    for (size_t i = 0; i < hex_command.size(); i += 2) {
        const std::optional<uint64_t> b = parse_hex(hex_command.substr(i, 2));
        if (!b) return kRefused;
        command += static_cast<char>(*b);
    }
    std::optional<std::string> text = monitor_(command);
    if (!text) text = "kvmrr: no monitor command '" + command + "' ('monitor help' lists them)\n";
    // Console output, in packets of at most a few hundred bytes.
    for (size_t at = 0; at < text->size(); at += 512) {
        std::string out = "O";
        for (const char ch : text->substr(at, 512)) out += gdb_hex_le(static_cast<uint8_t>(ch), 1);
        if (!c_.send(out)) break;
    }
    return "OK";
}

GdbServer::Resume GdbServer::vcont(std::string_view actions) {
    // "c", "s", "c:TID", "s:TID;c", ... : the one thread steps if any
    // action for it (or for all) says so. Signals (C, S) are not passed.
    Resume r = Resume::None;
    while (!actions.empty()) {
        const size_t semi = actions.find(';');
        const std::string_view action = actions.substr(0, semi);
        actions = semi == std::string_view::npos ? std::string_view{} : actions.substr(semi + 1);
        const char kind = action.empty() ? 0 : action[0];
        if (kind == 's' || kind == 'S') return Resume::Step;
        if (kind == 'c' || kind == 'C') r = Resume::Continue;
        else return Resume::None;
    }
    return r;
}

}  // namespace kvmrr
