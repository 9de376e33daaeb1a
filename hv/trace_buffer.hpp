// A domain's trace (`xn trace DOM --hypercalls|--syscalls`, xentrace in Xen): each hypercall
// its vCPUs make (or each system call of a Linux guest, vmi/linux/) becomes one record,
// described on the vCPU's thread, into a bounded buffer that one reader drains. A reader
// that falls behind loses records, counted, as xentrace's do; the guest never waits for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace xenolith::hv {

struct TraceRecord {
    uint64_t time_ns = 0;  // the domain's system time when the call returned (or entered)
    uint32_t vcpu = 0;
    uint64_t nr = 0;
    long result = 0;   // hypercalls only: a system call is recorded at its entry
    uint64_t cr3 = 0;  // system calls: the calling process's page tables
    uint64_t rip = 0;  // system calls: the user RIP the call returns to
    std::string text;  // describe_hypercall()'s or describe_syscall()'s line
    // Set on the record that ends a trace which could not go on (its text says why).
    bool error = false;
};

class TraceBuffer {
  public:
    explicit TraceBuffer(size_t capacity = 65536) : capacity_(capacity) {}

    // Records gathered before the reader is woken early: a wake per record (a futex call
    // and a thread switch) would cost the traced vCPU more than the record itself.
    static constexpr size_t kWakeBatch = 256;

    // vCPU threads. Dropped (and counted) when the buffer is full.
    void record(TraceRecord r);
    // Waits up to `timeout` for a batch of records (or close()), then takes up to `max`,
    // the oldest first; fewer than a batch are taken when the timeout ends the wait.
    // `dropped` gets the count lost since the last take.
    std::vector<TraceRecord> take(std::chrono::milliseconds timeout, size_t max, uint64_t& dropped);
    // No more records will come (the domain ended): a waiting take() returns.
    void close();
    bool closed() const;

  private:
    const size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<TraceRecord> records_;
    uint64_t dropped_ = 0;
    bool closed_ = false;
};

}  // namespace xenolith::hv
