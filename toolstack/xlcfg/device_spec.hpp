// One entry of an xl.cfg device list, as written. Each device kind has its own parser
// (disk_spec.hpp, vif_spec.hpp) that turns it into a typed description.
#pragma once

#include <string>

#include "toolstack/xlcfg/parser.hpp"

namespace xenolith::xlcfg {

// One entry of a device list (disk=, vif=, ...): the spec string as written, with its
// position for the device parser's messages.
struct DeviceSpec {
    std::string spec;
    Position pos;
};

}  // namespace xenolith::xlcfg
