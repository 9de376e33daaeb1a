// Memory: a page allocator over the RAM the domain builder left free, and malloc/free on
// top of it (operator new/delete use malloc). All of it is SMP-safe.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace pumice::mem {

inline constexpr size_t kPageSize = 4096;

// Hands [start, end) to the page allocator (called once at boot).
void init(uintptr_t start, uintptr_t end);

// Contiguous, page-aligned runs of pages; contents are not cleared.
void* alloc_pages(size_t count);
void free_pages(void* pages, size_t count);

size_t free_page_count();
size_t total_page_count();

}  // namespace pumice::mem

extern "C" {
void* malloc(size_t size);
void* calloc(size_t count, size_t size);
void* realloc(void* ptr, size_t size);
void* aligned_alloc(size_t alignment, size_t size);
void free(void* ptr);
}
