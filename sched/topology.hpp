// Where each host CPU sits (core, socket, NUMA node). Credit2 groups CPUs into runqueues by
// it; the other schedulers ignore it.
#pragma once

#include <map>

#include "sched/cpuset.hpp"

namespace xenolith::sched {

struct CpuPlace {
    unsigned socket = 0;
    unsigned core = 0;  // unique within its socket
    unsigned node = 0;
    bool operator==(const CpuPlace&) const = default;
};

class Topology {
public:
    // Unknown CPUs are each their own core on socket 0, node 0.
    Topology() = default;
    void set(Cpu cpu, CpuPlace place) { places_[cpu] = place; }
    CpuPlace place(Cpu cpu) const;
    // Read from /sys/devices/system/cpu/cpuN/topology and nodeM links; CPUs sysfs does not
    // describe keep the default place.
    static Topology host();

private:
    std::map<Cpu, CpuPlace> places_;
};

}  // namespace xenolith::sched
