// A deterministic simulation of vCPUs on host CPUs, on a SimClock: the CPU pools and their
// dispatchers run for real, and the simulator plays both the vCPU threads (it is the
// RunnableHost) and their guests (CPU-bound, or running a burst then sleeping). It records
// every stretch a vCPU spends on a CPU, so tests can measure shares and check placement.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <string_view>
#include <vector>

#include "sched/clock.hpp"
#include "sched/cpupool.hpp"
#include "sched/dispatcher.hpp"
#include "sched/unit.hpp"

namespace xenolith::sched::testing {

// What a simulated guest does with the CPU.
struct Workload {
    Time burst = kForever;  // CPU time it uses before it blocks
    Time sleep = 0;         // then it sleeps this long and wakes up
    static Workload cpu_bound() { return {}; }
    static Workload periodic(Time burst, Time sleep) { return {burst, sleep}; }
};

// A stretch of time a unit spent on a CPU.
struct Stretch {
    const SchedUnit* unit;
    Cpu cpu;
    Time start;
    Time end;
};

class Simulator : public RunnableHost {
public:
    explicit Simulator(Cpu nr_cpus, std::string_view pool0_sched = "credit",
                       Topology topology = {})
        : pools(clock, *this, nr_cpus, std::move(topology), pool0_sched) {}

    SimClock clock;
    CpuPools pools;

    // A vCPU with a workload, placed in `pool` and woken now.
    SchedUnit& add(domid_t dom, uint32_t vcpu, Workload w = Workload::cpu_bound(),
                   PoolId pool = kPool0, CpuSet hard = CpuSet::all(),
                   CpuSet soft = CpuSet::all()) {
        auto v = std::make_unique<Vcpu>(dom, vcpu, clock.now_ns(), hard, soft, w);
        Vcpu& ref = *v;
        vcpus_.push_back(std::move(v));
        pools.add_unit(ref.unit, pool);
        ref.woken_at = clock.now_ns();
        pools.dispatcher_of(ref.unit).wake(ref.unit);
        return ref.unit;
    }

    // Runs simulated time forward by `d`, handling slice ends, bursts and wake-ups.
    void run_for(Time d) {
        const Time end = clock.now_ns() + d;
        while (true) {
            Time t = std::min(end, pools.next_deadline());
            for (const auto& v : vcpus_) t = std::min(t, v->next_event());
            clock.set(t);
            for (const auto& v : vcpus_) {
                if (v->on_cpu && v->burst_left != kForever &&
                    v->since + v->burst_left <= t) {
                    close(*v);
                    v->burst_left = v->work.burst;
                    v->wake_at = t + v->work.sleep;
                    pools.dispatcher_of(v->unit).block(v->unit);
                }
            }
            for (const auto& v : vcpus_) {
                if (v->wake_at <= t) {
                    v->wake_at = kForever;
                    v->woken_at = t;
                    pools.dispatcher_of(v->unit).wake(v->unit);
                }
            }
            pools.run_timers();
            if (t == end) return;
        }
    }

    // Time spent running so far (the runstate accounting the dispatcher keeps).
    Time cpu_time(const SchedUnit& u) const { return u.time_in(RunState::running, clock.now_ns()); }

    // The share of one CPU `u` gets over the next `window` (after running `warmup` first).
    double share(const SchedUnit& u, Time window, Time warmup = 0) {
        run_for(warmup);
        const Time before = cpu_time(u);
        run_for(window);
        return double(cpu_time(u) - before) / double(window);
    }

    const std::vector<Stretch>& trace() const { return trace_; }
    std::vector<Stretch> trace_of(const SchedUnit& u) const {
        std::vector<Stretch> out;
        for (const Stretch& s : trace_)
            if (s.unit == &u) out.push_back(s);
        return out;
    }
    // The longest time a wake-up of `u` waited for a CPU.
    Time max_wake_latency(const SchedUnit& u) const { return find(u).max_latency; }
    unsigned preemptions(const SchedUnit& u) const { return find(u).preempted; }
    // Forgets wake latencies and pre-emption counts so far (after a warm-up).
    void clear_stats() {
        for (const auto& v : vcpus_) {
            v->max_latency = 0;
            v->preempted = 0;
        }
    }

    // RunnableHost
    void dispatch(SchedUnit& unit, Cpu cpu) override {
        Vcpu& v = find(unit);
        EXPECT_FALSE(v.on_cpu) << unit.name() << " dispatched twice";
        EXPECT_TRUE(unit.hard_affinity().contains(cpu)) << unit.name() << " on CPU " << cpu;
        v.on_cpu = true;
        v.cpu = cpu;
        v.since = clock.now_ns();
        if (v.woken_at != kForever) {
            v.max_latency = std::max(v.max_latency, v.since - v.woken_at);
            v.woken_at = kForever;
        }
    }
    void preempt(SchedUnit& unit) override {
        Vcpu& v = find(unit);
        EXPECT_TRUE(v.on_cpu) << unit.name() << " pre-empted while not on a CPU";
        ++v.preempted;
        close(v);
    }

private:
    struct Vcpu {
        Vcpu(domid_t d, uint32_t n, Time now, CpuSet hard, CpuSet soft, Workload w)
            : unit(d, n, now, hard, soft), work(w), burst_left(w.burst) {}
        SchedUnit unit;
        Workload work;
        Time burst_left;
        bool on_cpu = false;
        Cpu cpu = 0;
        Time since = 0;
        Time wake_at = kForever;
        Time woken_at = kForever;
        Time max_latency = 0;
        unsigned preempted = 0;

        Time next_event() const {
            Time t = wake_at;
            if (on_cpu && burst_left != kForever) t = std::min(t, since + burst_left);
            return t;
        }
    };

    Vcpu& find(const SchedUnit& u) const {
        for (const auto& v : vcpus_)
            if (&v->unit == &u) return *v;
        throw std::logic_error("unknown unit");
    }

    // The unit leaves its CPU now.
    void close(Vcpu& v) {
        const Time now = clock.now_ns();
        if (v.burst_left != kForever) v.burst_left -= now - v.since;
        if (now > v.since) trace_.push_back(Stretch{&v.unit, v.cpu, v.since, now});
        v.on_cpu = false;
    }

    std::vector<std::unique_ptr<Vcpu>> vcpus_;
    std::vector<Stretch> trace_;
};

}  // namespace xenolith::sched::testing
