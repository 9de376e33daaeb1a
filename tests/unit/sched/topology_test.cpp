// CPU topology as credit2 sees it: defaults for unknown CPUs, and the host's from sysfs.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "sched/topology.hpp"

namespace xenolith::sched::testing {
namespace {

TEST(Topology, UnknownCpusAreTheirOwnCoreOnSocketZero) {
    Topology t;
    EXPECT_EQ(t.place(3), (CpuPlace{0, 3, 0}));
    t.set(3, CpuPlace{1, 0, 1});
    EXPECT_EQ(t.place(3), (CpuPlace{1, 0, 1}));
}

TEST(Topology, HostTopologyDescribesEveryOnlineCpu) {
    const Topology host = Topology::host();
    const unsigned n = std::thread::hardware_concurrency();
    ASSERT_GT(n, 0u);
    // Each CPU's (socket, core) pair is known; at most n distinct pairs exist.
    std::set<std::pair<unsigned, unsigned>> cores;
    for (Cpu cpu = 0; cpu < n; ++cpu) cores.insert({host.place(cpu).socket, host.place(cpu).core});
    EXPECT_GE(cores.size(), 1u);
    EXPECT_LE(cores.size(), n);
}

}  // namespace
}  // namespace xenolith::sched::testing
