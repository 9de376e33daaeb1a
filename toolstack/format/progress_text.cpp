#include "toolstack/format/progress_text.hpp"

#include "toolstack/format/appendf.hpp"

namespace xenolith::format {

using detail::appendf;

namespace {

constexpr double kPageBytes = 4096.0;

uint64_t u64(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

}  // namespace

std::string migration_progress_line(const nlohmann::json& p, unsigned width) {
    const uint64_t of = u64(p, "round_pages"), done = std::min(u64(p, "round_sent"), of);
    const double share = of ? static_cast<double>(done) / static_cast<double>(of) : 0.0;
    const auto filled = static_cast<unsigned>(share * width);
    std::string out;
    const bool stopped = p.value("stopped", false);
    appendf(out, "%s %llu [", stopped ? "paused" : "round",
            static_cast<unsigned long long>(u64(p, "round")));
    out.append(filled, '#');
    out.append(width - filled, '-');
    appendf(out, "] %3u%%  %llu/%llu pages", static_cast<unsigned>(share * 100),
            static_cast<unsigned long long>(done), static_cast<unsigned long long>(of));
    const double seconds = static_cast<double>(u64(p, "elapsed_ms")) / 1000.0;
    const double rate =
        seconds > 0 ? static_cast<double>(u64(p, "sent_pages")) * kPageBytes / seconds : 0;
    if (rate > 0) appendf(out, "  %.1f MiB/s", rate / (1024.0 * 1024.0));
    if (u64(p, "round") > 0)
        appendf(out, "  written %llu", static_cast<unsigned long long>(u64(p, "last_dirty")));
    if (rate > 0) appendf(out, "  left %.1fs", static_cast<double>(of - done) * kPageBytes / rate);
    return out;
}

}  // namespace xenolith::format
