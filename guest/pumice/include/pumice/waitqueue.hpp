// Wait queues: threads block until a condition holds; wakers (other threads, other vCPUs
// or event handlers) set the condition and call wake_one()/wake_all().
#pragma once

#include <pumice/spinlock.hpp>
#include <pumice/thread.hpp>

namespace pumice {

class WaitQueue {
  public:
    // Blocks until pred() is true. pred() is evaluated with the queue locked, so a wake
    // that follows setting the condition is never lost.
    template <typename Pred>
    void wait_until(Pred pred) {
        for (;;) {
            uint8_t saved = events::mask_local();
            lock_.lock();
            if (pred()) {
                lock_.unlock();
                events::restore_local(saved);
                return;
            }
            block_locked(saved);  // unlocks, sleeps, restores the mask
        }
    }
    // Blocks once, until the next wake.
    void wait();
    void wake_one();
    void wake_all();
    // Runs update() (which makes the condition true) with the queue locked, then wakes all.
    // Use it when a woken waiter may free the memory the queue lives in.
    template <typename Update>
    void notify_all(Update update) {
        IrqSpinGuard guard(lock_);
        update();
        wake_all_locked();
    }

  private:
    void wake_all_locked();
    void block_locked(uint8_t saved_mask);
    SpinLock lock_;
    Thread* head_ = nullptr;
    Thread* tail_ = nullptr;
};

}  // namespace pumice
