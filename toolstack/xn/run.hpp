// `xn run`: the one-shot mode. Boots one guest from an xl.cfg with its console on stdout,
// without a daemon, and exits with what the guest said.
#pragma once

#include <string>
#include <vector>

namespace xenolith::xn {

// Exit codes of `xn run` other than the guest's own status (docs/xn.md).
inline constexpr int kExitCrashed = 124;  // the guest crashed (dump on stderr)
inline constexpr int kExitError = 125;    // xn could not create or run the domain

struct RunOptions {
    std::string config_path;
    std::vector<std::string> overrides;  // key=value, as `xl create`
    bool quiet = false;                  // no "xn:" progress lines on stderr
    std::string xenstore_socket;         // serve xenstore here (XENSTORED_PATH for xenstore-utils)
    std::string console_log_dir;         // also log the console to <dir>/guest-<name>.log
};

int run_command(const RunOptions& options);

}  // namespace xenolith::xn
