// net::Stack: lwIP's initialisation, the received-frame queue, and the two threads that
// drive lwIP (NO_SYS=1) on the stack's vCPU.
#include <pumice/assert.hpp>
#include <pumice/memory.hpp>
#include <pumice/net.hpp>
#include <pumice/smp.hpp>
#include <pumice/string.hpp>
#include <pumice/thread.hpp>
#include <pumice/time.hpp>

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"  // TCP_TMR_INTERVAL
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

namespace pumice::net {

// A received frame, copied by Interface::receive(), waiting in the queue; then lwIP's
// (custom) pbuf around its bytes, which follow the struct in the same allocation. lwIP
// frees it through free_rx_frame once every layer is done with it.
struct Stack::RxFrame {
    pbuf_custom custom;  // first: lwIP's free callback gets &custom.pbuf
    RxFrame* next;
    Interface* interface;
    size_t len;
    uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }
};

namespace {

Stack* g_stack;
unsigned g_stack_cpu = Stack::kNoCpu;

constexpr size_t kThreadStack = 64 * 1024;
// Frames handed to lwIP before the receive thread lets the vCPU's other threads run.
constexpr size_t kRxBatch = 64;
// lwIP starts TCP's timer from app threads (tcp_timer_needed) without telling the timer
// thread, which may be asleep until a later deadline: never sleeping longer than one TCP
// timer interval bounds how late that timer's first tick can be.
constexpr uint32_t kMaxTimerSleepMs = TCP_TMR_INTERVAL;

}  // namespace

void Stack::free_rx_frame(pbuf* p) {
    free(reinterpret_cast<RxFrame*>(p));
}

Stack& Stack::start(const StackConfig& config) {
    if (g_stack) return *g_stack;
    // lwIP checks the vCPU from lwip_init() on (LWIP_ASSERT_CORE_LOCKED).
    g_stack_cpu = smp::current_id();
    auto* stack = new Stack;  // for the domain's life: lwIP has no shutdown
    stack->init(config);
    g_stack = stack;
    return *stack;
}

unsigned Stack::cpu() {
    return g_stack_cpu;
}

void Stack::init(const StackConfig& config) {
    max_rx_queue_ = config.max_rx_queue;
    lwip_init();
    if (!thread_create("net-rx", rx_thread, this, kCurrentCpu, kThreadStack) ||
        !thread_create("net-timer", timer_thread, this, kCurrentCpu, kThreadStack)) {
        panic("net: cannot create the network stack's threads");
    }
}

Interface* Stack::add_interface(Driver& driver, const InterfaceConfig& config) {
    LWIP_ASSERT_CORE_LOCKED();
    auto* interface = new Interface(*this, driver, config);
    interface->netif_ = new netif{};
    if (!netif_add(interface->netif_, nullptr, nullptr, nullptr, interface, Interface::init_netif,
                   ethernet_input)) {
        delete interface->netif_;
        delete interface;
        return nullptr;
    }
    if (!has_default_) {
        netif_set_default(interface->netif_);
        has_default_ = true;
    }
    netif_set_up(interface->netif_);
    interface->set_link(config.link_up);
    interface->next_ = interfaces_;
    interfaces_ = interface;
    return interface;
}

void Stack::wake() {
    __atomic_store_n(&rx_kick_, true, __ATOMIC_RELEASE);
    rx_wait_.wake_one();
}

bool Stack::enqueue(Interface& interface, const void* frame, size_t len) {
    auto* f = static_cast<RxFrame*>(malloc(sizeof(RxFrame) + len));
    if (!f) return false;
    memcpy(f->data(), frame, len);
    f->next = nullptr;
    f->interface = &interface;
    f->len = len;
    bool queued = false;
    {
        IrqSpinGuard guard(rx_lock_);
        if (rx_queued_ < max_rx_queue_) {
            if (rx_tail_)
                rx_tail_->next = f;
            else
                __atomic_store_n(&rx_head_, f, __ATOMIC_RELEASE);
            rx_tail_ = f;
            ++rx_queued_;
            queued = true;
        }
    }
    if (!queued) {
        free(f);
        return false;
    }
    rx_wait_.wake_one();
    return true;
}

// Hands up to kRxBatch queued frames to lwIP; false if there were none.
bool Stack::deliver_queued() {
    RxFrame* batch;
    {
        IrqSpinGuard guard(rx_lock_);
        batch = rx_head_;
        RxFrame* last = nullptr;
        size_t taken = 0;
        for (RxFrame* f = batch; f && taken < kRxBatch; f = f->next, ++taken) last = f;
        if (!last) return false;
        __atomic_store_n(&rx_head_, last->next, __ATOMIC_RELEASE);
        if (!rx_head_) rx_tail_ = nullptr;
        last->next = nullptr;
        rx_queued_ -= taken;
    }
    while (RxFrame* f = batch) {
        batch = f->next;
        f->custom.custom_free_function = free_rx_frame;
        pbuf* p = pbuf_alloced_custom(PBUF_RAW, static_cast<u16_t>(f->len), PBUF_REF, &f->custom,
                                      f->data(), static_cast<u16_t>(f->len));
        netif* nif = f->interface->netif_;
        if (nif->input(p, nif) != ERR_OK) pbuf_free(p);
    }
    return true;
}

void Stack::rx_thread(void* arg) {
    auto& stack = *static_cast<Stack*>(arg);
    for (;;) {
        stack.rx_wait_.wait_until([&stack] {
            return __atomic_load_n(&stack.rx_head_, __ATOMIC_ACQUIRE) != nullptr ||
                   __atomic_load_n(&stack.rx_kick_, __ATOMIC_ACQUIRE);
        });
        __atomic_store_n(&stack.rx_kick_, false, __ATOMIC_RELEASE);
        // Delivering may queue more (replies over an in-memory wire, loopback): go on
        // until both are empty, letting the vCPU's other threads in between batches.
        do {
            stack.begin_batch();
            stack.deliver_queued();
            netif_poll_all();
            stack.end_batch();
            yield();
        } while (__atomic_load_n(&stack.rx_head_, __ATOMIC_ACQUIRE) != nullptr);
    }
}

void Stack::begin_batch() {
    for (Interface* i = interfaces_; i; i = i->next_) i->driver_.begin_batch();
}

void Stack::end_batch() {
    for (Interface* i = interfaces_; i; i = i->next_) i->driver_.end_batch();
}

void Stack::timer_thread(void* arg) {
    auto& stack = *static_cast<Stack*>(arg);
    for (;;) {
        stack.begin_batch();
        sys_check_timeouts();
        netif_poll_all();  // what the timeouts sent to a local address
        stack.end_batch();
        uint32_t ms = sys_timeouts_sleeptime();
        if (ms > kMaxTimerSleepMs) ms = kMaxTimerSleepMs;
        sleep_ns(ms * time::kNsPerMs);
    }
}

}  // namespace pumice::net
