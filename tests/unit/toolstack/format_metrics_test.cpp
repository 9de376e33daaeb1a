// The metrics text against the rules of the Prometheus text format 0.0.4, checked by a
// small parser: every sample is `name{label="value",...} value`, every family has one
// HELP and one TYPE before its samples and its samples in one group, counters end in
// _total, no series repeats, and label values escape backslash, quote and newline.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "toolstack/format/metrics_text.hpp"

namespace xenolith::format {
namespace {

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;  // unescaped values
    std::string series;                         // name and labels as written
    double value = 0;
};

bool name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

// Parses one sample line; on a broken line returns false with `why`.
bool parse_sample(const std::string& line, Sample& s, std::string& why) {
    size_t i = 0;
    while (i < line.size() && name_char(line[i], i == 0)) ++i;
    if (i == 0) return why = "no metric name", false;
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
        ++i;
        while (true) {
            const size_t start = i;
            while (i < line.size() && name_char(line[i], i == start) && line[i] != ':') ++i;
            if (i == start) return why = "no label name", false;
            const std::string label = line.substr(start, i - start);
            if (line.compare(i, 2, "=\"") != 0) return why = "no =\" after " + label, false;
            i += 2;
            std::string value;
            while (i < line.size() && line[i] != '"') {
                if (line[i] == '\\') {
                    if (++i >= line.size()) return why = "dangling backslash", false;
                    if (line[i] == 'n')
                        value += '\n';
                    else if (line[i] == '\\' || line[i] == '"')
                        value += line[i];
                    else
                        return why = "unknown escape", false;
                } else {
                    value += line[i];
                }
                ++i;
            }
            if (i >= line.size()) return why = "unterminated label value", false;
            ++i;
            if (!s.labels.emplace(label, value).second) return why = "repeated label", false;
            if (i < line.size() && line[i] == ',') {
                ++i;
                continue;
            }
            if (i < line.size() && line[i] == '}') {
                ++i;
                break;
            }
            return why = "no , or } after a label", false;
        }
    }
    s.series = line.substr(0, i);
    if (i >= line.size() || line[i] != ' ') return why = "no space before the value", false;
    const std::string value = line.substr(i + 1);
    if (value == "+Inf" || value == "-Inf" || value == "NaN") return true;
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') return why = "value is not a number: " + value, false;
    return true;
}

struct Parsed {
    std::vector<Sample> samples;
    std::map<std::string, std::string> types;
    std::vector<std::string> errors;
};

Parsed parse(const std::string& text) {
    Parsed p;
    if (text.empty() || text.back() != '\n') p.errors.push_back("text does not end in a newline");
    std::set<std::string> helped, closed, series;
    std::string current;  // the family whose samples are being read
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream words(line);
        std::string hash, keyword, name, rest;
        if (line.rfind("# ", 0) == 0) {
            words >> hash >> keyword >> name;
            std::getline(words, rest);
            if (keyword == "HELP") {
                if (!helped.insert(name).second) p.errors.push_back("second HELP for " + name);
                if (rest.size() < 2) p.errors.push_back("empty HELP for " + name);
            } else if (keyword == "TYPE") {
                if (p.types.count(name)) p.errors.push_back("second TYPE for " + name);
                if (rest != " counter" && rest != " gauge")
                    p.errors.push_back("TYPE of " + name + " is" + rest);
                if (!helped.count(name)) p.errors.push_back("TYPE before HELP for " + name);
                p.types[name] = rest.substr(1);
            }
            if (name != current) {
                if (!current.empty()) closed.insert(current);
                current = name;
            }
            continue;
        }
        Sample s;
        std::string why;
        if (!parse_sample(line, s, why)) {
            p.errors.push_back(why + ": " + line);
            continue;
        }
        if (s.name != current) p.errors.push_back("sample outside its family's group: " + line);
        if (!p.types.count(s.name)) p.errors.push_back("sample without TYPE: " + line);
        if (closed.count(s.name)) p.errors.push_back("family split into two groups: " + line);
        if (!series.insert(s.series).second) p.errors.push_back("repeated series: " + line);
        p.samples.push_back(std::move(s));
    }
    for (const auto& [name, type] : p.types) {
        const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
        if ((type == "counter") != total)
            p.errors.push_back(name + ": counters and only counters end in _total");
    }
    return p;
}

api::DomainInfo domain(uint32_t domid, std::string name) {
    api::DomainInfo d;
    d.domid = domid;
    d.name = std::move(name);
    d.state = "running";
    return d;
}

const Sample* find(const Parsed& p, const std::string& name, const std::string& domid) {
    for (const auto& s : p.samples) {
        auto it = s.labels.find("domid");
        if (s.name == name && it != s.labels.end() && it->second == domid) return &s;
    }
    return nullptr;
}

