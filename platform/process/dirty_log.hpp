// platform::DirtyLog on the process platform: guest RAM in the stub is registered with the
// stub's asynchronous write-protect userfaultfd (StubProcess::begin_dirty_log), and the
// PAGEMAP_SCAN ioctl on the stub's /proc/<pid>/pagemap reports the pages written since
// they were last protected and protects them again, atomically for each page: a write
// that lands during a scan is either reported by it or left for the next. The kernel
// resolves the write faults itself (about 1 us each), so the guest never stops for them.
// Beginning the log protects every page of RAM, the stub's unpopulated ones included (the
// kernel counts those as written until protected, with a marker that takes page tables:
// 2 MiB per GiB of RAM, for as long as the stub lives).
//
// Only the stub's page tables are watched: writes through the daemon's own mapping of the
// same memfd are not seen, as the seam says. Linux 6.7 or later.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "base/unique_fd.hpp"
#include "platform/platform.hpp"
#include "platform/process/stub/uffd_wp_async.h"
#include "platform/process/stub_process.hpp"

namespace xenolith::platform::process {

class ProcessDirtyLog final : public DirtyLog {
  public:
    // Throws Error with the reason when the stub's RAM cannot be logged.
    explicit ProcessDirtyLog(std::shared_ptr<StubProcess> stub);
    ~ProcessDirtyLog() override;
    ProcessDirtyLog(const ProcessDirtyLog&) = delete;
    ProcessDirtyLog& operator=(const ProcessDirtyLog&) = delete;

    void collect(std::span<uint64_t> bitmap) override;
    const char* mechanism() const override { return "uffd-wp-async"; }

  private:
    // Write-protects every page of RAM written since the last scan; each run of such pages
    // goes to `found` (which may be empty: the protection alone).
    void scan(const std::function<void(const page_region&)>& found);

    std::shared_ptr<StubProcess> stub_;
    UniqueFd pagemap_;
    std::mutex mutex_;                  // one scan at a time: they share regions_
    std::vector<page_region> regions_;  // the kernel's output, kept between scans
};

}  // namespace xenolith::platform::process
