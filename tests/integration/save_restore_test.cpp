// Save/restore at the hypervisor's level (state/domain_save.hpp): a running PV guest paused,
// written into a domain stream, and made again in a new domain from it, on each platform.
// The `spin` guest counts and prints its count; restored, it counts on from where it was.
#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "backends/console/console_backend.hpp"
#include "base/error.hpp"
#include "hv/hypervisor.hpp"
#include "state/domain_save.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/not_run.hpp"

namespace xenolith::integration {
namespace {

// Every "spin: iter=N" count in `text`, in order.
std::vector<uint64_t> iterations(const std::string& text) {
    std::vector<uint64_t> out;
    static const std::regex line(R"(spin: iter=(\d+) )");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), line);
         it != std::sregex_iterator(); ++it)
        out.push_back(std::stoull((*it)[1]));
    return out;
}

class SaveRestore : public HypervisorTest {
  protected:
    // A spin guest that has printed a few counts, paused, and its whole state as a stream.
    std::vector<uint8_t> save_spin(ApiGuest& g) {
        g.start();
        EXPECT_TRUE(g.console().wait_for_more_than(3, 10s)) << g.console().text();
        g.domain().pause();
        // Its console backend drains what was written before the pause.
        std::this_thread::sleep_for(100ms);
        state::MemorySink sink;
        const state::SaveCounts counts = state::save_domain(
            g.domain(), {g.layout().console_ring, g.layout().console_port}, sink);
        EXPECT_EQ(counts.pages.pages, g.domain().memory().nr_pages());
        EXPECT_GT(counts.pages.zero_pages, 0u) << "a fresh 32 MiB guest is mostly zeros";
        EXPECT_EQ(counts.bytes, sink.bytes().size());
        return sink.bytes();
    }
    size_t domain_count() { return hv().domains().size(); }

    // Restores `stream` (of `g`, paused) with `params`, destroys `g`, runs the copy to its
    // end and checks that it counted on from where `g` was.
    void restore_and_count_on(ApiGuest& g, const std::vector<uint8_t>& stream,
                              const hv::DomainParams& params);
};

void SaveRestore::restore_and_count_on(ApiGuest& g, const std::vector<uint8_t>& stream,
                                       const hv::DomainParams& params) {
    const std::vector<uint64_t> before = iterations(g.console().text());
    ASSERT_GE(before.size(), 3u);
    state::MemorySource source(stream);
    state::RestoredDomain r = state::restore_domain(hv(), params, source);
    EXPECT_EQ(r.domain->memory().size(), g.domain().memory().size());
    EXPECT_EQ(r.domain->nr_vcpus(), 1u);
    if (params.accel != platform::Accel::Auto) {
        EXPECT_STREQ(r.domain->platform_name(),
                     params.accel == platform::Accel::Kvm ? "kvm" : "process");
    }
    ConsoleCapture console;
    r.domain->set_console(console.sink());
    auto backend =
        std::make_unique<backends::ConsoleBackend>(r.domain, r.console.port, console.sink());
    r.domain->start_restored();
    hv().destroy_domain(g.domain().id());  // the source is gone: only the copy runs

    ASSERT_TRUE(console.wait_for("spin: done", 20s)) << console.text();
    const std::vector<uint64_t> after = iterations(console.text());
    ASSERT_FALSE(after.empty()) << console.text();
    // No reboot: the first count the copy prints is past the last the source printed, and
    // the counts go on rising.
    EXPECT_GT(after.front(), before.back()) << console.text();
    EXPECT_TRUE(std::is_sorted(after.begin(), after.end())) << console.text();
    EXPECT_EQ(r.domain->wait_for_stop(), hv::DomainState::Shutdown) << r.domain->crash_report();
    EXPECT_EQ(r.domain->exit_status(), std::optional<uint32_t>(0));
    backend.reset();
    hv().destroy_domain(r.domain->id());
}

TEST_F(SaveRestore, ASpinningGuestCountsOnFromWhereItWasInANewDomain) {
    ApiGuest g(hv(), "spin", "ms=1500 report_ms=10");
    const std::vector<uint8_t> stream = save_spin(g);
    hv::DomainParams params;
    params.name = "spin-restored";
    restore_and_count_on(g, stream, params);
}

// The stream is the same on both platforms: a guest saved on KVM restores on the process
// platform, and one saved there restores on KVM where the host has it.
TEST_F(SaveRestore, AGuestSavedOnOnePlatformCountsOnOnTheOther) {
    ApiGuest g(hv(), "spin", "ms=1500 report_ms=10");
    const bool on_kvm = std::string(g.domain().platform_name()) == "kvm";
    hv::DomainParams params;
    params.name = "spin-moved";
    params.accel = on_kvm ? platform::Accel::Process : platform::Accel::Kvm;
    std::string why;
    try {
        hv().platforms().choose(params.accel);
    } catch (const Error& e) {
        why = e.what();
    }
    XENOLITH_NOT_RUN_UNLESS_AVAILABLE(why);
    const std::vector<uint8_t> stream = save_spin(g);
    restore_and_count_on(g, stream, params);
}

TEST_F(SaveRestore, ARunningDomainIsRefusedAndStaysRunning) {
    ApiGuest g(hv(), "spin", "ms=3000 report_ms=10");
    g.start();
    ASSERT_TRUE(g.console().wait_for("spin: iter=", 10s));
    state::MemorySink sink;
    EXPECT_THROW(state::save_domain(g.domain(), {}, sink), Error);
    EXPECT_TRUE(sink.bytes().empty());
    const size_t lines = g.console().lines_received();
    EXPECT_TRUE(g.console().wait_for_more_than(lines + 2, 5s));
}

// A stream cut anywhere, or with a record's contents changed to what does not fit, is
// refused with one error, and no domain is left behind.
TEST_F(SaveRestore, BadStreamsAreRefusedAndLeaveNoDomain) {
    ApiGuest g(hv(), "spin", "ms=3000 report_ms=10");
    const std::vector<uint8_t> stream = save_spin(g);
    const size_t domains = domain_count();
    auto refused = [&](std::span<const uint8_t> bytes) {
        state::MemorySource source(bytes);
        hv::DomainParams params;
        params.name = "bad";
        try {
            state::restore_domain(hv(), params, source);
        } catch (const Error& e) {
            return domain_count() == domains;
        }
        return false;
    };
    for (size_t cut : {size_t{0}, size_t{20}, size_t{40}, stream.size() / 2, stream.size() - 8,
                       stream.size() - 1})
        EXPECT_TRUE(refused(std::span(stream).first(cut))) << "cut at " << cut;
    // The last records are vCPU 0's, GUEST_TIME and END: give vCPU 0 a vCPU the domain
    // does not have.
    std::vector<uint8_t> bad = stream;
    const size_t vcpu_body = bad.size() - 8 - 16 - 1040;  // END, GUEST_TIME, the VCPU body
    bad[vcpu_body] = 7;
    EXPECT_TRUE(refused(bad));
    // ... or a vcpu_info address past RAM.
    bad = stream;
    const size_t vcpu_info = vcpu_body + 8 + 18 * 8 + 4 * 8;
    for (size_t i = 0; i < 8; ++i) bad[vcpu_info + i] = 0x7f;
    EXPECT_TRUE(refused(bad));
    // The stream itself still restores.
    state::MemorySource source(stream);
    hv::DomainParams params;
    params.name = "good";
    state::RestoredDomain r = state::restore_domain(hv(), params, source);
    EXPECT_EQ(domain_count(), domains + 1);
    hv().destroy_domain(r.domain->id());
}

}  // namespace
}  // namespace xenolith::integration
