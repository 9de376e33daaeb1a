// `xn create` is all or nothing: a config the daemon refuses (a missing or bad kernel, a
// syntax or type error, a value out of range, a duplicate name, more memory than the host
// has or less than the image needs) fails with one message naming file:line:column where
// there is one, exit status 1, and leaves the daemon as it was: no domain, and its
// descriptor and thread counts back where they were.
#include <gtest/gtest.h>

#include <regex>

#include "platform/select.hpp"
#include "tests/integration/daemon_harness.hpp"

namespace xenolith::integration {
namespace {

using Lines = std::vector<std::string>;

class DaemonCreateErrors : public DaemonTest {
  protected:
    void SetUp() override {
        DaemonTest::SetUp();
        if (HasFatalFailure()) return;
        ASSERT_TRUE(start_daemon());
        // One guest created and destroyed first: whatever the daemon sets up once, on its
        // first domain, is then in the baseline.
        ASSERT_TRUE(create("hello", "warmup", "sleep_ms=100000"));
        ASSERT_EQ(xn({"destroy", "warmup"}).exit_code, 0);
        baseline_ = settled_counters(daemon_pid());
        path_ = dir_.path() + "/bad.cfg";
    }

    // Writes `config` as bad.cfg, runs `xn create bad.cfg overrides...` and checks the
    // contract; returns the one error line for the caller's own checks.
    std::string expect_refused(const std::string& config,
                               const std::vector<std::string>& overrides = {},
                               const Lines& listed = {"Domain-0"}) {
        write_config("bad.cfg", config);
        std::vector<std::string> args = {"create", path_};
        args.insert(args.end(), overrides.begin(), overrides.end());
        ProcessResult r = xn(args);
        EXPECT_EQ(r.exit_code, 1) << describe(r);
        EXPECT_EQ(r.out, "") << describe(r);
        // xl's "Parsing config from ..." first, then the one sentence.
        Lines err = split_lines(r.err);
        EXPECT_EQ(err.size(), 2u) << "one message expected\n" << describe(r);
        if (!err.empty()) {
            EXPECT_EQ(err[0], "Parsing config from " + path_);
        }
        EXPECT_EQ(list_names(), listed) << "a refused create leaves no domain";
        ProcessCounters after = wait_for_counters(daemon_pid(), baseline_, 3s);
        EXPECT_EQ(after.fds, baseline_.fds) << "descriptors leaked by the refused create";
        EXPECT_EQ(after.threads, baseline_.threads) << "threads leaked by the refused create";
        return err.size() == 2 ? err[1] : std::string();
    }

    // A valid config; `memory` and `vcpus` on lines 4 and 5, as the checks below count.
    static std::string config(const std::string& kernel, const std::string& memory = "32",
                              const std::string& vcpus = "1") {
        return "name = \"bad\"\n"
               "type = \"pv\"\n"
               "kernel = \"" +
               kernel +
               "\"\n"
               "memory = " +
               memory +
               "\n"
               "vcpus = " +
               vcpus +
               "\n"
               "extra = \"sleep_ms=100000\"\n";
    }

