// `xn`'s views of a running daemon printed as xl prints them (list, list -l, domid/domname,
// uptime, vcpu-list, info, dmesg, errors), and the settings commands (vcpu-pin, vcpu-set,
// mem-set) with what they change in xenstore, read back by Debian's xenstore-read.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <regex>

#include "tests/integration/daemon_harness.hpp"

namespace xenolith::integration {
namespace {

using Lines = std::vector<std::string>;

std::string printf_string(const char* format, auto... args) {
    char buf[512];
    std::snprintf(buf, sizeof buf, format, args...);
    return buf;
}

// One `xl list` row: parsed loosely, then printed again with xl's own format string
// (xl_list.c, list_domains). The two agree only when every column has xl's width.
struct XlListRow {
    std::string name;
    unsigned domid = 0;
    unsigned long mem_mib = 0;
    unsigned vcpus = 0;
    std::string state;
    double time_s = 0;
    std::string printed_by_xl() const {
        return printf_string("%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f", name.c_str(), domid,
                             mem_mib, vcpus, state[0], state[1], state[2], state[3], state[4],
                             state[5], time_s);
    }
};

std::optional<XlListRow> parse_list_row(const std::string& line) {
    static const std::regex row(R"(^(\S+) +(\d+) +(\d+) +(\d+) +(\S{6}) +(\d+\.\d)$)");
    std::smatch m;
    if (!std::regex_match(line, m, row)) return std::nullopt;
    return XlListRow{m[1],
                     static_cast<unsigned>(std::stoul(m[2])),
                     std::stoul(m[3]),
                     static_cast<unsigned>(std::stoul(m[4])),
                     m[5],
                     std::stod(m[6])};
}

// One `xl vcpu-list` row, the same way (xl_vcpu.c, print_vcpuinfo).
struct XlVcpuRow {
    std::string name;
    unsigned domid = 0, vcpu = 0;
    std::string cpu;    // a number, or "-"
    std::string state;  // three letters
    double time_s = 0;
    std::string hard, soft;
    std::string printed_by_xl() const {
        std::string out = printf_string("%-32s %5u %5u", name.c_str(), domid, vcpu);
        out += cpu == "-" ? printf_string("%5c", '-')
                          : printf_string("%5u", static_cast<unsigned>(std::stoul(cpu)));
        out += printf_string(" %3c%c%c ", state[0], state[1], state[2]);
        out += printf_string("%9.1f  %s / %s", time_s, hard.c_str(), soft.c_str());
        return out;
    }
};

std::optional<XlVcpuRow> parse_vcpu_row(const std::string& line) {
    static const std::regex row(
        R"(^(\S+) +(\d+) +(\d+) +(\d+|-) +(\S{3}) +(\d+\.\d)  (\S+) / (\S+)$)");
    std::smatch m;
    if (!std::regex_match(line, m, row)) return std::nullopt;
    return XlVcpuRow{m[1],
                     static_cast<unsigned>(std::stoul(m[2])),
                     static_cast<unsigned>(std::stoul(m[3])),
                     m[4],
                     m[5],
                     std::stod(m[6]),
                     m[7],
                     m[8]};
}

class DaemonCli : public DaemonTest {
  protected:
    // A daemon with one hello guest that has printed its greeting and sleeps.
    void SetUp() override {
        DaemonTest::SetUp();
        if (HasFatalFailure()) return;
        ASSERT_TRUE(start_daemon());
        auto id = create("hello", "hello", "sleep_ms=100000 exit=0");
        ASSERT_TRUE(id);
        id_ = *id;
        ASSERT_TRUE(wait_for_log("guest-hello.log", "hello: vcpus=1", 10s))
            << read_log("guest-hello.log");
    }
    uint32_t id_ = 0;
};

TEST_F(DaemonCli, ListPrintsXlsHeaderDomain0FirstAndTheGuestInXlsColumns) {
    // After its greeting the guest sleeps: xl shows it blocked ("-b----").
    ProcessResult r;
    Lines lines;
    bool blocked = eventually(
        [&] {
            r = xn({"list"});
            lines = split_lines(r.out);
            return lines.size() == 3 && lines[2].find("-b----") != std::string::npos;
        },
        3s);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.err, "");
    ASSERT_EQ(lines.size(), 3u) << describe(r);
    EXPECT_TRUE(blocked) << describe(r);
    EXPECT_EQ(lines[0],
              "Name                                        ID   Mem VCPUs\tState\tTime(s)");

