// The stub process of one process-platform VM: spawning it, the control-socket hand-shake,
// sealing it (vCPU 0's tracer sends "go"), and killing and reaping it.
//
// Shared by the Vm and its vCPUs (shared_ptr): the Vm's destruction kills and reaps the
// process; a vCPU that outlives it only sees the stub gone.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "platform/platform.hpp"

namespace xenolith::platform::process {

// The lowest guest-physical address the stub can map: page 0 stays unmapped (null
// dereferences fault) and the kernel refuses anything below vm.mmap_min_addr, so guest
// pages below this are unreachable by the guest.
uint64_t lowest_guest_address();

class StubProcess {
  public:
    // Spawns `stub_path` for `config` and waits for its hello. Throws Error with the reason.
    StubProcess(const std::string& stub_path, const VmConfig& config);
    ~StubProcess();
    StubProcess(const StubProcess&) = delete;
    StubProcess& operator=(const StubProcess&) = delete;

    pid_t pid() const { return pid_; }
    pid_t tid(uint32_t vcpu) const { return tids_.at(vcpu); }
    uint32_t vcpus() const { return static_cast<uint32_t>(tids_.size()); }
    const Ram& ram() const { return ram_; }
    uint64_t ram_base() const { return ram_base_; }
    bool gone() const { return gone_.load(); }

    // On vCPU 0's tracer thread, with the main thread seized: sends "go" and waits for the
    // stub's ready stop (the fault on returning from its final munmap). Throws on failure.
    void seal();
    // On a secondary vCPU's thread: waits (bounded) until seal() has succeeded.
    void wait_sealed();

    // SIGKILL, then reaps every thread. Idempotent; any thread.
    void terminate() noexcept;

    // --- Page-write events (platform::Vm::watch_writes), any thread --------------------
    // Write-protects (or releases) the pages [gpa, gpa+len) touches in the stub, through
    // its userfaultfd: a guest write there then raises SIGBUS (BUS_ADRERR, si_addr the
    // address) in the writing thread. Throws Error with the reason when this host cannot.
    void watch_writes(uint64_t gpa, uint64_t len, bool on);
    bool watched(uint64_t gpa) const;
    // Opens (or closes again) the watched pages around one write that is let through: the
    // page of `gpa` and the next, which an instruction crossing the boundary also writes.
    void open_for_write(uint64_t gpa, bool open);

    // --- Live migration's dirty log (dirty_log.hpp), any thread ------------------------
    // Registers RAM with the stub's asynchronous write-protect userfaultfd, taking it from
    // the page-write one (a range has one userfaultfd at a time). Throws Error with the
    // reason: no such userfaultfd on this kernel, pages are watched, a log already runs.
    void begin_dirty_log();
    // Unregisters RAM again (which lifts its write-protection): page-write events can be
    // had afterwards.
    void end_dirty_log() noexcept;

  private:
    void spawn(const std::string& stub_path, int ram_fd, uint32_t vcpus);
    void read_hello(uint32_t vcpus);
    [[noreturn]] void fail_with_exit_status(const std::string& doing);
    void wait_until_threads_parked();
    void send_go();
    void expect_ready_stop();
    UniqueFd take_userfaultfd(int32_t fd_in_stub, int32_t error, const char* purpose,
                              std::string& why);
    uint64_t register_ram(int uffd, const char* failure);
    void unregister_ram(int uffd);
    void write_protect(uint64_t page, uint64_t len, bool on);

    Ram ram_;
    uint64_t ram_base_ = 0;
    pid_t pid_ = -1;
    std::vector<pid_t> tids_;
    UniqueFd control_;
    std::atomic<bool> gone_{false};
    std::mutex mutex_;
    std::condition_variable sealed_cv_;
    bool sealed_ = false;
    bool seal_failed_ = false;
    // The stub's userfaultfd (ours to use from any process: its ioctls act on the stub's
    // memory), or why there is none.
    UniqueFd uffd_;
    std::string uffd_error_;
    // The stub's asynchronous write-protect userfaultfd, or why there is none.
    UniqueFd dirty_uffd_;
    std::string dirty_uffd_error_;
    // Guards the registrations and what is watched.
    mutable std::mutex watch_mutex_;
    bool uffd_registered_ = false;
    bool dirty_logging_ = false;
    std::set<uint64_t> watched_;  // page addresses
};

}  // namespace xenolith::platform::process
