#include "bench/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace xenolith::bench {

// ---- statistics --------------------------------------------------------------------------

double percentile(std::vector<double> v, double p) {
    // Nearest rank on the sorted samples; p in [0, 100].
    std::sort(v.begin(), v.end());
    if (v.empty()) return NAN;
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    if (v.empty()) return NAN;
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double round3(double x) {
    return std::round(x * 1000) / 1000;
}

double minimum(const std::vector<double>& v) {
    return v.empty() ? NAN : *std::min_element(v.begin(), v.end());
}

json summary(const std::vector<double>& v, bool with_samples) {
    json j;
    j["median"] = round3(median(v));
    j["p90"] = round3(percentile(v, 90));
    j["min"] = round3(minimum(v));
    j["max"] = round3(v.empty() ? NAN : *std::max_element(v.begin(), v.end()));
    j["reps"] = v.size();
    if (with_samples) {
        json s = json::array();
        for (double x : v) s.push_back(round3(x));
        j["samples"] = s;
    }
    return j;
}

json ratio_block(const char* definition, double ratio, const char* target_op, double target,
                 double ratio_of_best) {
    json j;
    j["ratio"] = round3(ratio);
    j["ratio_is"] = definition;
    // The same ratio from each side's best sample: less sensitive to other load on the
    // machine (which only ever adds time), reported beside the median ratio, not instead.
    j["ratio_of_best"] = round3(ratio_of_best);
    j["target"] = std::string(target_op) + " " + [&] {
        char b[16];
        std::snprintf(b, sizeof b, "%g", target);
        return std::string(b);
    }();
    bool met = std::string(target_op) == "<=" ? ratio <= target : ratio >= target;
    j["target_met"] = std::isfinite(ratio) && met;
    return j;
}

json ratio_block_untargeted(const char* definition, double ratio, double ratio_of_best) {
    json j;
    j["ratio"] = round3(ratio);
    j["ratio_is"] = definition;
    j["ratio_of_best"] = round3(ratio_of_best);
    j["target"] = nullptr;  // the issue set none: reported, not judged
    j["target_met"] = nullptr;
    return j;
}

json figure(const std::string& unit, const std::string& what, const std::vector<double>& ours,
            const std::vector<double>& floor, bool with_samples) {
    json j;
    j["unit"] = unit;
    j["what"] = what;
    j["ours"] = summary(ours, with_samples);
    j["floor"] = summary(floor, with_samples);
    return j;
}

json not_measured(const std::string& reason) {
    return "not measured: " + reason;
}

json brief(const json& figures) {
    json out = json::object();
    for (const auto& [name, b] : figures.items()) {
        if (!b.is_object() || !b.contains("ours")) {
            out[name] = b;
            continue;
        }
        out[name] = {{"unit", b["unit"]},
                     {"ours_median", b["ours"]["median"]},
                     {"floor_median", b["floor"]["median"]},
                     {"ratio", b["ratio"]},
                     {"ratio_is", b["ratio_is"]},
                     {"ratio_of_best", b["ratio_of_best"]},
                     {"target", b["target"]},
                     {"target_met", b["target_met"]}};
    }
    return out;
}

void record(json& figures, json& errors, const std::string& name,
            const std::function<json()>& measure, const std::string& scope) {
    try {
        figures[name] = measure();
    } catch (const std::exception& e) {
        errors.push_back(scope + name + ": " + e.what());
    }
}

double maximum(const std::vector<double>& v) {
    return v.empty() ? NAN : *std::max_element(v.begin(), v.end());
}

// Runs `a` and `b` `reps` times, alternating which goes first (ABBA...), after `warmups`
// unrecorded rounds. `name` labels errors.
void interleave(unsigned warmups, unsigned reps, const std::function<void(bool record)>& floor,
                const std::function<void(bool record)>& ours) {
    for (unsigned i = 0; i < warmups; ++i) {
        floor(false);
        ours(false);
    }
    for (unsigned i = 0; i < reps; ++i) {
        if (i % 2 == 0) {
            floor(true);
            ours(true);
        } else {
            ours(true);
            floor(true);
        }
    }
}

}  // namespace xenolith::bench