    auto dom0 = parse_list_row(lines[1]);
    ASSERT_TRUE(dom0) << lines[1];
    EXPECT_EQ(lines[1], dom0->printed_by_xl());
    EXPECT_EQ(dom0->name, "Domain-0");
    EXPECT_EQ(dom0->domid, 0u);
    EXPECT_EQ(dom0->vcpus, host_cpus());
    EXPECT_EQ(dom0->state, "r-----");
    EXPECT_GT(dom0->mem_mib, 0u);

    auto guest = parse_list_row(lines[2]);
    ASSERT_TRUE(guest) << lines[2];
    EXPECT_EQ(lines[2], guest->printed_by_xl());
    EXPECT_EQ(guest->name, "hello");
    EXPECT_EQ(guest->domid, id_);
    EXPECT_EQ(guest->mem_mib, 32u);
    EXPECT_EQ(guest->vcpus, 1u);
    EXPECT_EQ(guest->state, "-b----");

    // Naming domains lists just those, in the order named.
    ProcessResult some = xn({"list", "hello", "0"});
    ASSERT_EQ(some.exit_code, 0) << describe(some);
    Lines named = split_lines(some.out);
    ASSERT_EQ(named.size(), 3u) << describe(some);
    EXPECT_TRUE(starts_with(named[1], "hello ")) << named[1];
    EXPECT_TRUE(starts_with(named[2], "Domain-0 ")) << named[2];
}

TEST_F(DaemonCli, ListLongIsJsonWithDomidAndConfigCInfoName) {
    ProcessResult r = xn({"list", "-l"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    // xl prints each domain as {"domid": ..., "config": {...}}, domid first, 4-space indent.
    EXPECT_TRUE(starts_with(r.out, "[\n    {\n        \"domid\": 0,\n")) << r.out.substr(0, 200);
    nlohmann::json all = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(all.is_discarded()) << "not JSON:\n" << r.out;
    ASSERT_TRUE(all.is_array());
    ASSERT_EQ(all.size(), 2u) << all.dump(2);
    EXPECT_EQ(all[0]["domid"], 0);
    const nlohmann::json& g = all[1];
    EXPECT_EQ(g["domid"], id_);
    EXPECT_EQ(g["config"]["c_info"]["name"], "hello");
    EXPECT_EQ(g["config"]["c_info"]["type"], "pv");
    EXPECT_EQ(g["config"]["b_info"]["max_memkb"], 32768);
    EXPECT_EQ(g["config"]["b_info"]["max_vcpus"], 1);
    EXPECT_EQ(g["config"]["b_info"]["kernel"], guest_path("hello"));
    EXPECT_EQ(g["config"]["b_info"]["cmdline"], "sleep_ms=100000 exit=0");
    EXPECT_EQ(g["info"]["name"], "hello");
    EXPECT_EQ(g["info"]["memory_kib"], 32768);

    // One domain by name.
    ProcessResult one = xn({"list", "-l", "hello"});
    ASSERT_EQ(one.exit_code, 0) << describe(one);
    nlohmann::json j = nlohmann::json::parse(one.out, nullptr, false);
    ASSERT_TRUE(j.is_array() && j.size() == 1) << one.out;
    EXPECT_EQ(j[0]["config"]["c_info"]["name"], "hello");
}

TEST_F(DaemonCli, DomidAndDomnameRoundTrip) {
    ProcessResult id = xn({"domid", "hello"});
    ASSERT_EQ(id.exit_code, 0) << describe(id);
    EXPECT_EQ(id.out, std::to_string(id_) + "\n");
    EXPECT_EQ(id.err, "");
    ProcessResult name = xn({"domname", std::to_string(id_)});
    ASSERT_EQ(name.exit_code, 0) << describe(name);
    EXPECT_EQ(name.out, "hello\n");
    EXPECT_EQ(xn({"domid", "Domain-0"}).out, "0\n");
    EXPECT_EQ(xn({"domname", "0"}).out, "Domain-0\n");
    // A renamed domain answers to its new name only.
    ASSERT_EQ(xn({"rename", "hello", "greeter"}).exit_code, 0);
    EXPECT_EQ(xn({"domid", "greeter"}).out, std::to_string(id_) + "\n");
    EXPECT_EQ(xn({"domname", std::to_string(id_)}).out, "greeter\n");
    EXPECT_EQ(xn({"domid", "hello"}).exit_code, 1);
}

TEST_F(DaemonCli, UptimeInXlsLayout) {
    ProcessResult r = xn({"uptime"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    Lines lines = split_lines(r.out);
    ASSERT_EQ(lines.size(), 3u) << describe(r);
    EXPECT_EQ(lines[0], printf_string("%-33s %4s %s", "Name", "ID", "Uptime"));
    EXPECT_EQ(lines[0], "Name" + std::string(32, ' ') + "ID Uptime");
    // xl's "%-33s %4u %s" with the uptime as "%2u:%02u:%02u" (less than a day here).
    std::regex time(R"(( \d|\d\d):\d\d:\d\d)");
    const std::string dom0 = printf_string("%-33s %4u ", "Domain-0", 0u);
    const std::string guest = printf_string("%-33s %4u ", "hello", id_);
    EXPECT_TRUE(starts_with(lines[1], dom0) && std::regex_match(lines[1].substr(dom0.size()), time))
        << lines[1];
    EXPECT_TRUE(starts_with(lines[2], guest) &&
                std::regex_match(lines[2].substr(guest.size()), time))
        << lines[2];

    ProcessResult s = xn({"uptime", "-s", "hello"});
    ASSERT_EQ(s.exit_code, 0) << describe(s);
    Lines short_lines = split_lines(s.out);
    ASSERT_EQ(short_lines.size(), 1u) << describe(s);
    EXPECT_TRUE(std::regex_match(short_lines[0],
                                 std::regex(R"( \d\d:\d\d:\d\d up ( \d|\d\d):\d\d, hello \()" +
                                            std::to_string(id_) + R"(\))")))
        << short_lines[0];
}

TEST_F(DaemonCli, VcpuListInXlsLayout) {
    ProcessResult r = xn({"vcpu-list"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    Lines lines = split_lines(r.out);
    ASSERT_EQ(lines.size(), 2u) << "a header and the guest's one vCPU (Domain-0 has none listed)\n"
                                << describe(r);
    EXPECT_EQ(lines[0],
              "Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / "
              "Soft)");
    auto row = parse_vcpu_row(lines[1]);
    ASSERT_TRUE(row) << lines[1];
    EXPECT_EQ(lines[1], row->printed_by_xl());
    EXPECT_EQ(row->name, "hello");
    EXPECT_EQ(row->domid, id_);
    EXPECT_EQ(row->vcpu, 0u);
    EXPECT_NE(row->cpu, "-") << "the vCPU has run, so it has a last CPU";
    if (row->cpu != "-") {
        EXPECT_LT(std::stoul(row->cpu), host_cpus());
    }
    EXPECT_EQ(row->hard, "all");
    EXPECT_EQ(row->soft, "all");
}

TEST_F(DaemonCli, InfoHasXlInfoLines) {
    ProcessResult r = xn({"info"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    Lines lines = split_lines(r.out);
    // Every line is xl's "%-23s: %s" (a key, padded, then ": ").
    std::regex field(R"([a-z_]+ *: ?.*)");
    for (const auto& l : lines) {
        EXPECT_TRUE(std::regex_match(l, field)) << l;
        EXPECT_TRUE(l.size() >= 24 && l[23] == ':')
            << "the colon belongs in column 24: '" << l << "'";
    }
    auto has = [&](const std::string& line) {
        return std::find(lines.begin(), lines.end(), line) != lines.end();
    };
    EXPECT_TRUE(has("xen_version            : 4.17-xenolith")) << r.out;
    EXPECT_TRUE(has("xen_major              : 4")) << r.out;
    EXPECT_TRUE(has("xen_minor              : 17")) << r.out;
    EXPECT_TRUE(has("xen_extra              : -xenolith")) << r.out;
    EXPECT_TRUE(has("xen_pagesize           : 4096")) << r.out;
    EXPECT_TRUE(has("nr_cpus                : " + std::to_string(host_cpus()))) << r.out;
    EXPECT_TRUE(has("max_cpu_id             : " + std::to_string(host_cpus() - 1))) << r.out;
    ASSERT_FALSE(lines.empty());
    EXPECT_TRUE(starts_with(lines[0], "host                   : "))
        << "xl info starts with the host name";
}

TEST_F(DaemonCli, DmesgShowsTheCreationAndClears) {
    ProcessResult r = xn({"dmesg"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    std::regex created(R"(\(XEN\) \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] d)" +
                       std::to_string(id_) + R"( \(hello\): created from .*/hello\.cfg: )" +
                       guest_path("hello") + R"(, 32 MiB, 1/1 vCPUs)");
    Lines lines = split_lines(r.out);
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                            [&](const std::string& l) { return std::regex_match(l, created); }),
              1)
        << r.out;
    ProcessResult c = xn({"dmesg", "-c"});
    ASSERT_EQ(c.exit_code, 0) << describe(c);
    EXPECT_EQ(c.out, r.out) << "dmesg -c prints, then clears";
    ProcessResult after = xn({"dmesg"});
    EXPECT_EQ(after.out.find("created from"), std::string::npos) << after.out;
}

TEST_F(DaemonCli, DebugKeysDumpVcpusRingsAndEventChannelsIntoDmesg) {
    ProcessResult k = xn({"debug-keys", "qe"});
    ASSERT_EQ(k.exit_code, 0) << describe(k);
    EXPECT_EQ(k.out, "") << "xl debug-keys prints nothing: the dump goes to dmesg";
    ProcessResult r = xn({"dmesg"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    const std::string d = "\\(d" + std::to_string(id_) + "\\) ";
    // The sleeping guest: blocked, its timer armed, events delivered (nothing pending).
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex(d + "vCPU0: up, blocked, exits [1-9][0-9]*, hypercalls [1-9][0-9]*, "
                              "upcalls [0-9]+, upcall pending 0 mask 0 sel 0x[0-9a-f]+, timer "
                              "in [0-9.]+ ms")))
        << r.out;
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex(d + "xenstore ring: req cons ([0-9]+) prod \\1, rsp cons ([0-9]+) "
                              "prod \\2")))
        << r.out;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(d + "console ring: in cons 0 prod 0, out")))
        << r.out;
    // The console and xenstore ports are bound to Domain-0's backends; the timer is a VIRQ.
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex(d + "port [0-9]+: interdomain d0 port [0-9]+, vCPU0, pending 0")))
        << r.out;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(d + "port [0-9]+: virq 0, vCPU0"))) << r.out;
    // A key this hypervisor does not have: one error, no dump.
    xn({"dmesg", "-c"});
    ProcessResult bad = xn({"debug-keys", "qz"});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("no debug key 'z'"), std::string::npos) << describe(bad);
    EXPECT_EQ(xn({"dmesg"}).out.find("vCPU0:"), std::string::npos);
}

