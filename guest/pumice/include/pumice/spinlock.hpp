// A test-and-test-and-set spinlock for the short critical sections SMP needs.
// Code that an event handler may also run must hold it with events masked (see
// IrqSpinGuard), or a handler on the same vCPU would spin on a lock its own vCPU holds.
#pragma once

#include <pumice/events.hpp>

namespace pumice {

class SpinLock {
  public:
    void lock() {
        while (__atomic_exchange_n(&held_, true, __ATOMIC_ACQUIRE)) {
            while (__atomic_load_n(&held_, __ATOMIC_RELAXED)) __builtin_ia32_pause();
        }
    }
    void unlock() { __atomic_store_n(&held_, false, __ATOMIC_RELEASE); }

  private:
    bool held_ = false;
};

// Masks this vCPU's events, then takes the lock; undoes both in reverse.
class IrqSpinGuard {
  public:
    explicit IrqSpinGuard(SpinLock& lock) : lock_(lock), saved_(events::mask_local()) {
        lock_.lock();
    }
    ~IrqSpinGuard() {
        lock_.unlock();
        events::restore_local(saved_);
    }
    IrqSpinGuard(const IrqSpinGuard&) = delete;
    IrqSpinGuard& operator=(const IrqSpinGuard&) = delete;

  private:
    SpinLock& lock_;
    uint8_t saved_;
};

}  // namespace pumice
