// The control API's tracing commands (docs/control-api.md, "Tracing"): a session starts a
// domain's hypercall trace and drains it; the trace ends when the session stops it or
// closes, and tells the reader when the domain has ended.
#pragma once

#include <map>
#include <string>

#include "toolstack/daemon/control_server.hpp"
#include "toolstack/daemon/domain_manager.hpp"

namespace xenolith::daemon {

void add_trace_handlers(std::map<std::string, Handler>& handlers, DomainManager& domains);

}  // namespace xenolith::daemon
