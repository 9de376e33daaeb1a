// xenolith-bench: `make bench`. Prints one JSON document on stdout; every figure is measured
// beside its floor in the same run, repetitions interleaved (floor and ours alternate, in
// alternating order) so that drift on a shared machine hits both, and reported as a ratio.
// Progress notes go to stderr. Exit status: 0, or 1 when any benchmark reported an error
// (a guest that crashed, a compute result that differs from the native one, ...).
// docs/benchmarks.md says what each figure means.
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends/xenstored/local_client.hpp"
#include "backends/xenstored/socket_server.hpp"
#include "backends/xenstored/wire.hpp"
#include "backends/xenstored/xenstored.hpp"
#include "base/error.hpp"
#include "bench/bare_vm.hpp"
#include "bench/guests.hpp"
#include "bench/io_bench.hpp"
#include "bench/migration_bench.hpp"
#include "bench/process_bench.hpp"
#include "bench/report.hpp"
#include "bench/sched_bench.hpp"
#include "bench/state_bench.hpp"
#include "bench/toolstack_bench.hpp"
#include "bench/vmi_bench.hpp"
#include "boot/elf_image.hpp"
#include "boot/pv_builder.hpp"
#include "common/compute_kernel.hpp"
#include "hv/grant_table.hpp"
#include "hv/hypercall.hpp"
#include "hv/hypervisor.hpp"
#include "platform/kvm/kvm_platform.hpp"
#include "platform/kvm/probe.hpp"
#include "tests/support/test_domain.hpp"  // built, never started domains for grant copies
#include "toolstack/launch/pv_guest.hpp"
#include "toolstack/launch/store_service.hpp"

