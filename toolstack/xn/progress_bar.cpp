#include "toolstack/xn/progress_bar.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "toolstack/format/progress_text.hpp"
#include "toolstack/xn/daemon_client.hpp"

namespace xenolith::xn {

namespace {

constexpr auto kRedraw = std::chrono::milliseconds(200);

}  // namespace

MigrationProgressBar::MigrationProgressBar(uint32_t domid) {
    if (!::isatty(STDERR_FILENO)) return;
    thread_ = std::thread([this, domid] { draw_until_stopped(domid); });
}

MigrationProgressBar::~MigrationProgressBar() {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    stop_cv_.notify_all();
    thread_.join();
}

void MigrationProgressBar::draw_until_stopped(uint32_t domid) {
    bool drawn = false;
    try {
        auto client = connect_daemon();
        std::unique_lock lock(mutex_);
        while (!stop_cv_.wait_for(lock, kRedraw, [this] { return stop_; })) {
            const auto answer =
                client->call("migration_progress", {{"domain", std::to_string(domid)}});
            const auto& p = answer["progress"];
            if (p.is_null()) continue;
            std::fprintf(stderr, "\r\033[K%s", format::migration_progress_line(p).c_str());
            drawn = true;
        }
    } catch (const std::exception&) {
        // The bar is decoration: the migrate call itself reports what went wrong.
    }
    if (drawn) std::fprintf(stderr, "\r\033[K");
}

}  // namespace xenolith::xn
