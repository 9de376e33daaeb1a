// The frontend half of a split driver's xenbus connection, shared by blkfront and netfront:
// the device's directories and backend id (as the toolstack wrote them), the handshake
// steps around the driver's own ring setup, the event channel the backend binds, the
// watch that notices the backend closing a connected device (hot-unplug), and the close
// sequence. A driver holds one Frontend per device and calls, in order:
//
//   set_dir(dir), read_backend()              // the nodes the toolstack wrote
//   begin(deadline)                           // Initialising → the backend's InitWait
//   ... grant the ring(s), bind_event_channel(), publish the transport parameters ...
//   initialised(deadline)                     // Initialised → the backend's Connected
//   connected()                               // watch the backend, then Connected
//
// and, to end: stop_watch(), close_handshake(), free_event_channel() (or give_up() when
// open failed).
#pragma once

#include <pumice/events.hpp>
#include <pumice/xenbus.hpp>

namespace pumice::xenbus {

// Path buffers for "<dir>/<node>" (the longest backend path libxl writes fits).
inline constexpr size_t kNodePathMax = 224;
// A frontend directory ("device/vif/0"), with its terminating NUL.
inline constexpr size_t kFrontendDirMax = 48;

// "<dir>/<node>" into out (kNodePathMax bytes); false if it does not fit.
bool node_path(char* out, const char* dir, const char* node);
// A decimal node: 0, -XEN_ENOENT when absent, -XEN_EINVAL when not a number.
long read_u64(const char* dir, const char* node, uint64_t* out);
// An optional node: its value, or `fallback` when absent or malformed.
uint64_t read_u64_or(const char* dir, const char* node, uint64_t fallback);
long write_u64(const char* dir, const char* node, uint64_t value, Transaction t);
// The decimal number that ends `dir` ("device/vbd/51712"), 0 if none.
uint32_t trailing_number(const char* dir);
// The numeric children of `dir` ("device/vbd"), ascending: how many were stored in devids
// (at most max), or a negative Xen errno (-XEN_ENOENT: no such directory).
long list_devices(const char* dir, uint32_t* devids, size_t max);

class Frontend {
  public:
    // Called on the xenstore watch thread when the backend of a connected device is
    // Closing, Closed, removed (read as Closed) or unreadable (negative): true if the
    // driver gave the device up, and the frontend then goes Closing → Closed. It may use
    // xenstore but never wait for a watch event.
    using GoneFn = bool (*)(void* arg, long backend_state);

    Frontend(GoneFn on_gone, void* arg) : on_gone_(on_gone), gone_arg_(arg) {}
    Frontend(const Frontend&) = delete;
    Frontend& operator=(const Frontend&) = delete;

    // The frontend directory ("device/vbd/51712"); -XEN_ENAMETOOLONG if it does not fit.
    long set_dir(const char* dir);
    // The backend's directory and id from our `backend` and `backend-id` nodes
    // (-XEN_ENODEV: no backend node, the device was not set up by a toolstack).
    long read_backend();

    // Initialising (again, after an earlier close) and the backend's InitWait: 0, or
    // -XEN_ENODEV (the backend is closing), -XEN_EBUSY (still connected to older rings),
    // -XEN_ETIMEDOUT at the deadline.
    long begin(uint64_t deadline);
    // An unbound event channel for the backend, bound here to `handler` on vCPU 0.
    long bind_event_channel(events::Handler handler, void* arg);
    // Initialised and the backend's Connected (-XEN_ENODEV if it closes instead).
    long initialised(uint64_t deadline);
    // Watches the backend for hot-unplug, then switches to Connected.
    long connected();

    // Stops the backend watch and waits for a callback already running (it uses the
    // driver's object).
    void stop_watch();
    // Closing → the backend's Closing → Closed → the backend's Closed, unless the
    // toolstack already removed our directory. 0 or the first error (-XEN_ETIMEDOUT).
    long close_handshake();
    // After a failed open: tells the backend we gave up, so it does not keep waiting for
    // (or using) our rings.
    void give_up();
    void free_event_channel();

    const char* dir() const { return dir_; }
    const char* backend_dir() const { return be_dir_; }
    domid_t backend_id() const { return be_id_; }
    evtchn_port_t port() const { return port_; }

  private:
    long backend_state() const;
    long wait_backend_at_least(long state, uint64_t deadline);
    static void on_backend_state(const char* path, void* arg);
    void close_own_side();

    GoneFn on_gone_;
    void* gone_arg_;
    char dir_[kFrontendDirMax] = {};
    char be_dir_[160] = {};
    domid_t be_id_ = 0;
    evtchn_port_t port_ = 0;
    bool port_bound_ = false;
    long watch_id_ = 0;
    uint32_t watch_busy_ = 0;  // on_backend_state running
};

}  // namespace pumice::xenbus
