// The formats are xl's printf formats (tools/xl/xl_block.c, xl_nic.c): the simplest proof
// that the columns line up as xl's is to print with the same widths.
#include "toolstack/format/device_text.hpp"

#include "toolstack/format/appendf.hpp"

namespace xenolith::format {

using detail::appendf;

std::string block_list_text(const std::vector<DiskInfo>& disks) {
    std::string out;
    appendf(out, "%-5s %-3s %-6s %-5s %-6s %-8s %-30s\n", "Vdev", "BE", "handle", "state", "evt-ch",
            "ring-ref", "BE-path");
    for (const DiskInfo& d : disks)
        appendf(out, "%-5d %-3d %-6d %-5d %-6d %-8d %-30s\n", static_cast<int>(d.devid),
                static_cast<int>(d.backend_domid), static_cast<int>(d.handle), d.state, d.evtch,
                d.ring_ref, d.backend_path.c_str());
    return out;
}

std::string network_list_text(const std::vector<NicInfo>& nics) {
    std::string out;
    appendf(out, "%-3s %-2s %-17s %-6s %-5s %-6s %5s/%-5s %-30s\n", "Idx", "BE", "Mac Addr.",
            "handle", "state", "evt-ch", "tx-", "rx-ring-ref", "BE-path");
    for (const NicInfo& n : nics) {
        const auto& m = n.mac;
        appendf(out, "%-3d %-2d %02x:%02x:%02x:%02x:%02x:%02x", static_cast<int>(n.devid),
                static_cast<int>(n.backend_domid), m[0], m[1], m[2], m[3], m[4], m[5]);
        appendf(out, "%6d %5d %6d %5d/%-11d %-30s\n", static_cast<int>(n.devid), n.state, n.evtch,
                n.tx_ring_ref, n.rx_ring_ref, n.backend_path.c_str());
    }
    return out;
}

}  // namespace xenolith::format
