// The control API's introspection commands (docs/control-api.md, "Introspection"): a session
// attaches as one domain's debugger (a vmi::Introspector), works on it through the other
// debug_* commands, and holds it until it detaches or its connection closes, whereupon every
// breakpoint it planted is removed and the domain runs on.
#pragma once

#include <map>
#include <string>

#include "toolstack/daemon/control_server.hpp"
#include "toolstack/daemon/domain_manager.hpp"

namespace xenolith::daemon {

void add_debug_handlers(std::map<std::string, Handler>& handlers, DomainManager& domains);

}  // namespace xenolith::daemon
