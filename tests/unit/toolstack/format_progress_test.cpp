// The progress line of `xn migrate`, from the daemon's migration_progress answer.
#include <gtest/gtest.h>

#include "toolstack/format/progress_text.hpp"

namespace xenolith::format {
namespace {

TEST(MigrationProgressLine, ShowsTheRoundItsShareTheRateAndTheTimeLeft) {
    const nlohmann::json p = {{"live", true},         {"round", 2u},        {"ram_pages", 8192u},
                              {"round_pages", 1000u}, {"round_sent", 250u}, {"sent_pages", 2560u},
                              {"last_dirty", 1000u},  {"stopped", false},   {"elapsed_ms", 1000u}};
    // 2560 pages in 1 s is 10 MiB/s; 750 pages left at that rate take 0.3 s.
    EXPECT_EQ(migration_progress_line(p, 8),
              "round 2 [##------]  25%  250/1000 pages  10.0 MiB/s  written 1000  left 0.3s");
}

TEST(MigrationProgressLine, TheFirstRoundHasNoWrittenCountAndThePausedOneSaysSo) {
    nlohmann::json p = {{"round", 0u},
                        {"round_pages", 10u},
                        {"round_sent", 10u},
                        {"sent_pages", 10u},
                        {"elapsed_ms", 0u}};
    EXPECT_EQ(migration_progress_line(p, 4), "round 0 [####] 100%  10/10 pages");
    p["stopped"] = true;
    p["round"] = 3u;
    p["round_sent"] = 0u;
    EXPECT_EQ(migration_progress_line(p, 4), "paused 3 [----]   0%  0/10 pages  written 0");
}

TEST(MigrationProgressLine, ANonsenseAnswerDrawsAnEmptyBarRatherThanOverflowing) {
    const nlohmann::json p = {{"round_pages", 5u}, {"round_sent", 50u}, {"round", "x"}};
    EXPECT_EQ(migration_progress_line(p, 4), "round 0 [####] 100%  5/5 pages");
}

}  // namespace
}  // namespace xenolith::format
