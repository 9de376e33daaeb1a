#include "bench/toolstack_bench.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>

#include "base/error.hpp"
#include "bench/bare_vm.hpp"
#include "bench/guests.hpp"
#include "bench/process_bench.hpp"
#include "hv/hypervisor.hpp"
#include "platform/kvm/system.hpp"
#include "toolstack/api/protocol.hpp"

extern char** environ;

namespace xenolith::bench {

namespace {

uint64_t status_kib(pid_t pid, const std::string& key) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string k;
    uint64_t v = 0;
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
    return v;
}

// MemAvailable, the median of five reads 10 ms apart (other processes' allocations come and
// go; this only smooths the shortest of them).
uint64_t mem_available_kib() {
    std::vector<uint64_t> v;
    for (int i = 0; i < 5; ++i) {
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        v.push_back(hv::Hypervisor::host_available_memory() >> 10);
    }
    std::sort(v.begin(), v.end());
    return v[2];
}

// A process's proportional set size (shared pages divided among their mappers), KiB.
uint64_t pss_kib(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("Pss:", 0) == 0) return std::stoull(line.substr(4));
    return 0;
}

// The processes whose parent is `parent` (the daemon's stub processes).
std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
        const std::string name = e.path().filename();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream f(e.path() / "stat");
        std::string stat;
        std::getline(f, stat);
        size_t close = stat.rfind(')');  // the command name may hold spaces
        if (close == std::string::npos) continue;
        char state;
        int ppid = 0;
        if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
            out.push_back(std::stoi(name));
    }
    return out;
}

// Pss of `pids`, summed, KiB.
double pss_sum_kib(const std::vector<pid_t>& pids) {
    double sum = 0;
    for (pid_t p : pids) sum += double(pss_kib(p));
    return sum;
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

std::string idle_config(const std::string& name, const std::string& kernel, uint64_t memory_mib,
                        const char* accel) {
    return "name = \"" + name + "\"\nkernel = \"" + kernel +
           "\"\nmemory = " + std::to_string(memory_mib) + "\naccel = \"" + accel +
           "\"\nextra = \"sleep_ms=1000000000 exit=0\"\n";
}

uint32_t create(api::Client& c, const std::string& config) {
    return c.call("create", {{"config_text", config}, {"config_name", "bench.cfg"}})["domid"]
        .get<uint32_t>();
}

// create -> the guest's first console bytes at a console client of the daemon.
double create_to_running_ours(DaemonProcess& d, const std::string& kernel, uint64_t memory_mib,
                              unsigned i) {
    std::string config = idle_config("warm-" + std::to_string(i), kernel, memory_mib, "kvm");
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

// ---- on KVM --------------------------------------------------------------------------------

json create_to_running_warm_daemon(const ToolstackBenchOptions& o, DaemonProcess& daemon,
                                   const kvm::System& kvm) {
    const std::string kernel = o.guest_dir + "/hello";
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
            double r = create_to_running_ours(daemon, kernel, o.idle_memory_mib, n++);
            if (rec) ours.push_back(r);
        });
    json b = figure(
        "us",
        "ours: a `create` request (hello guest, " + std::to_string(o.idle_memory_mib) +
            " MiB, 1 vCPU, accel = \"kvm\") sent to a warm xenolithd over its control socket, "
            "until the guest's first console bytes reach a console client attached right "
            "after the reply (parse, ELF load, build, console and xenstore setup, first guest "
            "output). floor: KVM_CREATE_VM + memfd RAM + one vCPU + KVM_RUN to the first exit, "
            "on one thread",
        ours, floor);
    b.update(ratio_block_untargeted("ours.median / floor.median", median(ours) / median(floor),
                                    minimum(ours) / minimum(floor)));
    return b;
}

// What N idle domains cost the daemon and the host, and how fast they were created.
struct Density {
    double rate;          // domains/s
    double host_kib;      // MemAvailable drop per domain
    double rss_kib;       // the daemon's VmRSS growth per domain
    double threads;       // the daemon's threads per domain
    double destroy_rate;  // domains/s
    double released_kib;  // MemAvailable rise per domain once they are destroyed
    double pss_kib;       // the daemon's Pss growth plus its children's Pss, per domain
    double children;      // processes the daemon started, per domain
};