namespace xenolith::bench {
namespace {

// The KVM floors open their own VMs beside the hypervisor's, on the same /dev/kvm.
const kvm::System& kvm_system(hv::Hypervisor& hv) {
    auto* kvm =
        dynamic_cast<kvm::KvmPlatform*>(&hv.platforms().choose(platform::Accel::Kvm).platform);
    if (!kvm) throw Error("the KVM figures need the KVM platform");
    return kvm->system();
}

struct Options {
    std::string guest_dir;  // default: <binary dir>/../guest/apps
    unsigned create_reps = 41;
    unsigned create_warmups = 5;
    uint64_t create_memory_mib = 16;
    uint64_t hypercall_n = 5000;
    unsigned hypercall_reps = 9;
    uint64_t compute_n = 100'000'000;
    unsigned compute_reps = 7;
    uint64_t guest_memory_mib = 32;  // the Pumice `bench` guest
    uint64_t event_rounds = 1000;
    unsigned event_reps = 9;
    unsigned grant_batch = 64;
    unsigned grant_calls = 1024;
    unsigned grant_reps = 9;
    uint64_t xs_ops = 5000;
    unsigned xs_reps = 7;
    std::string daemon_path = XENOLITHD_PATH;
    uint64_t notify_rounds = 1000;
    unsigned notify_reps = 9;
    unsigned density = 1000;
    unsigned xn_run_reps = 21;
    SchedBenchOptions sched;          // sched_decision_cost, wake_latency
    IoBenchOptions io;                // the "io" section (bench/io_bench.hpp)
    VmiBenchOptions vmi;              // the "vmi" section (bench/vmi_bench.hpp)
    StateBenchOptions state;          // the "state" section (bench/state_bench.hpp)
    MigrationBenchOptions migration;  // in the "state" section (bench/migration_bench.hpp)
    std::string only;  // "io", "vmi" or "state": that section alone; "migration": its part
};

// ---- 1. create to first hypercall --------------------------------------------------------

struct CreateFloor {
    double total_us;    // KVM_CREATE_VM start -> first port-I/O exit back in user space
    double setup_us;    // VM, RAM, vCPU, page tables, TSS, program, registers
    double run_us;      // the first KVM_RUN
    double destroy_us;  // closing it all (not in total)
};

CreateFloor create_floor(const kvm::System& kvm, uint64_t memory_mib) {
    uint64_t t0 = now_ns();
    std::optional<BareVm> vm;
    vm.emplace(kvm, memory_mib << 20, 1);
    uint64_t t1 = now_ns();
    uint32_t value = vm->run_to_port_exit();
    uint64_t t2 = now_ns();
    vm.reset();
    uint64_t t3 = now_ns();
    if (value != 17)
        throw Error("floor VM: first exit wrote " + std::to_string(value) + ", not 17");
    return {(t2 - t0) / 1e3, (t1 - t0) / 1e3, (t2 - t1) / 1e3, (t3 - t2) / 1e3};
}

// ---- 2. hypercall round trip -------------------------------------------------------------

struct HypercallFloor {
    double guest_ns_per_exit;  // the guest's RDTSC around the loop, scaled like pvclock
    double host_ns_per_exit;   // the host's clock around the KVM_RUN loop
};

HypercallFloor hypercall_floor(hv::Hypervisor& hv, uint64_t n, uint64_t memory_mib) {
    BareVm vm(kvm_system(hv), memory_mib << 20, n);
    uint64_t exits = 0;
    uint64_t t0 = now_ns();
    for (;;) {
        uint32_t v = vm.run_to_port_exit();
        if (v == kDoneMarker) break;
        ++exits;
    }
    uint64_t t1 = now_ns();
    if (exits != n)
        throw Error("floor VM: " + std::to_string(exits) + " exits, expected " + std::to_string(n));
    double guest_ns = static_cast<double>(hv::scale_delta(vm.loop_ticks(), hv.time().scale()));
    return {guest_ns / static_cast<double>(n),
            static_cast<double>(t1 - t0) / static_cast<double>(n + 1)};
}

// ---- 4. interdomain event round trip -----------------------------------------------------

// Two pingpong guests (32 MiB each): the server first, the client once the server has
// printed its port. Returns the client's ns_per_round.
double event_ours(hv::Hypervisor& hv, const boot::ElfImage& pingpong, uint64_t rounds) {
    auto server = hv.create_domain(params("pong", 32, platform::Accel::Kvm));
    auto client = hv.create_domain(params("ping", 32, platform::Accel::Kvm));
    struct Reaper {
        hv::Hypervisor& owner;
        ::domid_t a, b;
        ~Reaper() {
            owner.destroy_domain(a);
            owner.destroy_domain(b);
        }
    } reaper{hv, server->id(), client->id()};
    Console server_out, client_out;
    std::string r = "rounds=" + std::to_string(rounds);
    launch::PvGuest sg = launch::setup_pv_guest(
        hv, *server, pingpong, "role=server " + r + " peer=" + std::to_string(client->id()),
        server_out.sink());
    server->start();
    unsigned port = 0;
    for (uint64_t deadline = now_ns() + 5'000'000'000;
         now_ns() < deadline && !server->stopping();) {
        std::string text = server_out.get();
        size_t at = text.find("pingpong: port=");
        if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
            port = static_cast<unsigned>(std::strtoul(text.c_str() + at + 15, nullptr, 10));
            break;
        }
        ::usleep(200);
    }
    if (port == 0) {
        server->destroy();
        throw Error("the pingpong server did not print its port; console: " + server_out.get());
    }
    launch::PvGuest cg =
        launch::setup_pv_guest(hv, *client, pingpong,
                               "role=client " + r + " peer=" + std::to_string(server->id()) +
                                   " port=" + std::to_string(port),
                               client_out.sink());
    client->start();
    hv::DomainState cend = stop_within(*client, 60'000);
    hv::DomainState send = stop_within(*server, 5'000);
    cg.console.reset();
    sg.console.reset();
    auto clean = [](hv::Domain& d, hv::DomainState s) {
        return s == hv::DomainState::Shutdown && d.shutdown_reason() == SHUTDOWN_poweroff &&
               d.exit_status().value_or(0) == 0;
    };
    if (!clean(*client, cend) || !clean(*server, send))
        throw Error("pingpong guests did not both power off cleanly: client " +
                    stop_description(*client, cend) + ", server " +
                    stop_description(*server, send) + "; client console: " + client_out.get() +
                    "; server console: " + server_out.get());
    std::string line = line_with(client_out.get(), "pingpong: rounds=");
    unsigned long long got = 0, ns = 0;
    if (std::sscanf(line.c_str(), "pingpong: rounds=%llu ns_per_round=%llu", &got, &ns) != 2 ||
        got != rounds)
        throw Error("cannot parse the pingpong client's line: " + line);
    return static_cast<double>(ns);
}

struct EventFloor {
    double guest_ns_per_round;  // the bare guest's RDTSC around its loop, pvclock-scaled
    double host_ns_per_round;   // the host's clock around the KVM_RUN
};

// A bare guest notifies through an ioeventfd-bound port (no exit to user space); a host
// thread, blocked in poll() on that eventfd, wakes, reads it and answers with a store into
// guest memory, which the guest spins on (bare_vm.hpp, Program::kEventLoop).
EventFloor event_floor(hv::Hypervisor& hv, uint64_t rounds, uint64_t memory_mib) {
    BareVm vm(kvm_system(hv), memory_mib << 20, rounds, Program::kEventLoop);
    kvm::IoEventFd notify(vm.vm(), kFloorEventPort, 4);
    std::atomic_ref<uint64_t> answer(*vm.answer_slot());
    std::atomic<bool> stop{false};
    std::atomic<bool> read_failed{false};
    std::thread responder([&] {
        uint64_t answered = 0;
        while (answered < rounds && !stop.load(std::memory_order_relaxed)) {
            pollfd p{notify.fd(), POLLIN, 0};
            int n = ::poll(&p, 1, 100);  // the timeout only lets `stop` be seen
            if (n <= 0) continue;
            uint64_t v = 0;
            if (::read(notify.fd(), &v, sizeof v) != static_cast<ssize_t>(sizeof v)) {
                if (errno == EAGAIN || errno == EINTR) continue;
                read_failed = true;
                return;
            }
            answered += v;
            answer.store(answered, std::memory_order_release);
        }
    });
    uint64_t t0 = now_ns();
    uint32_t value = 0;
    try {
        value = vm.run_to_port_exit();
    } catch (...) {
        stop = true;
        responder.join();
        throw;
    }
    uint64_t t1 = now_ns();
    stop = true;
    responder.join();
    if (read_failed) throw Error("floor: reading the ioeventfd failed");
    if (value != kDoneMarker) throw Error("floor VM: ended with " + std::to_string(value));
    double guest_ns = static_cast<double>(hv::scale_delta(vm.loop_ticks(), hv.time().scale()));
    return {guest_ns / static_cast<double>(rounds),
            static_cast<double>(t1 - t0) / static_cast<double>(rounds)};
}

// ---- 5. grant copy throughput ------------------------------------------------------------

// Two built, never started test domains (tests/support/test_domain.hpp): `batch` pages of
// the first are copied to `batch` pages the second has granted it, with GNTTABOP_copy
// called as the first domain's vCPU 0 through hv::dispatch_hypercall.
unsigned long grant_rigs = 0;  // names the rig's domains

class GrantCopyRig {
  public:
    GrantCopyRig(hv::Hypervisor& hv, unsigned batch) : hv_(hv), batch_(batch) {
        a_ = xenolith::testing::make_test_domain(
            hv, "bench-gnt-src-" + std::to_string(++grant_rigs), kMemory, 1);
        b_ = xenolith::testing::make_test_domain(
            hv, "bench-gnt-dst-" + std::to_string(++grant_rigs), kMemory, 1);
        std::vector<gnttab_copy_t> ops(batch);
        for (unsigned i = 0; i < batch; ++i) {
            grant_ref_t ref = kFirstRef + i;
            grant_entry_v1_t& e = entry(*b_.domain, ref);
            e.frame = static_cast<uint32_t>(pfn(b_, i));
            e.domid = a_.domain->id();
            std::atomic_ref<uint16_t>(e.flags).store(GTF_permit_access);
            uint8_t* src = page(a_, i);
            uint32_t x = i + 1;
            for (size_t k = 0; k < hv::kPageSize; ++k) {
                x = x * 1664525u + 1013904223u;
                src[k] = static_cast<uint8_t>(x >> 24);
            }
            gnttab_copy_t& op = ops[i];
            op = gnttab_copy_t{};
            op.source.u.gmfn = pfn(a_, i);
            op.source.domid = DOMID_SELF;
            op.dest.u.ref = ref;
            op.dest.domid = b_.domain->id();
            op.len = hv::kPageSize;
            op.flags = GNTCOPY_dest_gref;
        }
        ops_va_ = a_.plan.layout.first_free;  // identity-mapped scratch, as the unit tests use
        std::memcpy(a_.domain->memory().base() + ops_va_, ops.data(),
                    ops.size() * sizeof(gnttab_copy_t));
    }
    ~GrantCopyRig() {
        hv_.destroy_domain(a_.domain->id());
        hv_.destroy_domain(b_.domain->id());
    }
    uint64_t batch_bytes() const { return uint64_t{batch_} * hv::kPageSize; }

    // `calls` GNTTABOP_copy calls of the whole batch; bytes/s.
    double ours(unsigned calls) {
        hv::HypercallContext ctx{*a_.domain, a_.domain->vcpu(0),
                                 hv::GuestAccess(a_.domain->memory(), a_.plan.layout.pt_base)};
        uint64_t t0 = now_ns();
        for (unsigned c = 0; c < calls; ++c) {
            long rc = hv::dispatch_hypercall(ctx, __HYPERVISOR_grant_table_op,
                                             {GNTTABOP_copy, ops_va_, batch_, 0, 0});
            if (rc != 0) throw Error("GNTTABOP_copy returned " + std::to_string(rc));
        }
        uint64_t t1 = now_ns();
        const auto* ops =
            reinterpret_cast<const gnttab_copy_t*>(a_.domain->memory().base() + ops_va_);
        for (unsigned i = 0; i < batch_; ++i)
            if (ops[i].status != GNTST_okay)
                throw Error("GNTTABOP_copy segment " + std::to_string(i) + " status " +
                            std::to_string(ops[i].status));
        verify("GNTTABOP_copy");
        return static_cast<double>(calls) * static_cast<double>(batch_bytes()) * 1e9 /
               static_cast<double>(t1 - t0);
    }
    // The same pages, memcpy'd one 4 KiB segment at a time between the two guests' RAM.
    double floor(unsigned calls) {
        uint64_t t0 = now_ns();
        for (unsigned c = 0; c < calls; ++c) {
            for (unsigned i = 0; i < batch_; ++i)
                std::memcpy(page(b_, i), page(a_, i), hv::kPageSize);
            asm volatile("" ::: "memory");
        }
        uint64_t t1 = now_ns();
        verify("memcpy");
        return static_cast<double>(calls) * static_cast<double>(batch_bytes()) * 1e9 /
               static_cast<double>(t1 - t0);
    }
    // Clears the destination, so the next side's copy is checked afresh.
    void clear() {
        for (unsigned i = 0; i < batch_; ++i) std::memset(page(b_, i), 0, hv::kPageSize);
    }

  private:
    static constexpr uint64_t kMemory = 16 << 20;
    static constexpr grant_ref_t kFirstRef = 8;
    static uint64_t pfn(const xenolith::testing::TestDomain& t, unsigned i) {
        return (t.plan.layout.first_free >> hv::kPageShift) + 256 + i;
    }
    static uint8_t* page(const xenolith::testing::TestDomain& t, unsigned i) {
        return t.domain->memory().base() + (pfn(t, i) << hv::kPageShift);
    }
    static grant_entry_v1_t& entry(hv::Domain& d, grant_ref_t ref) {
        auto frames = d.grant_table().frame_list(d.grant_table().nr_frames());
        uint64_t gpa = (frames.at(ref / hv::kGrantEntriesPerFrame) << hv::kPageShift) +
                       (ref % hv::kGrantEntriesPerFrame) * sizeof(grant_entry_v1_t);
        return *d.memory().object<grant_entry_v1_t>(gpa);
    }
    void verify(const char* who) {
        for (unsigned i = 0; i < batch_; ++i)
            if (std::memcmp(page(a_, i), page(b_, i), hv::kPageSize) != 0)
                throw Error(std::string(who) + ": page " + std::to_string(i) +
                            " differs after the copy");
        clear();
    }

    hv::Hypervisor& hv_;
    unsigned batch_;
    xenolith::testing::TestDomain a_, b_;
    uint64_t ops_va_ = 0;
};

// ---- 6. xenstore rates -------------------------------------------------------------------

// A raw xenstore client on the unix socket: one request written, its whole reply read,
// before the next (as xenstore-read does).
class RawXsClient {
  public:
    explicit RawXsClient(const std::string& path) {
        fd_.reset(static_cast<int>(
            check_syscall(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        check_syscall(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr),
                      "connect");
    }
    std::string request(uint32_t type, std::string_view payload) {
        uint32_t id = ++next_id_;
        std::string msg = xenstored::encode_message(type, id, 0, payload);
        for (size_t off = 0; off < msg.size();) {
            ssize_t n = ::write(fd_.get(), msg.data() + off, msg.size() - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw Error("xenstore socket: write failed");
            off += static_cast<size_t>(n);
        }
        xsd_sockmsg h;
        read_exactly(&h, sizeof h);
        std::string body(h.len, '\0');
        read_exactly(body.data(), h.len);
        if (h.req_id != id || h.type != type)
            throw Error("xenstore socket: reply " + std::string(xenstored::type_name(h.type)) +
                        " " + body);
        return body;
    }

  private:
    void read_exactly(void* p, size_t len) {
        auto* out = static_cast<char*>(p);
        while (len > 0) {
            ssize_t n = ::read(fd_.get(), out, len);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw Error("xenstore socket: connection closed");
            out += n;
            len -= static_cast<size_t>(n);
        }
    }
    UniqueFd fd_;
    uint32_t next_id_ = 0;
};

constexpr std::string_view kXsPath = "/local/domain/0/bench/key";
constexpr std::string_view kXsValue = "0123456789abcdef";  // 16 bytes

std::string xs_path_nul() {
    return std::string(kXsPath) + '\0';
}

// ops/s of `n` requests of `type` (XS_READ or XS_WRITE of kXsValue to kXsPath).
template <typename Request>
double xs_rate(uint64_t n, uint32_t type, Request&& request) {
    std::string payload = xs_path_nul();
    if (type == XS_WRITE) payload += kXsValue;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        std::string reply = request(type, payload);
        if (type == XS_READ && reply != kXsValue)
            throw Error("xenstore read returned '" + reply + "'");
    }
    uint64_t t1 = now_ns();
    return static_cast<double>(n) * 1e9 / static_cast<double>(t1 - t0);
}

// ---- the machine --------------------------------------------------------------------------

std::string iso_date_utc() {
    time_t t = ::time(nullptr);
    tm g{};
    gmtime_r(&t, &g);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &g);
    return buf;
}

json machine_facts() {
    kvm::HostProbe host = kvm::probe_host();
    utsname u{};
    ::uname(&u);
    json m;
    m["kvm_flavour"] = kvm::flavour_name(host.flavour);
    m["kvm_available"] = host.kvm_available;
    if (!host.kvm_error.empty()) m["kvm_error"] = host.kvm_error;
    m["cpu_model"] = host.cpu_model;
    m["host_cpus"] = host.host_cpus;
    m["online_cpus"] = ::sysconf(_SC_NPROCESSORS_ONLN);
    m["host_memory_mib"] = host.host_memory_bytes >> 20;
    m["tsc_khz"] = host.tsc_khz;
    m["kernel"] = std::string(u.sysname) + " " + u.release;
    m["date"] = iso_date_utc();
    double load[3] = {};
    if (::getloadavg(load, 3) == 3)
        m["loadavg"] = {round3(load[0]), round3(load[1]), round3(load[2])};
    return m;
}

// What every benchmark function is given.
struct Ctx {
    const Options& o;
    hv::Hypervisor& hv;
    std::string guest_dir;
    const boot::ElfImage& first;
    const boot::ElfImage& bench;
    json& benches;
    json& errors;
};

// ---- 1-4: the KVM figures ------------------------------------------------------------------

json kvm_create_to_first_hypercall(Ctx& c) {
    const Options& o = c.o;
    hv::Hypervisor& hv = c.hv;
    progress("create_to_first_hypercall: " + std::to_string(o.create_reps) + " reps");
    std::vector<CreateOurs> ours;
    std::vector<CreateFloor> floor;
    interleave(
        o.create_warmups, o.create_reps,
        [&](bool rec) {
            auto f = create_floor(kvm_system(hv), o.create_memory_mib);
            if (rec) floor.push_back(f);
        },
        [&](bool rec) {
            auto r = create_ours(hv, c.first, o.create_memory_mib, platform::Accel::Kvm);
            if (rec) ours.push_back(r);
        });
    auto col = [](const auto& v, auto field) {
        std::vector<double> out;
        for (const auto& x : v) out.push_back(x.*field);
        return out;
    };
    std::vector<double> ours_total = col(ours, &CreateOurs::total_us);
    std::vector<double> floor_total = col(floor, &CreateFloor::total_us);
    json b;
    b["unit"] = "us";
    b["what"] =
        "ours: wall time on the toolstack thread from calling hv::Hypervisor::create_domain "
        "(16 MiB, 1 vCPU) through boot::build_pv_domain (the `first` ELF already parsed in "
        "memory) and Domain::start until vCPU 0's hypercall counter reads 1, i.e. the vCPU "
        "thread has taken the guest's first hypercall exit (xen_version) out of KVM_RUN; "
        "polled by spinning. floor: on one thread, KVM_CREATE_VM + memfd RAM of the same "
        "size + KVM_CREATE_VCPU + boot/ page tables and I/O TSS + hv::pv_sregs CPL-3 state + "
        "KVM_RUN until the first `out` to the hypercall port returns to user space";
    b["ours"] = summary(ours_total);
    b["floor"] = summary(floor_total);
    b.update(ratio_block("ours.median / floor.median", median(ours_total) / median(floor_total),
                         "<=", 2.0, minimum(ours_total) / minimum(floor_total)));
    b["ours_phases_median_us"] = {
        {"create_domain", round3(median(col(ours, &CreateOurs::create_domain_us)))},
        {"setup_pv_guest", round3(median(col(ours, &CreateOurs::build_us)))},
        {"start_to_first_hypercall", round3(median(col(ours, &CreateOurs::start_to_hc_us)))},
    };
    b["floor_phases_median_us"] = {
        {"setup", round3(median(col(floor, &CreateFloor::setup_us)))},
        {"first_kvm_run", round3(median(col(floor, &CreateFloor::run_us)))},
    };
    b["ours_create_to_shutdown"] = summary(col(ours, &CreateOurs::to_shutdown_us), false);
    // Sanity check of the polling: from the first hypercall seen to the domain's
    // shutdown is the second hypercall's exit plus teardown of the vCPU; near 0 means
    // the first one was observed late.
    std::vector<double> gap;
    for (const auto& x : ours) gap.push_back(x.to_shutdown_us - x.total_us);
    b["ours_first_hypercall_to_shutdown_median_us"] = round3(median(gap));
    b["ours_samples_polled_late"] =
        std::count_if(ours.begin(), ours.end(), [](const CreateOurs& x) { return x.polled_late; });
    b["teardown_median_us"] = {
        {"ours_destroy_domain", round3(median(col(ours, &CreateOurs::destroy_us)))},
        {"floor_close", round3(median(col(floor, &CreateFloor::destroy_us)))},
    };
    return b;
}

json kvm_hypercall_round_trip(Ctx& c) {
    const Options& o = c.o;
    hv::Hypervisor& hv = c.hv;
    progress("hypercall_round_trip: n=" + std::to_string(o.hypercall_n) + ", " +
             std::to_string(o.hypercall_reps) + " reps");
    std::vector<double> ours, floor_guest, floor_host;
    interleave(
        1, o.hypercall_reps,
        [&](bool rec) {
            auto f = hypercall_floor(hv, o.hypercall_n, o.guest_memory_mib);
            if (rec) {
                floor_guest.push_back(f.guest_ns_per_exit);
                floor_host.push_back(f.host_ns_per_exit);
            }
        },
        [&](bool rec) {
            double ns = hypercall_ours(hv, c.bench, o.hypercall_n, o.guest_memory_mib,
                                       platform::Accel::Kvm);
            if (rec) ours.push_back(ns);
        });
    json b;
    b["unit"] = "ns per call";
    b["n"] = o.hypercall_n;
    b["what"] =
        "ours: the `bench` guest (mode=hypercall) times n xen_version(XENVER_version) calls "
        "through the hypercall page with its pvclock (RDTSC) and prints ns/n. floor: a bare "
        "CPL-3 guest loop of n 4-byte `out`s to the same port, the host doing nothing but "
        "KVM_RUN again; the guest times the loop with RDTSC, scaled to ns with the same "
        "pvclock scale";
    b["ours"] = summary(ours);
    b["floor"] = summary(floor_guest);
    b["floor_host_timed"] = summary(floor_host, false);
    b.update(ratio_block("ours.median / floor.median", median(ours) / median(floor_guest),
                         "<=", 1.3, minimum(ours) / minimum(floor_guest)));
    return b;
}

json kvm_guest_compute(Ctx& c) {
    const Options& o = c.o;
    hv::Hypervisor& hv = c.hv;
    progress("guest_compute: n=" + std::to_string(o.compute_n) + ", " +
             std::to_string(o.compute_reps) + " reps");
    std::vector<double> guest_ns, native_ns;
    std::vector<uint64_t> guest_results, native_results;
    interleave(
        1, o.compute_reps,
        [&](bool rec) {
            auto r = compute_native(hv, o.compute_n);
            if (rec) native_ns.push_back(r.ns);
            native_results.push_back(r.result);
        },
        [&](bool rec) {
            auto r =
                compute_ours(hv, c.bench, o.compute_n, o.guest_memory_mib, platform::Accel::Kvm);
            if (rec) guest_ns.push_back(r.ns);
            guest_results.push_back(r.result);
        });
    json b;
    b["unit"] = "ns";
    b["n"] = o.compute_n;
    b["what"] =
        "ours: the `bench` guest (mode=compute) runs compute_kernel(n) from "
        "guest/apps/common/compute_kernel.hpp and prints the time it measured with its "
        "pvclock. floor: the same kernel run natively on the benchmark's thread, timed "
        "with RDTSC and the same scale";
    b["ours"] = summary(guest_ns);
    b["floor"] = summary(native_ns);
    double ratio = median(native_ns) / median(guest_ns);
    b.update(ratio_block("floor.median / ours.median (native_ns / guest_ns; 1 = native speed)",
                         ratio, ">=", 0.9, minimum(native_ns) / minimum(guest_ns)));
    bool match = !guest_results.empty() && !native_results.empty();
    for (uint64_t r : guest_results) match = match && r == native_results.front();
    for (uint64_t r : native_results) match = match && r == native_results.front();
    b["result_guest"] = guest_results.empty() ? json(nullptr) : json(guest_results.front());
    b["result_native"] = native_results.empty() ? json(nullptr) : json(native_results.front());
    b["results_match"] = match;
    if (!match) {
        char buf[128];
        std::snprintf(buf, sizeof buf,
                      "guest_compute: guest result %" PRIu64 " != native result %" PRIu64,
                      guest_results.empty() ? 0 : guest_results.front(),
                      native_results.empty() ? 0 : native_results.front());
        c.errors.push_back(buf);
    }
    return b;
}

json kvm_interdomain_event_round_trip(Ctx& c) {
    const Options& o = c.o;
    hv::Hypervisor& hv = c.hv;
    progress("interdomain_event_round_trip: rounds=" + std::to_string(o.event_rounds) + ", " +
             std::to_string(o.event_reps) + " reps");
    boot::ElfImage pingpong = load_guest(c.guest_dir, "pingpong");
    std::vector<double> ours, floor_guest, floor_host;
    interleave(
        1, o.event_reps,
        [&](bool rec) {
            auto f = event_floor(hv, o.event_rounds, o.guest_memory_mib);
            if (rec) {
                floor_guest.push_back(f.guest_ns_per_round);
                floor_host.push_back(f.host_ns_per_round);
            }
        },
        [&](bool rec) {
            double ns = event_ours(hv, pingpong, o.event_rounds);
            if (rec) ours.push_back(ns);
        });
    json b;
    b["unit"] = "ns per round trip";
    b["rounds"] = o.event_rounds;
    b["what"] =
        "ours: two `pingpong` guests joined by an interdomain event channel; the client "
        "sends, blocks until the server's answer arrives, `rounds` times, timed with its "
        "pvclock (EVTCHNOP_send and SCHEDOP_block are hypercall exits; delivery is an "
        "upcall on the woken vCPU). floor: a bare CPL-3 guest `out`s to a port bound with "
        "KVM_IOEVENTFD (signalled in the kernel, no exit), a host thread blocked in poll() "
        "on that eventfd wakes, reads it and answers with a store into guest memory that "
        "the guest spins on; the guest times its loop with RDTSC, pvclock-scaled";
    b["ours"] = summary(ours);
    b["floor"] = summary(floor_guest);
    b["floor_host_timed"] = summary(floor_host, false);
    b.update(ratio_block_untargeted("ours.median / floor.median",
                                    median(ours) / median(floor_guest),
                                    minimum(ours) / minimum(floor_guest)));
    return b;
}

json grant_copy_throughput(Ctx& c) {
    const Options& o = c.o;
    hv::Hypervisor& hv = c.hv;
    progress("grant_copy_throughput: " + std::to_string(o.grant_calls) + " calls of " +
             std::to_string(o.grant_batch) + " x 4 KiB, " + std::to_string(o.grant_reps) + " reps");
    GrantCopyRig rig(hv, o.grant_batch);
    std::vector<double> ours, floor;
    interleave(
        1, o.grant_reps,
        [&](bool rec) {
            double r = rig.floor(o.grant_calls);
            if (rec) floor.push_back(r);
        },
        [&](bool rec) {
            double r = rig.ours(o.grant_calls);
            if (rec) ours.push_back(r);
        });
    json b;
    b["unit"] = "bytes/s";
    b["segment_bytes"] = hv::kPageSize;
    b["segments_per_call"] = o.grant_batch;
    b["calls_per_sample"] = o.grant_calls;
    b["what"] =
        "ours: GNTTABOP_copy of `segments_per_call` 4 KiB segments per call (source: the "
        "caller's own frames; destination: grant refs the peer gave it), `calls_per_sample` "
        "calls through hv::dispatch_hypercall on two built, never started domains, host "
        "wall time. floor: memcpy of the same 4 KiB segments between the same two guests' "
        "RAM. Both copies are verified byte for byte after every sample";
    b["ours"] = summary(ours);
    b["floor"] = summary(floor);
    b["ours_median_gib_per_s"] = round3(median(ours) / double(1ull << 30));
    b["floor_median_gib_per_s"] = round3(median(floor) / double(1ull << 30));
    b.update(ratio_block_untargeted("ours.median / floor.median (throughput; 1 = memcpy speed)",
                                    median(ours) / median(floor), maximum(ours) / maximum(floor)));
    return b;
}

void xenstore_rates(Ctx& c) {
    const Options& o = c.o;
    progress("xenstore_rates: " + std::to_string(o.xs_ops) + " ops, " + std::to_string(o.xs_reps) +
             " reps");
    xenstored::Xenstored daemon;
    xenstored::LocalClient local(daemon);
    local.write(kXsPath, kXsValue);
    char dir[] = "/tmp/xenolith-bench-xs-XXXXXX";
    if (!::mkdtemp(dir)) throw Error("mkdtemp failed");
    std::string sock_path = std::string(dir) + "/socket";
    struct Cleanup {
        std::string dir;
        ~Cleanup() {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    } cleanup{dir};
    std::optional<xenstored::SocketServer> server;
    server.emplace(daemon, sock_path);
    RawXsClient raw(sock_path);
    // Over a guest's own ring: the xsbench guest times its requests with its pvclock.
    std::vector<double> ring_read, ring_write;
    std::string ring_error;
    try {
        launch::StoreService store(c.hv);
        boot::ElfImage xsbench = load_guest(c.guest_dir, "xsbench");
        for (unsigned rep = 0; rep <= o.xs_reps; ++rep) {
            std::string line = line_with(run_guest(c.hv, xsbench, "n=" + std::to_string(o.xs_ops),
                                                   32, platform::Accel::Auto, &store),
                                         "xsbench: ");
            unsigned long long n = 0, rns = 0, wns = 0;
            if (std::sscanf(line.c_str(), "xsbench: n=%llu read_ns=%llu write_ns=%llu", &n, &rns,
                            &wns) != 3 ||
                rns == 0 || wns == 0)
                throw Error("cannot parse '" + line + "'");
            if (rep == 0) continue;  // warm-up
            ring_read.push_back(1e9 / double(rns));
            ring_write.push_back(1e9 / double(wns));
        }
    } catch (const std::exception& e) {
        ring_error = e.what();
        c.errors.push_back(std::string("xenstore_rates (guest ring): ") + e.what());
    }
    auto via_socket = [&](uint32_t t, std::string_view p) { return raw.request(t, p); };
    auto in_process = [&](uint32_t t, std::string_view p) { return local.request(t, p); };
    for (uint32_t type : {uint32_t{XS_READ}, uint32_t{XS_WRITE}}) {
        std::vector<double> ours, floor;
        interleave(
            1, o.xs_reps,
            [&](bool rec) {
                double r = xs_rate(o.xs_ops, type, in_process);
                if (rec) floor.push_back(r);
            },
            [&](bool rec) {
                double r = xs_rate(o.xs_ops, type, via_socket);
                if (rec) ours.push_back(r);
            });
        bool read = type == XS_READ;
        json b;
        b["unit"] = "ops/s";
        b["ops_per_sample"] = o.xs_ops;
        b["what"] = std::string(read ? "XS_READ" : "XS_WRITE") + " of " + std::string(kXsPath) +
                    " (16-byte value), one request at a time. ours: a raw client speaking "
                    "xsd_sockmsg to xenstored::SocketServer over its unix socket (write the "
                    "request, read the whole reply). floor: the same requests in-process "
                    "through xenstored::LocalClient on the same daemon";
        b["ours"] = summary(ours);
        b["floor"] = summary(floor);
        b.update(
            ratio_block_untargeted("ours.median / floor.median (socket rate / in-process rate)",
                                   median(ours) / median(floor), maximum(ours) / maximum(floor)));
        const std::vector<double>& ring = read ? ring_read : ring_write;
        if (!ring.empty()) {
            b["guest_ring"] = {
                {"what",
                 "the xsbench guest's own requests over its xenstore ring (pvclock-timed), "
                 "beside the same in-process floor"},
                {"platform", c.hv.platforms().default_choice().platform.name()},
                {"ops_per_s", summary(ring)},
                {"ratio", round3(median(ring) / median(floor))},
                {"ratio_is", "guest_ring.median / floor.median (ring rate / in-process rate)"}};
        } else {
            b["guest_ring"] = "not measured: " + ring_error;
        }
        c.benches[read ? "xenstore_read_rate" : "xenstore_write_rate"] = b;
    }
    server.reset();
}

// ---- driver ------------------------------------------------------------------------------

// Which platforms can run guests here: "measured", or "not measured: <reason>".
struct PlatformsHere {
    std::string kvm_reason;      // empty: KVM runs guests
    std::string process_reason;  // empty: the process platform runs guests
    json describe(const platform::HostPlatforms& host) const {
        json p;
        json measured = json::array();
        if (kvm_reason.empty()) measured.push_back("kvm");
        if (process_reason.empty()) measured.push_back("process");
        p["measured"] = measured;
        p["kvm"] = kvm_reason.empty() ? json("measured (" + host.kvm_flavour + ")")
                                      : not_measured(kvm_reason);
        p["process"] = process_reason.empty() ? json("measured") : not_measured(process_reason);
        p["default"] = host.kvm ? "kvm" : "process";
        return p;
    }
};

int run(const Options& o) {
    json doc;
    doc["schema"] = "xenolith-bench/1";
    doc["ok"] = false;  // filled in at the end; placed first for readers
    doc["errors"] = json::array();
    doc["machine"] = machine_facts();
    doc["platforms"] = nullptr;  // filled in once probed; placed here for readers
    json errors = json::array();
    json benches = json::object();
    json process = json::object();
    json io = json::object();

    std::string guest_dir = o.guest_dir.empty() ? default_guest_dir() : o.guest_dir;
    doc["config"] = {
        {"guest_dir", guest_dir},
        {"create_reps", o.create_reps},
        {"create_warmups", o.create_warmups},
        {"create_memory_mib", o.create_memory_mib},
        {"hypercall_n", o.hypercall_n},
        {"hypercall_reps", o.hypercall_reps},
        {"compute_n", o.compute_n},
        {"compute_reps", o.compute_reps},
        {"bench_guest_memory_mib", o.guest_memory_mib},
        {"event_rounds", o.event_rounds},
        {"event_reps", o.event_reps},
        {"notify_rounds", o.notify_rounds},
        {"notify_reps", o.notify_reps},
        {"grant_batch", o.grant_batch},
        {"grant_calls", o.grant_calls},
        {"grant_reps", o.grant_reps},
        {"xenstore_ops", o.xs_ops},
        {"xenstore_reps", o.xs_reps},
        {"density", o.density},
        {"xn_run_reps", o.xn_run_reps},
        {"sched_decisions", o.sched.decisions},
        {"sched_switches", o.sched.switches},
        {"sched_reps", o.sched.decision_reps},
        {"wake_samples", o.sched.wake_samples},
        {"wake_period_us", o.sched.wake_period_us},
        {"wake_reps", o.sched.wake_reps},
        {"order", "floor and ours alternate, the first of each pair alternating (ABBA...)"},
    };
    doc["config"]["io"] = io_config(o.io);
    doc["config"]["vmi"] = vmi_config(o.vmi);
    doc["config"]["state"] = state_config(o.state);
    doc["config"]["state"]["live_migration"] = migration_config(o.migration);
    json vmi = json::object();
    json state = json::object();

    auto finish = [&] {
        // One line per benchmark first, the details after.
        doc["summary"] = brief(benches);
        doc["summary"]["process"] = brief(process);
        doc["summary"]["io"] = brief(io);
        doc["summary"]["vmi"] = brief(vmi);
        doc["summary"]["state"] = brief(state);
        double load[3] = {};
        if (::getloadavg(load, 3) == 3)
            doc["machine"]["loadavg_end"] = {round3(load[0]), round3(load[1]), round3(load[2])};
        doc["benchmarks"] = benches;
        doc["process"] = process;
        doc["io"] = io;
        doc["vmi"] = vmi;
        doc["state"] = state;
        doc["errors"] = errors;
        doc["ok"] = errors.empty();
        std::printf("%s\n", doc.dump(2).c_str());
        return errors.empty() ? 0 : 1;
    };

    std::optional<hv::Hypervisor> hv_storage;
    std::optional<boot::ElfImage> first, bench;
    PlatformsHere here;
    try {
        // Domains that do not say go where auto puts them; every figure here says.
        hv_storage.emplace(platform::Accel::Auto);
        const platform::HostPlatforms& host = hv_storage->platforms().host();
        if (!host.kvm)
            here.kvm_reason = "no usable /dev/kvm (" +
                              (host.kvm_reason.empty() ? std::string("unknown") : host.kvm_reason) +
                              ")";
        try {
            hv_storage->platforms().choose(platform::Accel::Process);
        } catch (const std::exception& e) {
            here.process_reason = e.what();
        }
        doc["platforms"] = here.describe(host);
        first.emplace(load_guest(guest_dir, "first"));
        bench.emplace(load_guest(guest_dir, "bench"));
    } catch (const std::exception& e) {
        errors.push_back(std::string("setup: ") + e.what());
        std::fprintf(stderr, "xenolith-bench: %s\n", e.what());
        return finish();
    }
    hv::Hypervisor& hv = *hv_storage;
    // Block and network through `xn run` on the process platform (bench/io_bench.hpp).
    auto io_section = [&] {
        IoBenchOptions io_options = o.io;
        io_options.guest_dir = guest_dir;
        io_options.xn_path = XN_PATH;
        if (!here.process_reason.empty())
            io["all"] = not_measured(here.process_reason);
        else
            io_benchmarks(io_options, io, errors);
    };
    if (o.only == "io") {
        io_section();
        return finish();
    }
    // Introspection on the process platform (bench/vmi_bench.hpp).
    auto vmi_section = [&] {
        VmiBenchOptions vmi_options = o.vmi;
        vmi_options.guest_dir = guest_dir;
        if (!here.process_reason.empty())
            vmi["all"] = not_measured(here.process_reason);
        else
            vmi_benchmarks(hv, vmi_options, vmi, errors);
    };
    if (o.only == "vmi") {
        vmi_section();
        return finish();
    }
    // Live migration, filed in "state" (bench/migration_bench.hpp).
    auto migration_section = [&] {
        MigrationBenchOptions migration_options = o.migration;
        migration_options.guest_dir = guest_dir;
        migration_options.kvm_reason = here.kvm_reason;
        migration_options.process_reason = here.process_reason;
        migration_benchmarks(hv, migration_options, state, errors);
    };
    // Save and restore, then live migration, on each platform that runs guests
    // (bench/state_bench.hpp, bench/migration_bench.hpp).
    auto state_section = [&] {
        StateBenchOptions state_options = o.state;
        state_options.guest_dir = guest_dir;
        state_options.kvm_reason = here.kvm_reason;
        state_options.process_reason = here.process_reason;
        state_benchmarks(hv, state_options, state, errors);
        migration_section();
    };
    if (o.only == "state") {
        state_section();
        return finish();
    }
    if (o.only == "migration") {
        migration_section();
        return finish();
    }
    Ctx c{o, hv, guest_dir, *first, *bench, benches, errors};

    // 1-4 need KVM (their floors are bare KVM VMs); elsewhere they say why they are absent.
    const std::pair<const char*, json (*)(Ctx&)> kvm_figures[] = {
        {"create_to_first_hypercall", kvm_create_to_first_hypercall},
        {"hypercall_round_trip", kvm_hypercall_round_trip},
        {"guest_compute", kvm_guest_compute},
        {"interdomain_event_round_trip", kvm_interdomain_event_round_trip},
    };
    for (const auto& [name, measure] : kvm_figures) {
        if (!here.kvm_reason.empty())
            benches[name] = not_measured(here.kvm_reason);
        else
            record(benches, errors, name, [&, measure = measure] { return measure(c); });
    }
    // 5-6 run on any platform (the grant copies on built, never started domains; the
    // xenstore guest ring on the default platform).
    record(benches, errors, "grant_copy_throughput", [&] { return grant_copy_throughput(c); });
    try {
        xenstore_rates(c);
    } catch (const std::exception& e) {
        errors.push_back(std::string("xenstore_rates: ") + e.what());
    }

    // The process platform's own figures, beside the bare mechanisms under it.
    ProcessBenchOptions po;
    po.guest_dir = guest_dir;
    po.create_reps = o.create_reps;
    po.create_warmups = o.create_warmups;
    po.create_memory_mib = o.create_memory_mib;
    po.hypercall_n = o.hypercall_n;
    po.hypercall_reps = o.hypercall_reps;
    po.notify_rounds = o.notify_rounds;
    po.notify_reps = o.notify_reps;
    po.compute_n = o.compute_n;
    po.compute_reps = o.compute_reps;
    po.guest_memory_mib = o.guest_memory_mib;
    if (here.process_reason.empty())
        process_benchmarks(hv, po, process, errors);
    else
        process["all"] = not_measured(here.process_reason);

    SchedBenchOptions so = o.sched;
    so.guest_dir = guest_dir;
    so.guest_memory_mib = o.guest_memory_mib;
    sched_benchmarks(hv, so, benches, errors);

    ToolstackBenchOptions ts;
    ts.daemon_path = o.daemon_path;
    ts.guest_dir = guest_dir;
    ts.density = o.density;
    ts.xn_run_reps = o.xn_run_reps;
    ts.kvm_reason = here.kvm_reason;
    ts.process_reason = here.process_reason;
    toolstack_benchmarks(ts, benches, process, errors);

    io_section();
    vmi_section();
    state_section();
    return finish();
}

}  // namespace
}  // namespace xenolith::bench

int main(int argc, char** argv) {
    xenolith::bench::Options o;
    CLI::App app{
        "xenolith-bench: Xenolith's benchmarks, each beside its floor, as one JSON "
        "document on stdout (docs/benchmarks.md)"};
    app.add_option("--guest-dir", o.guest_dir,
                   "directory holding the guest images `first` and `bench` (default: "
                   "<binary>/../guest/apps)");
    app.add_option("--create-reps", o.create_reps, "create_to_first_hypercall repetitions")
        ->check(CLI::PositiveNumber);
    app.add_option("--create-warmups", o.create_warmups, "unrecorded rounds before those");
    app.add_option("--create-memory-mib", o.create_memory_mib,
                   "RAM of the `first` guest and the floor VMs")
        ->check(CLI::Range(16, 4096));
    app.add_option("--hypercall-n", o.hypercall_n, "hypercalls per hypercall_round_trip run")
        ->check(CLI::PositiveNumber);
    app.add_option("--hypercall-reps", o.hypercall_reps, "hypercall_round_trip repetitions")
        ->check(CLI::PositiveNumber);
    app.add_option("--compute-n", o.compute_n, "compute_kernel rounds per guest_compute run")
        ->check(CLI::PositiveNumber);
    app.add_option("--compute-reps", o.compute_reps, "guest_compute repetitions")
        ->check(CLI::PositiveNumber);
    app.add_option("--guest-memory-mib", o.guest_memory_mib, "RAM of the Pumice `bench` guest")
        ->check(CLI::Range(16, 4096));
    app.add_option("--event-rounds", o.event_rounds,
                   "round trips per interdomain_event_round_trip run")
        ->check(CLI::PositiveNumber);
    app.add_option("--event-reps", o.event_reps, "interdomain_event_round_trip repetitions")
        ->check(CLI::PositiveNumber);
    app.add_option("--notify-rounds", o.notify_rounds,
                   "round trips per process notify_round_trip run")
        ->check(CLI::PositiveNumber);
    app.add_option("--notify-reps", o.notify_reps, "process notify_round_trip repetitions")
        ->check(CLI::PositiveNumber);
    app.add_option("--xn-run-reps", o.xn_run_reps, "process xn_run_wall_time repetitions")
        ->check(CLI::PositiveNumber);
    app.add_option("--grant-batch", o.grant_batch, "4 KiB segments per GNTTABOP_copy call")
        ->check(CLI::Range(1, 64));
    app.add_option("--grant-calls", o.grant_calls,
                   "GNTTABOP_copy calls per grant_copy_throughput sample")
        ->check(CLI::PositiveNumber);
    app.add_option("--grant-reps", o.grant_reps, "grant_copy_throughput repetitions")
        ->check(CLI::PositiveNumber);
    app.add_option("--xenstore-ops", o.xs_ops, "requests per xenstore rate sample")
        ->check(CLI::PositiveNumber);
    app.add_option("--xenstore-reps", o.xs_reps,
                   "xenstore rate repetitions (each of read and write)")
        ->check(CLI::PositiveNumber);
    app.add_option("--daemon", o.daemon_path, "the xenolithd binary for the toolstack figures");
    app.add_option("--density", o.density,
                   "idle domains alive at once (creations_per_second, memory_per_idle_domain)")
        ->check(CLI::Range(1, 4000));
    app.add_option("--sched-decisions", o.sched.decisions,
                   "scheduling decisions per sched_decision_cost sample")
        ->check(CLI::PositiveNumber);
    app.add_option("--sched-switches", o.sched.switches, "gate hand-offs per thread per sample")
        ->check(CLI::PositiveNumber);
    app.add_option("--sched-reps", o.sched.decision_reps, "sched_decision_cost repetitions")
        ->check(CLI::PositiveNumber);
    app.add_option("--wake-samples", o.sched.wake_samples, "timer wake-ups per wake_latency run")
        ->check(CLI::Range(1, 100000));
    app.add_option("--wake-period-us", o.sched.wake_period_us,
                   "each wake_latency timer is armed for now + this")
        ->check(CLI::Range(100, 1000000));
    app.add_option("--wake-reps", o.sched.wake_reps, "wake_latency runs per scheduler, each side")
        ->check(CLI::PositiveNumber);
    app.add_option("--io-disk-mib", o.io.disk_mib, "io: the disk image's size")
        ->check(CLI::Range(16, 16384));
    app.add_option("--io-seq-qd", o.io.seq_qd, "io: 1 MiB requests in flight")
        ->check(CLI::Range(1, 32));
    app.add_option("--io-rand-qd", o.io.rand_qd, "io: 4 KiB random reads in flight")
        ->check(CLI::Range(1, 128));
    app.add_option("--io-blk-seconds", o.io.blk_seconds, "io: each block run, each side")
        ->check(CLI::Range(1, 60));
    app.add_option("--io-blk-reps", o.io.blk_reps, "io: block repetitions")
        ->check(CLI::PositiveNumber);
    app.add_option("--io-http-seconds", o.io.http_seconds, "io: each wrk run (-d)")
        ->check(CLI::Range(1, 60));
    app.add_option("--io-http-connections", o.io.http_connections, "io: wrk -c")
        ->check(CLI::Range(1, 256));
    app.add_option("--io-http-reps", o.io.http_reps, "io: wrk runs, each side")
        ->check(CLI::PositiveNumber);
    app.add_option("--io-stream-mib", o.io.stream_mib, "io: bytes per TCP stream")
        ->check(CLI::Range(1, 4096));
    app.add_option("--io-stream-reps", o.io.stream_reps, "io: TCP streams, each side")
        ->check(CLI::PositiveNumber);
    app.add_option("--state-memory-mib", o.state.memory_mib, "state: the saved guest's RAM")
        ->check(CLI::Range(16, 4096));
    app.add_option("--state-reps", o.state.reps, "state: save and restore repetitions, each side")
        ->check(CLI::PositiveNumber);
    app.add_option("--state-warmups", o.state.warmups, "state: unrecorded rounds before those");
    app.add_option("--state-dir", o.state.dir,
                   "state: where the saved files go (default: $TMPDIR, else /tmp)");
    app.add_option("--migration-rate", o.migration.rate,
                   "state: pages per second the migrated guest writes (its `dirty rate=`)")
        ->check(CLI::Range(1, 1'000'000));
    app.add_option("--migration-reps", o.migration.reps,
                   "state: live and stop-and-copy migrations and raw sends, each")
        ->check(CLI::PositiveNumber);
    app.add_option("--migration-warmups", o.migration.warmups,
                   "state: unrecorded rounds before those");
    app.add_option("--only", o.only,
                   "run one section alone (migration: the live-migration figures of \"state\")")
        ->check(CLI::IsMember({"io", "vmi", "state", "migration"}));
    CLI11_PARSE(app, argc, argv);
    return xenolith::bench::run(o);
}
