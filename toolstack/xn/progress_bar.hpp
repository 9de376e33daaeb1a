// `xn migrate`'s progress bar: while the migrate call waits for the daemon's answer, a
// second connection asks for the migration's progress and redraws one line on stderr.
// Only on a terminal; elsewhere nothing is drawn (logs and tests read plain lines).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace xenolith::xn {

class MigrationProgressBar {
  public:
    explicit MigrationProgressBar(uint32_t domid);
    ~MigrationProgressBar();  // stops drawing and clears the line
    MigrationProgressBar(const MigrationProgressBar&) = delete;
    MigrationProgressBar& operator=(const MigrationProgressBar&) = delete;

  private:
    void draw_until_stopped(uint32_t domid);

    std::mutex mutex_;
    std::condition_variable stop_cv_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace xenolith::xn
