// How `make bench` reports: statistics over samples, the ratio blocks every figure
// carries beside its floor, and the ABBA interleaving of floor and ours.
#pragma once

#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

namespace xenolith::bench {

using json = nlohmann::ordered_json;  // keys in the order written

// Nearest-rank percentile (p in [0, 100]); NaN when empty.
double percentile(std::vector<double> v, double p);
double median(std::vector<double> v);
double minimum(const std::vector<double>& v);
double maximum(const std::vector<double>& v);
double round3(double x);
// median, p90, min, max, reps and (optionally) the samples.
json summary(const std::vector<double>& v, bool with_samples = true);
// ratio, ratio_is, ratio_of_best, target ("<= 2") and whether it was met.
json ratio_block(const char* definition, double ratio, const char* target_op, double target,
                 double ratio_of_best);
// The same without a target: reported, not judged.
json ratio_block_untargeted(const char* definition, double ratio, double ratio_of_best);
// Runs floor and ours `reps` times each, alternating which goes first (ABBA...), after
// `warmups` unrecorded rounds.
void interleave(unsigned warmups, unsigned reps, const std::function<void(bool record)>& floor,
                const std::function<void(bool record)>& ours);

}  // namespace xenolith::bench
