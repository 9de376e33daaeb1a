#include <signal.h>

#include "platform/platform.hpp"

namespace xenolith::platform {

// SIGRTMIN + 0 and + 1 are taken by glibc's internals on some versions; + 2 is free.
int kick_signal() {
    return SIGRTMIN + 2;
}

}  // namespace xenolith::platform
