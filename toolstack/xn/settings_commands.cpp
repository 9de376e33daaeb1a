// xn vcpu-pin, vcpu-set, mem-set and mem-max.
#include <cstdio>
#include <cstdlib>

#include "toolstack/xn/commands.hpp"
#include "toolstack/xn/daemon_client.hpp"
#include "toolstack/xn/guarded.hpp"

namespace xenolith::xn {

using nlohmann::json;

bool parse_mem_size_kib(const std::string& text, uint64_t& kib) {
    if (text.empty() || text[0] < '0' || text[0] > '9') return false;
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(text.c_str(), &end, 10);
    if (errno) return false;
    std::string suffix(end);
    if (suffix.size() > 1) return false;
    unsigned shift_up = 0;  // from KiB
    bool bytes = false;
    switch (suffix.empty() ? 'm' : std::tolower(static_cast<unsigned char>(suffix[0]))) {
        case 't':
            shift_up = 30;
            break;
        case 'g':
            shift_up = 20;
            break;
        case 'm':
            shift_up = 10;
            break;
        case 'k':
            shift_up = 0;
            break;
        case 'b':
            bytes = true;
            break;
        default:
            return false;
    }
    if (bytes) {
        kib = n >> 10;
        return true;
    }
    if (shift_up && n > (~0ull >> shift_up)) return false;
    kib = n << shift_up;
    return true;
}

int vcpu_pin_command(const std::string& domain, const std::string& vcpu, const std::string& hard,
                     const std::string& soft) {
    return guarded([&] {
        json args = {{"domain", domain}, {"vcpu", vcpu}};
        // "-" leaves that affinity as it is, as in xl.
        if (hard != "-") args["hard"] = hard;
        if (!soft.empty() && soft != "-") args["soft"] = soft;
        connect_daemon()->call("vcpu_pin", args);
        return 0;
    });
}

int vcpu_set_command(const std::string& domain, const std::string& count) {
    return guarded([&] {
        char* end = nullptr;
        unsigned long n = std::strtoul(count.c_str(), &end, 10);
        if (count.empty() || *end || n == 0 || n > 4096) {
            std::fprintf(stderr, "Error: Invalid argument %s as VCPU count.\n", count.c_str());
            return 1;
        }
        connect_daemon()->call("vcpu_set", {{"domain", domain}, {"count", n}});
        return 0;
    });
}

int mem_command(const std::string& domain, const std::string& size, bool max) {
    return guarded([&] {
        uint64_t kib = 0;
        if (!parse_mem_size_kib(size, kib)) {
            std::fprintf(stderr, "invalid memory size: %s\n", size.c_str());
            return 1;
        }
        connect_daemon()->call(max ? "mem_max" : "mem_set", {{"domain", domain}, {"kib", kib}});
        return 0;
    });
}

}  // namespace xenolith::xn
