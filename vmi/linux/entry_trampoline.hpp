// The trampoline a Linux guest's system calls are traced through (docs/vmi.md, "System-call
// trace"). MSR_LSTAR, where SYSCALL enters the kernel, is pointed at a page that holds
//     endbr64                ; a SYSCALL target must start with one where IBT is on
//     out %al, $PROBE_PORT   ; exits to the hypervisor with the caller's registers intact
//     jmp *entry(%rip)       ; on into the kernel's own entry, as if nothing happened
// The hypervisor sees every call at its entry without a breakpoint: under the nested host's
// QEMU an L2 guest's int3 never exits, while port I/O always does.
//
// The page needs a kernel-mode virtual address present in every process's page tables. The
// kernel image's 2 MiB page-directory entries (PML4[511] -> PDPT[510], shared by all page
// tables) have unused slots after the image and below the module area; one of them gets a
// page table that maps the trampoline read-only and executable. Both pages sit in the
// legacy hole that the PVH memory map reserves (boot/pvh_layout.hpp), so the guest never
// allocates them. Installed once per domain and left in place: a vCPU may be between the
// `out` and the `jmp` when tracing stops, and the next trace reuses it.
#pragma once

#include <cstdint>

#include "hv/guest_memory.hpp"

namespace xenolith::vmi::linux_guest {

struct TrampolinePages {
    uint64_t code_gpa = 0;   // the trampoline's own page
    uint64_t table_gpa = 0;  // the page table that maps it
};

// The kernel image's virtual range on x86-64 Linux: __START_KERNEL_map, and the module
// area's start when the image may take 512 MiB (without KASLR; with it, modules start at
// 1 GiB, so this bound holds for both).
inline constexpr uint64_t kKernelImageStart = 0xffffffff80000000;
inline constexpr uint64_t kKernelImageLimit = 0xffffffffa0000000;

// Writes the trampoline to jump to `entry` (the guest's MSR_LSTAR) and maps it through the
// page tables at `cr3` (CR4.LA57 in `la57`). Returns the trampoline's virtual address.
// Throws Error with the reason when the guest's layout is not one this understands: an
// entry outside the kernel image (page-table isolation moves it to a per-CPU trampoline),
// missing or huge upper-level entries, no free slot.
uint64_t install_entry_trampoline(const hv::GuestMemory& memory, uint64_t cr3, bool la57,
                                  uint64_t entry, TrampolinePages pages);

}  // namespace xenolith::vmi::linux_guest