    ProcessCounters baseline_;
    std::string path_;  // bad.cfg's absolute path
};

TEST_F(DaemonCreateErrors, MissingKernel) {
    const std::string missing = dir_.path() + "/no-such-kernel";
    EXPECT_EQ(expect_refused(config(missing)),
              missing + ": cannot open the kernel image: No such file or directory");
}

TEST_F(DaemonCreateErrors, KernelThatIsNotAnElfImage) {
    const std::string junk = dir_.write("junk.bin", "this is not an ELF image\n");
    EXPECT_EQ(expect_refused(config(junk)), junk + ": not an ELF file (bad magic)");
}

TEST_F(DaemonCreateErrors, SyntaxErrorNamesFileLineAndColumn) {
    // Line 4, column 13: a second value where the line should end.
    std::string msg = expect_refused(config(guest_path("hello"), "32 32"));
    EXPECT_TRUE(starts_with(msg, path_ + ":4:13: ")) << msg;
}

TEST_F(DaemonCreateErrors, TypeErrorNamesFileLineAndColumn) {
    EXPECT_EQ(expect_refused(config(guest_path("hello"), "\"lots\"")),
              path_ + ":4:10: memory: expected an integer, got string \"lots\"");
}

TEST_F(DaemonCreateErrors, OutOfRangeValueNamesFileLineAndColumn) {
    EXPECT_EQ(expect_refused(config(guest_path("hello"), "32", "100000")),
              path_ + ":5:9: vcpus: 100000 is out of range (must be 1 to 512)");
}

TEST_F(DaemonCreateErrors, BadOverrideOnTheCommandLine) {
    std::string msg = expect_refused(config(guest_path("hello")), {"memory=\"lots\""});
    EXPECT_TRUE(starts_with(msg, "<command line>:1:")) << msg;
    EXPECT_NE(msg.find("memory: expected an integer"), std::string::npos) << msg;
}

TEST_F(DaemonCreateErrors, MoreMemoryThanTheHostHas) {
    std::string msg = expect_refused(config(guest_path("hello")), {"memory=10000000"});
    EXPECT_TRUE(std::regex_match(
        msg, std::regex(
                 R"(domain bad: memory 10000000 MiB exceeds the \d+ MiB this host has available)")))
        << msg;
}

TEST_F(DaemonCreateErrors, LessMemoryThanTheImageNeeds) {
    // Refused late, by the domain builder, after the domain itself was created.
    std::string msg = expect_refused(config(guest_path("hello")), {"memory=1"});
    EXPECT_TRUE(starts_with(msg, guest_path("hello") + ": ")) << msg;
    EXPECT_NE(msg.find("guest RAM"), std::string::npos) << msg;
}

// type = "pvh" runs only where KVM is VT-x or AMD-V. On a PVM host or one without KVM the
// create is refused before any image is read; where PVH can run, this PV image is refused
// for having no PVH entry instead. Either way one sentence and nothing left behind.
TEST_F(DaemonCreateErrors, PvhNeedsHardwareVirtualization) {
    const platform::HostPlatforms host = platform::probe_platforms();
    const std::string cfg =
        "name = \"bad\"\ntype = \"pvh\"\nkernel = \"" + guest_path("hello") + "\"\nmemory = 64\n";
    const std::string msg = expect_refused(cfg);
    if (host.kvm_hvm) {
        EXPECT_NE(msg.find("XEN_ELFNOTE_PHYS32_ENTRY"), std::string::npos) << msg;
    } else {
        EXPECT_EQ(msg, path_ + ": type = \"pvh\" needs hardware virtualization (VT-x or AMD-V); " +
                           (host.kvm ? "this host's KVM is " + host.kvm_flavour
                                     : "this host has no KVM (" + host.kvm_reason + ")"));
    }
}

// The process platform runs PV guests only: a PVH config that asks for it is refused with
// the reason, whatever the host has.
TEST_F(DaemonCreateErrors, PvhOnTheProcessPlatformIsRefused) {
    const std::string cfg = "name = \"bad\"\ntype = \"pvh\"\naccel = \"process\"\nkernel = \"" +
                            guest_path("hello") + "\"\nmemory = 64\n";
    EXPECT_EQ(expect_refused(cfg),
              path_ +
                  ": type = \"pvh\" cannot run on the process platform (accel = \"process\"): "
                  "PVH needs hardware virtualization (VT-x or AMD-V)");
}

TEST_F(DaemonCreateErrors, DuplicateName) {
    auto id = create("hello", "bad", "sleep_ms=100000");
    ASSERT_TRUE(id);
    baseline_ = settled_counters(daemon_pid());
    EXPECT_EQ(expect_refused(config(guest_path("hello")), {}, {"Domain-0", "bad"}),
              "domain 'bad' already exists (domid " + std::to_string(*id) + ")");
    // The first one is untouched.
    EXPECT_EQ(xn({"domid", "bad"}).out, std::to_string(*id) + "\n");
}

TEST_F(DaemonCreateErrors, UnknownKeyOnlyWarnsAndTheDomainIsCreated) {
    const std::string path =
        write_config("odd.cfg", config(guest_path("hello")) + "frobnicate = 3\n");
    ProcessResult r = xn({"create", path});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(split_lines(r.err), (Lines{"Parsing config from " + path,
                                         path + ":7: warning: unknown key 'frobnicate' ignored"}));
    EXPECT_EQ(list_names(), (Lines{"Domain-0", "bad"}));
}

}  // namespace
}  // namespace xenolith::integration