Density density_ours(const ToolstackBenchOptions& o, DaemonProcess& daemon, const char* accel) {
    const std::string kernel = o.guest_dir + "/hello";
    pid_t pid = daemon.pid();
    uint64_t avail0 = mem_available_kib();
    uint64_t rss0 = status_kib(pid, "VmRSS");
    uint64_t pss0 = pss_kib(pid);
    uint64_t threads0 = status_kib(pid, "Threads");
    size_t children0 = children_of(pid).size();
    std::vector<uint32_t> ids;
    struct Destroyer {  // on an exception too: the daemon must not keep them
        DaemonProcess& d;
        std::vector<uint32_t>& ids;
        ~Destroyer() {
            for (uint32_t id : ids) {
                try {
                    d.client().call("destroy", {{"domain", std::to_string(id)}});
                } catch (...) {
                }
            }
        }
    } destroyer{daemon, ids};
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < o.density; ++i)
        ids.push_back(create(daemon.client(),
                             idle_config("idle-" + std::string(accel) + "-" + std::to_string(i),
                                         kernel, o.idle_memory_mib, accel)));
    uint64_t t1 = now_ns();
    // Let every guest reach its idle sleep before measuring what it holds.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    Density d;
    d.rate = o.density * 1e9 / double(t1 - t0);
    d.host_kib = (double(avail0) - double(mem_available_kib())) / o.density;
    d.rss_kib = (double(status_kib(pid, "VmRSS")) - double(rss0)) / o.density;
    d.threads = (double(status_kib(pid, "Threads")) - double(threads0)) / o.density;
    std::vector<pid_t> children = children_of(pid);
    d.children = (double(children.size()) - double(children0)) / o.density;
    d.pss_kib = (double(pss_kib(pid)) - double(pss0) + pss_sum_kib(children)) / o.density;
    uint64_t avail1 = mem_available_kib();
    uint64_t t2 = now_ns();
    for (uint32_t id : ids) daemon.client().call("destroy", {{"domain", std::to_string(id)}});
    ids.clear();
    d.destroy_rate = o.density * 1e9 / double(now_ns() - t2);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    d.released_kib = (double(mem_available_kib()) - double(avail1)) / o.density;
    return d;
}

void kvm_density(const ToolstackBenchOptions& o, DaemonProcess& daemon, const kvm::System& kvm,
                 json& benches) {
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

    Density ours = density_ours(o, daemon, "kvm");

    json c = figure("domains/s",
                    "ours: " + std::to_string(o.density) + " idle hello guests (" +
                        std::to_string(o.idle_memory_mib) +
                        " MiB each, accel = \"kvm\") created one after another through the "
                        "control API, all kept alive. floor: as many bare VMs (same RAM, one "
                        "vCPU) created and run to their first exit on one thread, all kept alive",
                    {ours.rate}, {floor_rate});
    c.update(ratio_block_untargeted("ours / floor (creation rates)", ours.rate / floor_rate,
                                    ours.rate / floor_rate));
    c["destroys_per_second"] = round3(ours.destroy_rate);
    benches["creations_per_second"] = c;

    json m = figure("KiB per domain",
                    "host memory taken per domain while " + std::to_string(o.density) +
                        " are alive (the drop in MemAvailable: guest RAM touched, KVM's kernel "
                        "memory, thread stacks, the daemon's heap). floor: the same per bare VM",
                    {ours.host_kib}, {floor_host_kib});
    m.update(ratio_block_untargeted("ours / floor (host memory per domain)",
                                    ours.host_kib / floor_host_kib,
                                    ours.host_kib / floor_host_kib));
    m["daemon_rss_kib_per_domain"] = round3(ours.rss_kib);
    m["floor_process_rss_kib_per_vm"] = round3(floor_rss_kib);
    m["ours_released_on_destroy_kib"] = round3(ours.released_kib);
    m["daemon_threads_per_domain"] = round3(ours.threads);
    benches["memory_per_idle_domain"] = m;
}

// ---- on the process platform ---------------------------------------------------------------

