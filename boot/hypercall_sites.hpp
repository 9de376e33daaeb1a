// Where a PVH Linux kernel executes its Xen hypercall instructions, so that a host without
// KVM_CAP_XEN_HVM can trap them with hardware execute breakpoints.
//
// Linux since the XSA-466 fixes (upstream 6.12, backported to Debian's 6.1) no longer calls
// through a hypercall page. arch/x86/xen/xen-head.S has two tiny functions the linker puts
// one after the other, and every hypercall jumps to one of them, picked by CPU vendor:
//
//   xen_hypercall_amd:    0f 01 d9   vmmcall
//                         c3 | e9 rel32   ret, or jmp __x86_return_thunk
//                         padding: NOPs or int3 (cc), fewer than 16 bytes
//   xen_hypercall_intel:  0f 01 c1   vmcall
//                         c3 | e9 rel32
//
// The vmlinux carries no symbols (the bzImage's copy is stripped), so the pair is found by
// that shape in the executable PT_LOAD segments. A debug register matches linear addresses,
// and the kernel runs at its ELF virtual addresses (a PVH boot has no KASLR), so each site
// comes with both addresses.
#pragma once

#include <cstdint>
#include <vector>

#include "boot/elf_image.hpp"

namespace xenolith::boot {

struct HypercallSite {
    enum class Kind { kVmmcall, kVmcall };
    uint64_t vaddr = 0;  // the instruction's first byte at the kernel's link address
    uint64_t paddr = 0;  // the same byte in guest-physical memory
    Kind kind = Kind::kVmmcall;

    bool operator==(const HypercallSite&) const = default;
};

// The vmmcall site and then the vmcall site of `kernel`'s one vmmcall/vmcall pair, or an
// empty vector when there is no such pair (an older kernel that uses the hypercall page) or
// more than one: a breakpoint on a guess would miss the hypercalls, so none is made.
std::vector<HypercallSite> find_hypercall_sites(const ElfImage& kernel);

// "vmmcall" or "vmcall", for messages.
const char* hypercall_kind_name(HypercallSite::Kind kind);

}  // namespace xenolith::boot
