// A Linux bzImage, read only as far as a PVH loader needs: the x86 boot protocol's setup
// header (Documentation/arch/x86/boot.rst) locates the compressed vmlinux it carries.
//
// A PVH domain does not run the bzImage's real-mode setup or its self-decompressor: the
// builder decompresses the payload itself and loads the vmlinux ELF it yields.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace xenolith::boot {

// Boot protocol 2.08 added payload_offset/payload_length.
inline constexpr uint16_t kMinBootProtocol = 0x0208;

struct BzImagePayload {
    uint16_t protocol = 0;           // boot protocol version, 0x020f for 2.15
    uint64_t offset = 0;             // file offset of the compressed payload
    std::span<const uint8_t> bytes;  // the compressed payload, inside the file's bytes
};

// True when `file` carries the boot protocol's "HdrS" signature at offset 0x202.
bool is_bzimage(std::span<const uint8_t> file);

// Locates the payload. Throws xenolith::Error starting with `name` when the header is
// missing, too old, or points outside the file.
BzImagePayload bzimage_payload(std::span<const uint8_t> file, const std::string& name);

}  // namespace xenolith::boot