TEST_F(DaemonCli, UnknownDomainIsOneLineAndExit1) {
    const std::vector<std::vector<std::string>> commands = {
        {"domid", "nope"},           {"list", "nope"},
        {"list", "-l", "nope"},      {"destroy", "nope"},
        {"pause", "nope"},           {"unpause", "nope"},
        {"shutdown", "nope"},        {"reboot", "nope"},
        {"console", "nope"},         {"uptime", "nope"},
        {"vcpu-list", "nope"},       {"mem-set", "nope", "16m"},
        {"rename", "nope", "other"}, {"vcpu-pin", "nope", "0", "1"},
    };
    for (const auto& cmd : commands) {
        std::vector<std::string> args = cmd;
        ProcessResult r = xn(args);
        std::string what = "xn";
        for (const auto& a : cmd) what += " " + a;
        EXPECT_EQ(r.exit_code, 1) << what << "\n" << describe(r);
        EXPECT_EQ(r.out, "") << what;
        EXPECT_EQ(r.err, "domain 'nope' does not exist\n") << what;
    }
    ProcessResult r = xn({"domname", "4242"});
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_EQ(r.err, "domain '4242' does not exist\n");
    // Still there, untouched.
    EXPECT_EQ(list_names(), (Lines{"Domain-0", "hello"}));
}

