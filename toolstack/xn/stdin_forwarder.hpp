// `xn run`'s keyboard: what arrives on stdin goes to the guest's console ring until stdin
// ends or the guest does.
#pragma once

#include <thread>

#include "backends/console/console_backend.hpp"
#include "base/unique_fd.hpp"

namespace xenolith::xn {

class StdinForwarder {
public:
    explicit StdinForwarder(backends::ConsoleBackend& console);
    ~StdinForwarder();  // stops and joins
    StdinForwarder(const StdinForwarder&) = delete;
    StdinForwarder& operator=(const StdinForwarder&) = delete;

private:
    void run();
    backends::ConsoleBackend& console_;
    UniqueFd stop_;
    std::thread thread_;
};

}  // namespace xenolith::xn
