// Golden files for every text the toolstack prints from the control API's structs: xl's
// list, list -v, list -l, vcpu-list, uptime, uptime -s and info, xn top, and the metrics
// endpoint. Each test renders fixed structs and compares with tests/golden/<name>.
//
// To accept a deliberate change of format, rerun with XENOLITH_UPDATE_GOLDEN=1: the tests
// then rewrite the golden files instead of comparing, and `git diff tests/golden` shows
// what changed. Check the new files by eye against xl's printf formats before committing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "toolstack/format/metrics_text.hpp"
#include "toolstack/format/top_view.hpp"
#include "toolstack/format/xl_text.hpp"

namespace xenolith::format {
namespace {

namespace fs = std::filesystem;

// The unit binary's CMake target is not ours to change, so the golden directory is found
// from this source file's own path: tests/unit/toolstack/ -> tests/golden/.
fs::path golden_dir() {
    return fs::path(__FILE__).parent_path() / ".." / ".." / "golden";
}

bool updating() {
    const char* v = std::getenv("XENOLITH_UPDATE_GOLDEN");
    return v != nullptr && std::string(v) == "1";
}

void expect_golden(const std::string& name, const std::string& actual) {
    const fs::path path = golden_dir() / name;
    if (updating()) {
        std::ofstream(path, std::ios::binary) << actual;
        return;
    }
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << path << " is missing; run with XENOLITH_UPDATE_GOLDEN=1 to create it";
    std::stringstream expected;
    expected << in.rdbuf();
    if (expected.str() == actual) return;
    // Name the first line that differs: whole texts side by side are unreadable.
    std::istringstream want(expected.str()), got(actual);
    std::string w, g;
    for (int line = 1;; ++line) {
        const bool more_w = static_cast<bool>(std::getline(want, w));
        const bool more_g = static_cast<bool>(std::getline(got, g));
        if (!more_w && !more_g) break;  // only a final newline differs
        if (more_w != more_g || w != g) {
            ADD_FAILURE() << path.lexically_normal().string() << ":" << line << " differs\n"
                          << "  golden: " << (more_w ? w : "<end of file>") << "\n"
                          << "  actual: " << (more_g ? g : "<end of file>") << "\n"
                          << "(XENOLITH_UPDATE_GOLDEN=1 rewrites the golden files)";
            return;
        }
    }
    ADD_FAILURE() << path.lexically_normal().string() << ": the final newline differs";
}

constexpr uint64_t kSecond = 1'000'000'000;

api::DomainInfo domain(uint32_t domid, std::string name, std::string state, uint64_t mem_mib,
                       uint32_t vcpus, uint64_t cpu_ns, uint64_t uptime_s) {
    api::DomainInfo d;
    d.domid = domid;
    d.name = std::move(name);
    char uuid[37];
    std::snprintf(uuid, sizeof uuid, "6f1c2a3e-7b4d-4e5f-8a9b-%012x", domid);
    d.uuid = domid == 0 ? "00000000-0000-0000-0000-000000000000" : uuid;
    d.type = "pv";
    d.state = std::move(state);
    d.memory_kib = mem_mib * 1024;
    d.max_memory_kib = mem_mib * 1024;
    d.target_kib = mem_mib * 1024;
    d.vcpus_online = vcpus;
    d.max_vcpus = vcpus;
    d.cpu_time_ns = cpu_ns;
    d.uptime_ns = uptime_s * kSecond;
    return d;
}

// Domain-0, a blocked guest, a paused one with an offline vCPU, one shut down for a
// reboot, a crashed one, a dying one and one whose name overflows xl's 40 columns.
std::vector<api::DomainInfo> domains() {
    std::vector<api::DomainInfo> v;
    auto& dom0 = v.emplace_back(domain(0, "Domain-0", "running", 2048, 2, 1234567890123,
                                       1 * 86400 + 2 * 3600 + 3 * 60 + 4));
    dom0.running = true;
    dom0.exits = 1'000'000;
    dom0.hypercalls = 400'000;
    dom0.upcalls = 50'000;
    dom0.event_channels = 12;
    dom0.events_sent = 60'000;
    dom0.grant_entries = 3;

    auto& web = v.emplace_back(domain(1, "web", "running", 512, 1, 42'050'000'000, 83));
    web.blocked = true;
    web.exits = 20'000;
    web.hypercalls = 9'000;
    web.upcalls = 700;
    web.event_channels = 4;
    web.events_sent = 1'500;
    web.grant_entries = 33;

    auto& paused =
        v.emplace_back(domain(2, "batch", "paused", 256, 1, 7'250'000'000, 3 * 86400 + 59));
    paused.paused = true;
    paused.max_vcpus = 2;
    paused.max_memory_kib = 512 * 1024;

    auto& rebooting = v.emplace_back(domain(3, "rebooter", "shutdown", 128, 1, 900'000'000, 3600));
    rebooting.shutdown = true;
    rebooting.shutdown_reason = 1;  // SHUTDOWN_reboot

    auto& crashed = v.emplace_back(domain(4, "crashy", "crashed", 64, 1, 12'340'000, 5));
    crashed.shutdown = true;
    crashed.shutdown_reason = 3;  // SHUTDOWN_crash

    auto& dying = v.emplace_back(domain(5, "leaving", "dying", 32, 1, 1'000'000, 86400));
    dying.shutdown = true;
    dying.shutdown_reason = 0;  // SHUTDOWN_poweroff
    dying.dying = true;

    auto& longname = v.emplace_back(domain(17, "a-guest-whose-name-is-longer-than-forty-columns",
                                           "running", 32, 1, 987'654'321, 59));
    longname.running = true;
    longname.max_memory_kib = UINT64_MAX;  // xentop: "no limit"
    return v;
}

api::VcpuInfo vcpu(uint32_t domid, std::string name, uint32_t n, uint64_t time_ns) {
    api::VcpuInfo v;
    v.domid = domid;
    v.domain_name = std::move(name);
    v.vcpu = n;
    v.online = true;
    v.time_ns = time_ns;
    return v;
}

std::vector<api::VcpuInfo> vcpus() {
    std::vector<api::VcpuInfo> v;
    auto& d0v0 = v.emplace_back(vcpu(0, "Domain-0", 0, 700'000'000'000));
    d0v0.running = true;
    d0v0.cpu = 0;
    auto& d0v1 = v.emplace_back(vcpu(0, "Domain-0", 1, 534'567'890'123));
    d0v1.blocked = true;
    d0v1.cpu = 1;
    auto& web = v.emplace_back(vcpu(1, "web", 0, 42'050'000'000));
    web.blocked = true;
    web.cpu = 3;
    web.hard_affinity = "2-3";
    auto& b0 = v.emplace_back(vcpu(2, "batch", 0, 7'250'000'000));
    b0.cpu = 2;
    auto& b1 = v.emplace_back(vcpu(2, "batch", 1, 0));
    b1.online = false;
    auto& l0 =
        v.emplace_back(vcpu(17, "a-guest-whose-name-is-longer-than-forty-columns", 0, 987'654'321));
    l0.running = true;
    l0.cpu = 1;
    l0.hard_affinity = "0,2-3";
    l0.soft_affinity = "1";
    return v;
}

api::HostInfo host() {
    api::HostInfo h;
    h.host = "xenolith-test";
    h.release = "6.1.0-18-amd64";
    h.version = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)";
    h.machine = "x86_64";
    h.nr_cpus = 4;
    h.max_cpu_id = 3;
    h.nr_nodes = 1;
    h.cores_per_socket = 4;
    h.threads_per_core = 1;
    h.cpu_khz = 2995200;
    h.cpu_model = "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz";
    h.virt_caps = "pv";
    h.total_memory_mib = 16384;
    h.free_memory_mib = 12000;
    h.xen_major = 4;
    h.xen_minor = 17;
    h.xen_extra = "-xenolith";
    h.xen_caps = "xen-3.0-x86_64";
    h.xen_scheduler = "credit";
    h.xen_commandline = "dom0_mem=2048M";
    h.kvm_flavour = "pvm";
    h.daemon_version = "0.4.0";
    h.daemon_uptime_ns = 93784 * kSecond + 500'000'000;
    h.nr_domains = 6;
    return h;
}

// xl uptime -s and xn top print the wall clock in local time; pin the zone.
class FormatGolden : public ::testing::Test {
  protected:
    void SetUp() override {
        setenv("TZ", "UTC", 1);
        tzset();
    }
};

// 2023-11-14 22:13:20 UTC.
constexpr uint64_t kNow = 1'700'000'000 * kSecond;

TEST_F(FormatGolden, XlList) {
    expect_golden("xl-list.txt", list_text(domains(), false));
}

// Not xl's: a domain being migrated says so at the end of its line.
TEST_F(FormatGolden, XlListMigrating) {
    auto d = domains();
    d.back().migrating = "round 2, 45% of 1200 pages";
    expect_golden("xl-list-migrating.txt", list_text(d, false));
}

TEST_F(FormatGolden, XlListVerbose) {
    expect_golden("xl-list-v.txt", list_text(domains(), true));
}

TEST_F(FormatGolden, XlListLong) {
    auto d = domains();
    nlohmann::json dom0_config = {{"c_info", {{"name", "Domain-0"}, {"type", "pv"}}},
                                  {"b_info", {{"max_vcpus", 2}, {"max_memkb", 2097152}}}};
    nlohmann::json web_config = {
        {"c_info", {{"name", "web"}, {"type", "pv"}}},
        {"b_info",
         {{"max_vcpus", 1}, {"max_memkb", 524288}, {"kernel", "/srv/web.elf"}, {"cmdline", ""}}},
        {"on_crash", "destroy"}};
    expect_golden("xl-list-l.json", list_long_json({{d[0], dom0_config}, {d[1], web_config}}));
}

TEST_F(FormatGolden, XlVcpuList) {
    expect_golden("xl-vcpu-list.txt", vcpu_list_text(vcpus()));
}

TEST_F(FormatGolden, XlUptime) {
    expect_golden("xl-uptime.txt", uptime_text(domains(), false));
}

TEST_F(FormatGolden, XlUptimeShort) {
    expect_golden("xl-uptime-s.txt", uptime_text(domains(), true, kNow));
}

TEST_F(FormatGolden, XlInfo) {
    expect_golden("xl-info.txt", info_text(host()));
}

TEST_F(FormatGolden, Top) {
    TopSample before{kNow - 2 * kSecond, domains(), host()};
    // The long-named domain is new since the first sample: it shows no rates.
    before.domains.pop_back();
    TopSample now{kNow, domains(), host()};
    now.domains[0].cpu_time_ns += 3 * kSecond;  // 150% over two seconds: two busy vCPUs
    now.domains[0].exits += 40'000;
    now.domains[0].hypercalls += 10'000;
    now.domains[0].events_sent += 2'000;
    now.domains[1].cpu_time_ns += kSecond / 10;
    now.domains[1].exits += 2'001;
    now.domains[1].hypercalls += 500;
    now.domains[1].events_sent += 20;
    expect_golden("xn-top.txt", top_text(before, now));
}

TEST_F(FormatGolden, Prometheus) {
    expect_golden("metrics.txt", prometheus_text(host(), domains(), vcpus()));
}

}  // namespace
}  // namespace xenolith::format