// ---- vcpu-pin, vcpu-set, mem-set -----------------------------------------------------------

class DaemonSettings : public DaemonTest {
  protected:
    void SetUp() override {
        DaemonTest::SetUp();
        if (HasFatalFailure()) return;
        std::string problem = executable_problem(kXenstoreRead);
        ASSERT_TRUE(problem.empty())
            << problem << " (Debian's xenstore-utils; make deps installs it)";
        ASSERT_TRUE(start_daemon());
    }
    // xenstore-read against this daemon's xenstored.
    ProcessResult xenstore_read(const std::string& path) {
        return run_process(
            {"/usr/bin/env", "XENSTORED_PATH=" + xenstored_socket(), kXenstoreRead, path}, 10s);
    }
    std::string store_value(const std::string& path) {
        ProcessResult r = xenstore_read(path);
        EXPECT_EQ(r.exit_code, 0) << "xenstore-read " << path << ": " << describe(r);
        return r.out;
    }
    std::optional<XlVcpuRow> vcpu_row(const std::string& dom, unsigned vcpu) {
        ProcessResult r = xn({"vcpu-list", dom});
        EXPECT_EQ(r.exit_code, 0) << describe(r);
        Lines lines = split_lines(r.out);
        if (lines.size() < 2 + vcpu) return std::nullopt;
        return parse_vcpu_row(lines[1 + vcpu]);
    }
    static constexpr const char* kXenstoreRead = "/usr/bin/xenstore-read";
};

