// xn vmi protect DOM ADDRESS|SYMBOL [--crash]: an integrity monitor. Writes the guest makes
// to the pages of ADDRESS (guest-virtual through vCPU 0's page tables, or guest-physical
// with --physical) or of a symbol of the domain's kernel become events: one line each with
// the vCPU, the writer's RIP (as symbol+offset where the kernel's symbols say) and the
// address written; the write then happens and the guest runs on. With --crash the first
// write crashes the domain instead. Ctrl-C detaches: the watch is removed and the domain
// runs on (docs/vmi.md).
#include <signal.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <optional>

#include "base/error.hpp"
#include "boot/elf_image.hpp"
#include "toolstack/api/hex.hpp"
#include "toolstack/debug/debug_client.hpp"
#include "toolstack/xn/commands.hpp"
#include "toolstack/xn/daemon_client.hpp"
#include "toolstack/xn/guarded.hpp"

namespace xenolith::xn {

namespace {

std::atomic<bool> g_interrupted{false};

void on_interrupt(int) {
    g_interrupted.store(true);
}

// How long one debug_wait waits: Ctrl-C is looked at in between.
constexpr auto kWait = std::chrono::milliseconds(200);

// The domain's kernel ELF, as the daemon loaded it (xn runs on the daemon's host); nullopt
// when it cannot be read, which only costs the symbols.
std::optional<boot::ElfImage> kernel_of(api::Client& client, const std::string& domain) {
    try {
        nlohmann::json r = client.call("list_long", {{"domain", domain}});
        const std::string path =
            r.at("domains").at(0).at("config").at("b_info").at("kernel").get<std::string>();
        return boot::ElfImage::load(path);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

// "0x1234 name+0x8" (as crash reports write it), or the address alone.
std::string describe(const std::optional<boot::ElfImage>& kernel, uint64_t address) {
    std::string out = hex(address);
    if (!kernel) return out;
    if (std::optional<boot::Symbol> s = kernel->symbolize(address))
        out += " " + s->name + "+" + hex(address - s->address);
    return out;
}

struct Target {
    uint64_t address = 0;
    uint64_t length = 1;
    std::string what;  // for the header
};

// ADDRESS (hex) or SYMBOL (its whole size, unless --length says otherwise).
Target resolve(const VmiProtectOptions& o, const std::optional<boot::ElfImage>& kernel) {
    Target t;
    if (std::optional<uint64_t> v = api::parse_hex_value(o.target)) {
        t.address = *v;
        t.what = hex(*v);
    } else {
        if (o.physical) throw Error("xn vmi protect: --physical takes an address, not a symbol");
        if (!kernel)
            throw Error("xn vmi protect: the domain's kernel cannot be read for '" + o.target +
                        "'; give an address");
        std::optional<boot::Symbol> s = kernel->lookup(o.target);
        if (!s) throw Error("xn vmi protect: the kernel has no symbol '" + o.target + "'");
        t.address = s->address;
        t.length = std::max<uint64_t>(s->size, 1);
        t.what = o.target + " (" + hex(s->address) + ")";
    }
    if (o.length) t.length = o.length;
    return t;
}

}  // namespace

int vmi_protect_command(const VmiProtectOptions& o) {
    return guarded([&] {
        debug::DebugClient client(connect_daemon());
        std::optional<boot::ElfImage> kernel = kernel_of(client.connection(), o.domain);
        const Target t = resolve(o, kernel);
        client.attach(o.domain);
        client.stop();
        const size_t pages = client.protect(0, t.address, t.length, o.physical);
        std::printf("# watching writes to %s%s, %" PRIu64 " byte%s (%zu page%s) of domain %u%s\n",
                    o.physical ? "guest-physical " : "", t.what.c_str(), t.length,
                    t.length == 1 ? "" : "s", pages, pages == 1 ? "" : "s", client.domid(),
                    o.crash ? "; the first crashes it" : " (Ctrl-C stops)");
        std::fflush(stdout);
        struct sigaction sa {};
        sa.sa_handler = on_interrupt;
        ::sigaction(SIGINT, &sa, nullptr);
        ::sigaction(SIGTERM, &sa, nullptr);
        client.resume({}, debug::Action::Continue);

        while (!g_interrupted.load()) {
            debug::WaitResult r = client.wait(kWait);
            if (r.ended) {
                std::printf("# domain %u %s\n", client.domid(),
                            *r.ended == "crashed" ? "crashed" : "has ended");
                return 0;
            }
            if (!r.event) continue;
            const debug::StopEvent& e = *r.event;
            if (e.reason != "write") {
                client.resume({}, debug::Action::Continue);
                continue;
            }
            std::printf("d%uv%u rip %s wrote guest-physical %s%s\n", client.domid(), e.vcpu,
                        describe(kernel, e.rip).c_str(), hex(e.address).c_str(),
                        o.crash ? ": crashing the domain" : "");
            std::fflush(stdout);
            client.resume({{e.vcpu, o.crash ? debug::Action::Crash : debug::Action::Continue}},
                          o.crash ? debug::Action::Stay : debug::Action::Continue);
        }
        client.detach();
        std::printf("# detached: the watch is removed and domain %u runs on\n", client.domid());
        return 0;
    });
}

}  // namespace xenolith::xn
