// The progress line `xn migrate` draws on a terminal, from the daemon's
// `migration_progress` answer (toolstack/daemon/migration_progress.hpp).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace xenolith::format {

// "round 2 [########------------]  40%  512/1280 pages  410.5 MiB/s  written 37  left 0.2s":
// this round's share sent, the rate over the whole migration, the pages written during the
// previous round, and this round's time left at that rate. A bar `width` characters wide.
std::string migration_progress_line(const nlohmann::json& progress, unsigned width = 24);

}  // namespace xenolith::format
