#include "toolstack/daemon/host_cpus.hpp"

#include <unistd.h>

#include "base/error.hpp"

namespace xenolith::daemon {

unsigned host_cpu_count() {
    long n = ::sysconf(_SC_NPROCESSORS_CONF);
    return n > 0 ? static_cast<unsigned>(n) : 1;
}

std::vector<unsigned> host_cpus_in(const xlcfg::CpuSet& set, unsigned host_cpus, const std::string& source,
                                   const std::string& key) {
    std::vector<unsigned> cpus;
    for (unsigned cpu : set.cpus())
        if (cpu < host_cpus) cpus.push_back(cpu);
    if (cpus.empty())
        throw Error(source + ": " + key + ": names no CPU of this host (it has CPUs 0-" +
                    std::to_string(host_cpus - 1) + ")");
    // Every host CPU is no constraint at all; say so, so that lists print "all".
    if (cpus.size() == host_cpus) cpus.clear();
    return cpus;
}

}  // namespace xenolith::daemon
