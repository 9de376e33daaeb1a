// printf-style formatting: %d %i %u %x %X %p %s %c %% with the l, ll and z modifiers,
// a field width, '0' padding and '-' left alignment.
#pragma once

#include <stdarg.h>
#include <stddef.h>

namespace pumice {

int printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char* fmt, va_list args);
int snprintf(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char* buf, size_t size, const char* fmt, va_list args);

// The formatting core: calls sink(ctx, chunk, len) for each piece; returns the length.
using FormatSink = void (*)(void* ctx, const char* chunk, size_t len);
int format(FormatSink sink, void* ctx, const char* fmt, va_list args);

}  // namespace pumice
