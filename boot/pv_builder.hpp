// The PV domain builder: lays a Xen PV kernel out in guest RAM as docs/guest-abi.md says
// (image, start_info, shared_info, boot stack, page tables) and prepares vCPU 0's entry.
//
// load_pv_image() works on plain GuestMemory so that it can be tested without KVM;
// build_pv_domain() applies the result to a Domain being built.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "boot/elf_image.hpp"
#include "hv/domain.hpp"
#include "hv/guest_memory.hpp"
#include "hv/vcpu.hpp"

namespace xenolith::boot {

// Guest-physical addresses of what the builder placed (VA = guest-physical for PV guests).
struct PvLayout {
    uint64_t image_start = 0;
    uint64_t image_end = 0;  // page-aligned end of the highest segment
    uint64_t entry = 0;
    uint64_t hypercall_page = 0;
    uint64_t start_info = 0;
    uint64_t shared_info = 0;
    uint64_t io_tss = 0;        // TSS + I/O bitmap admitting only the hypercall port
    uint64_t grant_frames = 0;  // hv::kDefaultGrantFrames pages: the grant table's frames 0..
    uint64_t console_ring = 0;  // the PV console's xencons_interface page
    uint32_t console_port = 0;  // its event channel (set by build_pv_domain)
    uint64_t store_ring = 0;    // the xenstore_domain_interface page
    uint32_t store_port = 0;    // its event channel (set by build_pv_domain)
    uint64_t stack_top = 0;
    uint64_t pt_base = 0;
    uint32_t nr_pt_frames = 0;
    uint64_t first_free = 0;  // pt_base + nr_pt_frames pages: the guest's from here on
};

struct PvBootPlan {
    PvLayout layout;
    platform::BootContext boot;  // vCPU 0's entry state (mode PvUser64)
};

// Lowest address a segment may occupy: the first MiB stays free, as for Xen PV guests.
inline constexpr uint64_t kMinLoadAddress = 1 << 20;

// Throws xenolith::Error naming the image and the problem when it cannot be loaded.
PvBootPlan load_pv_image(hv::GuestMemory& memory, const ElfImage& image, std::string_view cmdline);

// load_pv_image into the domain's RAM, then shared_info, grant frames, boot context and
// crash symbolizer.
PvLayout build_pv_domain(hv::Domain& domain, const ElfImage& image, std::string_view cmdline);

// --- Pieces, exposed for tests -------------------------------------------------------------
// How many page-table frames map `memory_bytes` of RAM (4-level, 2 MiB pages where possible).
uint32_t page_table_frames(uint64_t memory_bytes);
// Writes those frames into `frames` (page_table_frames() pages, placed at guest-physical
// `base`): RAM at VA = GPA, user/writable/executable, page 0 left unmapped.
void write_page_tables(std::span<uint8_t> frames, uint64_t base, uint64_t memory_bytes);
// Fills the I/O TSS page. PVM does not honour RFLAGS.IOPL for CPL-3 `out`; KVM's emulator
// then consults the TSS I/O bitmap, so this page is what lets the hypercall stubs exit (and
// keeps every other port closed, as for a Xen PV guest without I/O privileges).
void write_io_tss(std::span<uint8_t> page);

}  // namespace xenolith::boot
