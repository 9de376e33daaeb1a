// Real guests driven in-process through the C++ API (hv::Hypervisor, boot::build_pv_domain,
// the xl.cfg library): lifecycle, console, exit status, crash reports, pause, destroy from
// another thread, two domains at once, the unknown-hypercall counter, and that failures and
// teardown leave no descriptors, threads or domains behind.
#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "abi/xen.hpp"
#include "abi/xenolith.h"
#include "base/error.hpp"
#include "boot/elf_image.hpp"
#include "boot/pv_builder.hpp"
#include "common/compute_kernel.hpp"
#include "hv/hypervisor.hpp"
#include "tests/integration/harness.hpp"
#include "toolstack/xlcfg/domain_config.hpp"

namespace xenolith::integration {
namespace {

using hv::DomainState;

class DomainApi : public HypervisorTest {
  protected:
    static vcpu_runstate_info_t runstate(hv::Domain& d, uint32_t vcpu = 0) {
        vcpu_runstate_info_t info{};
        d.vcpu(vcpu).get_runstate(info);
        return info;
    }
};

// ---- boot, console, exit status ------------------------------------------------------

TEST_F(DomainApi, HelloBootsPrintsAndPowersOffWithItsExitStatus) {
    ApiGuest g(hv(), "hello", "sleep_ms=5 exit=7", 1, 32, "hello-api");
    EXPECT_EQ(g.domain().state(), DomainState::Building);
    EXPECT_EQ(hv().find(g.domain().id()), g.ptr());
    g.start();
    auto end = g.wait_for_stop(10s);
    ASSERT_TRUE(end);
    EXPECT_EQ(*end, DomainState::Shutdown);
    EXPECT_EQ(g.domain().state(), DomainState::Shutdown);
    EXPECT_EQ(g.domain().shutdown_reason(), std::optional<unsigned>(SHUTDOWN_poweroff));
    EXPECT_EQ(g.domain().exit_status(), std::optional<uint32_t>(7));
    EXPECT_EQ(g.domain().crash_report(), "");
    auto lines = g.console().lines();
    ASSERT_EQ(lines.size(), 4u) << g.console().text();
    EXPECT_EQ(lines[0], "Hello from Pumice!");
    EXPECT_EQ(lines[1], "hello: vcpus=1 memory=32768 KiB cmdline='sleep_ms=5 exit=7'");
    EXPECT_TRUE(starts_with(lines[2], "hello: slept ")) << lines[2];
    EXPECT_EQ(lines[3], "hello: exit 7");
    // Four complete lines, nothing unfinished.
    EXPECT_EQ(g.console().lines_received(), 4u);
    EXPECT_GT(g.domain().vcpu(0).counters().hypercalls.load(), 4u);
    EXPECT_EQ(g.domain().unknown_hypercalls(), 0u);
    EXPECT_GT(g.domain().cpu_time_ns(), 0u);
}

TEST_F(DomainApi, ConfigFileThroughTheXlcfgLibrary) {
    // The same path xn takes: xl.cfg text -> DomainConfig -> DomainParams -> build.
    TempDir dir;
    GuestConfig c = app_config("hello", "sleep_ms=1 exit=9");
    c.memory_mib = 16;
    std::string path = dir.write("hello.cfg", c.text());
    xlcfg::Config config = xlcfg::Config::load(path);
    config.apply_override("vcpus=2");
    xlcfg::DomainConfig cfg = xlcfg::to_domain_config(config);
    ASSERT_EQ(cfg.kernel, guest_path("hello"));
    hv::DomainParams p;
    p.name = cfg.name;
    p.memory_bytes = cfg.memory_mib << 20;
    p.vcpus = cfg.vcpus;
    auto d = hv().create_domain(p);
    ConsoleCapture console;
    launch::PvGuest guest = launch::setup_pv_guest(hv(), *d, boot::ElfImage::load(cfg.kernel),
                                                   cfg.cmdline, console.sink());
    d->start();
    EXPECT_EQ(d->wait_for_stop(), DomainState::Shutdown);
    guest.console.reset();  // its last drain
    EXPECT_EQ(d->exit_status(), std::optional<uint32_t>(9));
    EXPECT_NE(console.text().find("hello: vcpus=2 memory=16384 KiB cmdline='sleep_ms=1 exit=9'\n"),
              std::string::npos)
        << console.text();
    EXPECT_TRUE(hv().destroy_domain(d->id()));
}

// ---- timer accuracy (the one timing assertion the issue asks for) ---------------------
//
// A 50 ms sleep must take 50-70 ms. Ending early is a bug and fails at once; ending late
// can be a busy shared host descheduling us, so up to kTimingAttempts boots are made and
// one of them must be within bounds on every measurement.
constexpr int kTimingAttempts = 3;
constexpr double kConsoleJitterMs = 5.0;

TEST_F(DomainApi, HelloSleepOf50MsTakes50To70MsInGuestAndOnTheHost) {
    std::string history;
    bool in_bounds = false;
    for (int attempt = 1; attempt <= kTimingAttempts && !in_bounds; ++attempt) {
        ApiGuest g(hv(), "hello", "sleep_ms=50");
        g.start();
        auto end = g.wait_for_stop(10s);
        ASSERT_EQ(end, std::optional(DomainState::Shutdown)) << g.console().text();
        // The guest's own measurement (pvclock).
        auto slept_us = number_after(g.console().lines(), "hello: slept ");
        ASSERT_TRUE(slept_us) << g.console().text();
        double guest_ms = static_cast<double>(*slept_us) / 1000.0;
        // The host's: from the console line printed just before the sleep to the one after.
        auto before = g.console().time_of("hello: vcpus=");
        auto after = g.console().time_of("hello: slept ");
        ASSERT_TRUE(before && after);
        double host_sleep_ms = ms_between(*before, *after);
        // The whole domain, start() to wait_for_stop() returning: boot, the sleep, power off.
        double domain_ms = ms_between(g.started_at(), g.stopped_at());

        char line[160];
        std::snprintf(line, sizeof line,
                      "attempt %d: guest slept %.3f ms, host saw the sleep take %.3f ms, "
                      "domain ran %.3f ms\n",
                      attempt, guest_ms, host_sleep_ms, domain_ms);
        history += line;
        ASSERT_GE(guest_ms, 50.0) << "the guest's timer fired early\n" << history;
        // Console lines reach the host through the console backend's thread, whose wake-up
        // on a busy 2-core host can lag a line by a few ms; the domain's own run time below
        // is the host's strict lower bound.
        ASSERT_GE(host_sleep_ms, 50.0 - kConsoleJitterMs)
            << "the sleep ended early by the host's clock\n"
            << history;
        ASSERT_GE(domain_ms, 50.0) << history;
        in_bounds = guest_ms <= 70.0 && host_sleep_ms <= 70.0 && domain_ms <= 70.0;
    }
    RecordProperty("timing", history);
    EXPECT_TRUE(in_bounds) << "a 50 ms sleep took longer than 70 ms in every attempt\n" << history;
}

// ---- every app, and the unknown-hypercall counter ---------------------------------------

struct AppCase {
    const char* app;
    const char* cmdline;
    uint32_t vcpus;
    DomainState end;
    std::optional<uint32_t> exit_status;
    const char* last_line;  // prefix of the last console line; "" for none
};

void PrintTo(const AppCase& c, std::ostream* os) {
    *os << c.app << " '" << c.cmdline << "'";
}

class EveryApp : public DomainApi, public ::testing::WithParamInterface<AppCase> {};

TEST_P(EveryApp, RunsToItsEndWithoutUnknownHypercalls) {
    const AppCase& c = GetParam();
    ApiGuest g(hv(), c.app, c.cmdline, c.vcpus);
    g.start();
    auto end = g.wait_for_stop(15s);
    ASSERT_TRUE(end);
    EXPECT_EQ(*end, c.end) << g.console().text() << g.domain().crash_report();
    EXPECT_EQ(g.domain().exit_status(), c.exit_status);
    auto lines = g.console().lines();
    if (*c.last_line) {
        ASSERT_FALSE(lines.empty());
        EXPECT_TRUE(starts_with(lines.back(), c.last_line)) << g.console().text();
    } else {
        EXPECT_TRUE(lines.empty()) << g.console().text();
    }
    // No app in guest/apps makes a hypercall the hypervisor does not implement.
    EXPECT_EQ(g.domain().unknown_hypercalls(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Apps, EveryApp,
    ::testing::Values(
        AppCase{"hello", "sleep_ms=1 exit=0", 1, DomainState::Shutdown, 0, "hello: exit 0"},
        AppCase{"spin", "ms=50 report_ms=10", 1, DomainState::Shutdown, 0,
                "spin: done iterations="},
        AppCase{"crash", "mode=null", 1, DomainState::Crashed, std::nullopt,
                "crash: about to fault (null)"},
        AppCase{"crash", "mode=ud2", 1, DomainState::Crashed, std::nullopt,
                "crash: about to fault (ud2)"},
        AppCase{"smp", "need=2 rounds=10000", 2, DomainState::Shutdown, 0, "smp: all 2 vcpus done"},
        AppCase{"bench", "mode=hypercall n=50", 1, DomainState::Shutdown, 0,
                "bench: hypercall n=50 "},
        AppCase{"bench", "mode=compute n=1000", 1, DomainState::Shutdown, 0,
                "bench: compute n=1000 "},
        // `first` is bare assembly: it powers off without recording an exit status.
        AppCase{"first", "", 1, DomainState::Shutdown, std::nullopt, ""}),
    [](const auto& info) {
        return std::string(info.param.app) + "_" + std::to_string(info.index);
    });

TEST_F(DomainApi, UnknownHypercallsFromARealGuestAreCountedPerNumber) {
    // No app makes an unknown hypercall, so rewrite one stub of `first`'s hypercall page
    // after the build: its xen_version call (the stub `mov $17,%eax; out; ret`) then asks
    // for hypercall 63 (unassigned in Xen) or 1000 (beyond the table), on the real vCPU.
    for (uint32_t nr : {63u, 1000u}) {
        SCOPED_TRACE("hypercall " + std::to_string(nr));
        ApiGuest g(hv(), "first", "");
        uint64_t stub =
            g.hypercall_page() + __HYPERVISOR_xen_version * XENOLITH_HYPERCALL_STUB_SIZE;
        ASSERT_EQ(g.domain().memory().read<uint8_t>(stub),
                  std::optional<uint8_t>(0xb8));  // mov imm32, %eax
        ASSERT_EQ(g.domain().memory().read<uint32_t>(stub + 1),
                  std::optional<uint32_t>(__HYPERVISOR_xen_version));
        ASSERT_TRUE(g.domain().memory().write<uint32_t>(stub + 1, nr));
        g.start();
        ASSERT_EQ(g.wait_for_stop(5s), std::optional(DomainState::Shutdown))
            << g.domain().crash_report();
        EXPECT_EQ(g.domain().shutdown_reason(), std::optional<unsigned>(SHUTDOWN_poweroff));
        EXPECT_EQ(g.domain().unknown_hypercalls(), 1u);
        EXPECT_EQ(g.domain().unknown_hypercalls(nr), 1u);
        EXPECT_EQ(g.domain().unknown_hypercalls(__HYPERVISOR_xen_version), 0u);
        // Two hypercalls reached the hypervisor: the unknown one and sched_op(shutdown).
        EXPECT_EQ(g.domain().vcpu(0).counters().hypercalls.load(), 2u);
    }
}

// ---- crash and SMP through the API -----------------------------------------------------

TEST_F(DomainApi, CrashEndsCrashedWithASymbolisedReport) {
    ApiGuest g(hv(), "crash", "mode=null");
    g.start();
    ASSERT_EQ(g.wait_for_stop(5s), std::optional(DomainState::Crashed));
    EXPECT_EQ(g.domain().shutdown_reason(), std::optional<unsigned>(SHUTDOWN_crash));
    EXPECT_EQ(g.domain().exit_status(), std::nullopt);
    std::string report = g.domain().crash_report();
    EXPECT_TRUE(std::regex_search(
        report, std::regex(R"(RIP: [0-9a-f]{16} <crash_null_deref\+0x[0-9a-f]+>)")))
        << report;
    EXPECT_NE(report.find("CR2: 0000000000000000"), std::string::npos) << report;
    EXPECT_EQ(g.console().text(), "crash: about to fault (null)\n");
}

TEST_F(DomainApi, SmpStartsTheSecondVcpuAndRunsWorkOnIt) {
    ApiGuest g(hv(), "smp", "need=2 rounds=100000", 2);
    ASSERT_EQ(g.domain().nr_vcpus(), 2u);
    EXPECT_FALSE(g.domain().vcpu(1).is_up());
    g.start();
    ASSERT_EQ(g.wait_for_stop(10s), std::optional(DomainState::Shutdown))
        << g.domain().crash_report();
    EXPECT_EQ(g.domain().exit_status(), std::optional<uint32_t>(0));
    std::string text = g.console().text();
    for (unsigned i = 0; i < 2; ++i) {
        char line[96];
        std::snprintf(line, sizeof line, "smp: vcpu %u done sum=%llx\n", i,
                      static_cast<unsigned long long>(compute_kernel(100000 + i)));
        EXPECT_NE(text.find(line), std::string::npos) << line << text;
    }
    EXPECT_NE(text.find("smp: all 2 vcpus done\n"), std::string::npos) << text;
    // vCPU 1 really ran: it made hypercalls (VCPUOP, console) and accumulated run time.
    EXPECT_TRUE(g.domain().vcpu(1).is_up());
    EXPECT_GT(g.domain().vcpu(1).counters().hypercalls.load(), 0u);
    EXPECT_GT(g.domain().vcpu(1).cpu_time_ns(), 0u);
}

// ---- failures and teardown leave nothing behind ---------------------------------------

TEST_F(DomainApi, FailedBuildLeavesNoDomainDescriptorsOrThreads) {
    const boot::ElfImage image = boot::ElfImage::load(guest_path("hello"));
    const size_t fds = open_fd_count(), threads = thread_count();
    for (uint64_t memory : {uint64_t{1} << 20, uint64_t{64} << 10}) {
        SCOPED_TRACE("memory " + std::to_string(memory) + " bytes");
        hv::DomainParams p;
        p.name = "too-small";
        p.memory_bytes = memory;
        p.vcpus = 2;
        auto d = hv().create_domain(p);
        ASSERT_EQ(hv().domains().size(), 1u);
        try {
            boot::build_pv_domain(*d, image, "");
            ADD_FAILURE() << "build into " << memory << " bytes succeeded";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("guest RAM"), std::string::npos) << e.what();
        }
        EXPECT_EQ(d->state(), DomainState::Building);
        EXPECT_TRUE(hv().destroy_domain(d->id()));
        d.reset();
        EXPECT_TRUE(hv().domains().empty());
        EXPECT_EQ(open_fd_count(), fds) << "descriptors leaked";
        EXPECT_EQ(wait_thread_count(threads), threads) << "threads leaked";
    }
}

TEST_F(DomainApi, RefusedCreateLeavesNothingBehind) {
    const size_t fds = open_fd_count(), threads = thread_count();
    hv::DomainParams p;
    p.name = "huge";
    p.memory_bytes = uint64_t{10000000} << 20;  // memory = 10000000 (MiB)
    EXPECT_THROW(hv().create_domain(p), Error);
    p.memory_bytes = 16 << 20;
    p.vcpus = 100000;  // beyond KVM_CAP_MAX_VCPUS
    EXPECT_THROW(hv().create_domain(p), Error);
    p.vcpus = 0;
    EXPECT_THROW(hv().create_domain(p), Error);
    p.vcpus = 1;
    p.memory_bytes = 0;
    EXPECT_THROW(hv().create_domain(p), Error);
    p.memory_bytes = (16 << 20) + 1;  // not a whole number of pages
    EXPECT_THROW(hv().create_domain(p), Error);
    EXPECT_TRUE(hv().domains().empty());
    p.memory_bytes = 16 << 20;
    // A duplicate name is refused too, and the first domain is untouched.
    p.vcpus = 1;
    p.name = "twin";
    auto first = hv().create_domain(p);
    EXPECT_THROW(hv().create_domain(p), Error);
    EXPECT_EQ(hv().domains().size(), 1u);
    EXPECT_TRUE(hv().destroy_domain(first->id()));
    first.reset();
    EXPECT_TRUE(hv().domains().empty());
    EXPECT_EQ(open_fd_count(), fds);
    EXPECT_EQ(wait_thread_count(threads), threads);
}

TEST_F(DomainApi, FinishedAndDestroyedDomainsReleaseEverything) {
    const size_t fds = open_fd_count(), threads = thread_count();
    for (int round = 0; round < 2; ++round) {
        ApiGuest g(hv(), "smp", "need=2 rounds=1000", 2);
        g.start();
        ASSERT_EQ(g.wait_for_stop(10s), std::optional(DomainState::Shutdown));
    }
    EXPECT_TRUE(hv().domains().empty());
    EXPECT_EQ(open_fd_count(), fds) << "descriptors leaked";
    EXPECT_EQ(wait_thread_count(threads), threads) << "threads leaked";
}

// ---- pause, destroy, two domains --------------------------------------------------------

TEST_F(DomainApi, PauseReallyStopsASpinningGuestAndUnpauseResumesIt) {
    ApiGuest g(hv(), "spin", "seconds=30 report_ms=10");
    g.start();
    ASSERT_TRUE(g.console().wait_for("spin: iter=", 5s)) << g.console().text();

    g.domain().pause();
    EXPECT_EQ(g.domain().state(), DomainState::Paused);
    EXPECT_TRUE(g.domain().paused());
    // Let the vCPU leave the guest (the kick is asynchronous), then watch it stay out.
    std::this_thread::sleep_for(50ms);
    size_t writes = g.console().lines_received();
    vcpu_runstate_info_t r0 = runstate(g.domain());
    uint64_t cpu0 = g.domain().cpu_time_ns();
    std::this_thread::sleep_for(300ms);
    vcpu_runstate_info_t r1 = runstate(g.domain());
    EXPECT_EQ(g.console().lines_received(), writes) << "console output while paused";
    EXPECT_EQ(r1.time[RUNSTATE_running], r0.time[RUNSTATE_running]) << "vCPU ran while paused";
    EXPECT_EQ(g.domain().cpu_time_ns(), cpu0);
    EXPECT_NE(r1.state, RUNSTATE_running);
    EXPECT_FALSE(g.domain().stopping());

    g.domain().unpause();
    EXPECT_EQ(g.domain().state(), DomainState::Running);
    EXPECT_FALSE(g.domain().paused());
    EXPECT_TRUE(g.console().wait_for_more_than(writes + 2, 5s)) << "no output after unpause";
    EXPECT_GT(g.domain().cpu_time_ns(), cpu0);
    EXPECT_EQ(runstate(g.domain()).state, RUNSTATE_running);
    EXPECT_FALSE(g.domain().stopping());
}

TEST_F(DomainApi, RapidPauseUnpauseLosesNothing) {
    // Pause and unpause over and over while smp brings up its second vCPU and both work,
    // and while hello sleeps: both must still finish with the right output.
    ApiGuest s(hv(), "smp", "need=2 rounds=10000000", 2);
    ApiGuest h(hv(), "hello", "sleep_ms=30 exit=6");
    s.start();
    h.start();
    for (int i = 0; i < 200 && !(s.domain().stopping() && h.domain().stopping()); ++i) {
        s.domain().pause();
        h.domain().pause();
        std::this_thread::sleep_for(std::chrono::microseconds(200 + 37 * (i % 7)));
        s.domain().unpause();
        h.domain().unpause();
        std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    ASSERT_EQ(s.wait_for_stop(10s), std::optional(DomainState::Shutdown))
        << s.domain().crash_report();
    ASSERT_EQ(h.wait_for_stop(10s), std::optional(DomainState::Shutdown))
        << h.domain().crash_report();
    EXPECT_EQ(s.domain().exit_status(), std::optional<uint32_t>(0));
    EXPECT_EQ(h.domain().exit_status(), std::optional<uint32_t>(6));
    EXPECT_NE(s.console().text().find("smp: all 2 vcpus done\n"), std::string::npos)
        << s.console().text();
    EXPECT_NE(h.console().text().find("hello: exit 6\n"), std::string::npos) << h.console().text();
}

TEST_F(DomainApi, PauseHoldsASleepingGuestPastItsTimer) {
    ApiGuest g(hv(), "hello", "sleep_ms=100 exit=4");
    g.start();
    ASSERT_TRUE(g.console().wait_for("hello: vcpus=", 5s)) << g.console().text();
    // Pause only once the guest sleeps: it reads its start time after printing that line,
    // and a pause that lands before the read would hide the paused time from its clock (a
    // vCPU thread that waits for the CPU after its console write, as on a 1-CPU host, does).
    const auto until = Clock::now() + 5s;
    while (runstate(g.domain()).state != RUNSTATE_blocked && Clock::now() < until)
        std::this_thread::sleep_for(1ms);
    ASSERT_EQ(runstate(g.domain()).state, RUNSTATE_blocked) << g.console().text();
    g.domain().pause();
    // The guest's 100 ms timer expires while it is paused: it must not run, so not print.
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(g.console().text().find("hello: slept"), std::string::npos) << g.console().text();
    EXPECT_FALSE(g.domain().stopping());
    g.domain().unpause();
    ASSERT_EQ(g.wait_for_stop(5s), std::optional(DomainState::Shutdown))
        << g.domain().crash_report();
    EXPECT_EQ(g.domain().exit_status(), std::optional<uint32_t>(4));
    auto slept_us = number_after(g.console().lines(), "hello: slept ");
    ASSERT_TRUE(slept_us) << g.console().text();
    EXPECT_GE(*slept_us, 300'000u) << "the guest's clock runs on while it is paused";
}

TEST_F(DomainApi, DestroyFromAnotherThreadEndsARunningGuestPromptly) {
    const size_t fds = open_fd_count(), threads = thread_count();
    {
        ApiGuest g(hv(), "spin", "seconds=60 report_ms=10", 2);
        const domid_t id = g.domain().id();
        g.start();
        ASSERT_TRUE(g.console().wait_for("spin: iter=", 5s)) << g.console().text();
        auto t0 = Clock::now();
        std::thread killer([&] { EXPECT_TRUE(hv().destroy_domain(id)); });
        auto end = g.wait_for_stop(5s);
        killer.join();
        double ms = ms_between(t0, Clock::now());
        ASSERT_TRUE(end);
        EXPECT_EQ(*end, DomainState::Dying);
        EXPECT_EQ(g.domain().state(), DomainState::Dying);
        EXPECT_EQ(hv().find(id), nullptr);
        EXPECT_LT(ms, 1000.0) << "destroy took too long";
        EXPECT_EQ(g.console().text().find("spin: done"), std::string::npos);
        // destroy_domain returned after joining the vCPU threads: no more output.
        size_t writes = g.console().lines_received();
        std::this_thread::sleep_for(50ms);
        EXPECT_EQ(g.console().lines_received(), writes);
        EXPECT_EQ(runstate(g.domain()).state, RUNSTATE_offline);
    }
    // With the last reference to the Domain gone, so is its KVM VM (and the kernel's
    // per-VM worker task, which Linux counts among the process's threads).
    EXPECT_EQ(open_fd_count(), fds) << "descriptors leaked";
    EXPECT_EQ(wait_thread_count(threads), threads) << "threads leaked";
}

// Domain::destroy() promises to wait for the vCPU threads, and is idempotent; so when two
// threads destroy the same domain at once (xn: its SIGINT watcher and the main thread's
// cleanup; a daemon: two control requests), *both* must return only once the vCPUs have
// stopped. The vCPU thread sets its runstate offline as it leaves, so a destroy() that
// returns while it is still `running` returned too early.
TEST_F(DomainApi, ConcurrentDestroysBothWaitForTheVcpuThreads) {
    constexpr int kTrials = 30;
    int early = 0, trials = 0;
    std::string detail;
    for (; trials < kTrials && early == 0; ++trials) {
        ApiGuest g(hv(), "spin", "seconds=60 report_ms=1");
        g.start();
        ASSERT_TRUE(g.console().wait_for("spin: iter=", 5s)) << g.console().text();
        std::shared_ptr<hv::Domain> d = g.ptr();
        std::atomic<int> ready{0};
        int state_after[2] = {-1, -1};
        auto destroyer = [&](int k) {
            ready.fetch_add(1);
            while (ready.load() < 2) {
            }
            d->destroy();
            state_after[k] = runstate(*d).state;
        };
        std::thread a(destroyer, 0), b(destroyer, 1);
        a.join();
        b.join();
        for (int k = 0; k < 2; ++k)
            if (state_after[k] != RUNSTATE_offline) {
                ++early;
                detail += "trial " + std::to_string(trials + 1) + ": destroy() #" +
                          std::to_string(k) + " returned with vCPU 0 in runstate " +
                          std::to_string(state_after[k]) + "\n";
            }
    }
    EXPECT_EQ(early, 0) << "a concurrent Domain::destroy() returned before the vCPU thread ended "
                           "(hv/vcpu.cpp Vcpu::join moves the std::thread out under the lock, so "
                           "a second joiner finds nothing to join and returns at once)\n"
                        << detail;
}

TEST_F(DomainApi, DestroyEndsAGuestBlockedInASleep) {
    ApiGuest g(hv(), "hello", "sleep_ms=60000");
    const domid_t id = g.domain().id();
    g.start();
    ASSERT_TRUE(g.console().wait_for("hello: vcpus=", 5s)) << g.console().text();
    std::this_thread::sleep_for(20ms);  // into SCHEDOP_block
    EXPECT_EQ(runstate(g.domain()).state, RUNSTATE_blocked);
    auto t0 = Clock::now();
    std::thread killer([&] { EXPECT_TRUE(hv().destroy_domain(id)); });
    auto end = g.wait_for_stop(5s);
    killer.join();
    ASSERT_TRUE(end);
    EXPECT_EQ(*end, DomainState::Dying);
    EXPECT_LT(ms_between(t0, Clock::now()), 1000.0);
    EXPECT_EQ(g.console().text().find("hello: slept"), std::string::npos);
}

TEST_F(DomainApi, DestroyWhilePausedEndsTheGuest) {
    ApiGuest g(hv(), "spin", "seconds=60 report_ms=10");
    const domid_t id = g.domain().id();
    g.start();
    ASSERT_TRUE(g.console().wait_for("spin: iter=", 5s));
    g.domain().pause();
    std::thread killer([&] { EXPECT_TRUE(hv().destroy_domain(id)); });
    auto end = g.wait_for_stop(5s);
    killer.join();
    ASSERT_TRUE(end);
    EXPECT_EQ(*end, DomainState::Dying);
}

TEST_F(DomainApi, TwoDomainsRunAtTheSameTime) {
    ApiGuest a(hv(), "spin", "seconds=60 report_ms=10", 1, 32, "spin-a");
    ApiGuest b(hv(), "hello", "sleep_ms=20 exit=5", 1, 32, "hello-b");
    EXPECT_NE(a.domain().id(), b.domain().id());
    EXPECT_EQ(hv().domains().size(), 2u);
    a.start();
    ASSERT_TRUE(a.console().wait_for("spin: iter=", 5s)) << a.console().text();
    // B boots, runs and powers off while A keeps running.
    b.start();
    ASSERT_EQ(b.wait_for_stop(5s), std::optional(DomainState::Shutdown))
        << b.domain().crash_report();
    EXPECT_EQ(b.domain().exit_status(), std::optional<uint32_t>(5));
    EXPECT_EQ(a.domain().state(), DomainState::Running);
    EXPECT_NE(b.console().text().find("hello: exit 5\n"), std::string::npos) << b.console().text();
    // Each console got only its own domain's output.
    EXPECT_EQ(a.console().text().find("hello"), std::string::npos);
    EXPECT_EQ(b.console().text().find("spin"), std::string::npos);
    // A made progress during B's run and after it.
    auto a_first = a.console().time_of("spin: iter=");
    ASSERT_TRUE(a_first);
    size_t a_writes = a.console().lines_received();
    EXPECT_TRUE(a.console().wait_for_more_than(a_writes + 2, 5s)) << "A stalled after B ended";
    EXPECT_FALSE(a.domain().stopping());
    EXPECT_TRUE(hv().destroy_domain(a.domain().id()));
    EXPECT_EQ(a.domain().state(), DomainState::Dying);
    EXPECT_EQ(hv().domains().size(), 1u);  // B stays listed (shut down) until destroyed
}

TEST_F(DomainApi, TwoSpinningDomainsBothMakeProgressAtOnce) {
    ApiGuest a(hv(), "spin", "seconds=60 report_ms=10");
    ApiGuest b(hv(), "spin", "seconds=60 report_ms=10");
    a.start();
    b.start();
    ASSERT_TRUE(a.console().wait_for("spin: iter=", 5s));
    ASSERT_TRUE(b.console().wait_for("spin: iter=", 5s));
    // With both running, each keeps printing: neither starves the other.
    for (int round = 0; round < 3; ++round) {
        size_t wa = a.console().lines_received(), wb = b.console().lines_received();
        EXPECT_TRUE(a.console().wait_for_more_than(wa, 5s)) << "A stalled";
        EXPECT_TRUE(b.console().wait_for_more_than(wb, 5s)) << "B stalled";
    }
    EXPECT_EQ(a.domain().state(), DomainState::Running);
    EXPECT_EQ(b.domain().state(), DomainState::Running);
    EXPECT_GT(a.domain().cpu_time_ns(), 0u);
    EXPECT_GT(b.domain().cpu_time_ns(), 0u);
}

TEST_F(DomainApi, TwoSmpDomainsAtOnceBothFinish) {
    ApiGuest a(hv(), "smp", "need=2 rounds=300000", 2);
    ApiGuest b(hv(), "smp", "need=2 rounds=300000", 2);
    a.start();
    b.start();
    auto ea = a.wait_for_stop(15s);
    auto eb = b.wait_for_stop(15s);
    EXPECT_EQ(ea, std::optional(DomainState::Shutdown)) << a.domain().crash_report();
    EXPECT_EQ(eb, std::optional(DomainState::Shutdown)) << b.domain().crash_report();
    EXPECT_NE(a.console().text().find("smp: all 2 vcpus done\n"), std::string::npos)
        << a.console().text();
    EXPECT_NE(b.console().text().find("smp: all 2 vcpus done\n"), std::string::npos)
        << b.console().text();
}

}  // namespace
}  // namespace xenolith::integration

namespace xenolith::integration {
namespace {

// A vCPU waiting for its timer sleeps in the host (blocked), it does not spin (running).
TEST_F(DomainApi, ASleepingVcpuIsBlockedNotRunning) {
    ApiGuest g(hv(), "hello", "sleep_ms=400");
    g.start();
    ASSERT_EQ(g.wait_for_stop(5s), std::optional(DomainState::Shutdown))
        << g.domain().crash_report();
    vcpu_runstate_info_t rs = runstate(g.domain());
    double blocked_ms = static_cast<double>(rs.time[RUNSTATE_blocked]) / 1e6;
    double running_ms = static_cast<double>(rs.time[RUNSTATE_running]) / 1e6;
    EXPECT_GE(blocked_ms, 380.0) << "running " << running_ms << " ms";
    EXPECT_LT(running_ms, 100.0) << "blocked " << blocked_ms << " ms";
}

// One guest crashing ends that domain only: a neighbour keeps running, the host carries on.
TEST_F(DomainApi, ACrashEndsOnlyTheCrashingDomain) {
    ApiGuest spin(hv(), "spin", "seconds=60 report_ms=10", 1, 32, "neighbour");
    ApiGuest crash(hv(), "crash", "mode=ud2", 1, 32, "crasher");
    spin.start();
    ASSERT_TRUE(spin.console().wait_for("spin: iter=", 5s)) << spin.console().text();
    crash.start();
    ASSERT_EQ(crash.wait_for_stop(5s), std::optional(DomainState::Crashed));
    EXPECT_NE(crash.domain().crash_report().find("crash_ud2"), std::string::npos);
    size_t writes = spin.console().lines_received();
    EXPECT_TRUE(spin.console().wait_for_more_than(writes + 2, 5s)) << "the neighbour stalled";
    EXPECT_EQ(spin.domain().state(), DomainState::Running);
}

}  // namespace
}  // namespace xenolith::integration
