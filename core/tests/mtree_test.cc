// Golden tests of the mtree text dump. The format is an interface (users
// diff it, docs quote it): a change to it must be a deliberate change of the
// golden files. KVMRR_UPDATE_GOLDEN=1 rewrites them instead of comparing.
#include "core/mtree.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/machine_layout.h"
#include "core/memory_system.h"

namespace kvmrr {
namespace {

std::string data_path(const std::string& name) { return std::string(KVMRR_TEST_DATA_DIR) + "/" + name; }

void expect_golden(const std::string& actual, const std::string& golden) {
    const std::string path = data_path(golden);
    if (std::getenv("KVMRR_UPDATE_GOLDEN")) {
        std::ofstream(path) << actual;
        GTEST_SKIP() << "rewrote " << path;
    }
    std::ifstream f(path);
    ASSERT_TRUE(f) << "missing golden file " << path << " (run with KVMRR_UPDATE_GOLDEN=1 to create it)";
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_EQ(actual, ss.str()) << "mtree output differs from " << path;
}

TEST(MtreeTest, DefaultMachineMatchesGolden) {
    MemorySystem sys;
    build_machine(sys, MachineLayout::default_layout());
    expect_golden(dump_mtree(sys, true), "default.mtree");
}

TEST(MtreeTest, BigMachineFromDescriptionMatchesGolden) {
    MemorySystem sys;
    build_machine(sys, MachineLayout::load(data_path("big.machine")));
    expect_golden(dump_mtree(sys, true), "big.mtree");
}

// Every attribute the dump can show, in one small tree.
TEST(MtreeTest, AttributesMatchGolden) {
    MemorySystem sys;
    FunctionOps ops(nullptr, nullptr);
    MemoryRegion& root = sys.create_container("root", 0x10000);
    MemoryRegion& ram = sys.create_ram("ram", 0x4000);
    MemoryRegion& romd = sys.create_rom_device("flash", 0x1000, ops);
    MemoryRegion& io = sys.create_io("regs", 0x100, ops);
    MemoryRegion& hidden = sys.create_ram("hidden", 0x1000);
    MemoryRegion& banks = sys.create_container("banks", 0x2000);
    MemoryRegion& bank1 = sys.create_ram("bank1", 0x1000);
    banks.add_subregion(0x1000, bank1);
    MemoryRegion& window = sys.create_alias("window", banks, 0x1000, 0x1000);
    {
        Transaction t(sys);
        root.add_subregion(0, ram);
        root.add_subregion(0x8000, romd);
        root.add_subregion_overlap(0x1000, io, 2);
        root.add_subregion(0xa000, hidden);
        root.add_subregion(0xc000, window);
        ram.set_nonvolatile(true);
        ram.set_dirty_log(kDirtyLogMigration, true);
        romd.set_romd(false);
        hidden.set_enabled(false);
        window.set_readonly(true);
    }
    sys.create_memory_space("test", root);
    expect_golden(dump_mtree(sys, true), "attributes.mtree");
}

}  // namespace
}  // namespace kvmrr
