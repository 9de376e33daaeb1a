// How xn reaches xenolithd: connect to its control socket, and start it first when nobody
// listens there (xl needs a running hypervisor; xn brings its own).
#pragma once

#include <memory>

#include "toolstack/api/protocol.hpp"

namespace xenolith::xn {

// Throws Error when the daemon cannot be reached or started.
std::unique_ptr<api::Client> connect_daemon();

}  // namespace xenolith::xn
