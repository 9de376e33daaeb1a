// A domain's hypercall trace (hv/trace_buffer.hpp) against real guests: every call the
// guest makes, in order, described, and the trace closed only after the last one.
#include <gtest/gtest.h>

#include <algorithm>

#include "hv/hypervisor.hpp"
#include "hv/trace_buffer.hpp"
#include "tests/integration/harness.hpp"

namespace xenolith::integration {
namespace {

using hv::DomainState;
using hv::TraceBuffer;
using hv::TraceRecord;

class HypercallTracing : public HypervisorTest {
  protected:
    // Everything the trace holds until it is closed (bounded: 10 s).
    static std::vector<TraceRecord> drain(TraceBuffer& trace) {
        std::vector<TraceRecord> all;
        const auto deadline = Clock::now() + 10s;
        while (Clock::now() < deadline) {
            uint64_t dropped = 0;
            auto got = trace.take(200ms, 1000, dropped);
            EXPECT_EQ(dropped, 0u);
            all.insert(all.end(), got.begin(), got.end());
            if (got.empty() && trace.closed()) return all;
        }
        ADD_FAILURE() << "the trace was not closed";
        return all;
    }
};

TEST_F(HypercallTracing, HelloIsEveryCallItMadeInOrderEndingWithItsShutdown) {
    ApiGuest g(*hv_, "hello", "sleep_ms=2 exit=3");
    auto trace = std::make_shared<TraceBuffer>();
    ASSERT_TRUE(g.domain().set_hypercall_trace(trace));
    EXPECT_FALSE(g.domain().set_hypercall_trace(std::make_shared<TraceBuffer>()))
        << "a second trace of the same domain";
    g.start();
    ASSERT_EQ(g.wait_for_stop(10s), std::optional(DomainState::Shutdown))
        << g.domain().crash_report();
    std::vector<TraceRecord> records = drain(*trace);
    ASSERT_GE(records.size(), 4u);
    // Exactly the calls the vCPU made: the counter the hypervisor keeps agrees.
    EXPECT_EQ(records.size(), g.domain().vcpu(0).counters().hypercalls.load());
    for (size_t i = 1; i < records.size(); ++i) {
        EXPECT_GE(records[i].time_ns, records[i - 1].time_ns);
        EXPECT_EQ(records[i].vcpu, 0u);
    }
    // Pumice starts by registering its event callback and ends by recording its exit
    // status, waiting for its console to drain, and powering off.
    EXPECT_EQ(records.front().text.rfind("callback_op(register, ", 0), 0u) << records.front().text;
    EXPECT_EQ(records.back().text, "sched_op(shutdown, poweroff) = 0");
    auto status = std::find_if(records.begin(), records.end(), [](const TraceRecord& r) {
        return r.text == "sched_op(exit_status, 3) = 0";
    });
    EXPECT_TRUE(status != records.end() && status + 1 != records.end());
    // Its 2 ms sleep: a one-shot timer, then blocks.
    bool timer = false, block = false;
    for (const auto& r : records) {
        timer |= r.text.rfind("vcpu_op(set_singleshot_timer, 0, ", 0) == 0;
        block |= r.text == "sched_op(block, 0) = 0";
    }
    EXPECT_TRUE(timer && block);
    // Removed, the trace is no longer fed; a new one may be set.
    EXPECT_TRUE(g.domain().set_hypercall_trace(nullptr));
    EXPECT_FALSE(g.domain().tracing_hypercalls());
}

TEST_F(HypercallTracing, ATraceSetOnAnEndedDomainIsClosedPromptly) {
    ApiGuest g(*hv_, "hello", "sleep_ms=1");
    g.start();
    ASSERT_EQ(g.wait_for_stop(10s), std::optional(DomainState::Shutdown));
    // The domain has stopped, but its vCPU thread may still be on its way out of the
    // shutdown call, which it then records: at most that one.
    auto trace = std::make_shared<TraceBuffer>();
    ASSERT_TRUE(g.domain().set_hypercall_trace(trace));
    const auto t0 = Clock::now();
    std::vector<TraceRecord> records = drain(*trace);
    EXPECT_LT(Clock::now() - t0, 2s);
    ASSERT_LE(records.size(), 1u);
    if (!records.empty()) {
        EXPECT_EQ(records[0].text, "sched_op(shutdown, poweroff) = 0");
    }
}

}  // namespace
}  // namespace xenolith::integration
