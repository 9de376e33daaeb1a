// The little C++ runtime support a freestanding image needs besides new/delete
// (src/malloc.cpp).
#include <pumice/assert.hpp>

#include <new>

// Normally in libsupc++, which a freestanding image does not link.
namespace std {
const nothrow_t nothrow{};
}

extern "C" {

// Statics' destructors would run at exit, which a unikernel never reaches.
void* __dso_handle = nullptr;
int __cxa_atexit(void (*)(void*), void*, void*) {
    return 0;
}
int atexit(void (*)()) {
    return 0;
}

void __cxa_pure_virtual() {
    pumice::panic("pure virtual function called");
}
}