TEST_F(DaemonSettings, VcpuPinSetsTheHardAffinityVcpuListShows) {
    ASSERT_GE(host_cpus(), 2u) << "pinning to CPU 1 needs a host with two CPUs";
    auto id = create("hello", "pinned", "sleep_ms=100000");
    ASSERT_TRUE(id);
    ProcessResult pin = xn({"vcpu-pin", "pinned", "0", "1"});
    ASSERT_EQ(pin.exit_code, 0) << describe(pin);
    EXPECT_EQ(pin.out + pin.err, "");
    auto row = vcpu_row("pinned", 0);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->hard, "1");
    EXPECT_EQ(row->soft, "all");
    // Soft affinity too, and "-" leaves the hard one as it is (xl's spelling).
    ASSERT_EQ(xn({"vcpu-pin", "pinned", "all", "-", "0"}).exit_code, 0);
    row = vcpu_row("pinned", 0);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->hard, "1");
    EXPECT_EQ(row->soft, "0");
    ASSERT_EQ(xn({"vcpu-pin", "pinned", "0", "all", "all"}).exit_code, 0);
    row = vcpu_row("pinned", 0);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->hard, "all");
    EXPECT_EQ(row->soft, "all");
}

TEST_F(DaemonSettings, VcpuPinToNoHostCpuFails) {
    auto id = create("hello", "pinned", "sleep_ms=100000");
    ASSERT_TRUE(id);
    const std::string beyond = std::to_string(host_cpus() + 3);
    ProcessResult pin = xn({"vcpu-pin", "pinned", "0", beyond});
    EXPECT_EQ(pin.exit_code, 1) << describe(pin);
    EXPECT_EQ(pin.out, "");
    Lines err = split_lines(pin.err);
    ASSERT_EQ(err.size(), 1u) << describe(pin);
    EXPECT_NE(err[0].find("names no CPU of this host"), std::string::npos) << err[0];
    // A vCPU the domain does not have fails too.
    ProcessResult no_vcpu = xn({"vcpu-pin", "pinned", "5", "0"});
    EXPECT_EQ(no_vcpu.exit_code, 1) << describe(no_vcpu);
    EXPECT_EQ(split_lines(no_vcpu.err).size(), 1u) << describe(no_vcpu);
    auto row = vcpu_row("pinned", 0);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->hard, "all") << "a refused pin changes nothing";
}

