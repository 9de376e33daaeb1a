#include "vmi/linux/entry_trampoline.hpp"

#include <gtest/gtest.h>

#include "abi/xenolith.h"
#include "base/error.hpp"
#include "hv/guest_access.hpp"

namespace xenolith::vmi::linux_guest {
namespace {

constexpr uint64_t kPml4 = 0x10000, kPdpt = 0x11000, kPd = 0x12000;
constexpr uint64_t kP = 1, kRw = 2, kPs = 0x80;
constexpr uint64_t kLarge = 2ull << 20;
constexpr TrampolinePages kPages{0xa0000, 0xa1000};

// Linux's kernel-image mapping in miniature: PML4[511] -> PDPT[510] -> a page directory
// whose first `image_slots` 2 MiB entries map the image.
class EntryTrampolineTest : public ::testing::Test {
  protected:
    EntryTrampolineTest() : memory_("trampoline-test", 64ull << 20) {
        put(kPml4 + 511 * 8, kPdpt | kP | kRw);
        put(kPdpt + 510 * 8, kPd | kP | kRw);
        for (unsigned i = 0; i < 5; ++i) put(kPd + i * 8, (0x1000000 + i * kLarge) | kP | kPs);
    }
    void put(uint64_t gpa, uint64_t value) { *memory_.object<uint64_t>(gpa) = value; }
    uint64_t get(uint64_t gpa) { return *memory_.object<uint64_t>(gpa); }

    hv::GuestMemory memory_;
    const uint64_t entry_ = kKernelImageStart + 0x600040;  // in slot 3
};

TEST_F(EntryTrampolineTest, MapsTheCodeAfterTheImageAndJumpsToTheEntry) {
    const uint64_t va = install_entry_trampoline(memory_, kPml4, false, entry_, kPages);
    EXPECT_EQ(va, kKernelImageStart + 5 * kLarge);
    // The guest's own walk finds the code page, read-only.
    hv::GuestAccess guest(memory_, kPml4, hv::GuestAccess::Mode::Kernel64);
    EXPECT_EQ(guest.translate(va, false), kPages.code_gpa);
    EXPECT_EQ(guest.translate(va, true), std::nullopt);
    const uint8_t* code = memory_.span(kPages.code_gpa, 4096).data();
    const uint8_t head[] = {0xf3, 0x0f, 0x1e, 0xfa, 0xe6, XENOLITH_PROBE_PORT,
                            0xff, 0x25, 0,    0,    0,    0};
    EXPECT_EQ(std::memcmp(code, head, sizeof head), 0);
    uint64_t target;
    std::memcpy(&target, code + sizeof head, sizeof target);
    EXPECT_EQ(target, entry_);
    EXPECT_EQ(code[100], 0xcc);
}

TEST_F(EntryTrampolineTest, ASecondInstallReusesTheSlot) {
    const uint64_t first = install_entry_trampoline(memory_, kPml4, false, entry_, kPages);
    EXPECT_EQ(install_entry_trampoline(memory_, kPml4, false, entry_, kPages), first);
    EXPECT_EQ(get(kPd + 6 * 8), 0u);
}

TEST_F(EntryTrampolineTest, FollowsAFifthLevel) {
    constexpr uint64_t kPml5 = 0x13000;
    put(kPml5 + 511 * 8, kPml4 | kP | kRw);
    EXPECT_EQ(install_entry_trampoline(memory_, kPml5, true, entry_, kPages),
              kKernelImageStart + 5 * kLarge);
}

TEST_F(EntryTrampolineTest, RefusesLayoutsItDoesNotKnow) {
    // Page-table isolation: SYSCALL enters through the per-CPU entry area.
    EXPECT_THROW(install_entry_trampoline(memory_, kPml4, false, 0xfffffe0000002000, kPages),
                 Error);
    put(kPdpt + 510 * 8, 0);
    EXPECT_THROW(install_entry_trampoline(memory_, kPml4, false, entry_, kPages), Error);
    put(kPdpt + 510 * 8, 0x40000000 | kP | kPs);  // a 1 GiB page
    EXPECT_THROW(install_entry_trampoline(memory_, kPml4, false, entry_, kPages), Error);
    put(kPdpt + 510 * 8, 0x7fff0000000 | kP);  // a table outside RAM
    EXPECT_THROW(install_entry_trampoline(memory_, kPml4, false, entry_, kPages), Error);
    // Nothing was written for any of them.
    EXPECT_EQ(memory_.span(kPages.code_gpa, 1)[0], 0);
}

TEST_F(EntryTrampolineTest, NoFreeSlotBelowTheModules) {
    for (unsigned i = 0; i < 256; ++i) put(kPd + i * 8, (i * kLarge) | kP | kPs);
    EXPECT_THROW(install_entry_trampoline(memory_, kPml4, false, entry_, kPages), Error);
}

}  // namespace
}  // namespace xenolith::vmi::linux_guest