TEST(PrometheusText, FollowsTheExpositionFormat) {
    api::HostInfo host;
    host.nr_cpus = 4;
    auto dom0 = domain(0, "Domain-0");
    dom0.cpu_time_ns = 1'500'000'001;
    dom0.max_memory_kib = UINT64_MAX;  // no limit
    auto guest = domain(3, "guest");
    guest.exits = 42;
    api::VcpuInfo v;
    v.domid = 3;
    v.domain_name = "guest";
    v.vcpu = 1;
    v.time_ns = 2 * 1'000'000'000ull;
    const Parsed p = parse(prometheus_text(host, {dom0, guest}, {v}));
    for (const auto& e : p.errors) ADD_FAILURE() << e;

    const char* families[] = {"xenolith_domain_cpu_seconds_total",
                              "xenolith_domain_memory_bytes",
                              "xenolith_domain_max_memory_bytes",
                              "xenolith_domain_vcpus_online",
                              "xenolith_domain_exits_total",
                              "xenolith_domain_hypercalls_total",
                              "xenolith_domain_upcalls_total",
                              "xenolith_domain_event_channels",
                              "xenolith_domain_events_sent_total",
                              "xenolith_domain_grant_entries",
                              "xenolith_domain_state",
                              "xenolith_vcpu_cpu_seconds_total",
                              "xenolith_host_cpus",
                              "xenolith_host_memory_total_bytes",
                              "xenolith_host_memory_free_bytes",
                              "xenolith_domains",
                              "xenolith_daemon_uptime_seconds"};
    for (const char* f : families) EXPECT_TRUE(p.types.count(f)) << f;

    const Sample* cpu = find(p, "xenolith_domain_cpu_seconds_total", "0");
    ASSERT_NE(cpu, nullptr);
    EXPECT_DOUBLE_EQ(cpu->value, 1.500000001);
    EXPECT_EQ(cpu->labels.at("name"), "Domain-0");
    EXPECT_EQ(find(p, "xenolith_domain_exits_total", "3")->value, 42);
    const Sample* state = find(p, "xenolith_domain_state", "3");
    ASSERT_NE(state, nullptr);
    EXPECT_EQ(state->labels.at("state"), "running");
    EXPECT_EQ(state->value, 1);
    const Sample* vcpu = find(p, "xenolith_vcpu_cpu_seconds_total", "3");
    ASSERT_NE(vcpu, nullptr);
    EXPECT_EQ(vcpu->labels.at("vcpu"), "1");
    EXPECT_EQ(vcpu->value, 2);
}

TEST(PrometheusText, EscapesLabelValues) {
    EXPECT_EQ(prometheus_label_value("plain"), "plain");
    EXPECT_EQ(prometheus_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");

    const std::string odd = "we\"ird\\name\nwith {braces}, commas=and spaces";
    const std::string text = prometheus_text({}, {domain(5, odd)}, {});
    EXPECT_NE(text.find("name=\"we\\\"ird\\\\name\\nwith {braces}, commas=and spaces\""),
              std::string::npos);
    const Parsed p = parse(text);
    for (const auto& e : p.errors) ADD_FAILURE() << e;
    const Sample* s = find(p, "xenolith_domain_memory_bytes", "5");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->labels.at("name"), odd);
}

TEST(PrometheusText, NoDomainsStillDeclaresEveryFamilyOnce) {
    const Parsed p = parse(prometheus_text({}, {}, {}));
    for (const auto& e : p.errors) ADD_FAILURE() << e;
    EXPECT_EQ(p.types.size(), 17u);
}

TEST(PrometheusText, ParserRejectsBrokenLines) {
    // The checker itself must catch what it is there to catch.
    EXPECT_FALSE(
        parse("# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"b} 1\n").errors.empty());
    EXPECT_FALSE(parse("# HELP x h\n# TYPE x counter\nx 1\n").errors.empty());
    EXPECT_FALSE(parse("# HELP x h\n# TYPE x gauge\nx{a=\"\\q\"} 1\n").errors.empty());
    EXPECT_FALSE(parse("# HELP x h\n# TYPE x gauge\nx 1\nx 2\n").errors.empty());
    EXPECT_FALSE(parse("# HELP x h\n# TYPE x gauge\nx one\n").errors.empty());
    EXPECT_FALSE(parse("# HELP x h\n# TYPE x gauge\n# HELP x h\nx 1\n").errors.empty());
    EXPECT_TRUE(parse("# HELP x h\n# TYPE x gauge\nx{a=\"\\\"\"} 1\n").errors.empty());
}

}  // namespace
}  // namespace xenolith::format
