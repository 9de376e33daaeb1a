// xn debug DOM --gdb ENDPOINT: a GDB remote protocol server for a running domain. The domain
// stops when xn attaches; gdb connects to ENDPOINT ("tcp:127.0.0.1:1234", "unix:/path"),
// and when it detaches, disconnects or quits, every breakpoint is removed and the domain
// runs on (docs/vmi.md).
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "toolstack/debug/debug_client.hpp"
#include "toolstack/debug/remote_target.hpp"
#include "toolstack/xn/commands.hpp"
#include "toolstack/xn/daemon_client.hpp"
#include "toolstack/xn/guarded.hpp"
#include "vmi/gdb/gdb_listener.hpp"

namespace xenolith::xn {

namespace {

const char* how_it_ended(vmi::gdb::GdbServer::End end) {
    switch (end) {
        case vmi::gdb::GdbServer::End::Detached:
            return "gdb detached; the domain runs on";
        case vmi::gdb::GdbServer::End::Killed:
            return "gdb killed the domain";
        case vmi::gdb::GdbServer::End::TargetExited:
            return "the domain has ended";
        case vmi::gdb::GdbServer::End::Disconnected:
            break;
    }
    return "gdb went away; the domain runs on";
}

}  // namespace

int debug_command(const std::string& domain, const std::string& endpoint) {
    return guarded([&] {
        // Listen first: a taken port fails before the domain is touched.
        vmi::gdb::GdbListener listener(endpoint);
        debug::DebugClient client(connect_daemon());
        const uint32_t vcpus = client.attach(domain);
        client.stop();
        std::printf("xn debug: domain %u stopped (%u vCPU%s); gdb can connect to %s\n",
                    client.domid(), vcpus, vcpus == 1 ? "" : "s", listener.endpoint().c_str());
        // What gdb will be refused here, said once up front (gdb's own message is vague).
        for (const auto& [what, why] : client.unavailable())
            std::printf("xn debug: no %s on this host: %s\n",
                        what == "single_step" ? "single steps" : what.c_str(), why.c_str());
        std::fflush(stdout);
        debug::RemoteTarget target(client, vcpus);
        UniqueFd connection = listener.accept();
        vmi::gdb::FdChannel channel(connection.get());
        const vmi::gdb::GdbServer::End end = vmi::gdb::GdbServer(target, channel).serve();
        std::printf("xn debug: %s\n", how_it_ended(end));
        return 0;
    });
}

namespace {

// The words at RSP, four to a line, as xenctx's "Stack:" (a call chain's return addresses
// are among them).
void print_stack(debug::DebugClient& client, uint32_t vcpu, uint64_t rsp) {
    constexpr size_t kWords = 48;
    std::vector<uint8_t> bytes;
    try {
        bytes = client.read(vcpu, rsp, kWords * 8);
    } catch (const api::ApiError& e) {
        std::printf("  stack: (not readable: %s)\n", e.what());
        return;
    }
    std::printf("  stack:");
    for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
        uint64_t word;
        std::memcpy(&word, bytes.data() + i, sizeof word);
        std::printf("%s %016" PRIx64, i % 32 == 0 ? "\n   " : "", word);
    }
    std::printf("\n");
}

}  // namespace

int debug_context_command(const std::string& domain) {
    return guarded([&] {
        debug::DebugClient client(connect_daemon());
        const uint32_t vcpus = client.attach(domain);
        client.stop();
        for (uint32_t v = 0; v < vcpus; ++v) {
            debug::RegisterSet r = client.registers(v);
            std::printf("vCPU%u:\n", v);
            static const char* const kOrder[] = {"rip", "rsp", "rflags", "rax", "rbx", "rcx",
                                                 "rdx", "rsi", "rdi",    "rbp", "r8",  "r9",
                                                 "r10", "r11", "r12",    "r13", "r14", "r15",
                                                 "cr0", "cr2", "cr3",    "cr4", "efer"};
            int column = 0;
            for (const char* name : kOrder) {
                auto it = r.find(name);
                if (it == r.end()) continue;
                std::printf(" %6s: %016" PRIx64 "%s", name, it->second,
                            ++column % 3 == 0 ? "\n" : "");
            }
            if (column % 3) std::printf("\n");
            std::printf("   code:");
            try {
                for (uint8_t b : client.read(v, r["rip"], 16)) std::printf(" %02x", b);
            } catch (const api::ApiError& e) {
                std::printf(" (not readable: %s)", e.what());
            }
            std::printf("\n");
            print_stack(client, v, r["rsp"]);
        }
        client.resume({}, debug::Action::Continue);
        return 0;
    });
}

}  // namespace xenolith::xn
