#include "bench/sched_bench.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "boot/elf_image.hpp"
#include "hv/hypervisor.hpp"
#include "sched/clock.hpp"
#include "sched/dispatcher.hpp"
#include "sched/params.hpp"
#include "sched/scheduler.hpp"
#include "sched/unit.hpp"
#include "sched/vcpu_gate.hpp"
#include "toolstack/launch/pv_guest.hpp"

namespace xenolith::bench {
namespace {

const char* const kSchedulers[] = {"credit", "credit2", "rtds", "null", "arinc653"};

void progress(const std::string& s) {
    std::fprintf(stderr, "xenolith-bench: %s\n", s.c_str());
}

uint64_t mono_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Pins the calling thread to one host CPU (ignored where the process may not use it).
void pin_self(unsigned cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

// The highest CPU this process may run on other than CPU 0 (which stays in Pool-0);
// nullopt on a one-CPU machine.
std::optional<unsigned> spare_cpu() {
    cpu_set_t set;
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return std::nullopt;
    for (int c = CPU_SETSIZE - 1; c > 0; --c)
        if (CPU_ISSET(c, &set)) return static_cast<unsigned>(c);
    return std::nullopt;
}

// ---- (a) one scheduling decision ---------------------------------------------------------

// Records what the dispatcher decided and does nothing else: no thread runs the units.
class CountingHost final : public sched::RunnableHost {
  public:
    void dispatch(sched::SchedUnit&, sched::Cpu) override { ++dispatches; }
    void preempt(sched::SchedUnit&) override { ++preemptions; }
    uint64_t dispatches = 0, preemptions = 0;
};

// One pool of `cpus` CPUs on the host's monotonic clock with `units` CPU-bound units (each
// runnable, never blocking). A decision is forced by Dispatcher::yield on the unit a CPU
// runs: the scheduler's yield, then deschedule + pick_next of that CPU, the dispatcher's
// checks and the (no-op) host calls; slice ends that fall due meanwhile are taken too, as
// they would be. For arinc653 the schedule gives each unit a 1 ms window in a frame of
// units ms and the units alternate between the CPUs (a unit runs only on its home CPU).
class DecisionRig {
  public:
    DecisionRig(std::string_view name, unsigned units, unsigned cpus)
        : dispatcher_(clock_, sched::make_scheduler(name), host_), cpus_(cpus) {
        const bool arinc = name == "arinc653";
        for (sched::Cpu c = 0; c < cpus; ++c) dispatcher_.add_cpu(c);
        try {
            for (unsigned i = 0; i < units; ++i) {
                sched::CpuSet hard = arinc ? sched::CpuSet{i % cpus} : sched::CpuSet::all();
                units_.push_back(std::make_unique<sched::SchedUnit>(static_cast<domid_t>(1 + i), 0,
                                                                    clock_.now_ns(), hard));
                dispatcher_.add_unit(*units_.back());
            }
            if (arinc) {
                sched::Arinc653Schedule s;
                s.major_frame = sched::milliseconds(units);
                for (unsigned i = 0; i < units; ++i)
                    s.windows.push_back({static_cast<domid_t>(1 + i), 0, sched::milliseconds(1)});
                dispatcher_.set_params(s);
            }
            for (auto& u : units_) dispatcher_.wake(*u);
        } catch (...) {
            clear();
            throw;
        }
    }
    ~DecisionRig() { clear(); }

    struct Sample {
        double ns_per_decision;
        double switched;  // share of decisions that put another unit on the CPU
    };
    Sample sample(unsigned decisions) {
        uint64_t d0 = host_.dispatches;
        unsigned done = 0, idle = 0;
        sched::Cpu next = 0;
        uint64_t t0 = mono_ns();
        while (done < decisions) {
            sched::SchedUnit* u = nullptr;
            for (unsigned k = 0; k < cpus_ && !u; ++k) {
                sched::Cpu cpu = (next + k) % cpus_;
                if ((u = dispatcher_.current(cpu))) next = cpu + 1;
            }
            if (u) {
                dispatcher_.yield(*u);
                ++done;
            } else {
                dispatcher_.run_timers();  // every CPU idle: wait for a window to open
                if (++idle > 10 * decisions) throw Error("no CPU of the pool runs a unit");
            }
        }
        uint64_t t1 = mono_ns();
        return {double(t1 - t0) / decisions, double(host_.dispatches - d0) / decisions};
    }

  private:
    void clear() {
        for (auto& u : units_) {
            try {
                if (dispatcher_.contains(*u)) dispatcher_.remove_unit(*u);
            } catch (const std::exception&) {
            }
        }
    }

    sched::MonotonicClock clock_;
    CountingHost host_;
    sched::Dispatcher dispatcher_;
    unsigned cpus_;
    std::vector<std::unique_ptr<sched::SchedUnit>> units_;
};

// ---- (b) one switch: the gate against a condition variable -------------------------------

// Two threads pinned to host CPU `cpu` take turns holding sched CPU 0 through a VcpuGate,
// as two vCPU threads do: the one holding it is pre-empted (under a lock standing for the
// pools' lock: preempt(it), dispatch(other, 0); the gate's kick is a counter) and calls
// enter() again, which vacates the CPU and sleeps; that wakes the other, whose enter()
// returns. Returns ns per hand-off, from the first thread's first entry to the second's last.
double gate_switch_ns(unsigned rounds, unsigned cpu) {
    std::atomic<uint64_t> kicks{0};
    sched::VcpuGate gate([&](sched::SchedUnit&) { kicks.fetch_add(1, std::memory_order_relaxed); });
    sched::SchedUnit a(1, 0, 0), b(1, 1, 0);
    std::mutex pools_lock;
    gate.dispatch(a, 0);
    uint64_t t_first = 0, t_last = 0;
    auto body = [&](sched::SchedUnit& me, sched::SchedUnit& other, bool first) {
        pin_self(cpu);
        for (unsigned i = 0; i < rounds; ++i) {
            if (!gate.enter(me)) return;
            if (first && i == 0) t_first = mono_ns();
            if (!first && i + 1 == rounds) t_last = mono_ns();
            std::lock_guard lock(pools_lock);
            gate.preempt(me);
            gate.dispatch(other, 0);
        }
        gate.leave(me);
    };
    std::thread tb(body, std::ref(b), std::ref(a), false);
    std::thread ta(body, std::ref(a), std::ref(b), true);
    ta.join();
    tb.join();
    gate.forget(a);
    gate.forget(b);
    if (!t_first || t_last <= t_first) throw Error("the gate hand-off loop did not complete");
    return double(t_last - t_first) / (2.0 * rounds - 1);
}

// The floor: the same turn-taking between two plain threads pinned to `cpu`, each waiting
// on a condition variable for its turn and handing the turn over with notify_one.
double condvar_switch_ns(unsigned rounds, unsigned cpu) {
    std::mutex m;
    std::condition_variable cv;
    int turn = 0;
    uint64_t t_first = 0, t_last = 0;
    auto body = [&](int me) {
        pin_self(cpu);
        for (unsigned i = 0; i < rounds; ++i) {
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return turn == me; });
            if (me == 0 && i == 0) t_first = mono_ns();
            if (me == 1 && i + 1 == rounds) t_last = mono_ns();
            turn = 1 - me;
            cv.notify_one();
        }
    };
    std::thread tb(body, 1);
    std::thread ta(body, 0);
    ta.join();
    tb.join();
    if (!t_first || t_last <= t_first) throw Error("the condition-variable loop did not complete");
    return double(t_last - t_first) / (2.0 * rounds - 1);
}

void decision_benchmark(const SchedBenchOptions& o, json& benches, json& errors) {
    unsigned cpu = spare_cpu().value_or(0);
    progress("sched_decision_cost: " + std::to_string(o.decisions) + " decisions and " +
             std::to_string(2 * o.switches) + " hand-offs per sample, " +
             std::to_string(o.decision_reps) + " reps");
    std::vector<double> ours, floor;
    struct PerSched {
        std::unique_ptr<DecisionRig> rig;
        std::vector<double> ns, switched;
        std::string error;
    };
    std::vector<PerSched> per(std::size(kSchedulers));
    for (size_t s = 0; s < per.size(); ++s) {
        try {
            per[s].rig =
                std::make_unique<DecisionRig>(kSchedulers[s], o.decision_units, o.decision_cpus);
        } catch (const std::exception& e) {
            per[s].error = e.what();
            errors.push_back(std::string("sched_decision_cost (") + kSchedulers[s] +
                             "): " + e.what());
        }
    }
    auto decisions = [&](bool rec) {
        for (size_t s = 0; s < per.size(); ++s) {
            if (!per[s].rig) continue;
            try {
                auto r = per[s].rig->sample(o.decisions);
                if (rec) {
                    per[s].ns.push_back(r.ns_per_decision);
                    per[s].switched.push_back(r.switched);
                }
            } catch (const std::exception& e) {
                per[s].error = e.what();
                per[s].rig.reset();
                errors.push_back(std::string("sched_decision_cost (") + kSchedulers[s] +
                                 "): " + e.what());
            }
        }
    };
    // Floor, the gate and the decisions alternate, the order reversing every repetition.
    interleave(
        1, o.decision_reps,
        [&](bool rec) {
            double ns = condvar_switch_ns(o.switches, cpu);
            if (rec) floor.push_back(ns);
        },
        [&](bool rec) {
            double ns = gate_switch_ns(o.switches, cpu);
            if (rec) ours.push_back(ns);
            decisions(rec);
        });
    json b;
    b["unit"] = "ns";
    b["what"] =
        "ours (the switch): sched::VcpuGate handing one host CPU between two threads pinned to "
        "host CPU " +
        std::to_string(cpu) +
        ", as between two vCPU threads: the holder is "
        "pre-empted (preempt(it), dispatch(other) under a lock standing for the pools' lock; "
        "the kick is a counter, no KVM_RUN is left) and calls enter() again, which vacates the "
        "CPU and sleeps; the other's enter() returns. ns per hand-off. floor: the same "
        "turn-taking between two plain threads on the same CPU through one mutex and a "
        "condition variable. `decision`: per scheduler, one sched::Dispatcher decision on the "
        "monotonic clock (Dispatcher::yield of the unit a CPU runs: the scheduler's yield, "
        "deschedule + pick_next, the dispatcher's checks, no-op host calls) with " +
        std::to_string(o.decision_units) + " CPU-bound units on " +
        std::to_string(o.decision_cpus) +
        " simulated CPUs. A decision has no natural floor: it is priced against the same "
        "host thread hand-off, the least a switch costs, since one is taken per switch";
    b["ours"] = summary(ours);
    b["floor"] = summary(floor);
    b["hand_offs_per_sample"] = 2 * o.switches - 1;
    b.update(ratio_block_untargeted("ours.median / floor.median (gate hand-off / condvar hand-off)",
                                    median(ours) / median(floor), minimum(ours) / minimum(floor)));
    json d;
    d["decisions_per_sample"] = o.decisions;
    d["units"] = o.decision_units;
    d["cpus"] = o.decision_cpus;
    d["floor"] = "the switch floor above (condvar hand-off)";
    for (size_t s = 0; s < per.size(); ++s) {
        if (per[s].ns.empty()) {
            d[kSchedulers[s]] = "not measured: " + per[s].error;
            continue;
        }
        json e;
        e["ours"] = summary(per[s].ns);
        e.update(ratio_block_untargeted("ours.median / floor.median (decision / condvar hand-off)",
                                        median(per[s].ns) / median(floor),
                                        minimum(per[s].ns) / minimum(floor)));
        e["decision_plus_gate_switch_median_ns"] = round3(median(per[s].ns) + median(ours));
        e["share_of_decisions_that_switched_unit"] = round3(median(per[s].switched));
        d[kSchedulers[s]] = e;
    }
    b["decision"] = d;
    benches["sched_decision_cost"] = b;
}

// ---- wake latency ------------------------------------------------------------------------

struct WakeRun {
    double p50_us, p99_us, max_us;
    uint64_t early = 0;
};

// Takes `cpu` out of Pool-0 into a new pool running `scheduler`, and gives it back.
class PoolLease {
  public:
    PoolLease(hv::Scheduling& s, const std::string& scheduler, unsigned cpu) : s_(s), cpu_(cpu) {
        s_.pool_cpu_remove(sched::kPool0, cpu);
        try {
            id_ = s_.create_pool("bench-" + scheduler, scheduler, sched::CpuSet{cpu});
        } catch (...) {
            s_.pool_cpu_add(sched::kPool0, cpu);
            throw;
        }
    }
    ~PoolLease() {
        try {
            s_.destroy_pool(id_);
            s_.pool_cpu_add(sched::kPool0, cpu_);
        } catch (const std::exception& e) {
            progress(std::string("could not give CPU back to Pool-0: ") + e.what());
        }
    }
    sched::PoolId id() const { return id_; }

