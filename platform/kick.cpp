#include <signal.h>

#include <mutex>

#include "base/error.hpp"
#include "platform/platform.hpp"

namespace xenolith::platform {

namespace {
thread_local Vcpu* tls_kick_target = nullptr;

void on_kick_signal(int) {
    if (Vcpu* vcpu = tls_kick_target) vcpu->note_exit_request();
}
}  // namespace

int kick_signal() {
    return SIGRTMIN + 2;
}

void install_kick_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = on_kick_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;  // no SA_RESTART: ppoll, waitpid and KVM_RUN return EINTR
        check_syscall(::sigaction(kick_signal(), &sa, nullptr), "sigaction");
    });
}

void bind_kick_target(Vcpu* vcpu) {
    tls_kick_target = vcpu;
}

}  // namespace xenolith::platform
