// An outgoing migration's progress, written by the thread that sends it and read by any
// other (xn list, and `xn migrate`'s progress bar through the `migration_progress` call).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace xenolith::daemon {

struct MigrationProgress {
    const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    const uint64_t ram_pages;
    const bool live;
    std::atomic<uint32_t> round{0};        // 0: the whole of RAM
    std::atomic<uint64_t> round_pages{0};  // to send in this round
    std::atomic<uint64_t> round_sent{0};   // of those, sent so far
    std::atomic<uint64_t> sent_pages{0};   // in every round
    std::atomic<uint64_t> last_dirty{0};   // written during the previous round
    std::atomic<bool> stopped{false};      // the guest is paused: the last round

    MigrationProgress(uint64_t ram, bool is_live) : ram_pages(ram), live(is_live) {}

    uint64_t elapsed_ms() const {
        return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - started)
                                         .count());
    }
    // For `xn list`: "round 2, 45% of 1200 pages".
    std::string summary() const {
        if (!live) return "stop-and-copy, " + std::to_string(ram_pages) + " pages";
        const uint64_t of = round_pages.load(), done = round_sent.load();
        const uint64_t pct = of ? done * 100 / of : 0;
        return std::string(stopped ? "stopped, " : "") + "round " + std::to_string(round.load()) +
               ", " + std::to_string(pct) + "% of " + std::to_string(of) + " pages";
    }
    nlohmann::json to_json() const {
        return {{"live", live},
                {"round", round.load()},
                {"ram_pages", ram_pages},
                {"round_pages", round_pages.load()},
                {"round_sent", round_sent.load()},
                {"sent_pages", sent_pages.load()},
                {"last_dirty", last_dirty.load()},
                {"stopped", stopped.load()},
                {"elapsed_ms", elapsed_ms()}};
    }
};

}  // namespace xenolith::daemon
