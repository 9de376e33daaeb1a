// Live migration's dirty log (platform::Vm::start_dirty_log) on the platform XENOLITH_ACCEL
// names: KVM's dirty log, or the process platform's asynchronous userfaultfd protection.
// The guest is a few hand-assembled instructions at CPL 3 on identity-mapped page tables
// (boot/'s), which both platforms run: it stores a byte into each of a few chosen pages and
// makes a hypercall, and again each time it is run.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "abi/xenolith.h"
#include "base/error.hpp"
#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "boot/pv_builder.hpp"
#include "platform/platform.hpp"
#include "platform/select.hpp"
#include "tests/integration/harness.hpp"

namespace xenolith::integration {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kRamSize = 4 << 20;
constexpr uint64_t kRamPages = kRamSize / kPage;
// Above vm.mmap_min_addr (the process platform maps nothing below it), below kCode.
constexpr uint64_t kTss = 0x10000;
constexpr uint64_t kPageTables = 0x11000;
constexpr uint64_t kCode = 0x20000;
constexpr uint64_t kStack = 0x80000;
// The pages the guest writes, and one in their midst it never touches.
const std::vector<uint64_t> kWritten = {0x100000, 0x102000, 0x1ff000, 0x300000};
constexpr uint64_t kUntouched = 0x101000;

// Guest RAM: a memfd mapped here, as hv/ provides it.
class TestRam {
  public:
    TestRam()
        : fd_(static_cast<int>(check_syscall(::memfd_create("guest-ram", MFD_CLOEXEC), "memfd"))) {
        check_syscall(::ftruncate(fd_.get(), kRamSize), "ftruncate");
        map_ = Mapping::map(fd_.get(), kRamSize, PROT_READ | PROT_WRITE, MAP_SHARED);
    }
    platform::Ram ram() const { return {fd_.get(), map_.data(), map_.size()}; }
    std::span<uint8_t> span(uint64_t gpa, uint64_t len) { return {map_.data() + gpa, len}; }

  private:
    UniqueFd fd_;
    Mapping map_;
};

// mov %al, <page> for each page; out %eax, $hypercall; jmp back to the first store.
std::vector<uint8_t> store_then_hypercall(const std::vector<uint64_t>& pages) {
    std::vector<uint8_t> code;
    for (uint64_t p : pages) {
        code.insert(code.end(), {0x88, 0x04, 0x25});
        for (int i = 0; i < 4; ++i) code.push_back(static_cast<uint8_t>(p >> (8 * i)));
    }
    code.insert(code.end(), {0xe7, XENOLITH_HYPERCALL_PORT});
    const auto back = static_cast<int32_t>(-(static_cast<int64_t>(code.size()) + 5));
    code.push_back(0xe9);  // jmp rel32
    for (int i = 0; i < 4; ++i) code.push_back(static_cast<uint8_t>(back >> (8 * i)));
    return code;
}

// incb <page>; jmp back to it: writes forever, with no exit.
std::vector<uint8_t> store_forever(uint64_t page) {
    std::vector<uint8_t> code{0xfe, 0x04, 0x25};
    for (int i = 0; i < 4; ++i) code.push_back(static_cast<uint8_t>(page >> (8 * i)));
    code.insert(code.end(), {0xeb, 0xf7});
    return code;
}

bool dirty(const std::vector<uint64_t>& bitmap, uint64_t gpa) {
    const uint64_t p = gpa / kPage;
    return (bitmap[p / 64] >> (p % 64)) & 1;
}

class DirtyLog : public IntegrationTest {
  protected:
    void SetUp() override {
        IntegrationTest::SetUp();
        if (HasFatalFailure()) return;
        platform::Platform& p = platforms_.choose(platform::Accel::Auto).platform;
        platform_name_ = p.name();
        const char* accel = std::getenv("XENOLITH_ACCEL");
        if (accel && std::string(accel) != "auto") {
            ASSERT_EQ(platform_name_, accel);
        }
        boot::write_io_tss(ram_.span(kTss, kPage));
        const uint64_t tables = uint64_t{boot::page_table_frames(kRamSize)} * kPage;
        ASSERT_LE(kPageTables + tables, kCode);
        boot::write_page_tables(ram_.span(kPageTables, tables), kPageTables, kRamSize);
        platform::VmConfig config;
        config.ram = ram_.ram();
        vm_ = p.create_vm(config);
    }

