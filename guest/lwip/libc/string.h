/* The <string.h> lwIP's C sources see: only the functions Pumice provides
 * (guest/pumice/src/string.cpp, declared for C++ in pumice/string.hpp). lwIP is compiled
 * with -nostdinc, so the host's C library headers can never be picked up instead. */
#ifndef PUMICE_LWIP_LIBC_STRING_H
#define PUMICE_LWIP_LIBC_STRING_H

#include <stddef.h>

void* memcpy(void* dst, const void* src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
void* memset(void* dst, int value, size_t n);
int memcmp(const void* a, const void* b, size_t n);
void* memchr(const void* s, int c, size_t n);
size_t strlen(const char* s);
size_t strnlen(const char* s, size_t max);
int strcmp(const char* a, const char* b);
int strncmp(const char* a, const char* b, size_t n);
char* strchr(const char* s, int c);
char* strncpy(char* dst, const char* src, size_t n);

#endif
