// A hostile guest (guest/apps/hostile) tries, one mode at a time, to reach past its domain:
// host system calls, memory outside its RAM, code outside it, its own hypercall page, a bad
// upcall frame. Each mode must end only that domain, as crashed with the reason in its log,
// while a domain beside it keeps running and the daemon keeps serving.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ostream>
#include <string>

#include "tests/integration/daemon_harness.hpp"

namespace xenolith::integration {
namespace {

struct HostileMode {
    const char* mode;
    // What the crash report says on the process platform, which sees the host's signal; on
    // KVM a PV guest's exception is only "the vCPU faulted" (no IDT, PVM reports no vector).
    const char* process_reason;
};

const HostileMode kModes[] = {
    {"syscall", "host system call 39 (x86_64)"},
    {"int80", "host system call 20 (i386"},
    {"sysenter", "(i386: int $0x80 or sysenter)"},
    {"read_outside", "guest page fault at 0x2000000"},
    {"write_outside", "guest page fault at 0x2000000"},
    {"jump", "guest page fault at 0x7f0000000000 (instruction fetch)"},
    {"hypercall_page", "host system call"},
    {"upcall_frame", "event upcall frame at 0x"},
};

// Names the case in test listings, instead of its bytes.
void PrintTo(const HostileMode& m, std::ostream* os) {
    *os << m.mode;
}

bool on_process_platform() {
    const char* accel = std::getenv("XENOLITH_ACCEL");
    return accel && std::string(accel) == "process";
}

class DaemonHostile : public DaemonTest, public ::testing::WithParamInterface<HostileMode> {};

TEST_P(DaemonHostile, EndsOnlyItsOwnDomainAsCrashed) {
    const HostileMode& m = GetParam();
    ASSERT_TRUE(create("hello", "bystander", "sleep_ms=600000"));
    ASSERT_TRUE(create_only("hostile", "hostile", std::string("mode=") + m.mode, "",
                            {"on_crash=\"destroy\""}));
    ASSERT_TRUE(wait_for_log("xl-hostile.log", " destroyed\n", 10s)) << read_log("xl-hostile.log");
    const std::string xl = read_log("xl-hostile.log");
    EXPECT_NE(xl.find("has shut down, reason code 3 0x3"), std::string::npos) << xl;
    EXPECT_NE(xl.find("crashed on vCPU 0: "), std::string::npos) << xl;
    if (on_process_platform()) {
        EXPECT_NE(xl.find(m.process_reason), std::string::npos) << xl;
    }
    // The daemon still answers, and the other domain still runs.
    EXPECT_EQ(list_names(), (std::vector<std::string>{"Domain-0", "bystander"}));
    const ProcessResult info = xn({"list", "bystander"});
    EXPECT_EQ(info.exit_code, 0) << info.err;
    EXPECT_EQ(info.out.find(" c "), std::string::npos) << info.out;
    EXPECT_EQ(xn({"destroy", "bystander"}).exit_code, 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, DaemonHostile, ::testing::ValuesIn(kModes),
                         [](const ::testing::TestParamInfo<HostileMode>& info) {
                             return std::string(info.param.mode);
                         });

}  // namespace
}  // namespace xenolith::integration
