// The control API's CPU pool and scheduler commands (xl cpupool-* and sched-*), with the
// parameters in JSON as docs/control-api.md lists them.
#pragma once

#include <map>
#include <string>

#include "hv/scheduling.hpp"
#include "toolstack/daemon/control_server.hpp"
#include "toolstack/daemon/domain_manager.hpp"

namespace xenolith::daemon {

void add_sched_handlers(std::map<std::string, Handler>& handlers, hv::Scheduling& scheduling,
                        DomainManager& domains);

// sched::SchedError as the API reports it: its errno's name and sentence.
[[noreturn]] void rethrow_sched_error(const std::exception& e);

}  // namespace xenolith::daemon
