// A notify endpoint with no fast path: a plain eventfd that the hypervisor writes when the
// guest's notify exits (hv/evtchn.cpp). The process platform's, and the test platforms'.
#pragma once

#include <sys/eventfd.h>

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "platform/platform.hpp"

namespace xenolith::platform {

class EventFdEndpoint final : public NotifyEndpoint {
  public:
    EventFdEndpoint()
        : fd_(static_cast<int>(
              check_syscall(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd"))) {}
    int fd() const override { return fd_.get(); }
    void detach() override {}

  private:
    UniqueFd fd_;
};

}  // namespace xenolith::platform