// posix_spawn with stdin from and stdout, stderr to /dev/null; returns the pid.
pid_t spawn_quiet(const std::string& path, const std::vector<std::string>& args) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(path.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw SystemError("posix_spawn " + path, rc);
    return pid;
}

void process_density(const ToolstackBenchOptions& o, DaemonProcess& daemon, json& process) {
    progress("process.creations_per_second and process.memory_per_idle_domain: " +
             std::to_string(o.density) + " domains");
    const std::string idle = floor_program("idle");
    // Floor first: N static idle processes alive at once.
    uint64_t avail0 = mem_available_kib();
    std::vector<pid_t> pids;
    struct Killer {
        std::vector<pid_t>& pids;
        ~Killer() {
            for (pid_t p : pids) ::kill(p, SIGKILL);
            for (pid_t p : pids) {
                int status;
                ::waitpid(p, &status, 0);
            }
        }
    } killer{pids};
    pids.reserve(o.density);
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < o.density; ++i) pids.push_back(spawn_quiet(idle, {}));
    uint64_t t1 = now_ns();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    double floor_rate = o.density * 1e9 / double(t1 - t0);
    uint64_t avail1 = mem_available_kib();
    double floor_host_kib = (double(avail0) - double(avail1)) / o.density;
    double floor_pss_kib = pss_sum_kib(pids) / o.density;
    for (pid_t p : pids) ::kill(p, SIGKILL);
    for (pid_t p : pids) {
        int status;
        ::waitpid(p, &status, 0);
    }
    pids.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    double floor_released_kib = (double(mem_available_kib()) - double(avail1)) / o.density;

    Density ours = density_ours(o, daemon, "process");

    json c = figure("domains/s",
                    "ours: " + std::to_string(o.density) + " idle hello guests (" +
                        std::to_string(o.idle_memory_mib) +
                        " MiB each, accel = \"process\": a stub process each) created one "
                        "after another through the warm daemon's control API, all kept alive. "
                        "floor: as many static idle processes (bench/floors/idle.S, pause(2) "
                        "in a loop) posix_spawn'ed one after another, all kept alive",
                    {ours.rate}, {floor_rate});
    c.update(ratio_block("ours / floor (creation rates)", ours.rate / floor_rate, ">=", 0.8,
                         ours.rate / floor_rate));
    c["destroys_per_second"] = round3(ours.destroy_rate);
    process["creations_per_second"] = c;

    json m = figure("KiB per domain",
                    "host memory taken per domain while " + std::to_string(o.density) +
                        " are alive: the drop in MemAvailable, so guest pages (the memfd "
                        "pages the builder and the guest touched), the stub process, the "
                        "daemon's threads and heap. floor: the same per idle static process",
                    {ours.host_kib}, {floor_host_kib});
    m.update(ratio_block_untargeted("ours / floor (host memory per domain)",
                                    ours.host_kib / floor_host_kib,
                                    ours.host_kib / floor_host_kib));
    m["target_kib"] = "< 1024 per domain";
    m["target_kib_met"] = ours.host_kib < 1024;
    // Cross-checks: MemAvailable moves with every other process on the machine.
    m["ours_released_on_destroy_kib"] = round3(ours.released_kib);
    m["floor_released_on_kill_kib"] = round3(floor_released_kib);
    m["ours_pss_kib"] = round3(ours.pss_kib);
    m["floor_pss_kib"] = round3(floor_pss_kib);
    m["pss_is"] =
        "ours: the daemon's Pss growth plus the Pss of its child processes (the stubs), per "
        "domain; floor: the idle processes' Pss, per process. Pss counts each shared page "
        "once across its mappers and leaves out kernel memory (page tables, stacks)";
    m["daemon_rss_kib_per_domain"] = round3(ours.rss_kib);
    m["daemon_threads_per_domain"] = round3(ours.threads);
    m["daemon_child_processes_per_domain"] = round3(ours.children);
    process["memory_per_idle_domain"] = m;
}

// hello.cfg as shipped, with the kernel's path made absolute and accel = "process".
std::string hello_config_for_process(const std::string& guest_dir) {
    std::ifstream in(std::string(XENOLITH_SOURCE_DIR) + "/examples/hello.cfg");
    if (!in) throw Error(std::string("cannot read ") + XENOLITH_SOURCE_DIR + "/examples/hello.cfg");
    std::string out, line;
    while (std::getline(in, line)) {
        if (line.rfind("kernel", 0) == 0 || line.rfind("accel", 0) == 0) continue;
        out += line + "\n";
    }
    return out + "kernel = \"" + guest_dir + "/hello\"\naccel = \"process\"\n";
}

