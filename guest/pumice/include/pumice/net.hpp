// The network stack: lwIP (NO_SYS, raw API) run by Pumice threads on one vCPU, with network
// interfaces that a driver (netfront, or an in-memory wire) feeds. docs/pumice.md,
// "Network stack".
//
// Threading: lwIP is not thread-safe, and here it needs no locks because Pumice's threads
// are cooperative: every lwIP call, and every Stack/Interface call except
// Interface::receive(), must come from a thread on the stack's vCPU (the one that called
// Stack::start()); lwIP asserts it. lwIP's raw-API callbacks run on the stack's threads.
// Event handlers never call lwIP: a driver hands frames over with receive(), which copies.
#pragma once

#include <pumice/spinlock.hpp>
#include <pumice/waitqueue.hpp>

#include <stddef.h>
#include <stdint.h>

struct netif;
struct pbuf;

namespace pumice::net {

class Ipv4Address {
  public:
    constexpr Ipv4Address() = default;
    constexpr Ipv4Address(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
        : value_(uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d) {}
    static constexpr Ipv4Address from_host_order(uint32_t value) {
        Ipv4Address address;
        address.value_ = value;
        return address;
    }
    // The address as a number, most significant octet first (10.0.0.1 is 0x0a000001).
    constexpr uint32_t host_order() const { return value_; }
    constexpr bool is_any() const { return value_ == 0; }
    constexpr bool operator==(const Ipv4Address&) const = default;
    // "a.b.c.d" into buf (16 bytes suffice); returns buf.
    const char* format(char* buf, size_t size) const;

  private:
    uint32_t value_ = 0;
};

struct MacAddress {
    uint8_t bytes[6] = {};
};

// A frame lwIP sends, lent to Driver::transmit() for the duration of the call: possibly
// several pieces (lwIP's pbuf chain), read by copying.
class Frame {
  public:
    explicit Frame(const pbuf* chain) : chain_(chain) {}
    size_t size() const;
    // Copies up to `max` bytes from `offset` into dst; returns how many were copied.
    size_t copy_to(void* dst, size_t max, size_t offset = 0) const;

  private:
    const pbuf* chain_;
};

// What a network driver implements. Called on the stack's vCPU by the stack's threads (or
// an app thread using lwIP there); it must not block.
class Driver {
  public:
    // Queues one Ethernet frame (destination MAC first, no FCS) for the wire; false if it
    // had to be dropped (ring full, link down).
    virtual bool transmit(const Frame& frame) = 0;
    // The stack brackets each batch of its work (received frames, due timeouts) with
    // these, on its vCPU and without yielding in between: a driver may hold back telling
    // its device about frames transmitted inside a batch until end_batch(), so that a
    // batch costs one notification however many frames it sent.
    virtual void begin_batch() {}
    virtual void end_batch() {}

  protected:
    ~Driver() = default;
};

struct InterfaceConfig {
    MacAddress mac;
    uint16_t mtu = 1500;  // IP bytes per frame, without the 14-byte Ethernet header
    bool link_up = true;
};

// One Ethernet interface of the stack (an lwIP netif). Owned by the Stack, never freed.
class Stack;

class Interface {
  public:
    // Hands a received Ethernet frame (no FCS) to the stack. Any vCPU, thread or event
    // handler: the frame is copied and queued for the stack's receive thread. Returns false
    // (and counts a drop) when it is shorter than an Ethernet header, longer than
    // header + MTU, the queue is full or memory is short.
    bool receive(const void* frame, size_t len);

    // Static IPv4 configuration (stops DHCP if it was running).
    void set_static(Ipv4Address address, Ipv4Address netmask, Ipv4Address gateway = {});
    // Starts lwIP's DHCP client; 0, or a negative Xen errno (-XEN_ENOMEM).
    long start_dhcp();
    // Waits until the interface has an address (static, or bound by DHCP); false when
    // timeout_ns passes first.
    bool wait_for_address(uint64_t timeout_ns);
    // Makes this the route for destinations no interface's subnet covers.
    void set_default();
    void set_link(bool up);

    Ipv4Address address() const;
    Ipv4Address netmask() const;
    Ipv4Address gateway() const;
    MacAddress mac() const { return mac_; }
    // Frames receive() refused (malformed, queue full, no memory) and frames the driver
    // refused to transmit.
    uint64_t rx_dropped() const { return __atomic_load_n(&rx_dropped_, __ATOMIC_RELAXED); }
    uint64_t tx_dropped() const { return tx_dropped_; }

    // The lwIP netif, for raw-API calls that name one (tcp_bind_netif, udp_sendto_if...).
    struct netif* lwip_netif() {
        return netif_;
    }

  private:
    friend class Stack;
    Interface(Stack& stack, Driver& driver, const InterfaceConfig& config);
    static signed char link_output(struct netif* netif, struct pbuf* frame);
    static signed char init_netif(struct netif* netif);

    Stack& stack_;
    Driver& driver_;
    MacAddress mac_;
    uint16_t mtu_;
    struct netif* netif_ = nullptr;
    uint64_t rx_dropped_ = 0;    // updated from any vCPU
    uint64_t tx_dropped_ = 0;    // stack's vCPU only
    Interface* next_ = nullptr;  // the stack's list of interfaces
};

struct StackConfig {
    // Received frames waiting for the stack, over all interfaces; more are dropped.
    size_t max_rx_queue = 1024;
};

// lwIP itself: initialised once by start(), then driven by two threads on the caller's
// vCPU: "net-rx" hands queued frames to lwIP and drains its loopback queues, "net-timer"
// runs lwIP's timeouts (sys_check_timeouts) when they are due.
class Stack {
  public:
    // Initialises lwIP and starts the threads on the calling vCPU. Once per domain; a
    // second call returns the running stack.
    static Stack& start(const StackConfig& config = {});
    // The stack's vCPU, or kNoCpu before start().
    static constexpr unsigned kNoCpu = ~0u;
    static unsigned cpu();

    // Adds an Ethernet interface fed by `driver` (which must outlive the stack), with no
    // address yet. The first one added becomes the default route. nullptr when lwIP has
    // no room for another netif.
    Interface* add_interface(Driver& driver, const InterfaceConfig& config);

    // lwIP queues what an app thread sends to a local address (127.0.0.1, or an
    // interface's own) without telling anyone: call wake() after such raw-API calls made
    // outside lwIP's callbacks, so the receive thread delivers it now rather than at the
    // next timeout.
    void wake();

    Stack(const Stack&) = delete;
    Stack& operator=(const Stack&) = delete;

  private:
    friend class Interface;
    Stack() = default;
    ~Stack() = default;
    void init(const StackConfig& config);
    bool enqueue(Interface& interface, const void* frame, size_t len);
    bool deliver_queued();
    static void free_rx_frame(struct pbuf* frame);
    static void rx_thread(void* self);
    static void timer_thread(void* self);
    // Around each batch of lwIP work: the drivers' begin_batch()/end_batch().
    void begin_batch();
    void end_batch();

    struct RxFrame;
    SpinLock rx_lock_;  // the queue below; taken with events masked (receive() may be in a handler)
    WaitQueue rx_wait_;
    size_t max_rx_queue_ = 0;
    size_t rx_queued_ = 0;
    RxFrame* rx_head_ = nullptr;
    RxFrame* rx_tail_ = nullptr;
    bool rx_kick_ = false;  // wake() called
    bool has_default_ = false;
    Interface* interfaces_ = nullptr;  // added by add_interface, never removed
};

}  // namespace pumice::net
