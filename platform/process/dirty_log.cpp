#include "platform/process/dirty_log.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <string>

#include "base/error.hpp"
#include "platform/dirty_bitmap.hpp"

namespace xenolith::platform::process {

namespace {

constexpr uint64_t kPage = 4096;
// Runs of written pages one scan call returns; a scan with more calls again from where the
// kernel stopped. 256 runs cover a guest that writes every other page of 2 MiB.
constexpr size_t kRegionsPerCall = 256;

UniqueFd open_pagemap(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/pagemap";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw SystemError("guest writes cannot be logged: opening " + path, errno);
    return fd;
}

}  // namespace

ProcessDirtyLog::ProcessDirtyLog(std::shared_ptr<StubProcess> stub)
    : stub_(std::move(stub)), pagemap_(open_pagemap(stub_->pid())), regions_(kRegionsPerCall) {
    stub_->begin_dirty_log();
    try {
        // What the guest wrote before the log began is not the log's: protecting it now is
        // what makes the first collect() report only later writes.
        scan({});
    } catch (...) {
        stub_->end_dirty_log();
        throw;
    }
}

ProcessDirtyLog::~ProcessDirtyLog() {
    stub_->end_dirty_log();
}

void ProcessDirtyLog::collect(std::span<uint64_t> bitmap) {
    check_dirty_bitmap(bitmap, stub_->ram().size / kPage);
    scan([&](const page_region& r) {
        mark_dirty(bitmap, r.start / kPage, (r.end - r.start) / kPage);
    });
}

void ProcessDirtyLog::scan(const std::function<void(const page_region&)>& found) {
    std::lock_guard lock(mutex_);
    pm_scan_arg arg{};
    arg.size = sizeof arg;
    // CHECK_WPASYNC: a page not under the asynchronous protection fails the scan rather
    // than being silently missed.
    arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
    arg.start = stub_->ram_base();
    arg.end = stub_->ram().size;
    arg.vec = reinterpret_cast<uint64_t>(regions_.data());
    arg.vec_len = regions_.size();
    arg.category_mask = PAGE_IS_WRITTEN;
    arg.return_mask = PAGE_IS_WRITTEN;
    for (;;) {
        const long n = ::ioctl(pagemap_.get(), PAGEMAP_SCAN, &arg);
        if (n < 0) throw SystemError("scanning the guest's written pages (PAGEMAP_SCAN)", errno);
        if (found)
            for (long i = 0; i < n; ++i) found(regions_[static_cast<size_t>(i)]);
        // The kernel stops early when the regions are full; walk_end says where.
        if (arg.walk_end >= arg.end) return;
        arg.start = arg.walk_end;
    }
}

}  // namespace xenolith::platform::process
