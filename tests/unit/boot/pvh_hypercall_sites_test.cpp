// find_hypercall_sites finds the one vmmcall/vmcall function pair of a PVH Linux kernel
// (xen_hypercall_amd and xen_hypercall_intel) by its shape, and gives up rather than guess
// when the pair is missing or not unique. The kernels are synthetic ELF images.
#include "boot/hypercall_sites.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "abi/xen.hpp"
#include "boot/pvh_image.hpp"
#include "tests/unit/boot/elf_builder.hpp"

namespace xenolith::boot {
namespace {

using ::testing::ElementsAre;
using testing::ElfBuilder;
using ::testing::IsEmpty;
using Bytes = std::vector<uint8_t>;
using Kind = HypercallSite::Kind;

constexpr uint64_t kTextVaddr = 0xffffffff81000000;
constexpr uint64_t kTextPaddr = 0x1000000;
constexpr uint64_t kInitVaddr = 0xffffffff83079000;
constexpr uint64_t kInitPaddr = 0x3079000;
constexpr uint64_t kPairOffset = 0x40;

// The pair as Debian's 6.1 kernel has it: return thunks, an 8-byte NOP between.
const Bytes kDebianPair = {
    0x0f, 0x01, 0xd9,                                // vmmcall
    0xe9, 0xa8, 0xe0, 0x3b, 0x00,                    // jmp __x86_return_thunk
    0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00,  // nopl 0x0(%rax,%rax,1)
    0x0f, 0x01, 0xc1,                                // vmcall
    0xe9, 0x98, 0xe0, 0x3b, 0x00,                    // jmp __x86_return_thunk
    0xcc,                                            // int3
};

// Plain returns, each followed by int3 (straight-line speculation), 2e/66-prefixed NOPs.
const Bytes kRetPair = {
    0x0f, 0x01, 0xd9, 0xc3, 0xcc,                                // vmmcall; ret; int3
    0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00,  // nopw %cs:0x0(%rax,%rax,1)
    0x90,                                                        // nop
    0x0f, 0x01, 0xc1, 0xc3, 0xcc,                                // vmcall; ret; int3
};

// Short NOPs and int3s as padding.
const Bytes kShortNopPair = {
    0x0f, 0x01, 0xd9, 0xc3,                          // vmmcall; ret
    0x90, 0x66, 0x90, 0x0f, 0x1f, 0x00, 0x0f, 0x1f,  // nop; xchg %ax,%ax; nopl (%rax);
    0x40, 0x00, 0xcc, 0xcc,                          // nopl 0x0(%rax); int3; int3
    0x0f, 0x01, 0xc1, 0xc3,                          // vmcall; ret
};

// Code around `at`: int3 filler, as between functions, so nothing else looks like a pair.
Bytes code_with(const Bytes& pair, size_t at = kPairOffset, size_t size = 0x200) {
    Bytes code(size, 0xcc);
    std::copy(pair.begin(), pair.end(), code.begin() + at);
    return code;
}

void add_segment(ElfBuilder& b, uint64_t vaddr, uint64_t paddr, Bytes code,
                 uint32_t flags = PF_R | PF_X) {
    const uint64_t size = code.size();
    b.segments.push_back({PT_LOAD, flags, vaddr, paddr, std::move(code), size});
}

ElfImage image(const ElfBuilder& b) {
    return ElfImage::parse(b.build(), "vmlinux");
}

ElfImage text_only(const Bytes& code) {
    ElfBuilder b;
    b.entry = kTextVaddr;
    add_segment(b, kTextVaddr, kTextPaddr, code);
    return image(b);
}

std::vector<HypercallSite> pair_sites(uint64_t vaddr, uint64_t paddr, uint64_t vmcall_offset) {
    return {
        {.vaddr = vaddr, .paddr = paddr, .kind = Kind::kVmmcall},
        {.vaddr = vaddr + vmcall_offset, .paddr = paddr + vmcall_offset, .kind = Kind::kVmcall}};
}

TEST(PvhHypercallSites, FindsThePairWithReturnThunkJumps) {
    const auto sites = find_hypercall_sites(text_only(code_with(kDebianPair)));
    EXPECT_EQ(sites, pair_sites(kTextVaddr + kPairOffset, kTextPaddr + kPairOffset, 16));
}

TEST(PvhHypercallSites, FindsThePairWithPlainReturns) {
    EXPECT_EQ(find_hypercall_sites(text_only(code_with(kRetPair))),
              pair_sites(kTextVaddr + kPairOffset, kTextPaddr + kPairOffset, 16));
    EXPECT_EQ(find_hypercall_sites(text_only(code_with(kShortNopPair))),
              pair_sites(kTextVaddr + kPairOffset, kTextPaddr + kPairOffset, 16));
}

TEST(PvhHypercallSites, FindsThePairWithoutPadding) {
    const Bytes adjacent = {0x0f, 0x01, 0xd9, 0xc3, 0x0f, 0x01, 0xc1, 0xc3};
    EXPECT_EQ(find_hypercall_sites(text_only(code_with(adjacent))),
              pair_sites(kTextVaddr + kPairOffset, kTextPaddr + kPairOffset, 4));
}

TEST(PvhHypercallSites, AddressesComeFromTheSegmentHoldingThePair) {
    // In a second executable segment whose virtual and physical bases differ from the first's.
    ElfBuilder b;
    b.entry = kTextVaddr;
    add_segment(b, kTextVaddr, kTextPaddr, code_with({}));
    add_segment(b, kInitVaddr, kInitPaddr, code_with(kDebianPair, 0x123), PF_R | PF_W | PF_X);
    EXPECT_EQ(find_hypercall_sites(image(b)),
              pair_sites(kInitVaddr + 0x123, kInitPaddr + 0x123, 16));
}

TEST(PvhHypercallSites, PairAtTheEndOfASegmentIsFound) {
    const Bytes code = code_with(kRetPair, 0x200 - kRetPair.size());
    EXPECT_EQ(find_hypercall_sites(text_only(code)).size(), 2u);
}

TEST(PvhHypercallSites, KernelWithAHypercallPageHasNoSites) {
    // What a kernel before the XSA-466 fixes has instead: a page of "ret; int3 ..." stubs
    // for the hypervisor to overwrite, and vmmcall/vmcall only inline in other code.
    Bytes code(0x1000, 0xcc);
    for (size_t i = 0; i < code.size(); i += 32) code[i] = 0xc3;
    const Bytes inline_vmmcall = {0x0f, 0x01, 0xd9, 0x5b, 0xe9, 0x38, 0x4b, 0xd8, 0xff};
    const Bytes inline_vmcall = {0x0f, 0x01, 0xc1, 0x48, 0x85, 0xc0, 0x0f, 0x88};
    std::copy(inline_vmmcall.begin(), inline_vmmcall.end(), code.begin() + 0x801);
    std::copy(inline_vmcall.begin(), inline_vmcall.end(), code.begin() + 0x811);
    EXPECT_THAT(find_hypercall_sites(text_only(code)), IsEmpty());
}

TEST(PvhHypercallSites, HalfAPairIsNotAPair) {
    Bytes only_vmmcall = kRetPair;
    only_vmmcall[16] = 0x90;  // the vmcall's first byte
    EXPECT_THAT(find_hypercall_sites(text_only(code_with(only_vmmcall))), IsEmpty());

    Bytes vmcall_without_return = kRetPair;
    vmcall_without_return[19] = 0x5b;  // pop %rbx instead of ret
    EXPECT_THAT(find_hypercall_sites(text_only(code_with(vmcall_without_return))), IsEmpty());

    Bytes vmmcall_without_return = kRetPair;
    vmmcall_without_return[3] = 0x5b;
    EXPECT_THAT(find_hypercall_sites(text_only(code_with(vmmcall_without_return))), IsEmpty());
}

TEST(PvhHypercallSites, VmcallBeforeVmmcallIsNotThePair) {
    const Bytes reversed = {0x0f, 0x01, 0xc1, 0xc3, 0xcc, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x66,
                            0x0f, 0x1f, 0x44, 0x00, 0x00, 0x0f, 0x01, 0xd9, 0xc3, 0xcc};
    EXPECT_THAT(find_hypercall_sites(text_only(code_with(reversed))), IsEmpty());
}

TEST(PvhHypercallSites, CodeOrLongPaddingBetweenThemIsNotAPair) {
    // An instruction that is not padding between the two.
    Bytes code_between = kRetPair;
    code_between[15] = 0x5b;  // pop %rbx for the last nop
    EXPECT_THAT(find_hypercall_sites(text_only(code_with(code_between))), IsEmpty());

    // 16 bytes of padding: more than 16-byte function alignment can leave.
    Bytes long_padding = {0x0f, 0x01, 0xd9, 0xc3};
    long_padding.insert(long_padding.end(), 16, 0x90);
    long_padding.insert(long_padding.end(), {0x0f, 0x01, 0xc1, 0xc3});
    EXPECT_THAT(find_hypercall_sites(text_only(code_with(long_padding))), IsEmpty());

    // 0f 1f with a reg field other than 0 is not the NOP.
    Bytes not_a_nop = kShortNopPair;
    not_a_nop[9] = 0x08;  // 0f 1f 08
    EXPECT_THAT(find_hypercall_sites(text_only(code_with(not_a_nop))), IsEmpty());
}

TEST(PvhHypercallSites, PairCutOffByTheSegmentEndIsNotAPair) {
    // The vmcall's jmp lacks its last byte: the segment ends there.
    Bytes code(0x40, 0xcc);
    code.insert(code.end(), kDebianPair.begin(), kDebianPair.begin() + 23);
    EXPECT_THAT(find_hypercall_sites(text_only(code)), IsEmpty());
}

TEST(PvhHypercallSites, TwoPairsAreAmbiguousAndGiveNoSites) {
    Bytes code = code_with(kDebianPair);
    std::copy(kRetPair.begin(), kRetPair.end(), code.begin() + 0x100);
    EXPECT_THAT(find_hypercall_sites(text_only(code)), IsEmpty());

    // Also when the second pair is in another executable segment.
    ElfBuilder b;
    b.entry = kTextVaddr;
    add_segment(b, kTextVaddr, kTextPaddr, code_with(kDebianPair));
    add_segment(b, kInitVaddr, kInitPaddr, code_with(kRetPair), PF_R | PF_W | PF_X);
    EXPECT_THAT(find_hypercall_sites(image(b)), IsEmpty());
}

TEST(PvhHypercallSites, NonExecutableSegmentsAreNotSearched) {
    ElfBuilder b;
    b.entry = kTextVaddr;
    add_segment(b, kTextVaddr, kTextPaddr, code_with(kDebianPair));
    add_segment(b, 0xffffffff82a00000, 0x2a00000, code_with(kRetPair), PF_R | PF_W);
    EXPECT_EQ(find_hypercall_sites(image(b)),
              pair_sites(kTextVaddr + kPairOffset, kTextPaddr + kPairOffset, 16));

    ElfBuilder data_only;
    data_only.entry = kTextVaddr;
    add_segment(data_only, kTextVaddr, kTextPaddr, code_with({}));
    add_segment(data_only, 0xffffffff82a00000, 0x2a00000, code_with(kRetPair), PF_R);
    EXPECT_THAT(find_hypercall_sites(image(data_only)), IsEmpty());
}

TEST(PvhHypercallSites, PvhKernelReportsItsSites) {
    ElfBuilder b;
    b.entry = kTextVaddr;
    add_segment(b, kTextVaddr, kTextPaddr, code_with(kDebianPair));
    b.xen_u32(XEN_ELFNOTE_PHYS32_ENTRY, kTextPaddr);
    const PvhKernel kernel = PvhKernel::parse(b.build(), "vmlinux");
    const auto sites = kernel.hypercall_sites();
    ASSERT_EQ(sites.size(), 2u);
    EXPECT_EQ(sites[0].vaddr, kTextVaddr + kPairOffset);
    EXPECT_EQ(sites[0].kind, Kind::kVmmcall);
    EXPECT_EQ(sites[1].paddr, kTextPaddr + kPairOffset + 16);
    EXPECT_EQ(sites[1].kind, Kind::kVmcall);
    EXPECT_STREQ(hypercall_kind_name(sites[0].kind), "vmmcall");
    EXPECT_STREQ(hypercall_kind_name(sites[1].kind), "vmcall");
}

}  // namespace
}  // namespace xenolith::boot
