// How `make bench` reports: statistics over samples, the ratio blocks every figure
// carries beside its floor, and the ABBA interleaving of floor and ours.
#pragma once

#include <functional>
#include <string>
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
// The common head of a figure: unit, what (one paragraph: what is timed on each side), and
// the ours and floor summaries. The caller adds a ratio block and any extra fields.
json figure(const std::string& unit, const std::string& what, const std::vector<double>& ours,
            const std::vector<double>& floor, bool with_samples = true);
// What a figure reports where it could not be measured (no /dev/kvm, ...).
json not_measured(const std::string& reason);
// One line per figure (unit, medians, ratio, target) for the document's "summary"; a figure
// that is a string ("not measured: ...") is copied as it is.
json brief(const json& figures);
// Runs `measure` and files its figure under figures[name]; an exception it throws becomes
// "<name>: <what>" in `errors` and the figure is left out.
// `scope` prefixes the error ("process.").
void record(json& figures, json& errors, const std::string& name,
            const std::function<json()>& measure, const std::string& scope = "");

// Runs floor and ours `reps` times each, alternating which goes first (ABBA...), after
// `warmups` unrecorded rounds.
void interleave(unsigned warmups, unsigned reps, const std::function<void(bool record)>& floor,
                const std::function<void(bool record)>& ours);

}  // namespace xenolith::bench
