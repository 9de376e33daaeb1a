/* The <stdlib.h> lwIP's C sources see: Pumice's allocator (pumice/memory.hpp, used through
 * MEM_LIBC_MALLOC) and atoi (netif_find parses "en0"; guest/lwip/port/sys_arch.cpp). */
#ifndef PUMICE_LWIP_LIBC_STDLIB_H
#define PUMICE_LWIP_LIBC_STDLIB_H

#include <stddef.h>

void* malloc(size_t size);
void* calloc(size_t count, size_t size);
void* realloc(void* ptr, size_t size);
void free(void* ptr);
int atoi(const char* s);

#endif
