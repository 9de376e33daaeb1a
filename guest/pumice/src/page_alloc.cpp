// The page allocator: an address-ordered list of free runs, each described by a header
// in its own first page. First fit; frees coalesce with both neighbours. Only a run's
// first page is ever touched by the allocator, which matters where a first touch costs a
// shadow page fault.
#include <pumice/assert.hpp>
#include <pumice/memory.hpp>
#include <pumice/spinlock.hpp>

namespace pumice::mem {
namespace {

struct FreeRun {
    size_t pages;
    FreeRun* next;
};

SpinLock g_lock;
FreeRun* g_free;
size_t g_free_pages;
size_t g_total_pages;

uintptr_t end_of(const FreeRun* run) {
    return reinterpret_cast<uintptr_t>(run) + run->pages * kPageSize;
}

}  // namespace

void init(uintptr_t start, uintptr_t end) {
    start = (start + kPageSize - 1) & ~(kPageSize - 1);
    end &= ~(kPageSize - 1);
    PUMICE_ASSERT(start < end);
    g_free = reinterpret_cast<FreeRun*>(start);
    g_free->pages = (end - start) / kPageSize;
    g_free->next = nullptr;
    g_free_pages = g_total_pages = g_free->pages;
}

void* alloc_pages(size_t count) {
    if (!count) return nullptr;
    IrqSpinGuard guard(g_lock);
    for (FreeRun** link = &g_free; *link; link = &(*link)->next) {
        FreeRun* run = *link;
        if (run->pages < count) continue;
        g_free_pages -= count;
        if (run->pages == count) {
            *link = run->next;
            return run;
        }
        // Take the tail, so the header stays where it is.
        run->pages -= count;
        return reinterpret_cast<void*>(end_of(run));
    }
    return nullptr;
}

void free_pages(void* pages, size_t count) {
    if (!pages || !count) return;
    auto addr = reinterpret_cast<uintptr_t>(pages);
    PUMICE_ASSERT(addr % kPageSize == 0);
    IrqSpinGuard guard(g_lock);
    FreeRun* prev = nullptr;
    FreeRun* next = g_free;
    while (next && reinterpret_cast<uintptr_t>(next) < addr) prev = next, next = next->next;
    PUMICE_ASSERT(!prev || end_of(prev) <= addr);
    PUMICE_ASSERT(!next || addr + count * kPageSize <= reinterpret_cast<uintptr_t>(next));
    g_free_pages += count;

    FreeRun* run;
    if (prev && end_of(prev) == addr) {
        run = prev;
        run->pages += count;
    } else {
        run = static_cast<FreeRun*>(pages);
        run->pages = count;
        run->next = next;
        (prev ? prev->next : g_free) = run;
    }
    if (next && end_of(run) == reinterpret_cast<uintptr_t>(next)) {
        run->pages += next->pages;
        run->next = next->next;
    }
}

size_t free_page_count() {
    return g_free_pages;
}
size_t total_page_count() {
    return g_total_pages;
}

}  // namespace pumice::mem
