// Reading kernel image files and the little-endian fields inside them: shared by the ELF
// parser, the bzImage reader and the PVH loader, which all take hostile files.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace xenolith::boot {

// The whole regular file at `path`, at most `max_bytes` long. Errors (Error/SystemError)
// name the file and say `what` it is: "PATH: cannot open the kernel image: ...",
// "... larger than the N MiB limit".
std::vector<uint8_t> read_image_file(const std::string& path, uint64_t max_bytes,
                                     const std::string& what = "kernel image");

// The T at `offset`; the caller has checked offset + sizeof(T) <= bytes.size().
template <class T>
T read_le(std::span<const uint8_t> bytes, uint64_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

// "0x1f1", for messages.
std::string hex(uint64_t value);

}  // namespace xenolith::boot
