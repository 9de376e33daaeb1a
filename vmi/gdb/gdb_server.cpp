#include "vmi/gdb/gdb_server.hpp"

#include <algorithm>
#include <array>

#include "vmi/gdb/hex.hpp"
#include "vmi/gdb/registers.hpp"

namespace xenolith::vmi::gdb {

namespace {

constexpr const char* kBadPacket = "E01";
constexpr const char* kBadThread = "E02";
constexpr const char* kRefused = "E03";

constexpr int kSigKill = 9;
// A '-' makes us send the last packet again, but only a few times: a client that keeps
// asking must not turn each byte it sends into a large reply.
constexpr unsigned kMaxResends = 3;
constexpr size_t kReadChunk = 4096;

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// "a<sep>b" as {a, b}; nullopt without the separator.
std::optional<std::pair<std::string_view, std::string_view>> split(std::string_view s, char sep) {
    size_t at = s.find(sep);
    if (at == std::string_view::npos) return std::nullopt;
    return std::pair{s.substr(0, at), s.substr(at + 1)};
}

struct Range {
    uint64_t addr;
    uint64_t length;
};

// "addr,length": both hex, the range must not wrap past the top of the address space.
std::optional<Range> parse_range(std::string_view s) {
    auto parts = split(s, ',');
    if (!parts) return std::nullopt;
    auto addr = parse_hex_number(parts->first);
    auto length = parse_hex_number(parts->second);
    if (!addr || !length) return std::nullopt;
    if (*length > 0 && *addr + (*length - 1) < *addr) return std::nullopt;
    return Range{*addr, *length};
}

// A thread-id as gdb writes it: "-1" (all), "0" (any) or a positive hex id.
constexpr int64_t kAllThreads = -1;
std::optional<int64_t> parse_thread_id(std::string_view s) {
    if (s == "-1") return kAllThreads;
    auto id = parse_hex_number(s);
    if (!id || *id > UINT32_MAX) return std::nullopt;
    return static_cast<int64_t>(*id);
}

}  // namespace

GdbServer::GdbServer(Target& target, Channel& channel) : target_(target), channel_(channel) {
    auto threads = target_.threads();
    if (!threads.empty()) last_stop_.thread = threads.front();
}

GdbServer::End GdbServer::serve() {
    std::array<uint8_t, kReadChunk> buf;
    while (!end_ && !peer_gone_) {
        if (auto event = reader_.next()) {
            on_event(std::move(*event));
            continue;
        }
        auto n = channel_.receive(buf, -1);
        if (!n)
            peer_gone_ = true;
        else
            reader_.feed(std::span(buf).first(*n));
    }
    if (end_) return *end_;
    // gdb vanished without detaching: leave the domain as a detach would.
    target_.detach();
    return End::Disconnected;
}

void GdbServer::on_event(InputEvent event) {
    switch (event.kind) {
        case InputEvent::Kind::Packet: {
            if (acks_) channel_.send("+");
            Reply reply = dispatch(event.payload);
            if (reply) send_reply(std::move(*reply));
            break;
        }
        case InputEvent::Kind::BadPacket:
            // With acknowledgements the sender repeats the packet; without them it still
            // waits for an answer, so it gets an error instead of silence.
            if (acks_)
                channel_.send("-");
            else
                send_reply(kBadPacket);
            break;
        case InputEvent::Kind::Nak:
            if (acks_ && !last_sent_.empty() && resends_ < kMaxResends) {
                ++resends_;
                if (!channel_.send(last_sent_)) peer_gone_ = true;
            }
            break;
        case InputEvent::Kind::Ack:
        case InputEvent::Kind::Interrupt:  // the target is already stopped
            break;
    }
}

void GdbServer::send_reply(std::string payload) {
    last_sent_ = frame_packet(payload);
    resends_ = 0;
    if (!channel_.send(last_sent_)) peer_gone_ = true;
}

GdbServer::Reply GdbServer::dispatch(std::string_view packet) {
    if (packet.empty()) return "";
    std::string_view args = packet.substr(1);
    switch (packet[0]) {
        case '?':
            return stop_reply(last_stop_);
        case 'g':
            return read_registers();
        case 'G':
            return write_registers(args);
        case 'p':
            return read_register(args);
        case 'P':
            return write_register(args);
        case 'm':
            return read_memory(args);
        case 'M':
            return write_memory_hex(args);
        case 'X':
            return write_memory_binary(args);
        case 'Z':
            return breakpoint(true, args);
        case 'z':
            return breakpoint(false, args);
        case 'H':
            return set_thread(args);
        case 'T':
            return thread_alive(args);
        case 'c':
        case 's':
        case 'C':
        case 'S':
            return resume_legacy(packet[0], args);
        case 'D':
            return detach();
        case 'k':
            return kill();
        case 'q':
            return query(packet);
        case 'Q':
            if (packet == "QStartNoAckMode") {
                // This OK is still acknowledged; nothing after it is.
                send_reply("OK");
                acks_ = false;
                return std::nullopt;
            }
            return "";
        case 'v':
            if (packet == "vCont?") return "vCont;c;C;s;S";
            if (starts_with(packet, "vCont;")) return resume_vcont(packet.substr(5));
            return "";
        default:
            return "";  // unknown: the protocol's "not supported"
    }
}

GdbServer::Reply GdbServer::query(std::string_view packet) {
    if (starts_with(packet, "qSupported")) {
        std::string reply = "PacketSize=";
        append_hex_number(reply, kMaxPayload);
        reply += ";qXfer:features:read+;QStartNoAckMode+;vContSupported+;swbreak+;hwbreak+";
        return reply;
    }
    if (starts_with(packet, "qXfer:features:read:")) return read_features(packet.substr(20));
    if (packet == "qfThreadInfo") return thread_list();
    if (packet == "qsThreadInfo") return "l";  // qfThreadInfo sent them all
    if (packet == "qC") {
        std::string reply = "QC";
        append_hex_number(reply, general_thread());
        return reply;
    }
    if (packet == "qAttached") return "1";  // detaching leaves the domain running
    return "";
}

uint32_t GdbServer::general_thread() {
    return g_thread_ != 0 ? g_thread_ : last_stop_.thread;
}

bool GdbServer::thread_exists(uint32_t thread) {
    auto threads = target_.threads();
    return std::find(threads.begin(), threads.end(), thread) != threads.end();
}

GdbServer::Reply GdbServer::read_registers() {
    Registers regs;
    if (!target_.read_registers(general_thread(), regs)) return kRefused;
    return encode_registers(regs);
}

GdbServer::Reply GdbServer::write_registers(std::string_view args) {
    Registers regs;
    if (!target_.read_registers(general_thread(), regs)) return kRefused;
    if (!decode_registers(regs, args)) return kBadPacket;
    return target_.write_registers(general_thread(), regs) ? "OK" : kRefused;
}

GdbServer::Reply GdbServer::read_register(std::string_view args) {
    auto n = parse_hex_number(args);
    if (!n || *n >= register_specs().size()) return kBadPacket;
    Registers regs;
    if (!target_.read_registers(general_thread(), regs)) return kRefused;
    return encode_register(regs, *n);
}

GdbServer::Reply GdbServer::write_register(std::string_view args) {
    auto parts = split(args, '=');
    if (!parts) return kBadPacket;
    auto n = parse_hex_number(parts->first);
    if (!n || *n >= register_specs().size()) return kBadPacket;
    Registers regs;
    if (!target_.read_registers(general_thread(), regs)) return kRefused;
    if (!decode_register(regs, *n, parts->second)) return kRefused;
    return target_.write_registers(general_thread(), regs) ? "OK" : kRefused;
}

GdbServer::Reply GdbServer::read_memory(std::string_view args) {
    auto range = parse_range(args);
    if (!range || range->length > kMaxMemoryTransfer) return kBadPacket;
    std::vector<uint8_t> data(range->length);
    size_t got = target_.read_memory(general_thread(), range->addr, data);
    // A short read is a valid answer (gdb asks again for the rest); none at all is a fault.
    if (got == 0 && range->length > 0) return kRefused;
    std::string reply;
    append_hex_bytes(reply, std::span(data).first(std::min(got, data.size())));
    return reply;
}

GdbServer::Reply GdbServer::write_memory_hex(std::string_view args) {
    auto parts = split(args, ':');
    if (!parts) return kBadPacket;
    auto range = parse_range(parts->first);
    if (!range || range->length > kMaxMemoryTransfer) return kBadPacket;
    auto data = parse_hex_bytes(parts->second);
    if (!data || data->size() != range->length) return kBadPacket;
    return target_.write_memory(general_thread(), range->addr, *data) == data->size() ? "OK"
                                                                                      : kRefused;
}

GdbServer::Reply GdbServer::write_memory_binary(std::string_view args) {
    auto parts = split(args, ':');
    if (!parts) return kBadPacket;
    auto range = parse_range(parts->first);
    if (!range || range->length > kMaxMemoryTransfer) return kBadPacket;
    auto data = unescape(parts->second);
    if (!data || data->size() != range->length) return kBadPacket;
    // gdb probes for X support with an empty write.
    if (data->empty()) return "OK";
    return target_.write_memory(general_thread(), range->addr, *data) == data->size() ? "OK"
                                                                                      : kRefused;
}

GdbServer::Reply GdbServer::breakpoint(bool insert, std::string_view args) {
    // "type,addr,kind" and perhaps ";cond..." (never sent: we do not offer target conditions).
    std::string_view fields = args.substr(0, args.find(';'));
    auto type_rest = split(fields, ',');
    if (!type_rest) return kBadPacket;
    auto addr_kind = split(type_rest->second, ',');
    if (!addr_kind) return kBadPacket;
    auto type = parse_hex_number(type_rest->first);
    auto addr = parse_hex_number(addr_kind->first);
    auto kind = parse_hex_number(addr_kind->second);
    if (!type || !addr || !kind) return kBadPacket;
    if (*type == 0) {
        bool ok =
            insert ? target_.insert_sw_breakpoint(*addr) : target_.remove_sw_breakpoint(*addr);
        return ok ? "OK" : kRefused;
    }
    if (*type == 1) {
        bool ok =
            insert ? target_.insert_hw_breakpoint(*addr) : target_.remove_hw_breakpoint(*addr);
        return ok ? "OK" : "";
    }
    return "";  // watchpoints: not supported
}

GdbServer::Reply GdbServer::set_thread(std::string_view args) {
    if (args.empty()) return kBadPacket;
    char op = args[0];
    if (op != 'g' && op != 'c') return kBadPacket;
    auto id = parse_thread_id(args.substr(1));
    if (!id) return kBadPacket;
    uint32_t thread = 0;  // -1 and 0: no particular thread
    if (*id > 0) {
        thread = static_cast<uint32_t>(*id);
        if (!thread_exists(thread)) return kBadThread;
    }
    (op == 'g' ? g_thread_ : c_thread_) = thread;
    return "OK";
}

GdbServer::Reply GdbServer::thread_alive(std::string_view args) {
    auto id = parse_thread_id(args);
    if (!id || *id <= 0) return kBadPacket;
    return thread_exists(static_cast<uint32_t>(*id)) ? "OK" : kBadThread;
}

GdbServer::Reply GdbServer::thread_list() {
    std::string reply = "m";
    for (uint32_t thread : target_.threads()) {
        if (reply.size() > 1) reply += ',';
        append_hex_number(reply, thread);
    }
    return reply.size() > 1 ? reply : "l";
}

GdbServer::Reply GdbServer::read_features(std::string_view args) {
    // "target.xml:offset,length"
    auto parts = split(args, ':');
    if (!parts) return kBadPacket;
    if (parts->first != "target.xml") return kRefused;
    auto range = parse_range(parts->second);
    if (!range) return kBadPacket;
    std::string_view xml = target_xml();
    if (range->addr > xml.size()) return kBadPacket;
    size_t length =
        std::min<uint64_t>({range->length, xml.size() - range->addr, kMaxMemoryTransfer});
    std::string_view chunk = xml.substr(range->addr, length);
    std::string reply(range->addr + length < xml.size() ? "m" : "l");
    append_escaped(reply, std::span(reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size()));
    return reply;
}

GdbServer::Reply GdbServer::resume_legacy(char command, std::string_view args) {
    // c [addr], s [addr], C sig[;addr], S sig[;addr]. Guests have no signals to deliver, so
    // the signal is checked and dropped.
    if (command == 'C' || command == 'S') {
        auto parts = split(args, ';');
        std::string_view sig = parts ? parts->first : args;
        if (!parse_hex_number(sig)) return kBadPacket;
        args = parts ? parts->second : std::string_view();
    }
    bool step = command == 's' || command == 'S';
    uint32_t thread = c_thread_ != 0 ? c_thread_ : last_stop_.thread;
    if (!args.empty()) {
        auto addr = parse_hex_number(args);
        if (!addr) return kBadPacket;
        Registers regs;
        if (!target_.read_registers(thread, regs)) return kRefused;
        regs.rip = *addr;
        if (!target_.write_registers(thread, regs)) return kRefused;
    }
    // A step moves one thread and leaves the others stopped; a continue without Hc naming a
    // thread lets them all run.
    ResumeAction action{step ? ResumeAction::Kind::Step : ResumeAction::Kind::Continue, thread};
    if (!step && c_thread_ == 0) action.thread = 0;
    return run({action});
}

GdbServer::Reply GdbServer::resume_vcont(std::string_view args) {
    // ";action[:thread]" repeated. The leftmost action that matches a thread applies to it,
    // so anything after a default action (no thread, or -1) can never apply.
    std::vector<ResumeAction> actions;
    bool have_default = false;
    while (!args.empty() && !have_default) {
        if (args[0] != ';') return kBadPacket;
        args.remove_prefix(1);
        std::string_view item = args.substr(0, args.find(';'));
        args.remove_prefix(item.size());
        auto with_thread = split(item, ':');
        std::string_view action = with_thread ? with_thread->first : item;
        if (action.empty()) return kBadPacket;
        char kind = action[0];
        if (kind == 'C' || kind == 'S') {
            if (!parse_hex_number(action.substr(1))) return kBadPacket;
        } else if ((kind != 'c' && kind != 's') || action.size() != 1) {
            return kBadPacket;  // t and r: not offered in vCont?
        }
        ResumeAction entry{
            kind == 's' || kind == 'S' ? ResumeAction::Kind::Step : ResumeAction::Kind::Continue,
            0};
        if (with_thread) {
            auto id = parse_thread_id(with_thread->second);
            if (!id || *id == 0) return kBadPacket;
            if (*id > 0) {
                entry.thread = static_cast<uint32_t>(*id);
                if (!thread_exists(entry.thread)) return kBadThread;
            }
        }
        have_default = entry.thread == 0;
        bool named_before = std::any_of(actions.begin(), actions.end(), [&](const ResumeAction& a) {
            return a.thread == entry.thread;
        });
        if (!named_before) actions.push_back(entry);
    }
    if (actions.empty()) return kBadPacket;
    return run(actions);
}

GdbServer::Reply GdbServer::run(const std::vector<ResumeAction>& actions) {
    target_.resume(actions);
    StopReason stop = target_.wait([this] { return poll_interrupt(); });
    last_stop_ = stop;
    g_thread_ = 0;
    if (stop.kind != StopReason::Kind::Signal) end_ = End::TargetExited;
    if (peer_gone_) return std::nullopt;  // serve() detaches a live target
    return stop_reply(stop);
}

// Called by the target while it runs. gdb sends nothing but Ctrl-C in all-stop mode while
// the target runs; anything else that arrives then is dropped. The Ctrl-C may already be
// among the bytes that came with the resume request.
bool GdbServer::poll_interrupt() {
    if (peer_gone_) return true;
    bool interrupt = false;
    auto examine = [&] {
        while (auto event = reader_.next()) interrupt |= event->kind == InputEvent::Kind::Interrupt;
    };
    examine();
    std::array<uint8_t, kReadChunk> buf;
    for (int chunks = 0; chunks < 16 && !interrupt; ++chunks) {
        auto n = channel_.receive(buf, 0);
        if (!n) {
            peer_gone_ = true;
            return true;
        }
        if (*n == 0) break;
        reader_.feed(std::span(buf).first(*n));
        examine();
    }
    return interrupt;
}

std::string GdbServer::stop_reply(const StopReason& stop) {
    std::string reply;
    switch (stop.kind) {
        case StopReason::Kind::Exited:
            reply = "W";
            append_hex_byte(reply, static_cast<uint8_t>(stop.exit_code));
            return reply;
        case StopReason::Kind::Killed:
            reply = "X";
            append_hex_byte(reply, kSigKill);
            return reply;
        case StopReason::Kind::Signal:
            break;
    }
    reply = "T";
    append_hex_byte(reply, static_cast<uint8_t>(stop.signal));
    reply += "thread:";
    append_hex_number(reply, stop.thread);
    reply += ';';
    if (stop.sw_breakpoint) reply += "swbreak:;";
    if (stop.hw_breakpoint) reply += "hwbreak:;";
    return reply;
}

GdbServer::Reply GdbServer::detach() {
    target_.detach();
    end_ = End::Detached;
    return "OK";
}

GdbServer::Reply GdbServer::kill() {
    target_.kill();
    end_ = End::Killed;
    return std::nullopt;  // gdb does not wait for an answer to k
}

}  // namespace xenolith::vmi::gdb
