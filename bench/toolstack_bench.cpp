#include "bench/toolstack_bench.hpp"

#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>

#include "base/error.hpp"
#include "bench/bare_vm.hpp"
#include "hv/hypervisor.hpp"
#include "platform/kvm/system.hpp"
#include "toolstack/api/protocol.hpp"

extern char** environ;

namespace xenolith::bench {

namespace {

uint64_t now_ns() {
    return hv::TimeSource::system_time_ns();
}

void progress(const std::string& s) {
    std::fprintf(stderr, "xenolith-bench: %s\n", s.c_str());
}

uint64_t status_kib(pid_t pid, const std::string& key) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string k;
    uint64_t v = 0;
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
    return v;
}

uint64_t mem_available_kib() {
    return hv::Hypervisor::host_available_memory() >> 10;
}

// A private xenolithd for the run: its own run dir, stopped (SIGTERM) at the end.
class DaemonProcess {
  public:
    explicit DaemonProcess(const std::string& program) {
        char tmpl[] = "/tmp/xenolith-bench-XXXXXX";
        if (!::mkdtemp(tmpl)) throw SystemError("mkdtemp", errno);
        dir_ = tmpl;
        std::vector<std::string> args = {program,     "-q",          "--run-dir",          dir_,
                                         "--log-dir", dir_ + "/log", "--shutdown-timeout", "2"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int rc = ::posix_spawn(&pid_, program.c_str(), nullptr, nullptr, argv.data(), environ);
        if (rc != 0) throw SystemError("cannot start " + program, rc);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!(client_ = api::Client::connect(dir_ + "/xenolithd.sock"))) {
            if (std::chrono::steady_clock::now() > deadline)
                throw Error("xenolithd did not come up");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    ~DaemonProcess() {
        client_.reset();
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    api::Client& client() { return *client_; }
    std::unique_ptr<api::Client> connect() {
        return api::Client::connect(dir_ + "/xenolithd.sock");
    }
    pid_t pid() const { return pid_; }

  private:
    std::string dir_;
    pid_t pid_ = -1;
    std::unique_ptr<api::Client> client_;
};

std::string idle_config(const std::string& name, const std::string& kernel, uint64_t memory_mib) {
    return "name = \"" + name + "\"\nkernel = \"" + kernel +
           "\"\nmemory = " + std::to_string(memory_mib) +
           "\nextra = \"sleep_ms=1000000000 exit=0\"\n";
}

uint32_t create(api::Client& c, const std::string& config) {
    return c.call("create", {{"config_text", config}, {"config_name", "bench.cfg"}})["domid"]
        .get<uint32_t>();
}

// create -> the guest's first console bytes at a console client of the daemon.
double create_to_running_ours(DaemonProcess& d, const std::string& kernel, uint64_t memory_mib,
                              unsigned i) {
    std::string config = idle_config("warm-" + std::to_string(i), kernel, memory_mib);
    auto console = d.connect();
    uint64_t t0 = now_ns();
    uint32_t domid = create(d.client(), config);
    console->call("console", {{"domain", std::to_string(domid)}});
    if (console->reader().take_buffered().empty()) {
        char byte;
        if (::recv(console->fd(), &byte, 1, 0) != 1)
            throw Error("the console stream ended before any output");
    }
    uint64_t t1 = now_ns();
    console.reset();
    d.client().call("destroy", {{"domain", std::to_string(domid)}});
    return (t1 - t0) / 1e3;
}

double create_to_running_floor(const kvm::System& kvm, uint64_t memory_mib) {
    uint64_t t0 = now_ns();
    BareVm vm(kvm, memory_mib << 20, 1);
    if (vm.run_to_port_exit() != 17) throw Error("floor VM: unexpected first exit");
    return (now_ns() - t0) / 1e3;
}

void raise_fd_limit() {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &r);
    }
}

}  // namespace

void toolstack_benchmarks(const ToolstackBenchOptions& o, json& benches, json& errors) {
    const std::string kernel = o.guest_dir + "/hello";
    raise_fd_limit();
    std::optional<DaemonProcess> daemon;
    try {
        daemon.emplace(o.daemon_path);
    } catch (const std::exception& e) {
        errors.push_back(std::string("toolstack: cannot start xenolithd: ") + e.what());
        return;
    }
    kvm::System kvm;

    try {
        progress("create_to_running_warm_daemon: " + std::to_string(o.create_reps) + " reps");
        std::vector<double> ours, floor;
        unsigned n = 0;
        interleave(
            o.create_warmups, o.create_reps,
            [&](bool rec) {
                double f = create_to_running_floor(kvm, o.idle_memory_mib);
                if (rec) floor.push_back(f);
            },
            [&](bool rec) {
                double r = create_to_running_ours(*daemon, kernel, o.idle_memory_mib, n++);
                if (rec) ours.push_back(r);
            });
        json b;
        b["unit"] = "us";
        b["what"] =
            "ours: a `create` request (hello guest, " + std::to_string(o.idle_memory_mib) +
            " MiB, 1 vCPU) sent to a warm xenolithd over its control socket, until the "
            "guest's first console bytes reach a console client attached right after the "
            "reply (parse, ELF load, build, console and xenstore setup, first guest output). "
            "floor: KVM_CREATE_VM + memfd RAM + one vCPU + KVM_RUN to the first exit, on "
            "one thread";
        b["ours"] = summary(ours);
        b["floor"] = summary(floor);
        b.update(ratio_block_untargeted("ours.median / floor.median", median(ours) / median(floor),
                                        minimum(ours) / minimum(floor)));
        benches["create_to_running_warm_daemon"] = b;
    } catch (const std::exception& e) {
        errors.push_back(std::string("create_to_running_warm_daemon: ") + e.what());
    }

    try {
        progress("creations_per_second and memory_per_idle_domain: " + std::to_string(o.density) +
                 " domains");
        // Floor first: N bare VMs alive at once, each run to its first exit.
        uint64_t avail0 = mem_available_kib();
        uint64_t rss0 = status_kib(::getpid(), "VmRSS");
        std::vector<std::unique_ptr<BareVm>> bare;
        bare.reserve(o.density);
        uint64_t t0 = now_ns();
        for (unsigned i = 0; i < o.density; ++i) {
            bare.push_back(std::make_unique<BareVm>(kvm, o.idle_memory_mib << 20, 1));
            bare.back()->run_to_port_exit();
        }
        uint64_t t1 = now_ns();
        double floor_rate = o.density * 1e9 / double(t1 - t0);
        double floor_host_kib = (double(avail0) - double(mem_available_kib())) / o.density;
        double floor_rss_kib = (double(status_kib(::getpid(), "VmRSS")) - double(rss0)) / o.density;
        bare.clear();

        pid_t pid = daemon->pid();
        uint64_t davail0 = mem_available_kib();
        uint64_t drss0 = status_kib(pid, "VmRSS");
        uint64_t threads0 = status_kib(pid, "Threads");
        std::vector<uint32_t> ids;
        uint64_t t2 = now_ns();
        for (unsigned i = 0; i < o.density; ++i)
            ids.push_back(create(daemon->client(), idle_config("idle-" + std::to_string(i), kernel,
                                                               o.idle_memory_mib)));
        uint64_t t3 = now_ns();
        // Let every guest reach its idle sleep before measuring what it holds.
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        double ours_rate = o.density * 1e9 / double(t3 - t2);
        double ours_host_kib = (double(davail0) - double(mem_available_kib())) / o.density;
        double ours_rss_kib = (double(status_kib(pid, "VmRSS")) - double(drss0)) / o.density;
        double threads_per_domain =
            (double(status_kib(pid, "Threads")) - double(threads0)) / o.density;
        uint64_t t4 = now_ns();
        for (uint32_t id : ids) daemon->client().call("destroy", {{"domain", std::to_string(id)}});
        double destroy_rate = o.density * 1e9 / double(now_ns() - t4);

        json c;
        c["unit"] = "domains/s";
        c["what"] = "ours: " + std::to_string(o.density) + " idle hello guests (" +
                    std::to_string(o.idle_memory_mib) +
                    " MiB each) created one after another through "
                    "the control API, all kept alive. floor: as many bare VMs (same RAM, one vCPU) "
                    "created and run to their first exit on one thread, all kept alive";
        c["ours"] = summary({ours_rate});
        c["floor"] = summary({floor_rate});
        c.update(ratio_block_untargeted("ours / floor (creation rates)", ours_rate / floor_rate,
                                        ours_rate / floor_rate));
        c["destroys_per_second"] = round3(destroy_rate);
        benches["creations_per_second"] = c;

        json m;
        m["unit"] = "KiB per domain";
        m["what"] = "host memory taken per domain while " + std::to_string(o.density) +
                    " are alive (the drop in MemAvailable: guest RAM touched, KVM's kernel "
                    "memory, thread stacks, the daemon's heap). floor: the same per bare VM";
        m["ours"] = summary({ours_host_kib});
        m["floor"] = summary({floor_host_kib});
        m.update(ratio_block_untargeted("ours / floor (host memory per domain)",
                                        ours_host_kib / floor_host_kib,
                                        ours_host_kib / floor_host_kib));
        m["daemon_rss_kib_per_domain"] = round3(ours_rss_kib);
        m["floor_process_rss_kib_per_vm"] = round3(floor_rss_kib);
        m["daemon_threads_per_domain"] = round3(threads_per_domain);
        benches["memory_per_idle_domain"] = m;
    } catch (const std::exception& e) {
        errors.push_back(std::string("creations_per_second: ") + e.what());
    }
}

}  // namespace xenolith::bench
