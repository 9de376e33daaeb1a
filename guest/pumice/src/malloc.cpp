// malloc/free and operator new/delete. Small blocks come from per-size-class free lists
// carved out of pages; anything larger takes whole pages. Each block carries a 16-byte
// header so free() knows where it came from and results stay 16-byte aligned.
#include <pumice/assert.hpp>
#include <pumice/memory.hpp>
#include <pumice/spinlock.hpp>
#include <pumice/string.hpp>

#include <new>

namespace pumice::mem {
namespace {

constexpr size_t kHeader = 16;
constexpr size_t kMinBlock = 32;                // header + 16 bytes
constexpr unsigned kClasses = 8;                // 32, 64, ... 4096 bytes
constexpr uint32_t kMagicSmall = 0x50554d53;    // "PUMS"
constexpr uint32_t kMagicLarge = 0x50554d4c;    // "PUML"
constexpr uint32_t kMagicAligned = 0x50554d41;  // "PUMA"

struct Header {
    uint32_t magic;
    uint32_t size_class;  // small blocks
    uint64_t value;       // large: page count; aligned: the pointer malloc returned
};
static_assert(sizeof(Header) == kHeader);

struct FreeBlock {
    FreeBlock* next;
};

SpinLock g_lock;
FreeBlock* g_classes[kClasses];

size_t class_size(unsigned c) {
    return kMinBlock << c;
}

Header* header_of(void* ptr) {
    return reinterpret_cast<Header*>(static_cast<char*>(ptr) - kHeader);
}

void* alloc_small(unsigned c) {
    IrqSpinGuard guard(g_lock);
    if (!g_classes[c]) {
        // A class block is at most a page, so one page refills any class.
        char* page = static_cast<char*>(alloc_pages(1));
        if (!page) return nullptr;
        for (size_t off = 0; off + class_size(c) <= kPageSize; off += class_size(c)) {
            auto* block = reinterpret_cast<FreeBlock*>(page + off);
            block->next = g_classes[c];
            g_classes[c] = block;
        }
    }
    FreeBlock* block = g_classes[c];
    g_classes[c] = block->next;
    auto* h = reinterpret_cast<Header*>(block);
    h->magic = kMagicSmall;
    h->size_class = c;
    return reinterpret_cast<char*>(h) + kHeader;
}

size_t usable_size(void* ptr) {
    Header* h = header_of(ptr);
    if (h->magic == kMagicSmall) return class_size(h->size_class) - kHeader;
    if (h->magic == kMagicLarge) return h->value * kPageSize - kHeader;
    PUMICE_ASSERT(h->magic == kMagicAligned);
    return usable_size(reinterpret_cast<void*>(h->value)) -
           (static_cast<char*>(ptr) - reinterpret_cast<char*>(h->value));
}

}  // namespace
}  // namespace pumice::mem

using namespace pumice;
using namespace pumice::mem;

extern "C" {

void* malloc(size_t size) {
    size_t need = size + kHeader;
    if (need < size) return nullptr;
    for (unsigned c = 0; c < kClasses; ++c) {
        if (need <= class_size(c)) return alloc_small(c);
    }
    size_t pages = (need + kPageSize - 1) / kPageSize;
    auto* h = static_cast<Header*>(alloc_pages(pages));
    if (!h) return nullptr;
    h->magic = kMagicLarge;
    h->size_class = 0;
    h->value = pages;
    return reinterpret_cast<char*>(h) + kHeader;
}

void free(void* ptr) {
    if (!ptr) return;
    Header* h = header_of(ptr);
    switch (h->magic) {
        case kMagicSmall: {
            unsigned c = h->size_class;
            PUMICE_ASSERT(c < kClasses);
            h->magic = 0;
            IrqSpinGuard guard(g_lock);
            auto* block = reinterpret_cast<FreeBlock*>(h);
            block->next = g_classes[c];
            g_classes[c] = block;
            return;
        }
        case kMagicLarge:
            h->magic = 0;
            free_pages(h, h->value);
            return;
        case kMagicAligned:
            free(reinterpret_cast<void*>(h->value));
            return;
        default:
            panic("free(%p): not a malloc'd block", ptr);
    }
}

void* calloc(size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) return nullptr;
    void* p = malloc(total);
    if (p) memset(p, 0, total);
    return p;
}

void* realloc(void* ptr, size_t size) {
    if (!ptr) return malloc(size);
    size_t old = usable_size(ptr);
    if (size <= old) return ptr;
    void* p = malloc(size);
    if (!p) return nullptr;
    memcpy(p, ptr, old);
    free(ptr);
    return p;
}

// Over-allocates, then records the real block in a header just below the aligned pointer.
void* aligned_alloc(size_t alignment, size_t size) {
    if (alignment <= kHeader) return malloc(size);
    if (alignment & (alignment - 1)) return nullptr;
    char* raw = static_cast<char*>(malloc(size + alignment + kHeader));
    if (!raw) return nullptr;
    uintptr_t aligned =
        (reinterpret_cast<uintptr_t>(raw) + kHeader + alignment - 1) & ~(alignment - 1);
    auto* h = reinterpret_cast<Header*>(aligned - kHeader);
    h->magic = kMagicAligned;
    h->size_class = 0;
    h->value = reinterpret_cast<uintptr_t>(raw);
    return reinterpret_cast<void*>(aligned);
}

}  // extern "C"

// Without exceptions, a failed allocation is fatal rather than a nullptr nobody checks.
namespace {
void* checked(void* p, size_t size) {
    if (!p) panic("out of memory allocating %zu bytes", size);
    return p;
}
}  // namespace

void* operator new(size_t size) {
    return checked(malloc(size), size);
}
void* operator new[](size_t size) {
    return checked(malloc(size), size);
}
void* operator new(size_t size, std::align_val_t al) {
    return checked(aligned_alloc(static_cast<size_t>(al), size), size);
}
void* operator new[](size_t size, std::align_val_t al) {
    return checked(aligned_alloc(static_cast<size_t>(al), size), size);
}
void* operator new(size_t size, const std::nothrow_t&) noexcept {
    return malloc(size);
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
    return malloc(size);
}
void operator delete(void* p) noexcept {
    free(p);
}
void operator delete[](void* p) noexcept {
    free(p);
}
void operator delete(void* p, size_t) noexcept {
    free(p);
}
void operator delete[](void* p, size_t) noexcept {
    free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    free(p);
}
void operator delete(void* p, size_t, std::align_val_t) noexcept {
    free(p);
}
void operator delete[](void* p, size_t, std::align_val_t) noexcept {
    free(p);
}
