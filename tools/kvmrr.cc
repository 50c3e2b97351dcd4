// kvmrr: the command-line front end. Argument parsing only; the work is
// done by the libraries.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <iostream>
#include <optional>

#include "core/error.h"
#include "core/file_replacement.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "core/mtree.h"
#include "vmm/guest_run.h"
#include "vmm/machine.h"
#include "vmm/real_host_inputs.h"
#include "tools/cli_options.h"
#include "tools/interrupt_watch.h"
#include "tools/serial_console.h"
#include "record/record_session.h"
#include "record/trace_error.h"
#include "record/trace_reader.h"
#include "record/trace_text.h"
#include "replay/device_replay.h"
#include "replay/guest_replay.h"
#include "replay/dirty_analysis.h"
#include "replay/dirty_plot.h"
#include "replay/plot_canvas.h"
#include "replay/migration_estimate.h"
#include "replay/trace_diff.h"
#include "export/perfetto_export.h"
#include "export/qemu_check.h"
#include "export/qtest_script.h"

namespace {

using namespace kvmrr;

MachineLayout layout_from(const std::string& machine_file, const std::string& ram) {
    MachineLayout l = machine_file.empty() ? MachineLayout::default_layout() : MachineLayout::load(machine_file);
    // --ram is the description's `ram` directive, parsed (and its errors
    // worded) the same way.
    if (!ram.empty()) l.ram_size = MachineLayout::parse("ram " + ram + "\n", "--ram").ram_size;
    l.validate();
    // A window too small for its device is the file's error, named so
    // whichever command reads the file.
    if (!machine_file.empty()) cli::check_devices_fit(l, machine_file);
    return l;
}

constexpr size_t kMtreeDefaultFirmwareSize = 128 * 1024;

int cmd_mtree(const MachineLayout& layout, const std::string& machine_file, bool flat_only, bool tree_only,
              const std::string& board, const std::string& firmware) {
    MemorySystem own;
    std::unique_ptr<RealHostInputs> inputs;
    std::unique_ptr<Machine> machine;
    const MemorySystem* sys = &own;
    if (parse_board(board) == Board::Pc) {
        // The board's own map, PAM and all: its devices are made, not run.
        MachineConfig c;
        c.board = Board::Pc;
        // Only the image's size shows in the map: without one, that of
        // SeaBIOS's bios.bin (an erased ROM), so the map is QEMU's pc's.
        c.firmware = firmware.empty() ? std::vector<uint8_t>(kMtreeDefaultFirmwareSize, 0xff) : load_firmware(firmware);
        c.layout = pc_layout(layout.ram_size, c.firmware.size());
        inputs = std::make_unique<RealHostInputs>(-1, "");
        machine = std::make_unique<Machine>(c, *inputs);
        sys = &machine->memory_system();
    } else {
        if (!firmware.empty()) throw Error("--firmware is for --board pc");
        cli::check_devices_fit(layout, machine_file);
        build_machine(own, layout);
    }
    std::string out;
    if (!flat_only) out += dump_mtree(*sys, false);
    if (!tree_only)
        for (const auto& as : sys->address_spaces()) out += dump_flat_view(*as) + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

std::string devices_help() {
    std::string s = "Devices of the default machine (same addresses in real and long mode):\n";
    for (const DeviceWindow& d : MachineLayout::default_layout().devices) {
        char line[128];
        std::snprintf(line, sizeof line, "  %-16s %-6s 0x%08llx  %llu bytes\n", d.name.c_str(),
                      d.space == AddressSpace::Kind::Io ? "port" : "mmio", static_cast<unsigned long long>(d.addr),
                      static_cast<unsigned long long>(d.size));
        s += line;
    }
    s += "Exit status: the byte the guest writes to port 0xf4; 0 if it halts; 124 on --timeout;\n"
         "125 when the run ends otherwise (triple fault, unmapped memory, --max-exits, ...).\n";
    return s;
}

struct GuestCli {
    std::string mode = "long", serial_in, serial_out, dirty_interval = "1000", accel = "auto";
    std::string board = "kvmrr", firmware, debugcon, clock = "host";
    uint64_t max_exits = 0, timeout_ms = 0;
    bool lax = false;
    bool ticks_between_exits = false;
    bool deterministic_cpu = false;
};

void add_guest_options(CLI::App* cmd, GuestRunRequest& req, GuestCli& gc, std::string& machine_file, std::string& ram) {
    cmd->footer(devices_help());
    auto* g = cmd->add_option("--guest", req.guest.fixture, "Built-in fixture guest (hello, pio_loop, ...)");
    auto* img = cmd->add_option("--image", req.guest.image, "A guest image file: raw bytes, or a static ELF64")
                    ->check(CLI::ExistingFile);
    g->excludes(img);
    cmd->add_option("--load", req.guest.load, "Guest-physical load address of a raw image")->needs(img)->check(cli::unsigned_number());
    cmd->add_option("--entry", req.guest.entry, "Entry address (default: the load address, or the ELF entry)")
        ->needs(img)
        ->check(cli::unsigned_number());
    cmd->add_option("--mode", gc.mode, "CPU mode of a raw image: real or long")->check(CLI::IsMember({"real", "long"}))->needs(img);
    cmd->add_option("--arg", req.guest.args, "Guest argument (rdi, rsi, rdx, rcx in order); repeatable")
        ->check(cli::unsigned_number());
    cmd->add_option("--machine", machine_file, "Machine description file")->check(CLI::ExistingFile);
    cmd->add_option("--ram", ram, "RAM size (e.g. 512M)");
    cmd->add_option("--disk", req.disk, "Disk image for the DMA disk")->check(CLI::ExistingFile);
    cmd->add_option("--serial-in", gc.serial_in, "File to feed the UART's input ('-' for stdin; a terminal is raw for the run, Ctrl-A x ends it)");
    cmd->add_option("--serial-out", gc.serial_out, "File for the UART's output (default: stdout)");
    cmd->add_option("--max-exits", gc.max_exits, "End the run after this many exits")->check(cli::unsigned_number());
    cmd->add_option("--timeout", gc.timeout_ms, "End the run after this many milliseconds")
        ->check(cli::unsigned_in(0, cli::kMaxMilliseconds));
    cmd->add_flag("--lax-mmio", gc.lax, "Let MMIO to unmapped memory read all ones instead of ending the run");
    cmd->add_option("--board", gc.board,
                    "Machine: kvmrr (kvmrr's own, the default) or pc (a PC like QEMU's `pc`, booting --firmware "
                    "from the reset vector)")
        ->check(CLI::IsMember({"kvmrr", "pc"}));
    cmd->add_option("--firmware", gc.firmware, "With --board pc: the firmware ROM image (e.g. /usr/share/seabios/bios.bin)");
    cmd->add_option("--debugcon", gc.debugcon, "With --board pc: file for the debug console's output (port 0x402)");
    cmd->add_option("--stop-at-output", req.stop_at_output,
                    "End the run (status 0) once this text has appeared on the serial port or the debug console")
        ->check([](const std::string& text) { return text.empty() ? std::string("needs a text to wait for, not an empty one") : std::string(); });
    cmd->add_option("--clock", gc.clock,
                    "With --board pc: host (the host's time, recorded) or virtual (time from the exit count: two "
                    "recordings of the same guest are the same trace)")
        ->check(CLI::IsMember({"host", "virtual"}));
    cmd->add_flag("--ticks-between-exits", gc.ticks_between_exits,
                  "With --board pc and the host clock: stop a guest that runs without exits when a timer falls due, "
                  "and deliver the tick (a kernel that waits for one in a loop needs it); guest replay cannot find "
                  "those points again, device replay reproduces the run");
    cmd->add_flag("--deterministic-cpu", gc.deterministic_cpu,
                  "Hide the time-stamp counter and RDRAND/RDSEED from the guest's CPUID: their results come from "
                  "the host, on KVM uncaught, so a guest that uses them does not replay; without them a guest "
                  "times itself through the PIT and the PM timer, whose readings are recorded");
    cmd->add_option("--accel", gc.accel,
                    "Accelerator: kvm (needs /dev/kvm), emu (the Unicorn emulator, runs anywhere) or auto "
                    "(kvm where /dev/kvm can be used, else emu; the default)")
        ->check(CLI::IsMember({"auto", "kvm", "emu"}));
}

// A FILE the process keeps open until it ends, for an output stream.
std::function<void(uint8_t)> output_to(const std::string& path, FILE* fallback, const char* what) {
    FILE* out = fallback;
    if (!path.empty() && !(out = std::fopen(path.c_str(), "wb")))
        throw Error("cannot open '" + path + "' for the " + what);
    if (!out) return {};
    // Each byte reaches the file as the guest writes it, as QEMU's file
    // chardev writes: a prompt with no newline after it shows, and a
    // reader of the file sees how far the guest got.
    return [out](uint8_t b) {
        std::fputc(b, out);
        std::fflush(out);
    };
}

// Refuses every output of a run (`extra` and the run's own output files)
// that would land on one of its inputs or on another output.
void check_outputs(const GuestRunRequest& req, const GuestCli& gc, const std::string& machine_file,
                   std::vector<cli::InputFile> extra_outputs) {
    std::vector<cli::InputFile> inputs{{"--disk", req.disk},         {"--image", req.guest.image},
                                       {"--firmware", gc.firmware},  {"--machine", machine_file},
                                       {"--serial-in", gc.serial_in}};
    extra_outputs.push_back({"--serial-out", gc.serial_out});
    extra_outputs.push_back({"--debugcon", gc.debugcon});
    for (size_t i = 0; i < extra_outputs.size(); ++i) {
        const cli::InputFile& out = extra_outputs[i];
        if (out.path.empty()) continue;
        cli::refuse_output_over_input(out.option, out.path, inputs);
        // Two outputs in one file would interleave.
        for (size_t j = i + 1; j < extra_outputs.size(); ++j)
            if (!extra_outputs[j].path.empty())
                cli::refuse_output_over_input(out.option, out.path, {extra_outputs[j]});
    }
}

// Fills the parts of `req` that need checking or opening.
void finish_guest_request(GuestRunRequest& req, const GuestCli& gc, const MachineLayout& layout, bool layout_given) {
    req.board = parse_board(gc.board);
    req.clock = parse_clock_mode(gc.clock);
    if (req.board == Board::Pc) {
        if (gc.firmware.empty()) throw Error("--board pc needs --firmware FILE");
        if (!req.guest.fixture.empty() || !req.guest.image.empty())
            throw Error("--board pc boots its --firmware: --guest and --image are for --board kvmrr");
        if (layout_given) throw Error("--machine describes kvmrr's board, not the pc board");
        req.firmware = load_firmware(gc.firmware);
        req.firmware_name = std::filesystem::path(gc.firmware).filename().string();
        req.layout = pc_layout(layout.ram_size == MachineLayout::default_layout().ram_size ? kPcDefaultRam : layout.ram_size,
                               req.firmware.size());
        req.debugcon_out = output_to(gc.debugcon, nullptr, "debug console's output");
        if (!req.disk.empty()) {
            req.disk_sectors = pc_disk_sectors(req.disk);
            req.disk_geometry = pc_disk_geometry(req.disk, req.disk_sectors);
        }
        if (gc.ticks_between_exits && req.clock == ClockMode::Virtual)
            throw Error("--ticks-between-exits is for the host clock: the virtual clock moves only with exits");
        req.ticks_between_exits = gc.ticks_between_exits;
    } else {
        if (!gc.firmware.empty() || !gc.debugcon.empty()) throw Error("--firmware and --debugcon are for --board pc");
        if (gc.ticks_between_exits) throw Error("--ticks-between-exits is for --board pc (kvmrr's board has no timers)");
        if (req.clock == ClockMode::Virtual) throw Error("--clock virtual is for --board pc (kvmrr's board has no timers)");
        if (req.guest.fixture.empty() && req.guest.image.empty()) throw Error("give --guest NAME or --image FILE");
        req.layout = layout;
    }
    req.guest.mode = gc.mode == "real" ? CpuMode::Real : CpuMode::Long;
    req.deterministic_cpu = gc.deterministic_cpu;
    req.limits.max_exits = gc.max_exits;
    req.limits.timeout = std::chrono::milliseconds(gc.timeout_ms);
    req.policy.stop_on_unassigned_mmio = !gc.lax;
    req.accel = parse_accel(gc.accel);
    req.serial_out = output_to(gc.serial_out, stdout, "serial output");
    if (gc.serial_in == "-") {
        req.serial_in_fd = STDIN_FILENO;
    } else if (!gc.serial_in.empty()) {
        req.serial_in_fd = open(gc.serial_in.c_str(), O_RDONLY | O_CLOEXEC);
        if (req.serial_in_fd < 0) throw Error("cannot open '" + gc.serial_in + "' for the serial input");
        // A directory opens for reading, and every read of it fails: the
        // guest would run with no input and nobody told.
        struct stat st {};
        if (fstat(req.serial_in_fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            close(req.serial_in_fd);
            req.serial_in_fd = -1;
            throw Error("--serial-in '" + gc.serial_in + "' is a directory");
        }
    }
}

// `--serial-in -` on a terminal: `console` takes it for the run (made
// after the watch, whose signal mask its thread must inherit).
void take_terminal(GuestRunRequest& req, cli::InterruptWatch& interrupt, std::optional<cli::SerialConsole>& console) {
    if (req.serial_in_fd != STDIN_FILENO || !isatty(STDIN_FILENO)) return;
    console.emplace(STDIN_FILENO, [&interrupt] { interrupt.stop("Ctrl-A x"); });
    interrupt.before_abrupt_end(console->restorer());
    req.serial_in_fd = console->input_fd();
}

int cmd_inspect(const std::string& path) {
    TraceReader r = TraceReader::open(path);
    std::string out = format_header(r.header());
    TraceSummary sum(r.header());
    TraceEvent e;
    while (r.next(e)) sum.add(e);
    out += sum.format();
    for (const std::string& n : r.notes()) out += "note: " + n + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (auto d = r.damage()) {
        std::cerr << "kvmrr: " << path << ": " << *d << "\n";
        return 1;
    }
    return 0;
}

int cmd_dump(const std::string& path, uint64_t from, uint64_t count, bool json) {
    TraceReader r = TraceReader::open(path);
    RegionNames names(r.header());
    TraceEvent e;
    uint64_t printed = 0;
    // Region names are learnt from region-def events, so read from the
    // start and print from `from` (seek would skip the definitions).
    while ((count == 0 || printed < count) && r.next(e)) {
        names.observe(e);
        if (e.seq < from) continue;
        const std::string line = format_event(e, names, json) + "\n";
        std::fwrite(line.data(), 1, line.size(), stdout);
        ++printed;
    }
    if (auto d = r.damage()) {
        std::cerr << "kvmrr: " << path << ": " << *d << "\n";
        return 1;
    }
    return 0;
}

// Exit statuses of replay: 0 reproduced, 1 diverged, 3 the trace is not
// whole (replayed as far as it is), 2 cannot start (as for every command).
int cmd_replay(const std::string& path, size_t context, bool guest, const std::string& accel, uint64_t timeout_ms,
               std::optional<uint16_t> gdb_port, const std::string& gdb_arch, std::optional<uint64_t> gdb_after_event) {
    if (gdb_port && !guest) throw Error("--gdb debugs the guest: it needs --guest");
    if (!gdb_arch.empty() && !gdb_port) throw Error("--gdb-arch is for the debugger: it needs --gdb");
    if (gdb_after_event && !gdb_port) throw Error("--gdb-after is for the debugger: it needs --gdb");
    ReplayOptions o;
    if (!gdb_arch.empty()) {
        o.gdb_arch = parse_gdb_arch(gdb_arch);
        if (!o.gdb_arch) throw Error("--gdb-arch: '" + gdb_arch + "' is not amd64, i386 or i8086");
    }
    TraceReader r = TraceReader::open(path);
    o.context_events = context;
    o.accel = parse_accel(accel);
    if (timeout_ms) o.timeout = std::chrono::milliseconds(timeout_ms);  // else the recording's, or 60 s
    o.gdb_port = gdb_port;
    o.reopen_trace = [path] { return TraceReader::open(path); };
    bool progress_shown = false;
    o.progress = [&](uint64_t done, std::optional<uint64_t> total) {
        progress_shown = true;
        if (total && *total)
            std::fprintf(stderr, "\rkvmrr: replayed %llu of %llu events (%.0f%%)", static_cast<unsigned long long>(done),
                         static_cast<unsigned long long>(*total), 100.0 * static_cast<double>(done) / static_cast<double>(*total));
        else
            std::fprintf(stderr, "\rkvmrr: replayed %llu events", static_cast<unsigned long long>(done));
    };
    o.gdb_after_event = gdb_after_event;
    bool gdb_waited = false;
    o.gdb_listening = [&](const ReplayOptions::GdbListening& l) {
        gdb_waited = true;
        if (progress_shown) std::fputc('\n', stderr);  // below the progress line
        const std::string where = l.after_event ? "after the exit of event #" + std::to_string(*l.after_event)
                                                : std::string("before its first instruction");
        std::fprintf(stderr, "kvmrr: the guest waits %s for gdb (registers as %s's): target remote 127.0.0.1:%u\n",
                     where.c_str(), gdb_arch_name(l.arch), static_cast<unsigned>(l.port));
    };
    const ReplayReport rep = guest ? replay_guest(r, o) : replay_devices(r, o);
    if (progress_shown) std::fputc('\n', stderr);
    if (gdb_after_event && !gdb_waited)
        std::fprintf(stderr, "kvmrr: the replay ended before the guest went on past event #%llu: no debugger was waited for\n",
                     static_cast<unsigned long long>(*gdb_after_event));
    if (rep.divergence) std::cout << path << ": " << rep.divergence->describe();
    std::cout << path << ": " << rep.summary() << "\n";
    if (rep.divergence) return 1;
    return rep.reproduced() ? 0 : 3;
}

int cmd_diff(const std::string& a_path, const std::string& b_path) {
    TraceReader a = TraceReader::open(a_path);
    TraceReader b = TraceReader::open(b_path);
    const TraceDiff d = diff_traces(a, b);
    std::cout << d.format(a_path, b_path);
    if (d.header.empty() && d.differing == 0 && (d.damage_a || d.damage_b)) return 2;
    return d.same() ? 0 : 1;
}

struct DirtyCli {
    bool json = false, csv = false, no_heatmap = false;
    uint64_t window = 8;
    size_t top = 10;
    std::string heatmap, bandwidth;
    double downtime_ms = 300;
};

int cmd_dirty(const std::string& path, const DirtyCli& c) {
    if (!c.heatmap.empty()) picture_format(c.heatmap);  // a usage error before any output
    if (!c.heatmap.empty()) cli::refuse_output_over_input("--heatmap", c.heatmap, {{"trace", path}});
    TraceReader r = TraceReader::open(path);
    DirtyAnalysisOptions o;
    o.window = c.window;
    o.hottest = c.top;
    const DirtyReport rep = analyse_dirty(r, o);
    std::optional<MigrationEstimate> mig;
    if (!c.bandwidth.empty()) mig = estimate_migration(rep, {parse_bandwidth(c.bandwidth), c.downtime_ms / 1e3});
    if (c.json) {
        std::string j = dirty_json(rep);
        if (mig) j.replace(j.rfind('}'), 1, ",\"migration\":" + migration_json(*mig) + "}");
        std::cout << j;
    } else if (c.csv) {
        std::cout << dirty_csv(rep);
        if (mig) std::cerr << migration_text(*mig);
    } else {
        std::cout << dirty_text(rep);
        if (mig) std::cout << "\n" << migration_text(*mig);
    }
    std::cout.flush();
    if (!c.no_heatmap && !rep.epochs.empty()) {
        const std::string pic = c.heatmap.empty() ? path + ".heatmap.png" : c.heatmap;
        DirtyPlotInfo info = dirty_plot_info(r);
        info.migration = mig;
        // Without --bandwidth the picture still shows the rounds, over a
        // link it names as assumed.
        if (!mig && rep.timed && rep.recorded_ns() > 0 && rep.ram_pages > 0) {
            info.migration = estimate_migration(rep, {parse_bandwidth("1Gbit"), c.downtime_ms / 1e3});
            info.link_assumed = true;
        } else if (!mig) {
            info.no_migration = "the trace has no epoch times to replay the rounds in";
        }
        const bool replacing = write_dirty_plot(rep, info, pic);
        std::cerr << "kvmrr: heatmap " << pic << (replacing ? " (replaced the existing file)" : "") << "\n";
    } else if (!c.no_heatmap) {
        std::cerr << "kvmrr: no dirty logs in " << path << ": no heatmap\n";
    }
    if (rep.damage) {
        std::cerr << "kvmrr: " << path << " is not whole (" << *rep.damage << "): the analysis covers what was\n";
        return 3;
    }
    return 0;
}

// Exit statuses of export: 0 written, 3 the trace is not whole (written
// as far as it is), 2 trouble.
int cmd_export(const std::string& perfetto, const std::string& qtest, const std::string& output) {
    if (perfetto.empty() == qtest.empty()) throw Error("export: give --perfetto TRACE or --qtest TRACE");
    const std::string& path = perfetto.empty() ? qtest : perfetto;
    if (!output.empty() && output != "-") cli::refuse_output_over_input("-o", output, {{"trace", path}});
    // A file is written whole under a hidden name and then renamed over
    // OUTPUT: an export that fails leaves what was there.
    std::optional<FileReplacement> replacement;
    std::ofstream file;
    if (!output.empty() && output != "-") {
        replacement.emplace(output);
        file.open(replacement->temp_path(), std::ios::binary | std::ios::trunc);
        if (!file) throw Error("cannot open '" + output + "' for writing: " + std::strerror(errno));
    }
    std::ostream& out = file.is_open() ? static_cast<std::ostream&>(file) : std::cout;
    std::optional<std::string> damage;
    if (!perfetto.empty()) {
        const PerfettoExport r = export_perfetto(path, out);
        damage = r.damage;
        std::cerr << "kvmrr: " << r.events << " events: " << r.slices << " exits, " << r.instants << " instants, "
                  << r.dirty_counters << " dirty-page samples; time: " << r.placement << "\n";
    } else {
        const QtestExport r = export_qtest(path, out);
        damage = r.damage;
        uint64_t left = 0;
        for (const auto& [why, n] : r.left_out) left += n;
        std::cerr << "kvmrr: " << r.accesses_sent << " device accesses as " << r.commands << " qtest commands ("
                  << r.reads << " reads); " << left << " accesses left out\n";
    }
    if (replacement) {
        file.close();
        if (!file) throw Error("cannot write '" + output + "': " + std::strerror(errno));
        replacement->commit();
        if (replacement->replaces_existing()) std::cerr << "kvmrr: replaced the existing " << output << "\n";
    }
    if (damage) {
        std::cerr << "kvmrr: " << path << " is not whole (" << *damage << "): exported as far as it is\n";
        return 3;
    }
    return 0;
}

// Exit statuses of qemu-check: 0 every read agreed, 1 some differ, 3 the
// trace is not whole (checked as far as it is), 2 trouble (QEMU missing,
// dead, silent or talking nonsense).
int cmd_qemu_check(const std::string& path, const QemuCheckOptions& o) {
    const QemuCheckReport rep = qemu_check(path, o);
    std::cout << rep.format();
    if (rep.differing) return 1;
    return rep.damage ? 3 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"kvmrr: deterministic record/replay testbed for KVM virtual machines"};
    app.require_subcommand(1);

    std::string machine_file, ram;
    bool flat_only = false, tree_only = false;
    CLI::App* mtree = app.add_subcommand("mtree", "Print the memory topology (region trees and flat views) of a machine");
    mtree->add_option("--machine", machine_file, "Machine description file (default: the built-in machine)")
        ->check(CLI::ExistingFile);
    mtree->add_option("--ram", ram, "RAM size (e.g. 512M, 5G)");
    mtree->add_flag("-f,--flat", flat_only, "Only the flat views");
    mtree->add_flag("--tree", tree_only, "Only the region trees");
    std::string mtree_board = "kvmrr", mtree_firmware;
    mtree->add_option("--board", mtree_board, "kvmrr (default) or pc")->check(CLI::IsMember({"kvmrr", "pc"}));
    mtree->add_option("--firmware", mtree_firmware, "With --board pc: the firmware image, whose size sets the ROM's (default: 128 KiB, as SeaBIOS's bios.bin)");

    GuestRunRequest req;
    GuestCli gc;
    CLI::App* run = app.add_subcommand("run", "Run a guest on KVM or the emulator");
    add_guest_options(run, req, gc, machine_file, ram);

    RecordRequest rreq;
    GuestCli rc;
    std::string rmachine, rram;
    CLI::App* record = app.add_subcommand("record", "Run a guest on KVM or the emulator and record everything it saw from outside into a trace");
    add_guest_options(record, rreq.run, rc, rmachine, rram);
    record->add_option("-o,--output", rreq.output, "Trace file to write")->required();
    record->add_option("--dirty-interval", rc.dirty_interval,
                       "Harvest dirty pages every N exits (N) or every N milliseconds (Nms); default 1000 exits");
    std::string dirty_mode = "bitmap";
    record->add_option("--dirty-mode", dirty_mode,
                       "How KVM reports dirty pages: bitmap (KVM_GET_DIRTY_LOG) or ring (KVM_CAP_DIRTY_LOG_RING, KVM "
                       "only); the trace is the same")
        ->check(CLI::IsMember({"bitmap", "ring"}))
        ->capture_default_str();
    record->add_option("--dirty-ring-entries", rreq.run.dirty_ring_entries,
                       "With --dirty-mode ring: entries per vCPU ring (a power of two; 0: the largest KVM allows)")
        ->capture_default_str()
        ->check(cli::unsigned_number());
    int32_t dirty_mark_port = -1;
    record->add_option("--dirty-at-port", dirty_mark_port,
                       "Also harvest right after every guest write to this I/O port (dirty_walker marks its epochs at 0x3ff)")
        ->check(CLI::Range(0, 0xffff));

    std::string trace_path;
    bool json = false;
    uint64_t from = 0, count = 0;
    CLI::App* inspect = app.add_subcommand("inspect", "Print a trace's header and its events counted by kind and by region");
    inspect->add_option("trace", trace_path, "Trace file")->required();
    CLI::App* dump = app.add_subcommand("dump", "Print a trace's events, one per line");
    dump->add_option("trace", trace_path, "Trace file")->required();
    dump->add_option("--from", from, "First sequence number to print")->check(cli::unsigned_number());
    dump->add_option("--count", count, "How many events to print (default: all)")->check(cli::unsigned_number());
    dump->add_flag("--json", json, "One JSON object per line");

    size_t context = 8;
    CLI::App* replay = app.add_subcommand(
        "replay", "Replay a trace through fresh device models and report the first divergence "
                  "(exit 0 reproduced, 1 diverged, 3 trace not whole)");
    replay->add_option("trace", trace_path, "Trace file")->required();
    replay->add_option("--context", context, "Recorded events to show before a divergence")
        ->capture_default_str()
        ->check(cli::unsigned_number());
    bool replay_guest_flag = false;
    std::string replay_accel = "auto";
    uint64_t replay_timeout = 0;
    replay->add_flag("--guest", replay_guest_flag,
                     "Re-run the guest itself (KVM or the emulator), every read served from the trace, every exit and "
                     "dirty bitmap checked");
    replay->add_option("--accel", replay_accel, "With --guest: auto, kvm or emu")->capture_default_str();
    replay->add_option("--timeout", replay_timeout, "With --guest: end the run after this many milliseconds (default: the recorded one, else 60000)")
        ->check(cli::unsigned_in(0, cli::kMaxMilliseconds));
    std::optional<uint16_t> replay_gdb;
    replay->add_option("--gdb", replay_gdb,
                       "With --guest: a GDB stub on this loopback port (0: a free one, printed); the guest waits "
                       "before its first instruction (or with --gdb-after after that event) for `target remote`")
        ->check(cli::unsigned_in(0, 65535));
    std::string replay_gdb_arch;
    std::optional<uint64_t> replay_gdb_after;
    replay->add_option("--gdb-after", replay_gdb_after,
                       "With --gdb: let the guest run to the exit of this recorded event (its number in kvmrr dump) "
                       "and wait for GDB right after it")
        ->check(cli::unsigned_number());
    replay->add_option("--gdb-arch", replay_gdb_arch,
                       "With --gdb: show GDB the registers as amd64's, i386's or i8086's (16-bit code; default: as "
                       "the guest's mode where it waits for GDB wants)");

    std::string diff_b;
    CLI::App* diff = app.add_subcommand("diff", "Compare two traces event by event (exit 0 same, 1 different, 2 trouble)");
    diff->add_option("a", trace_path, "First trace")->required();
    diff->add_option("b", diff_b, "Second trace")->required();

    DirtyCli dc;
    CLI::App* dirty = app.add_subcommand(
        "dirty", "Dirty-page analysis of a trace: per-epoch dirty pages and rates, working set, hottest pages, a "
                 "pre-copy migration estimate, and a picture of them (exit 0, 3 trace not whole, 2 trouble)");
    dirty->add_option("trace", trace_path, "Trace file")->required();
    auto* dj = dirty->add_flag("--json", dc.json, "The report as one JSON object");
    dirty->add_flag("--csv", dc.csv, "One CSV row per epoch")->excludes(dj);
    dirty->add_option("--window", dc.window, "Epochs in the working-set window")->capture_default_str()->check(cli::unsigned_at_least(1));
    dirty->add_option("--top", dc.top, "Pages in the hottest-pages list")->capture_default_str()->check(cli::unsigned_number());
    auto* hm = dirty->add_option("--heatmap", dc.heatmap, "The picture (heatmap, dirty rate, migration rounds): a .png or .svg file (default: TRACE.heatmap.png)");
    dirty->add_flag("--no-heatmap", dc.no_heatmap, "Do not draw the heatmap")->excludes(hm);
    dirty->add_option("--bandwidth", dc.bandwidth,
                      "Estimate a pre-copy live migration over this link (1Gbit, 100Mbit, 125MB, ... per second)");
    dirty->add_option("--downtime", dc.downtime_ms, "With --bandwidth: the downtime limit in ms")
        ->capture_default_str()
        ->check(cli::non_negative_real());

    std::string export_perfetto_trace, export_qtest_trace, export_output;
    CLI::App* exp = app.add_subcommand(
        "export", "Write a trace for other tools: a Perfetto/Chrome timeline (JSON) or a QEMU qtest script "
                  "(exit 0, 3 trace not whole, 2 trouble)");
    // One of the two, checked by cmd_export (a usage error exits 2).
    exp->add_option("--perfetto", export_perfetto_trace, "Trace to write as Chrome/Perfetto trace-event JSON");
    exp->add_option("--qtest", export_qtest_trace, "Trace whose device accesses to write as a QEMU qtest script");
    exp->add_option("-o,--output", export_output, "Output file (default: standard output)");

    QemuCheckOptions qco;
    uint64_t qemu_timeout_ms = 10000;
    CLI::App* qcheck = app.add_subcommand(
        "qemu-check", "Ask QEMU's pc machine (through qtest) every device read of a trace and compare "
                      "(exit 0 all agree, 1 some differ, 3 trace not whole, 2 trouble)");
    qcheck->add_option("trace", trace_path, "Trace file")->required();
    qcheck->add_option("--qemu", qco.qemu, "QEMU binary (default: $KVMRR_QEMU, else qemu-system-x86_64)");
    qcheck->add_option("--qemu-timeout", qemu_timeout_ms, "Milliseconds to wait for each QEMU reply")
        ->capture_default_str()
        ->check(CLI::Range(uint64_t{1}, uint64_t{3600000}));
    qcheck->add_option("--max-differences", qco.max_listed, "Differences listed in full")->capture_default_str()->check(cli::unsigned_number());

    if (const auto status = cli::parse(app, argc, argv)) return *status;
    try {
        const MachineLayout layout = layout_from(machine_file, ram);
        if (mtree->parsed()) return cmd_mtree(layout, machine_file, flat_only, tree_only, mtree_board, mtree_firmware);
        if (run->parsed()) {
            check_outputs(req, gc, machine_file, {});
            finish_guest_request(req, gc, layout, !machine_file.empty());
            cli::InterruptWatch interrupt;
            req.limits.interrupt = interrupt.flag();
            std::optional<cli::SerialConsole> console;
            take_terminal(req, interrupt, console);
            const GuestRunReport rep = run_guest(req);
            std::fflush(stdout);
            std::cerr << prefix_lines(rep.message, "kvmrr: ");
            return rep.exit_status;
        }
        if (record->parsed()) {
            const MachineLayout rlayout = layout_from(rmachine, rram);
            check_outputs(rreq.run, rc, rmachine, {{"-o", rreq.output}});
            const bool replacing = std::filesystem::exists(rreq.output);
            finish_guest_request(rreq.run, rc, rlayout, !rmachine.empty());
            rreq.recorder = cli::parse_dirty_interval(rc.dirty_interval);
            rreq.recorder.dirty_mark_port = dirty_mark_port;
            rreq.run.dirty_mode = parse_dirty_log_mode(dirty_mode);
            cli::InterruptWatch interrupt;
            rreq.run.limits.interrupt = interrupt.flag();
            std::optional<cli::SerialConsole> console;
            take_terminal(rreq.run, interrupt, console);
            const RecordReport rep = record_guest(rreq);
            std::fflush(stdout);
            std::cerr << rep.summary();
            if (replacing) std::cerr << "kvmrr: replaced the existing " << rreq.output << "\n";
            return rep.run.exit_status;
        }
        if (inspect->parsed()) return cmd_inspect(trace_path);
        if (dump->parsed()) return cmd_dump(trace_path, from, count, json);
        if (replay->parsed()) return cmd_replay(trace_path, context, replay_guest_flag, replay_accel, replay_timeout, replay_gdb, replay_gdb_arch, replay_gdb_after);
        if (diff->parsed()) return cmd_diff(trace_path, diff_b);
        if (dirty->parsed()) return cmd_dirty(trace_path, dc);
        if (exp->parsed()) return cmd_export(export_perfetto_trace, export_qtest_trace, export_output);
        if (qcheck->parsed()) {
            qco.timeout = std::chrono::milliseconds(qemu_timeout_ms);
            return cmd_qemu_check(trace_path, qco);
        }
    } catch (const TraceError& e) {
        // A trace that is damaged or lies: as for one that is not whole.
        std::cerr << "kvmrr: " << e.what() << "\n";
        return 3;
    } catch (const Error& e) {
        std::cerr << "kvmrr: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
