#include "sched/topology.hpp"

#include <filesystem>
#include <fstream>
#include <string>

namespace xenolith::sched {

CpuPlace Topology::place(Cpu cpu) const {
    auto it = places_.find(cpu);
    if (it != places_.end()) return it->second;
    return CpuPlace{0, cpu, 0};
}

namespace {

bool read_unsigned(const std::filesystem::path& path, unsigned& out) {
    std::ifstream in(path);
    long v = -1;
    if (!(in >> v) || v < 0) return false;
    out = static_cast<unsigned>(v);
    return true;
}

}  // namespace

Topology Topology::host() {
    namespace fs = std::filesystem;
    Topology t;
    const fs::path base = "/sys/devices/system/cpu";
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(base, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.size() < 4 || name.compare(0, 3, "cpu") != 0) continue;
        if (name.find_first_not_of("0123456789", 3) != std::string::npos) continue;
        const unsigned long id = std::stoul(name.substr(3));
        if (id >= CpuSet::kMaxCpus) continue;
        const Cpu cpu = static_cast<Cpu>(id);
        CpuPlace p = t.place(cpu);
        read_unsigned(entry.path() / "topology/physical_package_id", p.socket);
        read_unsigned(entry.path() / "topology/core_id", p.core);
        for (const auto& sub : fs::directory_iterator(entry.path(), ec)) {
            const std::string s = sub.path().filename().string();
            if (s.size() > 4 && s.compare(0, 4, "node") == 0 &&
                s.find_first_not_of("0123456789", 4) == std::string::npos)
                p.node = static_cast<unsigned>(std::stoul(s.substr(4)));
        }
        t.set(cpu, p);
    }
    return t;
}

}  // namespace xenolith::sched