TEST_F(DaemonSettings, MemSetWritesTheBalloonTargetToXenstore) {
    auto id = create("hello", "balloon", "sleep_ms=100000");
    ASSERT_TRUE(id);
    const std::string target = "/local/domain/" + std::to_string(*id) + "/memory/target";
    EXPECT_EQ(store_value(target), "32768\n");
    ProcessResult set = xn({"mem-set", "balloon", "16m"});
    ASSERT_EQ(set.exit_code, 0) << describe(set);
    EXPECT_EQ(set.out + set.err, "");
    EXPECT_EQ(store_value(target), "16384\n");
    nlohmann::json e = long_entry(*id);
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["info"]["target_kib"], 16384);
    EXPECT_EQ(e["config"]["b_info"]["target_memkb"], 16384);
    // A bare number is MiB, as in xl.
    ASSERT_EQ(xn({"mem-set", "balloon", "20"}).exit_code, 0);
    EXPECT_EQ(store_value(target), "20480\n");
}

TEST_F(DaemonSettings, MemSetAboveMaxmemFails) {
    auto id = create("hello", "balloon", "sleep_ms=100000", "maxmem = 64\n");
    ASSERT_TRUE(id);
    const std::string target = "/local/domain/" + std::to_string(*id) + "/memory/target";
    EXPECT_EQ(store_value("/local/domain/" + std::to_string(*id) + "/memory/static-max"),
              "65536\n");
    ProcessResult set = xn({"mem-set", "balloon", "128m"});
    EXPECT_EQ(set.exit_code, 1) << describe(set);
    EXPECT_EQ(set.out, "");
    Lines err = split_lines(set.err);
    ASSERT_EQ(err.size(), 1u) << describe(set);
    EXPECT_NE(err[0].find("131072 KiB exceeds"), std::string::npos) << err[0];
    EXPECT_NE(err[0].find("maximum of 65536 KiB"), std::string::npos) << err[0];
    EXPECT_EQ(store_value(target), "32768\n") << "a refused mem-set changes nothing";
    // A size xn cannot read is refused before the daemon is asked.
    ProcessResult junk = xn({"mem-set", "balloon", "lots"});
    EXPECT_EQ(junk.exit_code, 1) << describe(junk);
    EXPECT_EQ(split_lines(junk.err).size(), 1u) << describe(junk);
}

TEST_F(DaemonSettings, VcpuSetAboveMaxvcpusFails) {
    auto id = create("hello", "cpus", "sleep_ms=100000", "maxvcpus = 2\n");
    ASSERT_TRUE(id);
    const std::string cpu1 = "/local/domain/" + std::to_string(*id) + "/cpu/1/availability";
    EXPECT_EQ(store_value(cpu1), "offline\n");
    ProcessResult over = xn({"vcpu-set", "cpus", "3"});
    EXPECT_EQ(over.exit_code, 1) << describe(over);
    EXPECT_EQ(over.out, "");
    Lines err = split_lines(over.err);
    ASSERT_EQ(err.size(), 1u) << describe(over);
    EXPECT_NE(err[0].find("maxvcpus = 2"), std::string::npos) << err[0];
    EXPECT_EQ(store_value(cpu1), "offline\n") << "a refused vcpu-set changes nothing";
    // Within maxvcpus it is offered to the guest through xenstore, as xl does.
    ProcessResult ok = xn({"vcpu-set", "cpus", "2"});
    ASSERT_EQ(ok.exit_code, 0) << describe(ok);
    EXPECT_EQ(store_value(cpu1), "online\n");
    ProcessResult zero = xn({"vcpu-set", "cpus", "0"});
    EXPECT_EQ(zero.exit_code, 1) << describe(zero);
}

}  // namespace
}  // namespace xenolith::integration

namespace xenolith::integration {
namespace {

// No daemon: help must not need one.
class DaemonHelp : public DaemonTest {};

TEST_F(DaemonHelp, ListsEveryCommandWithoutADaemon) {
    ProcessResult r = xn({"help"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out.rfind("xn: the Xenolith toolstack", 0), 0u) << r.out;
    for (const char* command : {"create", "list, li", "console", "shutdown", "vcpu-pin", "mem-max",
                                "top", "cpupool-create", "sched-rtds", "help"})
        EXPECT_NE(r.out.find(std::string("\n  ") + command + " "), std::string::npos)
            << command << "\n"
            << r.out;
    // Help needs no daemon: none was started.
    EXPECT_FALSE(std::filesystem::exists(pid_file()));
}

}  // namespace
}  // namespace xenolith::integration
