// Milliseconds since a steady-clock instant: the figure operators read in results and logs.
#pragma once

#include <chrono>
#include <cstdint>

namespace xenolith {

inline uint64_t ms_since(std::chrono::steady_clock::time_point t0) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count());
}

}  // namespace xenolith
