// The PV console backend (xenconsoled's role): drains the guest's `out` ring to a sink and
// feeds host input into its `in` ring. It reaches the ring only through the guest's reserved
// console grant (GNTTAB_RESERVED_CONSOLE) and is woken through its event channel; the guest
// is hostile, so ring indices are checked before every copy.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "abi/xen.hpp"
#include "base/unique_fd.hpp"
#include "hv/grant_table.hpp"
#include "hv/host_channel.hpp"

namespace xenolith::backends {

class ConsoleBackend {
public:
    using Sink = std::function<void(std::string_view)>;

    // Connects to the console of `domain` (ring via grant, `port` offered to domid 0) and
    // starts serving it. Throws Error when the grant or the port cannot be had.
    ConsoleBackend(std::shared_ptr<hv::Domain> domain, uint32_t port, Sink sink);
    // Drains what the guest wrote last, then stops.
    ~ConsoleBackend();
    ConsoleBackend(const ConsoleBackend&) = delete;
    ConsoleBackend& operator=(const ConsoleBackend&) = delete;

    // Queues host input for the guest (delivered as the ring has room).
    void input(std::string_view bytes);
    // Moves whatever the guest has written to the sink now (also done on every event).
    void drain();
    // True once the guest corrupted its ring indices: the console is disconnected.
    bool broken() const;

private:
    void run();
    // Both return whether they moved bytes (the guest is then notified).
    bool drain_output_locked();
    bool push_input_locked();

    hv::HostChannel channel_;
    hv::GrantMapping ring_page_;
    xencons_interface* ring_;
    Sink sink_;
    UniqueFd stop_;
    mutable std::mutex mutex_;  // the ring's host side, pending input, broken_
    std::string pending_input_;
    bool broken_ = false;
    std::thread thread_;
};

}  // namespace xenolith::backends
