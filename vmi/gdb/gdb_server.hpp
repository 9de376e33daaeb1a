// A GDB remote serial protocol server for one connection, in gdb's all-stop mode, on top of
// a Target (gdb_target.hpp). Every malformed or unsupported request gets an error or an
// empty reply; nothing a client sends can make it allocate more than about kMaxPayload.
//
// Error replies: E01 a packet that did not parse (bad hex, missing fields, out of range),
// E02 an unknown thread, E03 the target refused (unmapped memory, registers it would not
// read or write, a breakpoint it could not set).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vmi/gdb/channel.hpp"
#include "vmi/gdb/gdb_target.hpp"
#include "vmi/gdb/packet.hpp"

namespace xenolith::vmi::gdb {

// The longest memory transfer one m, M or X packet may ask for: a reply of twice that in
// hex digits still fits in kMaxPayload.
inline constexpr size_t kMaxMemoryTransfer = kMaxPayload / 2 - 16;

class GdbServer {
  public:
    enum class End {
        Detached,      // gdb detached: the target was told to detach
        Killed,        // gdb killed the target
        TargetExited,  // the domain exited or was destroyed while running
        Disconnected,  // the connection closed: the target was told to detach
    };

    GdbServer(Target& target, Channel& channel);

    // Serves requests until the session ends; says how it ended.
    End serve();

  private:
    // A reply to send, or nothing (kill, and requests whose answer comes later).
    using Reply = std::optional<std::string>;

    void on_event(InputEvent event);
    void send_reply(std::string payload);
    Reply dispatch(std::string_view packet);

    Reply query(std::string_view packet);
    Reply read_registers();
    Reply write_registers(std::string_view args);
    Reply read_register(std::string_view args);
    Reply write_register(std::string_view args);
    Reply read_memory(std::string_view args);
    Reply write_memory_hex(std::string_view args);
    Reply write_memory_binary(std::string_view args);
    Reply breakpoint(bool insert, std::string_view args);
    Reply set_thread(std::string_view args);
    Reply thread_alive(std::string_view args);
    Reply resume_legacy(char command, std::string_view args);
    Reply resume_vcont(std::string_view args);
    Reply read_features(std::string_view args);
    Reply thread_list();
    Reply detach();
    Reply kill();

    Reply run(const std::vector<ResumeAction>& actions);
    bool poll_interrupt();
    std::string stop_reply(const StopReason& stop);
    bool thread_exists(uint32_t thread);
    uint32_t general_thread();

    Target& target_;
    Channel& channel_;
    PacketReader reader_;
    bool acks_ = true;  // until QStartNoAckMode
    bool peer_gone_ = false;
    std::optional<End> end_;
    std::string last_sent_;  // for a '-' from the peer
    unsigned resends_ = 0;
    StopReason last_stop_;
    uint32_t g_thread_ = 0;  // Hg: registers and memory; 0 means the thread that last stopped
    uint32_t c_thread_ = 0;  // Hc: what c and s resume; 0 means any
};

}  // namespace xenolith::vmi::gdb
