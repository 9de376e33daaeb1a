// The daemon's logs, as Xen keeps them: a host log (xenolithd.log, and stderr in the
// foreground), the hypervisor's message buffer that `xn dmesg` prints (Xen's console ring),
// and one toolstack log per domain (xl-<name>.log, as xl writes /var/log/xen/xl-<name>.log).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

namespace xenolith::daemon {

// The message buffer behind `xn dmesg`: the last lines, formatted, and clearable
// (`xn dmesg -c`), which spdlog's own ring sink is not.
class DmesgSink : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit DmesgSink(size_t max_lines) : max_lines_(max_lines) {}
    std::vector<std::string> lines();
    void clear();

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override;
    void flush_() override {}

private:
    size_t max_lines_;
    std::deque<std::string> lines_;
};

class EventLog {
public:
    // Lines `xn dmesg` can show; older ones are only in the file.
    static constexpr size_t kDmesgLines = 1024;

    // Creates `log_dir` if needed. Throws Error when the host log cannot be opened.
    EventLog(std::string log_dir, bool to_stderr);
    ~EventLog();

    const std::string& dir() const { return dir_; }

    void info(std::string_view message);
    void warn(std::string_view message);
    // A domain's lifecycle line: into its xl-<name>.log and the host log.
    void domain(const std::string& name, uint32_t domid, std::string_view message);

    std::vector<std::string> dmesg() const;
    void clear_dmesg();

private:
    std::shared_ptr<spdlog::logger> domain_logger(const std::string& name);

    std::string dir_;
    std::shared_ptr<DmesgSink> ring_;
    std::shared_ptr<spdlog::logger> host_;
    // Domains come and go by the thousand: their loggers are opened per line, not kept
    // open, so an idle domain costs no fd here.
};

}  // namespace xenolith::daemon