  private:
    hv::Scheduling& s_;
    unsigned cpu_;
    sched::PoolId id_ = 0;
};

unsigned long wake_domains = 0;

WakeRun wake_ours(hv::Hypervisor& hv, const boot::ElfImage& image, sched::PoolId pool, bool arinc,
                  unsigned n, unsigned period_us, uint64_t memory_mib) {
    hv::DomainParams p;
    p.name = "bench-wakelat-" + std::to_string(++wake_domains);
    p.memory_bytes = memory_mib << 20;
    p.vcpus = 1;
    p.pool = pool;
    auto d = hv.create_domain(p);
    struct Reaper {
        hv::Hypervisor& owner;
        ::domid_t id;
        ~Reaper() { owner.destroy_domain(id); }
    } reaper{hv, d->id()};
    if (arinc) {
        // One window covering the whole frame: the domain owns the CPU (see "what").
        sched::Arinc653Schedule s;
        s.major_frame = sched::milliseconds(10);
        s.windows.push_back({d->id(), 0, sched::milliseconds(10)});
        hv.scheduling().set_pool_params(pool, s);
    }
    std::mutex m;
    std::string out;
    launch::PvGuest guest = launch::setup_pv_guest(
        hv, *d, image, "n=" + std::to_string(n) + " period_us=" + std::to_string(period_us),
        [&](std::string_view s) {
            std::lock_guard lock(m);
            out.append(s);
        });
    d->start();
    uint64_t deadline = mono_ns() + 30'000'000'000ull + uint64_t(n) * period_us * 4000;
    while (!d->stopping() && mono_ns() < deadline) ::usleep(1000);
    bool hung = !d->stopping();
    if (hung) d->destroy();
    hv::DomainState end = d->wait_for_stop();
    guest.console.reset();  // its last drain lands in `out`
    std::lock_guard lock(m);
    if (hung) throw Error("the wakelat guest did not finish in time; console: " + out);
    if (end != hv::DomainState::Shutdown || d->exit_status().value_or(0) != 0)
        throw Error(std::string("the wakelat guest ended ") + hv::state_name(end) + " " +
                    d->crash_report() + "; console: " + out);
    size_t at = out.find("wakelat: n=");
    unsigned long long got_n = 0, per = 0, p50 = 0, p99 = 0, mn = 0, mx = 0, mean = 0, early = 0;
    if (at == std::string::npos ||
        std::sscanf(
            out.c_str() + at,
            "wakelat: n=%llu period_us=%llu p50_ns=%llu p99_ns=%llu min_ns=%llu max_ns=%llu "
            "mean_ns=%llu early=%llu",
            &got_n, &per, &p50, &p99, &mn, &mx, &mean, &early) != 8 ||
        got_n != n)
        throw Error("cannot parse the wakelat guest's line; console: " + out);
    return {p50 / 1e3, p99 / 1e3, mx / 1e3, early};
}

// A plain host thread on `cpu`, n times: deadline = now + period, a timerfd armed for it
// (TFD_TIMER_ABSTIME) and a blocking read(), latency = CLOCK_MONOTONIC after waking -
// deadline. A timerfd, like the POSIX timer a vCPU thread arms for its guest's one-shot
// timer, is not subject to the thread's timer slack (clock_nanosleep and poll timeouts are:
// 50 us by default), so both sides wake from the same kind of kernel timer.
WakeRun wake_floor(unsigned cpu, unsigned n, unsigned period_us) {
    UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
    if (timer.get() < 0) throw Error(std::string("timerfd_create: ") + std::strerror(errno));
    std::vector<double> lat;
    lat.reserve(n);
    uint64_t early = 0;
    std::string failure;
    std::thread t([&] {
        pin_self(cpu);
        for (unsigned i = 0; i < n; ++i) {
            uint64_t deadline = mono_ns() + uint64_t(period_us) * 1000;
            itimerspec its{};
            its.it_value = {static_cast<time_t>(deadline / 1'000'000'000),
                            static_cast<long>(deadline % 1'000'000'000)};
            if (::timerfd_settime(timer.get(), TFD_TIMER_ABSTIME, &its, nullptr) != 0) {
                failure = std::string("timerfd_settime: ") + std::strerror(errno);
                return;
            }
            uint64_t expirations = 0;
            ssize_t got;
            while ((got = ::read(timer.get(), &expirations, sizeof expirations)) < 0 &&
                   errno == EINTR) {
            }
            uint64_t now = mono_ns();
            if (got != sizeof expirations) {
                failure = "read from the timerfd failed";
                return;
            }
            if (now < deadline) ++early;
            lat.push_back(now >= deadline ? double(now - deadline) : 0.0);
        }
    });
    t.join();
    if (!failure.empty()) throw Error(failure);
    return {percentile(lat, 50) / 1e3, percentile(lat, 99) / 1e3, maximum(lat) / 1e3, early};
}

void wake_benchmark(hv::Hypervisor& hv, const SchedBenchOptions& o, json& benches, json& errors) {
    std::optional<unsigned> cpu = spare_cpu();
    if (!cpu) throw Error("needs a second host CPU for the schedulers' pools");
    std::string path = o.guest_dir + "/wakelat";
    if (!std::filesystem::exists(path))
        throw Error("guest image " + path +
                    " is missing: build it with `cmake --build build --target "
                    "guest-wakelat`");
    boot::ElfImage image = boot::ElfImage::load(path);
    progress("wake_latency: " + std::to_string(o.wake_samples) + " wake-ups of " +
             std::to_string(o.wake_period_us) + " us per run, " + std::to_string(o.wake_reps) +
             " runs per scheduler, pools on CPU " + std::to_string(*cpu));
    json per = json::object();
    std::vector<double> head_ours, head_floor;
    for (const char* name : kSchedulers) {
        try {
            PoolLease lease(hv.scheduling(), name, *cpu);
            const bool arinc = std::string_view(name) == "arinc653";
            std::vector<WakeRun> ours, floor;
            // The warm-up round is short: it only has to fault the guest's pages in.
            interleave(
                1, o.wake_reps,
                [&](bool rec) {
                    auto r = wake_floor(*cpu, rec ? o.wake_samples : 20, o.wake_period_us);
                    if (rec) floor.push_back(r);
                },
                [&](bool rec) {
                    auto r = wake_ours(hv, image, lease.id(), arinc, rec ? o.wake_samples : 20,
                                       o.wake_period_us, o.guest_memory_mib);
                    if (rec) ours.push_back(r);
                });
            auto col = [](const std::vector<WakeRun>& v, double WakeRun::*f) {
                std::vector<double> out;
                for (const auto& x : v) out.push_back(x.*f);
                return out;
            };
            auto side = [&](const std::vector<WakeRun>& v) {
                uint64_t early = 0;
                for (const auto& x : v) early += x.early;
                return json{{"p50", summary(col(v, &WakeRun::p50_us))},
                            {"p99", summary(col(v, &WakeRun::p99_us))},
                            {"max", summary(col(v, &WakeRun::max_us), false)},
                            {"early_wakeups", early}};
            };
            json e;
            e["ours"] = side(ours);
            e["floor"] = side(floor);
            for (auto [key, f] : {std::pair{"p50_ratio", &WakeRun::p50_us},
                                  std::pair{"p99_ratio", &WakeRun::p99_us}}) {
                auto a = col(ours, f), b = col(floor, f);
                e[key] = ratio_block_untargeted("ours.median / floor.median", median(a) / median(b),
                                                minimum(a) / minimum(b));
            }
            if (arinc)
                e["schedule"] = "one 10 ms window for the domain's vCPU in a 10 ms major frame";
            per[name] = e;
            if (std::string_view(name) == "credit") {
                head_ours = col(ours, &WakeRun::p50_us);
                head_floor = col(floor, &WakeRun::p50_us);
            }
        } catch (const std::exception& ex) {
            per[name] = std::string("not measured: ") + ex.what();
            errors.push_back(std::string("wake_latency (") + name + "): " + ex.what());
        }
    }
    if (head_ours.empty() || head_floor.empty()) throw Error("the credit pool was not measured");
    json b;
    b["unit"] = "us";
    b["samples_per_run"] = o.wake_samples;
    b["period_us"] = o.wake_period_us;
    b["host_cpu"] = *cpu;
    b["what"] =
        "timer expiry to running, per scheduler. ours: the `wakelat` guest in a domain (1 vCPU) "
        "placed in a CPU pool of that scheduler holding host CPU " +
        std::to_string(*cpu) +
        " alone (taken out of Pool-0 for the run); per sample it arms its one-shot timer "
        "(VCPUOP_set_singleshot_timer) for pvclock now + period, SCHEDOP_blocks, and records "
        "pvclock now - deadline once running again; each run prints its p50/p99. floor: a "
        "plain host thread pinned to the same CPU arms a timerfd (TFD_TIMER_ABSTIME) for "
        "now + period and blocks in read(); latency = CLOCK_MONOTONIC after waking - deadline. "
        "Both sides wake from a kernel timer without timer slack (the vCPU thread's POSIX "
        "timer, the floor's timerfd). Top-level ours/floor: the credit "
        "pool's p50 per run; `schedulers` has p50 and p99 (and the max) for each. arinc653: "
        "one window covering the whole major frame, so the domain owns the CPU; with a window "
        "of W in a frame of F, a timer expiring outside the window would wait up to F - W more";
    b["ours"] = summary(head_ours);
    b["floor"] = summary(head_floor);
    b.update(ratio_block_untargeted("ours.median / floor.median (credit pool, p50)",
                                    median(head_ours) / median(head_floor),
                                    minimum(head_ours) / minimum(head_floor)));
    b["schedulers"] = per;
    benches["wake_latency"] = b;
}

}  // namespace

void sched_benchmarks(hv::Hypervisor& hv, const SchedBenchOptions& o, json& benches, json& errors) {
    try {
        decision_benchmark(o, benches, errors);
    } catch (const std::exception& e) {
        errors.push_back(std::string("sched_decision_cost: ") + e.what());
    }
    try {
        wake_benchmark(hv, o, benches, errors);
    } catch (const std::exception& e) {
        errors.push_back(std::string("wake_latency: ") + e.what());
    }
}

}  // namespace xenolith::bench
