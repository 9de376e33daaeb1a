#include "toolstack/daemon/event_log.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <filesystem>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "base/error.hpp"

namespace xenolith::daemon {

namespace {
constexpr const char* kPattern = "%Y-%m-%d %H:%M:%S.%e %^%l%$ %v";
}

EventLog::EventLog(std::string log_dir, bool to_stderr) : dir_(std::move(log_dir)) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) throw Error("cannot create the log directory " + dir_ + ": " + ec.message());
    ring_ = std::make_shared<DmesgSink>(kDmesgLines);
    ring_->set_pattern("(XEN) [%Y-%m-%d %H:%M:%S.%e] %v");
    std::vector<spdlog::sink_ptr> sinks{ring_};
    try {
        auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(dir_ + "/xenolithd.log");
        file->set_pattern(kPattern);
        sinks.push_back(file);
    } catch (const spdlog::spdlog_ex& e) {
        throw Error("cannot open " + dir_ + "/xenolithd.log: " + e.what());
    }
    if (to_stderr) {
        auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        err->set_pattern(kPattern);
        sinks.push_back(err);
    }
    host_ = std::make_shared<spdlog::logger>("xenolithd", sinks.begin(), sinks.end());
    host_->flush_on(spdlog::level::info);  // a log that says "done" must be on disk
}

EventLog::~EventLog() { host_->flush(); }

void EventLog::info(std::string_view message) { host_->info("{}", message); }
void EventLog::warn(std::string_view message) { host_->warn("{}", message); }

void EventLog::domain(const std::string& name, uint32_t domid, std::string_view message) {
    host_->info("d{} ({}): {}", domid, name, message);
    try {
        auto logger = domain_logger(name);
        logger->info("{}", message);
        logger->flush();
    } catch (const spdlog::spdlog_ex& e) {
        host_->warn("cannot write xl-{}.log: {}", name, e.what());
    }
}

std::shared_ptr<spdlog::logger> EventLog::domain_logger(const std::string& name) {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(dir_ + "/xl-" + name + ".log");
    sink->set_pattern(kPattern);
    return std::make_shared<spdlog::logger>("xl-" + name, sink);
}

std::vector<std::string> EventLog::dmesg() const { return ring_->lines(); }
void EventLog::clear_dmesg() { ring_->clear(); }

std::vector<std::string> DmesgSink::lines() {
    std::lock_guard lock(mutex_);
    return {lines_.begin(), lines_.end()};
}

void DmesgSink::clear() {
    std::lock_guard lock(mutex_);
    lines_.clear();
}

void DmesgSink::sink_it_(const spdlog::details::log_msg& msg) {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string line(formatted.data(), formatted.size());
    while (!line.empty() && line.back() == '\n') line.pop_back();
    lines_.push_back(std::move(line));
    if (lines_.size() > max_lines_) lines_.pop_front();
}

}  // namespace xenolith::daemon
