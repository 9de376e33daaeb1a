// printf into a std::string: the formats below are xl's and xentop's printf formats, so the
// clearest way to prove we print what they print is to use the same format strings.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <string>

namespace xenolith::format::detail {

[[gnu::format(printf, 2, 3)]] inline void appendf(std::string& out, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    va_list again;
    va_copy(again, ap);
    const int n = std::vsnprintf(nullptr, 0, fmt, ap);
    va_end(ap);
    if (n > 0) {
        const size_t old = out.size();
        out.resize(old + static_cast<size_t>(n) + 1);
        std::vsnprintf(out.data() + old, static_cast<size_t>(n) + 1, fmt, again);
        out.resize(old + static_cast<size_t>(n));
    }
    va_end(again);
}

}  // namespace xenolith::format::detail
