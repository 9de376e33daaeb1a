#include "toolstack/format/top_view.hpp"

#include <algorithm>
#include <limits>

#include "toolstack/format/appendf.hpp"
#include "toolstack/format/xl_text.hpp"

namespace xenolith::format {

using detail::appendf;

namespace {

constexpr uint32_t kShutdownCrash = 3;  // SHUTDOWN_crash
// xentop prints "no limit" for a domain without a memory limit: all ones.
constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

bool crashed(const api::DomainInfo& d) {
    return d.shutdown && d.shutdown_reason == kShutdownCrash;
}

// xentop's STATE: d s b c p r, in that order.
std::string state_letters(const api::DomainInfo& d) {
    std::string s = "------";
    if (d.dying) s[0] = 'd';
    if (d.shutdown) s[1] = 's';
    if (d.blocked) s[2] = 'b';
    if (crashed(d)) s[3] = 'c';
    if (d.paused) s[4] = 'p';
    if (d.running) s[5] = 'r';
    return s;
}

struct Column {
    const char* header;
    int width;
};

// xentop's columns and widths up to VCPUS, then ours.
constexpr Column kColumns[] = {
    {"NAME", 10},    {"STATE", 6},      {"CPU(sec)", 10}, {"CPU(%)", 6}, {"MEM(k)", 10},
    {"MEM(%)", 6},   {"MAXMEM(k)", 10}, {"MAXMEM(%)", 9}, {"VCPUS", 5},  {"EXITS/s", 9},
    {"HCALLS/s", 9}, {"EVTCHNS", 7},    {"EVENTS/s", 9},  {"GRANTS", 6},
};

// Per-second rates of one domain between two samples.
struct Rates {
    double cpu_pct = 0;
    double exits = 0;
    double hypercalls = 0;
    double events = 0;
};

Rates rates_between(const api::DomainInfo* before, const api::DomainInfo& now,
                    uint64_t elapsed_ns) {
    Rates r;
    if (before == nullptr || elapsed_ns == 0 || now.uptime_ns < before->uptime_ns) return r;
    const double elapsed_s = static_cast<double>(elapsed_ns) / 1e9;
    auto per_second = [elapsed_s](uint64_t was, uint64_t is) {
        return is > was ? static_cast<double>(is - was) / elapsed_s : 0.0;
    };
    r.cpu_pct = per_second(before->cpu_time_ns, now.cpu_time_ns) / 1e9 * 100.0;
    r.exits = per_second(before->exits, now.exits);
    r.hypercalls = per_second(before->hypercalls, now.hypercalls);
    r.events = per_second(before->events_sent, now.events_sent);
    return r;
}

double percent(uint64_t part, uint64_t whole) {
    return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole) * 100.0;
}

}  // namespace

std::string top_text(const TopSample& previous, const TopSample& current, bool full_names) {
    const api::HostInfo& host = current.host;
    std::string out;

    appendf(out, "xn top - %s   Xen %u.%u%s\n", clock_text(current.taken_ns).c_str(),
            host.xen_major, host.xen_minor, host.xen_extra.c_str());

    // One count per domain, first matching state wins as in xentop, except that crashed
    // is asked before shutdown: xentop asks shutdown first and so never counts a crash.
    unsigned run = 0, block = 0, pause = 0, crash = 0, dying = 0, shutdown = 0;
    for (const auto& d : current.domains) {
        if (d.running)
            ++run;
        else if (d.blocked)
            ++block;
        else if (d.paused)
            ++pause;
        else if (crashed(d))
            ++crash;
        else if (d.shutdown)
            ++shutdown;
        else if (d.dying)
            ++dying;
    }
    appendf(out,
            "%zu domains: %u running, %u blocked, %u paused, %u crashed, %u dying, %u shutdown\n",
            current.domains.size(), run, block, pause, crash, dying, shutdown);

    const uint64_t total_kib = host.total_memory_mib * 1024;
    const uint64_t free_kib = host.free_memory_mib * 1024;
    const uint64_t used_kib = total_kib > free_kib ? total_kib - free_kib : 0;
    appendf(out, "Mem: %lluk total, %lluk used, %lluk free    CPUs: %u @ %lluMHz\n",
            static_cast<unsigned long long>(total_kib), static_cast<unsigned long long>(used_kib),
            static_cast<unsigned long long>(free_kib), host.nr_cpus,
            static_cast<unsigned long long>(host.cpu_khz / 1000));

    int name_width = kColumns[0].width;
    if (full_names)
        for (const auto& d : current.domains)
            name_width = std::max(name_width, static_cast<int>(d.name.size()));

    bool first = true;
    for (const auto& c : kColumns) {
        if (!first) out += ' ';
        appendf(out, "%*s", first ? name_width : c.width, c.header);
        first = false;
    }
    out += '\n';

    std::vector<const api::DomainInfo*> rows;
    for (const auto& d : current.domains) rows.push_back(&d);
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto* a, const auto* b) { return a->domid < b->domid; });

    const uint64_t elapsed_ns =
        current.taken_ns > previous.taken_ns ? current.taken_ns - previous.taken_ns : 0;
    for (const auto* d : rows) {
        const api::DomainInfo* before = nullptr;
        for (const auto& p : previous.domains)
            if (p.domid == d->domid) before = &p;
        const Rates r = rates_between(before, *d, elapsed_ns);

        if (full_names)
            appendf(out, "%*s", name_width, d->name.c_str());
        else
            appendf(out, "%10.10s", d->name.c_str());
        appendf(out, " %s %10llu %6.1f %10llu %6.1f", state_letters(*d).c_str(),
                static_cast<unsigned long long>(d->cpu_time_ns / 1'000'000'000), r.cpu_pct,
                static_cast<unsigned long long>(d->memory_kib), percent(d->memory_kib, total_kib));
        if (d->max_memory_kib == kNoLimit)
            appendf(out, " %10s %9s", "no limit", "n/a");
        else
            appendf(out, " %10llu %9.1f", static_cast<unsigned long long>(d->max_memory_kib),
                    percent(d->max_memory_kib, total_kib));
        // xentop counts vCPUs up to the highest one the domain has, online or not.
        const uint32_t vcpus = d->max_vcpus != 0 ? d->max_vcpus : d->vcpus_online;
        appendf(out, " %5u %9.0f %9.0f %7llu %9.0f %6llu\n", vcpus, r.exits, r.hypercalls,
                static_cast<unsigned long long>(d->event_channels), r.events,
                static_cast<unsigned long long>(d->grant_entries));
    }
    return out;
}

}  // namespace xenolith::format
