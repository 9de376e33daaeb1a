#include "boot/pv_builder.hpp"

#include <elf.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>

#include "abi/xen.hpp"
#include "abi/xenolith.h"
#include "base/error.hpp"

#include "boot/ring_offer.hpp"
#include "hv/hypercall_page.hpp"
namespace xenolith::boot {

namespace {

using hv::kPageSize;
constexpr uint64_t k2MiB = 2ull << 20;
constexpr uint64_t k1GiB = 1ull << 30;
constexpr uint64_t kPtePresent = 1, kPteWritable = 2, kPteUser = 4, kPteAccessed = 0x20,
                   kPteDirty = 0x40, kPteLarge = 0x80;
constexpr uint64_t kTableFlags = kPtePresent | kPteWritable | kPteUser | kPteAccessed;
constexpr uint64_t kLeafFlags = kTableFlags | kPteDirty;

uint64_t page_up(uint64_t x) { return (x + kPageSize - 1) & ~(kPageSize - 1); }
uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

// A 2 MiB region needs a 4 KiB page table when it holds page 0 (left unmapped) or is only
// partly RAM; every other region is one large-page entry.
bool needs_small_pages(uint64_t region, uint64_t memory_bytes) {
    return region == 0 || (region + 1) * k2MiB > memory_bytes;
}

struct TableCounts {
    uint64_t pdpt, pd, pt;
};

TableCounts count_tables(uint64_t memory_bytes) {
    uint64_t gib = div_up(memory_bytes, k1GiB);
    uint64_t regions = div_up(memory_bytes, k2MiB);
    uint64_t pt = 1 + (regions > 1 && needs_small_pages(regions - 1, memory_bytes) ? 1 : 0);
    return {div_up(gib, 512), gib, pt};
}

void check_image(const ElfImage& image, uint64_t memory_bytes) {
    const std::string& n = image.name();
    const XenNotes& notes = image.xen_notes();
    if (!notes.has_any)
        throw Error(n + ": no Xen ELF notes, so this is not a Xen PV kernel");
    if (!notes.loader.empty() && notes.loader != "generic")
        throw Error(n + ": XEN_ELFNOTE_LOADER is '" + notes.loader + "', need 'generic'");
    if (!notes.hypercall_page)
        throw Error(n + ": no XEN_ELFNOTE_HYPERCALL_PAGE note; Xenolith PV guests call through it");
    if (notes.virt_base.value_or(0) != 0 || notes.paddr_offset.value_or(0) != 0)
        throw Error(n + ": linked at virt_base " + hex(notes.virt_base.value_or(0)) +
                    "; Xenolith maps PV guest RAM at VA = physical, so kernels are linked low "
                    "(virt_base 0)");
    const auto& segs = image.segments();
    if (segs.empty()) throw Error(n + ": no loadable segments");
    for (size_t i = 0; i < segs.size(); ++i) {
        const auto& s = segs[i];
        uint64_t end = s.vaddr + s.mem_size;
        if (end < s.vaddr || s.vaddr < kMinLoadAddress || end > memory_bytes)
            throw Error(n + ": segment " + std::to_string(i) + " at " + hex(s.vaddr) + "-" +
                        hex(end) + " lies outside guest RAM " + hex(kMinLoadAddress) + "-" +
                        hex(memory_bytes));
    }
    uint64_t entry = notes.entry.value_or(image.elf_entry());
    bool entry_ok = std::any_of(segs.begin(), segs.end(), [&](const LoadSegment& s) {
        return (s.flags & PF_X) && entry >= s.vaddr && entry < s.vaddr + s.mem_size;
    });
    if (!entry_ok) throw Error(n + ": entry point " + hex(entry) + " is not in an executable segment");
    uint64_t hp = *notes.hypercall_page;
    bool hp_ok = hp % kPageSize == 0 && std::any_of(segs.begin(), segs.end(), [&](const LoadSegment& s) {
                     return hp >= s.vaddr && hp + kPageSize <= s.vaddr + s.mem_size;
                 });
    if (!hp_ok)
        throw Error(n + ": hypercall page " + hex(hp) + " is not a page-aligned page inside the image");
}

}  // namespace

uint32_t page_table_frames(uint64_t memory_bytes) {
    TableCounts c = count_tables(memory_bytes);
    return static_cast<uint32_t>(1 + c.pdpt + c.pd + c.pt);
}

void write_page_tables(std::span<uint8_t> frames, uint64_t base, uint64_t memory_bytes) {
    TableCounts c = count_tables(memory_bytes);
    if (frames.size() < page_table_frames(memory_bytes) * kPageSize)
        throw Error("page-table area too small");
    std::fill(frames.begin(), frames.end(), 0);
    auto table = [&](uint64_t frame) { return reinterpret_cast<uint64_t*>(frames.data() + frame * kPageSize); };
    auto gpa = [&](uint64_t frame) { return base + frame * kPageSize; };
    const uint64_t pml4 = 0, pdpt0 = 1, pd0 = pdpt0 + c.pdpt, pt0 = pd0 + c.pd;

    for (uint64_t i = 0; i < c.pdpt; ++i) table(pml4)[i] = gpa(pdpt0 + i) | kTableFlags;
    for (uint64_t g = 0; g < c.pd; ++g) table(pdpt0 + g / 512)[g % 512] = gpa(pd0 + g) | kTableFlags;
    uint64_t regions = div_up(memory_bytes, k2MiB), next_pt = pt0;
    for (uint64_t r = 0; r < regions; ++r) {
        uint64_t& pde = table(pd0 + r / 512)[r % 512];
        uint64_t region_base = r * k2MiB;
        if (!needs_small_pages(r, memory_bytes)) {
            pde = region_base | kLeafFlags | kPteLarge;
            continue;
        }
        uint64_t pt = next_pt++;
        pde = gpa(pt) | kTableFlags;
        for (uint64_t p = 0; p < 512; ++p) {
            uint64_t page = region_base + p * kPageSize;
            if (page == 0 || page + kPageSize > memory_bytes) continue;  // null page, beyond RAM
            table(pt)[p] = page | kLeafFlags;
        }
    }
}

void write_io_tss(std::span<uint8_t> page) {
    // x86-64 TSS: 104 bytes, with the I/O map base (offset 102) pointing just past it. Ports
    // past the page end are outside the TSS limit and so denied too.
    constexpr uint16_t kIoMapBase = 104;
    std::fill(page.begin(), page.end(), 0);
    std::memcpy(page.data() + 102, &kIoMapBase, sizeof kIoMapBase);
    std::fill(page.begin() + kIoMapBase, page.end(), 0xff);  // 1 = denied
    // The hypercall stubs and the event-channel notify do 4-byte `out`s, which need all
    // four ports' bits clear.
    for (unsigned base : {XENOLITH_HYPERCALL_PORT, XENOLITH_NOTIFY_PORT})
        for (unsigned port = base; port < base + 4; ++port)
            page[kIoMapBase + port / 8] &= static_cast<uint8_t>(~(1u << (port % 8)));
}

PvBootPlan load_pv_image(hv::GuestMemory& memory, const ElfImage& image, std::string_view cmdline) {
    const uint64_t mem = memory.size();
    check_image(image, mem);
    if (cmdline.size() >= MAX_GUEST_CMDLINE)
        throw Error("command line is " + std::to_string(cmdline.size()) + " bytes; Xen allows " +
                    std::to_string(MAX_GUEST_CMDLINE - 1));

    PvLayout l;
    const auto& segs = image.segments();
    l.image_start = segs.front().vaddr;
    for (const auto& s : segs) l.image_end = std::max(l.image_end, page_up(s.vaddr + s.mem_size));
    l.entry = image.xen_notes().entry.value_or(image.elf_entry());
    l.hypercall_page = *image.xen_notes().hypercall_page;
    l.start_info = l.image_end;
    l.shared_info = l.start_info + kPageSize;
    l.io_tss = l.shared_info + kPageSize;
    l.grant_frames = l.io_tss + kPageSize;
    l.console_ring = l.grant_frames + uint64_t{hv::kDefaultGrantFrames} * kPageSize;
    l.store_ring = l.console_ring + kPageSize;
    uint64_t stack_bottom = l.store_ring + kPageSize;
    l.stack_top = stack_bottom + XENOLITH_BOOT_STACK_SIZE;
    l.pt_base = l.stack_top;
    l.nr_pt_frames = page_table_frames(mem);
    l.first_free = l.pt_base + uint64_t{l.nr_pt_frames} * kPageSize;
    if (l.first_free > mem)
        throw Error(image.name() + ": " + std::to_string(mem >> 20) +
                    " MiB of memory is too small for this image and its boot structures (need " +
                    std::to_string(div_up(l.first_free, 1 << 20)) + " MiB)");

    // Segments: file bytes, then zeroes up to the memory size (BSS).
    for (const auto& s : segs) {
        auto dst = memory.span(s.vaddr, s.mem_size);
        auto src = image.segment_bytes(s);
        std::copy(src.begin(), src.end(), dst.begin());
        std::fill(dst.begin() + static_cast<ptrdiff_t>(src.size()), dst.end(), 0);
    }
    hv::write_hypercall_page(memory.span(l.hypercall_page, kPageSize));
    auto boot_area = memory.span(l.start_info, l.pt_base - l.start_info);
    std::fill(boot_area.begin(), boot_area.end(), 0);
    write_io_tss(memory.span(l.io_tss, kPageSize));
    write_page_tables(memory.span(l.pt_base, uint64_t{l.nr_pt_frames} * kPageSize), l.pt_base, mem);

    start_info_t si{};
    std::snprintf(si.magic, sizeof si.magic, "xen-3.0-x86_64");
    si.nr_pages = memory.nr_pages();
    si.shared_info = l.shared_info;
    si.pt_base = l.pt_base;
    si.nr_pt_frames = l.nr_pt_frames;
    std::memcpy(si.cmd_line, cmdline.data(), cmdline.size());
    memory.write(l.start_info, si);

    PvBootPlan plan;
    plan.layout = l;
    plan.boot.regs.rip = l.entry;
    plan.boot.regs.rsp = l.stack_top;
    plan.boot.regs.rsi = l.start_info;
    plan.boot.cr3 = l.pt_base;
    plan.boot.tss_base = l.io_tss;
    return plan;
}

PvLayout build_pv_domain(hv::Domain& domain, const ElfImage& image, std::string_view cmdline) {
    PvBootPlan plan = load_pv_image(domain.memory(), image, cmdline);
    domain.set_shared_info(plan.layout.shared_info);
    if (domain.grant_table().place_boot_frames(plan.layout.grant_frames,
                                               hv::kDefaultGrantFrames) < 0)
        throw Error(image.name() + ": the grant-table frames do not fit in guest RAM");
    // The PV console and xenstore, as Xen's builder sets them up for a domU: for each a ring
    // page and a port offered to its backend (domid 0), both named in start_info, and the
    // reserved grant through which the backend maps the page, seeded as Xen's toolstack
    // does (xc_dom_gnttab_seed).
    auto* si = domain.memory().object<start_info_t>(plan.layout.start_info);
    plan.layout.console_port = offer_ring(domain, plan.layout.grant_frames, plan.layout.console_ring,
                                          GNTTAB_RESERVED_CONSOLE, image.name(), "console");
    si->console.domU.mfn = plan.layout.console_ring >> hv::kPageShift;
    si->console.domU.evtchn = plan.layout.console_port;
    plan.layout.store_port = offer_ring(domain, plan.layout.grant_frames, plan.layout.store_ring,
                                        GNTTAB_RESERVED_XENSTORE, image.name(), "xenstore");
    si->store_mfn = plan.layout.store_ring >> hv::kPageShift;
    si->store_evtchn = plan.layout.store_port;
    domain.set_boot_context(plan.boot);
    auto symbols = std::make_shared<ElfImage>(image);
    domain.set_symbolizer([symbols](uint64_t address) -> std::string {
        auto sym = symbols->symbolize(address);
        if (!sym) return {};
        char buf[32];
        std::snprintf(buf, sizeof buf, "+0x%" PRIx64, sym->offset);
        return "<" + sym->name + buf + ">";
    });
    return plan.layout;
}

}  // namespace xenolith::boot
