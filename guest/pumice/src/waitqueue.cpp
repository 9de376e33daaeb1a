// Wait queues. Lock order: a queue's lock, then a vCPU's run_lock.
#include "thread_impl.hpp"

namespace pumice {

void WaitQueue::block_locked(uint8_t saved_mask) {
    Cpu& cpu = this_cpu();
    Thread* t = cpu.current;
    t->next = nullptr;
    if (tail_)
        tail_->next = t;
    else
        head_ = t;
    tail_ = t;
    cpu.run_lock.lock();
    t->state = ThreadState::Blocked;
    cpu.run_lock.unlock();
    lock_.unlock();
    // A wake may already have re-queued us between the unlock and here: schedule() copes.
    sched::schedule();
    events::restore_local(saved_mask);
}

void WaitQueue::wait() {
    uint8_t saved = events::mask_local();
    lock_.lock();
    block_locked(saved);
}

void WaitQueue::wake_one() {
    IrqSpinGuard guard(lock_);
    if (Thread* t = head_) {
        head_ = t->next;
        if (!head_) tail_ = nullptr;
        t->next = nullptr;
        sched::wake(t);
    }
}

void WaitQueue::wake_all_locked() {
    while (Thread* t = head_) {
        head_ = t->next;
        t->next = nullptr;
        sched::wake(t);
    }
    tail_ = nullptr;
}

void WaitQueue::wake_all() {
    IrqSpinGuard guard(lock_);
    wake_all_locked();
}

}  // namespace pumice
