// Hypercalls as `xn trace --hypercalls` prints them (hv/hypercall_names.hpp): Xen's names
// for numbers, sub-operations and errno values, structures read from the guest, and
// guest text escaped and cut; and the trace buffer's bounds.
#include <gtest/gtest.h>

#include <cstring>

#include "abi/xenolith.h"
#include "hv/hypercall_names.hpp"
#include "hv/trace_buffer.hpp"
#include "tests/unit/hv/hypercall_fixture.hpp"

namespace xenolith::hv::testing {
namespace {

class HypercallNames : public HypercallTest {
  protected:
    std::string describe(uint64_t nr, HypercallArgs args, long result) {
        return describe_hypercall(nr, args, result,
                                  GuestAccess(domain_->memory(), plan_.layout.pt_base));
    }
};

TEST_F(HypercallNames, NumbersAndErrnosHaveXensNames) {
    EXPECT_STREQ(hypercall_name(__HYPERVISOR_console_io), "console_io");
    EXPECT_STREQ(hypercall_name(__HYPERVISOR_sched_op), "sched_op");
    EXPECT_STREQ(hypercall_name(__HYPERVISOR_hypfs_op), "hypfs_op");
    EXPECT_EQ(hypercall_name(200), nullptr);
    EXPECT_STREQ(xen_errno_name(-XEN_EINVAL), "EINVAL");
    EXPECT_STREQ(xen_errno_name(-XEN_ENOSYS), "ENOSYS");
    EXPECT_EQ(xen_errno_name(0), nullptr);
    EXPECT_EQ(xen_errno_name(22), nullptr);  // a positive result is no error
}

TEST_F(HypercallNames, StructuresAreReadFromTheGuest) {
    sched_shutdown_t sd{SHUTDOWN_poweroff};
    EXPECT_EQ(describe(__HYPERVISOR_sched_op, {SCHEDOP_shutdown, put(sd)}, 0),
              "sched_op(shutdown, poweroff) = 0");
    evtchn_send_t send{7};
    EXPECT_EQ(describe(__HYPERVISOR_event_channel_op, {EVTCHNOP_send, put(send)}, -XEN_EINVAL),
              "event_channel_op(send, port 7) = -22 (EINVAL)");
    evtchn_bind_virq_t virq{VIRQ_TIMER, 1, 5};
    EXPECT_EQ(describe(__HYPERVISOR_event_channel_op, {EVTCHNOP_bind_virq, put(virq)}, 0),
              "event_channel_op(bind_virq, virq 0, vcpu 1 -> port 5) = 0");
    uint32_t status = 3;
    EXPECT_EQ(describe(__HYPERVISOR_sched_op, {XENOLITH_SCHEDOP_exit_status, put(status)}, 0),
              "sched_op(exit_status, 3) = 0");
    // An argument that does not translate reads as "?", never as a crash.
    EXPECT_EQ(describe(__HYPERVISOR_sched_op, {SCHEDOP_shutdown, kUnmapped}, -XEN_EFAULT),
              "sched_op(shutdown, ?) = -14 (EFAULT)");
}

TEST_F(HypercallNames, ConsoleTextIsEscapedAndCut) {
    struct Text {
        char bytes[80];
    } text{};
    std::strcpy(text.bytes, "a \"b\"\n\x01");
    EXPECT_EQ(describe(__HYPERVISOR_console_io, {CONSOLEIO_write, 7, put(text)}, 0),
              "console_io(write, 7, \"a \\\"b\\\"\\n\\x01\") = 0");
    std::memset(text.bytes, 'x', sizeof text.bytes);
    std::string line = describe(__HYPERVISOR_console_io, {CONSOLEIO_write, 80, put(text)}, 0);
    EXPECT_NE(line.find("\"..."), std::string::npos) << line;
    EXPECT_LT(line.size(), 100u) << line;
}

TEST_F(HypercallNames, UnknownOperationsShowTheirNumbers) {
    EXPECT_EQ(describe(__HYPERVISOR_sched_op, {99, 0x10}, -XEN_ENOSYS),
              "sched_op(99, 0x10) = -38 (ENOSYS)");
    EXPECT_EQ(describe(200, {1, 2, 3, 4, 5}, -XEN_ENOSYS),
              "hypercall_200(0x1, 0x2, 0x3, 0x4, 0x5) = -38 (ENOSYS)");
}

TEST(HypercallTraceBuffer, DropsWhatDoesNotFitAndCountsIt) {
    TraceBuffer trace(2);
    for (uint32_t i = 0; i < 5; ++i) trace.record({.time_ns = i, .text = "r" + std::to_string(i)});
    uint64_t dropped = 0;
    auto got = trace.take(std::chrono::milliseconds(0), 10, dropped);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].text, "r0");
    EXPECT_EQ(got[1].text, "r1");
    EXPECT_EQ(dropped, 3u);
    got = trace.take(std::chrono::milliseconds(0), 10, dropped);
    EXPECT_TRUE(got.empty());
    EXPECT_EQ(dropped, 0u);
    EXPECT_FALSE(trace.closed());
    trace.close();
    EXPECT_TRUE(trace.closed());
    // A closed trace does not make its reader wait.
    auto t0 = std::chrono::steady_clock::now();
    trace.take(std::chrono::seconds(5), 10, dropped);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

}  // namespace
}  // namespace xenolith::hv::testing
