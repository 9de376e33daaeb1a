// The console backend serves a real (never started) domain built by the PV builder: the
// test plays the guest's side of the ring and of the event channel.
#include "backends/console/console_backend.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <thread>

#include "base/error.hpp"
#include "boot/pv_builder.hpp"
#include "hv/hypervisor.hpp"
#include "tests/support/null_platform.hpp"
#include "tests/unit/boot/elf_builder.hpp"

namespace xenolith::backends {
namespace {

using namespace std::chrono_literals;

class ConsoleBackendTest : public ::testing::Test {
  protected:
    void SetUp() override {
        static int serial = 0;
        hv::DomainParams p;
        p.name = "console-" + std::to_string(++serial);
        p.memory_bytes = 16 << 20;
        domain_ = hv().create_domain(p);
        boot::testing::ElfBuilder b;
        b.load(0x100000, std::vector<uint8_t>(0x2000, 0x90), 0x2000, PF_R | PF_X | PF_W);
        b.xen_note(XEN_ELFNOTE_LOADER, {'g', 'e', 'n', 'e', 'r', 'i', 'c', 0});
        b.xen_u64(XEN_ELFNOTE_HYPERCALL_PAGE, 0x101000);
        layout_ = boot::build_pv_domain(*domain_, boot::ElfImage::parse(b.build(), "console"), "");
        ring_ = domain_->memory().object<xencons_interface>(layout_.console_ring);
        ASSERT_NE(ring_, nullptr);
    }
    void TearDown() override { hv().destroy_domain(domain_->id()); }

    static hv::Hypervisor& hv() {
        static hv::Hypervisor h(std::make_unique<xenolith::testing::NullPlatform>());
        return h;
    }
    ConsoleBackend::Sink sink() {
        return [this](std::string_view s) {
            std::lock_guard lock(mutex_);
            out_ += s;
            cv_.notify_all();
        };
    }
    bool wait_for_output(const std::string& want) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, 2s, [&] { return out_ == want; });
    }
    // What a guest does: copy into `out`, publish out_prod, notify.
    void guest_writes(std::string_view text) {
        XENCONS_RING_IDX prod = ring_->out_prod;
        for (char c : text) ring_->out[MASK_XENCONS_IDX(prod++, ring_->out)] = c;
        std::atomic_thread_fence(std::memory_order_release);
        ring_->out_prod = prod;
        domain_->evtchn().send(layout_.console_port);
    }

    std::shared_ptr<hv::Domain> domain_;
    boot::PvLayout layout_;
    xencons_interface* ring_ = nullptr;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::string out_;
};

TEST_F(ConsoleBackendTest, BuilderNamesTheRingAndPortInStartInfo) {
    auto si = domain_->memory().read<start_info_t>(layout_.start_info);
    EXPECT_EQ(si->console.domU.mfn, layout_.console_ring >> 12);
    EXPECT_EQ(si->console.domU.evtchn, layout_.console_port);
    EXPECT_GT(layout_.console_port, 0u);
}

TEST_F(ConsoleBackendTest, GuestOutputReachesTheSinkAcrossTheRingWrap) {
    ConsoleBackend console(domain_, layout_.console_port, sink());
    guest_writes("hello ");
    guest_writes("ring\n");
    EXPECT_TRUE(wait_for_output("hello ring\n")) << out_;
    // Push the indices round the end of the 2 KiB ring.
    std::string expected = out_;
    for (int i = 0; i < 5; ++i) {
        std::string chunk(700, static_cast<char>('a' + i));
        guest_writes(chunk);
        expected += chunk;
        ASSERT_TRUE(wait_for_output(expected)) << i;
    }
    EXPECT_EQ(ring_->out_cons, ring_->out_prod);
    EXPECT_FALSE(console.broken());
}

TEST_F(ConsoleBackendTest, HostInputLandsInTheInRingAndNotifiesTheGuest) {
    ConsoleBackend console(domain_, layout_.console_port, sink());
    console.input("ls\n");
    EXPECT_EQ(ring_->in_prod - ring_->in_cons, 3u);
    EXPECT_EQ(std::string(ring_->in, 3), "ls\n");
    EXPECT_TRUE(domain_->evtchn().is_pending(layout_.console_port));
    // More than the ring holds waits for room; the guest consuming makes room.
    console.input(std::string(2000, 'x'));
    EXPECT_EQ(ring_->in_prod - ring_->in_cons, sizeof ring_->in);
    ring_->in_cons = ring_->in_prod;  // the guest read it all
    domain_->evtchn().send(layout_.console_port);
    for (int i = 0; i < 100 && ring_->in_prod - ring_->in_cons == 0; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(ring_->in_prod - ring_->in_cons, 3u + 2000u - sizeof ring_->in);
}

TEST_F(ConsoleBackendTest, CorruptIndicesDisconnectTheConsoleNotTheHost) {
    ConsoleBackend console(domain_, layout_.console_port, sink());
    ring_->out_prod = ring_->out_cons + 100000;  // more than the ring can hold
    domain_->evtchn().send(layout_.console_port);
    for (int i = 0; i < 100 && !console.broken(); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(console.broken());
    std::lock_guard lock(mutex_);
    EXPECT_NE(out_.find("console ring indices corrupted"), std::string::npos);
}

TEST_F(ConsoleBackendTest, APortNotOfferedToTheHostIsRefused) {
    long elsewhere = domain_->evtchn().alloc_unbound(5);  // offered to domain 5, not the host
    ASSERT_GT(elsewhere, 0);
    EXPECT_THROW(ConsoleBackend(domain_, static_cast<uint32_t>(elsewhere), sink()),
                 xenolith::Error);
    EXPECT_THROW(ConsoleBackend(domain_, 999, sink()), xenolith::Error);  // never allocated
    ConsoleBackend first(domain_, layout_.console_port, sink());
    EXPECT_THROW(ConsoleBackend(domain_, layout_.console_port, sink()),
                 xenolith::Error);  // already bound
}

TEST_F(ConsoleBackendTest, TheGuestClosingItsPortLeavesTheBackendHarmless) {
    ConsoleBackend console(domain_, layout_.console_port, sink());
    EXPECT_EQ(domain_->evtchn().close(layout_.console_port), 0);
    console.input("after close");  // no crash, nothing delivered to a closed port
    EXPECT_FALSE(domain_->evtchn().is_pending(layout_.console_port));
}

}  // namespace
}  // namespace xenolith::backends
