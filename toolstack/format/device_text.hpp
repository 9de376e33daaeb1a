// What `xl block-list` and `xl network-list` print, for `xn block-list` and
// `xn network-list`: xl's headers, columns and widths, so that scripts written against xl
// keep working. One row struct per device, filled by the caller from the device's
// xenstore nodes; -1 marks a number the frontend has not written yet (as libxl reports
// a missing event-channel or ring-ref).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace xenolith::format {

// One vbd, as libxl_diskinfo has it.
struct DiskInfo {
    std::uint32_t devid = 0;          // "Vdev": the vdev's encoding, e.g. 51712 for xvda
    std::uint32_t backend_domid = 0;  // "BE"
    std::uint32_t handle = 0;         // "handle": xl prints the frontend's domid here
    int state = 0;                    // the backend's XenbusState
    int evtch = -1;                   // the frontend's event-channel
    int ring_ref = -1;                // the frontend's ring-ref
    std::string backend_path;         // /local/domain/0/backend/vbd/<domid>/<devid>
};

// One vif, as libxl_nicinfo has it.
struct NicInfo {
    std::uint32_t devid = 0;          // "Idx", and "handle" too (xl prints the devid twice)
    std::uint32_t backend_domid = 0;  // "BE"
    std::array<std::uint8_t, 6> mac{};
    int state = 0;  // the backend's XenbusState
    int evtch = -1;
    int tx_ring_ref = -1;
    int rx_ring_ref = -1;
    std::string backend_path;  // /local/domain/0/backend/vif/<domid>/<devid>
};

// `xl block-list DOMAIN...`: the header, then one line per disk in the order given.
std::string block_list_text(const std::vector<DiskInfo>& disks);

// `xl network-list DOMAIN...`: the header, then one line per vif in the order given.
std::string network_list_text(const std::vector<NicInfo>& nics);

}  // namespace xenolith::format
