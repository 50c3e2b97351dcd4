// kvmrr: the command-line front end. Argument parsing only; the work is
// done by the libraries.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "core/machine_layout.h"
#include "core/memory_system.h"
#include "core/mtree.h"

namespace {

int cmd_mtree(const std::string& machine_file, bool flat_only, bool tree_only) {
    kvmrr::MachineLayout layout =
        machine_file.empty() ? kvmrr::MachineLayout::default_layout() : kvmrr::MachineLayout::load(machine_file);
    kvmrr::MemorySystem sys;
    kvmrr::build_machine(sys, layout);
    std::string out;
    if (!flat_only) out += kvmrr::dump_mtree(sys, false);
    if (!tree_only)
        for (const auto& as : sys.address_spaces()) out += kvmrr::dump_flat_view(*as) + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"kvmrr: deterministic record/replay testbed for KVM virtual machines"};
    app.require_subcommand(1);

    std::string machine_file;
    bool flat_only = false, tree_only = false;
    CLI::App* mtree = app.add_subcommand("mtree", "Print the memory topology (region trees and flat views) of a machine");
    mtree->add_option("--machine", machine_file, "Machine description file (default: the built-in machine)")
        ->check(CLI::ExistingFile);
    mtree->add_flag("-f,--flat", flat_only, "Only the flat views");
    mtree->add_flag("--tree", tree_only, "Only the region trees");

    CLI11_PARSE(app, argc, argv);
    try {
        if (mtree->parsed()) return cmd_mtree(machine_file, flat_only, tree_only);
    } catch (const kvmrr::Error& e) {
        std::cerr << "kvmrr: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