    // vCPU 0 at kCode running `code`, on the calling thread.
    std::unique_ptr<platform::Vcpu> boot(const std::vector<uint8_t>& code) {
        std::memcpy(ram_.span(kCode, code.size()).data(), code.data(), code.size());
        std::unique_ptr<platform::Vcpu> vcpu = vm_->create_vcpu(0);
        platform::BootContext ctx;
        ctx.regs.rip = kCode;
        ctx.regs.rsp = kStack;
        ctx.cr3 = kPageTables;
        ctx.tss_base = kTss;
        vcpu->boot(ctx);
        return vcpu;
    }

    std::vector<uint64_t> collect(platform::DirtyLog& log) {
        std::vector<uint64_t> bitmap(kRamPages / 64);
        log.collect(bitmap);
        return bitmap;
    }

    static void expect_hypercall(platform::Vcpu& vcpu) {
        const platform::Exit exit = vcpu.run();
        EXPECT_EQ(exit.kind, platform::Exit::Kind::Hypercall) << exit.what;
    }

    platform::Platforms platforms_{platform::accel_from_environment()};
    std::string platform_name_;
    TestRam ram_;
    std::unique_ptr<platform::Vm> vm_;
};

TEST_F(DirtyLog, EachRoundReportsThePagesTheGuestWroteInIt) {
    auto vcpu = boot(store_then_hypercall(kWritten));
    std::unique_ptr<platform::DirtyLog> log = vm_->start_dirty_log();
    EXPECT_STREQ(log->mechanism(), platform_name_ == "kvm" ? "kvm-dirty-log" : "uffd-wp-async");
    expect_hypercall(*vcpu);
    std::vector<uint64_t> bitmap = collect(*log);
    for (uint64_t p : kWritten) EXPECT_TRUE(dirty(bitmap, p)) << std::hex << p;
    EXPECT_FALSE(dirty(bitmap, kUntouched));
    // Nothing ran since: nothing to report.
    bitmap = collect(*log);
    for (uint64_t p : kWritten) EXPECT_FALSE(dirty(bitmap, p)) << std::hex << p;
    // The same pages again in the next round.
    expect_hypercall(*vcpu);
    bitmap = collect(*log);
    for (uint64_t p : kWritten) EXPECT_TRUE(dirty(bitmap, p)) << std::hex << p;
}

TEST_F(DirtyLog, CollectOrsIntoTheBitmap) {
    auto vcpu = boot(store_then_hypercall(kWritten));
    auto log = vm_->start_dirty_log();
    expect_hypercall(*vcpu);
    std::vector<uint64_t> bitmap(kRamPages / 64);
    bitmap[kUntouched / kPage / 64] |= uint64_t{1} << (kUntouched / kPage % 64);
    log->collect(bitmap);
    EXPECT_TRUE(dirty(bitmap, kUntouched));
    EXPECT_TRUE(dirty(bitmap, kWritten[0]));
}

TEST_F(DirtyLog, WritesBeforeTheLogBeganAreNotReported) {
    auto vcpu = boot(store_then_hypercall(kWritten));
    expect_hypercall(*vcpu);
    auto log = vm_->start_dirty_log();
    const std::vector<uint64_t> bitmap = collect(*log);
    for (uint64_t p : kWritten) EXPECT_FALSE(dirty(bitmap, p)) << std::hex << p;
}

// hv/ and backends write through the host's mapping; hv::GuestMemory logs those.
TEST_F(DirtyLog, TheHostsWritesThroughItsOwnMappingAreNotReported) {
    auto vcpu = boot(store_then_hypercall(kWritten));
    auto log = vm_->start_dirty_log();
    ram_.span(kUntouched, 8)[0] = 0x5a;
    ram_.span(kWritten[0], 8)[3] = 0x5a;
    const std::vector<uint64_t> bitmap = collect(*log);
    EXPECT_FALSE(dirty(bitmap, kUntouched));
    EXPECT_FALSE(dirty(bitmap, kWritten[0]));
    // The guest sees them all the same.
    expect_hypercall(*vcpu);
}

TEST_F(DirtyLog, ATooSmallBitmapIsRefusedAndLosesNothing) {
    auto vcpu = boot(store_then_hypercall(kWritten));
    auto log = vm_->start_dirty_log();
    expect_hypercall(*vcpu);
    std::vector<uint64_t> small(kRamPages / 64 - 1);
    EXPECT_THROW(log->collect(small), Error);
    const std::vector<uint64_t> bitmap = collect(*log);
    for (uint64_t p : kWritten) EXPECT_TRUE(dirty(bitmap, p)) << std::hex << p;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST_F(DirtyLog, WatchesAndTheLogExcludeEachOther) {
    auto vcpu = boot(store_then_hypercall(kWritten));
    ASSERT_TRUE(vm_->watch_writes(kWritten[1], 1, true));
    std::string why = error_of([&] { vm_->start_dirty_log(); });
    EXPECT_NE(why.find("watched"), std::string::npos) << why;
    ASSERT_TRUE(vm_->watch_writes(kWritten[1], 1, false));

    auto log = vm_->start_dirty_log();
    why = error_of([&] { vm_->watch_writes(kWritten[1], 1, true); });
    EXPECT_NE(why.find("logged"), std::string::npos) << why;
    why = error_of([&] { vm_->start_dirty_log(); });
    EXPECT_NE(why.find("already"), std::string::npos) << why;
    expect_hypercall(*vcpu);  // the refusals left the guest's RAM as it was
    EXPECT_TRUE(dirty(collect(*log), kWritten[1]));

    // Once the log has ended, a watch works again: the guest's store exits.
    log.reset();
    ASSERT_TRUE(vm_->watch_writes(kWritten[1], 1, true));
    const platform::Exit exit = vcpu->run();
    ASSERT_EQ(exit.kind, platform::Exit::Kind::Debug) << exit.what;
    EXPECT_EQ(exit.value, static_cast<uint64_t>(platform::DebugExit::Write));
    EXPECT_EQ(exit.fault_address, kWritten[1]);
}

TEST_F(DirtyLog, ANewLogAfterTheFirstStartsAfresh) {
    auto vcpu = boot(store_then_hypercall(kWritten));
    vm_->start_dirty_log().reset();
    expect_hypercall(*vcpu);  // while no log runs
    auto log = vm_->start_dirty_log();
    EXPECT_FALSE(dirty(collect(*log), kWritten[0]));
    expect_hypercall(*vcpu);
    EXPECT_TRUE(dirty(collect(*log), kWritten[0]));
}

// Another thread collects while the vCPU runs: each round sees the page the guest keeps
// writing, and the guest is never stopped for it.
TEST_F(DirtyLog, CollectWhileTheGuestRuns) {
    auto log = vm_->start_dirty_log();
    std::atomic<platform::Vcpu*> running{nullptr};
    platform::Exit exit;
    std::thread runner([&] {
        auto vcpu = boot(store_forever(kWritten[2]));
        running = vcpu.get();
        exit = vcpu->run();
        running = nullptr;
    });
    while (!running) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // The guest's counter, as the host's mapping shows it.
    volatile uint8_t* counter = ram_.span(kWritten[2], 1).data();
    // Until the guest has stored once more (a round's write, however slow the host is).
    auto wait_for_a_store = [&] {
        const uint8_t before = *counter;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (*counter == before && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return *counter != before;
    };
    int rounds_seen = 0;
    collect(*log);
    for (int round = 0; round < 5; ++round) {
        EXPECT_TRUE(wait_for_a_store()) << "the guest stopped writing";
        const std::vector<uint64_t> bitmap = collect(*log);
        rounds_seen += dirty(bitmap, kWritten[2]);
        EXPECT_FALSE(dirty(bitmap, kUntouched));
    }
    running.load()->request_exit();
    runner.join();
    EXPECT_EQ(exit.kind, platform::Exit::Kind::Interrupted) << exit.what;
    EXPECT_EQ(rounds_seen, 5);
}

}  // namespace
}  // namespace xenolith::integration
