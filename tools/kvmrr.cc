// kvmrr: the command-line front end. Argument parsing only; the work is
// done by the libraries.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "core/mtree.h"
#include "devices/guest_run.h"

namespace {

using namespace kvmrr;

MachineLayout layout_from(const std::string& machine_file, const std::string& ram) {
    MachineLayout l = machine_file.empty() ? MachineLayout::default_layout() : MachineLayout::load(machine_file);
    if (!ram.empty()) {
        l = MachineLayout::parse("ram " + ram + "\n", "--ram");
        if (!machine_file.empty()) {
            MachineLayout f = MachineLayout::load(machine_file);
            f.ram_size = l.ram_size;
            l = f;
        }
    }
    l.validate();
    return l;
}

int cmd_mtree(const MachineLayout& layout, bool flat_only, bool tree_only) {
    MemorySystem sys;
    build_machine(sys, layout);
    std::string out;
    if (!flat_only) out += dump_mtree(sys, false);
    if (!tree_only)
        for (const auto& as : sys.address_spaces()) out += dump_flat_view(*as) + "\n";
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

    GuestRunRequest req;
    std::string mode = "long", serial_in, serial_out;
    uint64_t max_exits = 0, timeout_ms = 0;
    bool lax = false;
    CLI::App* run = app.add_subcommand("run", "Run a guest on KVM");
    run->footer(devices_help());
    auto* g = run->add_option("--guest", req.guest.fixture, "Built-in fixture guest (hello, pio_loop, ...)");
    auto* img = run->add_option("--image", req.guest.image, "A guest image file: raw bytes, or a static ELF64")
                    ->check(CLI::ExistingFile);
    g->excludes(img);
    run->add_option("--load", req.guest.load, "Guest-physical load address of a raw image")->needs(img);
    run->add_option("--entry", req.guest.entry, "Entry address (default: the load address, or the ELF entry)")->needs(img);
    run->add_option("--mode", mode, "CPU mode of a raw image: real or long")->check(CLI::IsMember({"real", "long"}))->needs(img);
    run->add_option("--arg", req.guest.args, "Guest argument (rdi, rsi, rdx, rcx in order); repeatable");
    run->add_option("--machine", machine_file, "Machine description file")->check(CLI::ExistingFile);
    run->add_option("--ram", ram, "RAM size (e.g. 512M)");
    run->add_option("--disk", req.disk, "Disk image for the DMA disk")->check(CLI::ExistingFile);
    run->add_option("--serial-in", serial_in, "File to feed the UART's input ('-' for stdin)");
    run->add_option("--serial-out", serial_out, "File for the UART's output (default: stdout)");
    run->add_option("--max-exits", max_exits, "End the run after this many exits");
    run->add_option("--timeout", timeout_ms, "End the run after this many milliseconds");
    run->add_flag("--lax-mmio", lax, "Let MMIO to unmapped memory read all ones instead of ending the run");

    CLI11_PARSE(app, argc, argv);
    try {
        const MachineLayout layout = layout_from(machine_file, ram);
        if (mtree->parsed()) return cmd_mtree(layout, flat_only, tree_only);
        if (run->parsed()) {
            if (req.guest.fixture.empty() && req.guest.image.empty()) throw Error("run: give --guest NAME or --image FILE");
            req.layout = layout;
            req.guest.mode = mode == "real" ? CpuMode::Real : CpuMode::Long;
            req.limits.max_exits = max_exits;
            req.limits.timeout = std::chrono::milliseconds(timeout_ms);
            req.policy.stop_on_unassigned_mmio = !lax;
            FILE* out = stdout;
            if (!serial_out.empty() && !(out = std::fopen(serial_out.c_str(), "wb")))
                throw Error("cannot open '" + serial_out + "' for the serial output");
            req.serial_out = [out](uint8_t b) {
                std::fputc(b, out);
                if (b == '\n') std::fflush(out);
            };
            if (serial_in == "-") {
                req.serial_in_fd = STDIN_FILENO;
            } else if (!serial_in.empty()) {
                req.serial_in_fd = open(serial_in.c_str(), O_RDONLY | O_CLOEXEC);
                if (req.serial_in_fd < 0) throw Error("cannot open '" + serial_in + "' for the serial input");
            }
            const GuestRunReport rep = run_guest(req);
            std::fflush(out);
            std::cerr << "kvmrr: " << rep.message << "\n";
            return rep.exit_status;
        }
    } catch (const Error& e) {
        std::cerr << "kvmrr: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