double wall_us(const std::string& path, const std::vector<std::string>& args) {
    uint64_t t0 = now_ns();
    pid_t pid = spawn_quiet(path, args);
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) throw SystemError("waitpid", errno);
    uint64_t t1 = now_ns();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw Error(path + " failed: " +
                    (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                       : "killed by signal " + std::to_string(WTERMSIG(status))));
    return (t1 - t0) / 1e3;
}

json xn_run_wall_time(const ToolstackBenchOptions& o) {
    progress("process.xn_run_wall_time: " + std::to_string(o.xn_run_reps) + " reps");
    char dir[] = "/tmp/xenolith-bench-xn-XXXXXX";
    if (!::mkdtemp(dir)) throw SystemError("mkdtemp", errno);
    struct Cleanup {
        std::string dir;
        ~Cleanup() {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    } cleanup{dir};
    const std::string cfg = std::string(dir) + "/hello.cfg";
    {
        std::ofstream out(cfg);
        out << hello_config_for_process(o.guest_dir);
        if (!out) throw Error("cannot write " + cfg);
    }
    const std::string xn = XN_PATH;
    const std::string floor_program_path = floor_program("true");
    std::vector<double> ours, floor;
    interleave(
        1, o.xn_run_reps,
        [&](bool rec) {
            double us = wall_us(floor_program_path, {});
            if (rec) floor.push_back(us);
        },
        [&](bool rec) {
            double us = wall_us(xn, {"run", cfg, "extra=\"sleep_ms=0\""});
            if (rec) ours.push_back(us);
        });
    json b = figure("us",
                    "ours: `xn run hello.cfg 'extra=\"sleep_ms=0\"'` as a whole process: "
                    "examples/hello.cfg with its kernel path made absolute and accel = "
                    "\"process\"; xn starts its own hypervisor, spawns the stub, builds and "
                    "boots the hello guest, which prints its greeting and exits 0, and xn exits "
                    "with it (stdout and stderr to /dev/null). floor: bench/floors/true.S, a "
                    "static program that exits at once. Both posix_spawn'ed (vfork + exec) and "
                    "waited for with waitpid",
                    ours, floor);
    b.update(ratio_block_untargeted("ours.median / floor.median", median(ours) / median(floor),
                                    minimum(ours) / minimum(floor)));
    return b;
}

}  // namespace

void toolstack_benchmarks(const ToolstackBenchOptions& o, json& benches, json& process,
                          json& errors) {
    raise_fd_limit();
    std::optional<DaemonProcess> daemon;
    try {
        daemon.emplace(o.daemon_path);
    } catch (const std::exception& e) {
        errors.push_back(std::string("toolstack: cannot start xenolithd: ") + e.what());
        return;
    }
    if (o.kvm_reason.empty()) {
        std::optional<kvm::System> kvm;
        try {
            kvm.emplace();
        } catch (const std::exception& e) {
            errors.push_back(std::string("toolstack: /dev/kvm: ") + e.what());
        }
        if (kvm) {
            record(benches, errors, "create_to_running_warm_daemon",
                   [&] { return create_to_running_warm_daemon(o, *daemon, *kvm); });
            try {
                kvm_density(o, *daemon, *kvm, benches);
            } catch (const std::exception& e) {
                errors.push_back(std::string("creations_per_second: ") + e.what());
            }
        }
    } else {
        for (const char* name :
             {"create_to_running_warm_daemon", "creations_per_second", "memory_per_idle_domain"})
            benches[name] = not_measured(o.kvm_reason);
    }
    if (!o.process_reason.empty()) return;
    try {
        process_density(o, *daemon, process);
    } catch (const std::exception& e) {
        errors.push_back(std::string("process.creations_per_second: ") + e.what());
    }
    record(
        process, errors, "xn_run_wall_time", [&] { return xn_run_wall_time(o); }, "process.");
}

}  // namespace xenolith::bench
