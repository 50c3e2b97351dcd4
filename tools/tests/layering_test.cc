// The layers import downward only, and no files include each other in a
// circle: read from the source tree itself, so a change that breaks either
// fails here, naming the file and the include.
//
// core (the memory model) < core/vcpu < core/kvm, core/emu;
// core < devices (device models see the memory model only);
// everything below < vmm < record < replay < export < tools.
// A tests/ directory belongs to its layer. fixtures/guests/ headers are
// data shared with the guests, open to all; bench/ may use anything.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path kRoot = KVMRR_SOURCE_DIR;

// The layer a project path belongs to: the longest matching prefix.
std::string layer_of(const std::string& path) {
    static const std::vector<std::string> layers = {"core/vcpu/", "core/kvm/", "core/emu/", "core/",   "devices/",
                                                    "vmm/",       "record/",   "replay/",   "export/", "tools/", "fixtures/guests/",
                                                    "fixtures/",  "bench/"};
    for (const std::string& l : layers)
        if (path.rfind(l, 0) == 0) return l.substr(0, l.size() - 1);
    return "";
}

// What each layer may include, besides itself.
const std::map<std::string, std::set<std::string>>& allowed() {
    static const std::map<std::string, std::set<std::string>> a = [] {
        std::map<std::string, std::set<std::string>> m;
        m["core"] = {};
        m["core/vcpu"] = {"core"};
        m["core/kvm"] = {"core", "core/vcpu"};
        m["core/emu"] = {"core", "core/vcpu"};
        m["devices"] = {"core"};
        m["vmm"] = {"core", "core/vcpu", "core/kvm", "core/emu", "devices"};
        m["record"] = m["vmm"];
        m["record"].insert("vmm");
        m["replay"] = m["record"];
        m["replay"].insert("record");
        m["export"] = m["replay"];
        m["export"].insert("replay");
        m["tools"] = m["export"];
        m["tools"].insert("export");
        m["fixtures"] = {"core"};
        for (auto& [layer, ok] : m) ok.insert("fixtures/guests");
        return m;
    }();
    return a;
}

struct Source {
    std::string path;                   // relative to the root
    std::vector<std::string> includes;  // project headers it includes
};

std::vector<Source> project_sources() {
    static const std::regex include_re(R"(^\s*#\s*include\s+"([^"]+)\")");
    std::vector<Source> out;
    for (const char* dir : {"core", "devices", "vmm", "record", "replay", "export", "tools", "fixtures", "bench"}) {
        for (const auto& e : fs::recursive_directory_iterator(kRoot / dir)) {
            const std::string ext = e.path().extension().string();
            if (!e.is_regular_file() || (ext != ".h" && ext != ".cc" && ext != ".c")) continue;
            Source s;
            s.path = fs::relative(e.path(), kRoot).string();
            std::ifstream in(e.path());
            std::string line;
            std::smatch m;
            while (std::getline(in, line))
                if (std::regex_search(line, m, include_re) && fs::exists(kRoot / m[1].str())) s.includes.push_back(m[1]);
            out.push_back(std::move(s));
        }
    }
    return out;
}

TEST(Layering, NoFileIncludesAHeaderOfALayerAboveItsOwn) {
    const std::vector<Source> sources = project_sources();
    ASSERT_GT(sources.size(), 100u) << "the source tree was not found at " << kRoot;
    size_t checked = 0;
    for (const Source& s : sources) {
        const std::string from = layer_of(s.path);
        if (from == "bench" || from == "fixtures/guests") continue;
        const auto ok = allowed().find(from);
        ASSERT_NE(ok, allowed().end()) << s.path;
        for (const std::string& inc : s.includes) {
            const std::string to = layer_of(inc);
            ++checked;
            EXPECT_TRUE(to == from || ok->second.count(to)) << s.path << " (" << from << ") includes " << inc << " (" << to << ")";
        }
    }
    EXPECT_GT(checked, 300u);
}

TEST(Layering, DeviceModelsSeeNeitherAcceleratorNorMachineNorTrace) {
    for (const Source& s : project_sources()) {
        if (layer_of(s.path) != "devices") continue;
        for (const std::string& inc : s.includes)
            for (const char* banned : {"core/emu/", "core/kvm/", "core/vcpu/", "vmm/", "record/", "replay/", "export/"})
                EXPECT_NE(inc.rfind(banned, 0), 0u) << s.path << " includes " << inc;
    }
}

TEST(Layering, NoIncludeCycles) {
    std::map<std::string, std::vector<std::string>> graph;
    for (const Source& s : project_sources()) graph[s.path] = s.includes;
    std::map<std::string, int> state;  // 0 new, 1 on the path, 2 done
    std::vector<std::string> path;
    std::function<void(const std::string&)> visit = [&](const std::string& f) {
        state[f] = 1;
        path.push_back(f);
        for (const std::string& inc : graph[f]) {
            if (state[inc] == 1) {
                std::string cycle;
                for (auto it = std::find(path.begin(), path.end(), inc); it != path.end(); ++it) cycle += *it + " -> ";
                ADD_FAILURE() << "include cycle: " << cycle << inc;
            } else if (state[inc] == 0) {
                visit(inc);
            }
        }
        path.pop_back();
        state[f] = 2;
    };
    for (const auto& [f, incs] : graph)
        if (state[f] == 0) visit(f);
}

TEST(Layering, KvmRunIsReadOnlyUnderCoreKvm) {
    const std::string needle = std::string("kvm") + "_run";  // not spelt out, or this file would match
    for (const Source& s : project_sources()) {
        if (s.path.rfind("core/kvm/", 0) == 0) continue;
        std::ifstream in(kRoot / s.path);
        std::string line;
        int n = 0;
        while (std::getline(in, line)) {
            ++n;
            EXPECT_EQ(line.find(needle), std::string::npos) << s.path << ":" << n << ": " << line;
        }
    }
}

TEST(Layering, NoNonTestSourceFileIsOver700Lines) {
    for (const Source& s : project_sources()) {
        if (s.path.find("/tests/") != std::string::npos) continue;
        std::ifstream in(kRoot / s.path);
        size_t lines = 0;
        std::string line;
        while (std::getline(in, line)) ++lines;
        EXPECT_LE(lines, 700u) << s.path;
    }
}

}  // namespace
