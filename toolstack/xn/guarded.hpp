// xl's way with errors: one message on stderr and exit status 1.
#pragma once

#include <cstdio>
#include <exception>

namespace xenolith::xn {

template <typename F>
int guarded(F body) {
    try {
        return body();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}

}  // namespace xenolith::xn
