// printf-style formatting into a sink; printf() goes to the console, snprintf() to a buffer.
#include <pumice/console.hpp>
#include <pumice/print.hpp>
#include <pumice/string.hpp>

#include <stdint.h>

namespace pumice {
namespace {

struct Spec {
    bool left = false;  // '-'
    bool zero = false;  // '0'
    unsigned width = 0;
};

void pad(FormatSink sink, void* ctx, char c, unsigned count, int& total) {
    char chunk[16];
    memset(chunk, c, sizeof(chunk));
    total += static_cast<int>(count);
    while (count) {
        unsigned n = count < sizeof(chunk) ? count : sizeof(chunk);
        sink(ctx, chunk, n);
        count -= n;
    }
}

// Emits `body` (with an optional sign/prefix) honouring width, '0' and '-'.
void emit(FormatSink sink, void* ctx, const Spec& spec, const char* prefix, const char* body,
          size_t len, int& total) {
    size_t plen = strlen(prefix);
    unsigned fill = spec.width > len + plen ? static_cast<unsigned>(spec.width - len - plen) : 0;
    if (!spec.left && !spec.zero) pad(sink, ctx, ' ', fill, total);
    if (plen) sink(ctx, prefix, plen);
    if (!spec.left && spec.zero) pad(sink, ctx, '0', fill, total);
    sink(ctx, body, len);
    if (spec.left) pad(sink, ctx, ' ', fill, total);
    total += static_cast<int>(plen + len);
}

void emit_number(FormatSink sink, void* ctx, const Spec& spec, uint64_t value, unsigned base,
                 bool upper, const char* prefix, int& total) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char buf[24];
    size_t pos = sizeof(buf);
    do {
        buf[--pos] = digits[value % base];
        value /= base;
    } while (value);
    emit(sink, ctx, spec, prefix, buf + pos, sizeof(buf) - pos, total);
}

}  // namespace

int format(FormatSink sink, void* ctx, const char* fmt, va_list args) {
    int total = 0;
    while (*fmt) {
        if (*fmt != '%') {
            const char* start = fmt;
            while (*fmt && *fmt != '%') ++fmt;
            sink(ctx, start, fmt - start);
            total += static_cast<int>(fmt - start);
            continue;
        }
        ++fmt;
        Spec spec;
        for (;; ++fmt) {
            if (*fmt == '-')
                spec.left = true;
            else if (*fmt == '0')
                spec.zero = true;
            else
                break;
        }
        while (*fmt >= '0' && *fmt <= '9') spec.width = spec.width * 10 + (*fmt++ - '0');
        int longs = 0;  // 0: int, 1: long, 2: long long, 3: size_t
        if (*fmt == 'z') {
            longs = 3;
            ++fmt;
        } else {
            while (*fmt == 'l') ++longs, ++fmt;
        }
        auto next_unsigned = [&]() -> uint64_t {
            switch (longs) {
                case 0:
                    return va_arg(args, unsigned int);
                case 1:
                    return va_arg(args, unsigned long);
                case 3:
                    return va_arg(args, size_t);
                default:
                    return va_arg(args, unsigned long long);
            }
        };
        switch (char conv = *fmt++) {
            case 'd':
            case 'i': {
                int64_t v;
                switch (longs) {
                    case 0:
                        v = va_arg(args, int);
                        break;
                    case 1:
                        v = va_arg(args, long);
                        break;
                    case 3:
                        v = static_cast<int64_t>(va_arg(args, size_t));
                        break;
                    default:
                        v = va_arg(args, long long);
                        break;
                }
                uint64_t magnitude =
                    v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
                emit_number(sink, ctx, spec, magnitude, 10, false, v < 0 ? "-" : "", total);
                break;
            }
            case 'u':
                emit_number(sink, ctx, spec, next_unsigned(), 10, false, "", total);
                break;
            case 'x':
            case 'X':
                emit_number(sink, ctx, spec, next_unsigned(), 16, conv == 'X', "", total);
                break;
            case 'p':
                emit_number(sink, ctx, spec, reinterpret_cast<uintptr_t>(va_arg(args, void*)), 16,
                            false, "0x", total);
                break;
            case 's': {
                const char* s = va_arg(args, const char*);
                if (!s) s = "(null)";
                Spec text = spec;
                text.zero = false;
                emit(sink, ctx, text, "", s, strlen(s), total);
                break;
            }
            case 'c': {
                char c = static_cast<char>(va_arg(args, int));
                Spec text = spec;
                text.zero = false;
                emit(sink, ctx, text, "", &c, 1, total);
                break;
            }
            case '%':
                sink(ctx, "%", 1);
                ++total;
                break;
            case '\0':
                --fmt;  // a lone '%' at the end: stop at the terminator
                break;
            default: {  // unknown conversion: print it verbatim so the mistake is visible
                char bad[2] = {'%', conv};
                sink(ctx, bad, 2);
                total += 2;
                break;
            }
        }
    }
    return total;
}

namespace {

void console_sink(void*, const char* chunk, size_t len) {
    console::write(chunk, len);
}

struct BufferSink {
    char* buf;
    size_t size;
    size_t used;
};

void buffer_sink(void* ctx, const char* chunk, size_t len) {
    auto* b = static_cast<BufferSink*>(ctx);
    for (size_t i = 0; i < len; ++i, ++b->used) {
        if (b->used + 1 < b->size) b->buf[b->used] = chunk[i];
    }
}

}  // namespace

int vprintf(const char* fmt, va_list args) {
    return format(console_sink, nullptr, fmt, args);
}

int printf(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int n = vprintf(fmt, args);
    va_end(args);
    return n;
}

int vsnprintf(char* buf, size_t size, const char* fmt, va_list args) {
    BufferSink sink{buf, size, 0};
    int n = format(buffer_sink, &sink, fmt, args);
    if (size) buf[sink.used < size ? sink.used : size - 1] = '\0';
    return n;
}

int snprintf(char* buf, size_t size, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(buf, size, fmt, args);
    va_end(args);
    return n;
}

}  // namespace pumice
