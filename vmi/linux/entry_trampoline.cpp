#include "vmi/linux/entry_trampoline.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "abi/xenolith.h"
#include "base/error.hpp"

namespace xenolith::vmi::linux_guest {

namespace {

// x86-64 paging-entry bits (architectural, not Xen ABI).
constexpr uint64_t kPresent = 1u << 0;
constexpr uint64_t kWritable = 1u << 1;
constexpr uint64_t kAccessed = 1u << 5;
constexpr uint64_t kHuge = 1u << 7;
constexpr uint64_t kAddressMask = 0x000ffffffffff000;
constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kLargePage = uint64_t{2} << 20;
constexpr unsigned kEntries = 512;

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

uint64_t entry_at(const hv::GuestMemory& memory, uint64_t table, unsigned index) {
    std::optional<uint64_t> e = memory.read<uint64_t>(table + index * 8ull);
    if (!e) throw Error("page table at " + hex(table) + " lies outside the guest's RAM");
    return *e;
}

// The table an upper-level entry points to; it must be present and not a huge page.
uint64_t next_table(const hv::GuestMemory& memory, uint64_t table, unsigned index,
                    const char* level) {
    const uint64_t e = entry_at(memory, table, index);
    if (!(e & kPresent) || (e & kHuge))
        throw Error(std::string("the kernel image's ") + level + " entry " + std::to_string(index) +
                    " is " + ((e & kPresent) ? "a huge page" : "absent"));
    return e & kAddressMask;
}

void write_code(const hv::GuestMemory& memory, uint64_t gpa, uint64_t entry) {
    uint8_t code[kPageSize];
    std::memset(code, 0xcc, sizeof code);  // int3 past the end: nothing else runs here
    const uint8_t head[] = {
        0xf3, 0x0f,
        0x1e, 0xfa,                 // endbr64
        0xe6, XENOLITH_PROBE_PORT,  // out %al, $XENOLITH_PROBE_PORT
        0xff, 0x25,
        0x00, 0x00,
        0x00, 0x00,  // jmp *0(%rip): the address that follows
    };
    std::memcpy(code, head, sizeof head);
    std::memcpy(code + sizeof head, &entry, sizeof entry);
    std::span<uint8_t> page = memory.span(gpa, kPageSize);
    if (page.empty()) throw Error("the trampoline page " + hex(gpa) + " is not in RAM");
    std::memcpy(page.data(), code, sizeof code);
}

// The page directory slot for the trampoline: one that already maps `table_gpa` (an earlier
// trace's), or the first one after the last present entry below the module area.
unsigned choose_slot(const hv::GuestMemory& memory, uint64_t pd, uint64_t table_gpa,
                     unsigned entry_slot) {
    constexpr unsigned kLimitSlot = (kKernelImageLimit - kKernelImageStart) / kLargePage;
    unsigned last_present = entry_slot;
    for (unsigned i = 0; i < kLimitSlot; ++i) {
        const uint64_t e = entry_at(memory, pd, i);
        if (!(e & kPresent)) continue;
        if (!(e & kHuge) && (e & kAddressMask) == table_gpa) return i;
        last_present = std::max(last_present, i);
    }
    if (last_present + 1 >= kLimitSlot)
        throw Error("no free 2 MiB slot between the kernel image and the module area");
    return last_present + 1;
}

}  // namespace

uint64_t install_entry_trampoline(const hv::GuestMemory& memory, uint64_t cr3, bool la57,
                                  uint64_t entry, TrampolinePages pages) {
    if (entry < kKernelImageStart || entry >= kKernelImageLimit)
        throw Error("the system-call entry " + hex(entry) +
                    " is not in the kernel image (is page-table isolation on? it moves the "
                    "entry to a per-CPU trampoline, which this does not follow)");
    uint64_t top = cr3 & kAddressMask;
    if (la57) top = next_table(memory, top, kEntries - 1, "PML5");
    const uint64_t pdpt = next_table(memory, top, kEntries - 1, "PML4");
    const uint64_t pd = next_table(memory, pdpt, kEntries - 2, "PDPT");
    const unsigned entry_slot = static_cast<unsigned>((entry - kKernelImageStart) / kLargePage);
    const unsigned slot = choose_slot(memory, pd, pages.table_gpa, entry_slot);

    write_code(memory, pages.code_gpa, entry);
    std::span<uint8_t> table = memory.span(pages.table_gpa, kPageSize);
    if (table.empty())
        throw Error("the trampoline's page table " + hex(pages.table_gpa) + " is not in RAM");
    std::memset(table.data(), 0, kPageSize);
    // Read-only, supervisor, executable: the guest cannot write its own probe.
    const uint64_t pte = pages.code_gpa | kPresent | kAccessed;
    std::memcpy(table.data(), &pte, sizeof pte);
    // The directory entry last, once what it points to is complete (x86 keeps stores in
    // order; the fence keeps the compiler from moving them).
    std::atomic_thread_fence(std::memory_order_release);
    const uint64_t pde = pages.table_gpa | kPresent | kWritable | kAccessed;
    std::span<uint8_t> slot_bytes = memory.span(pd + slot * 8ull, sizeof pde);
    std::memcpy(slot_bytes.data(), &pde, sizeof pde);
    return kKernelImageStart + slot * kLargePage;
}

}  // namespace xenolith::vmi::linux_guest
